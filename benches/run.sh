#!/usr/bin/env bash
# The cold-start benchmark (not a test): builds every function for release with cargo-lambda
# (what ships), the bare Rust floor (benches/floor) the same way, then measures zipped size,
# process start -> first invocation handled against a local Lambda Runtime API, and peak
# memory of each, beside the Python baseline (benches/python_baseline.py), in one run.
#
#   benches/run.sh                 # build + measure, 20 runs each
#   RUNS=10 benches/run.sh         # fewer runs
#   ARM64=1 benches/run.sh         # also build for arm64 and report its zipped sizes
#   SKIP_BUILD=1 benches/run.sh    # measure what is already built
#
# Writes benches/results.md and benches/results.json. Exits 1 when a target is missed.
# Uses CARGO_TARGET_DIR (default: target/) and the venv .venv-bench (created if missing).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$ROOT/.venv-bench
RUNS=${RUNS:-20}
FUNCTIONS=(validate snapshot-usage invite wait-for-handshake check-support schedule-hardening confirm-transfer record-failure handshake-watcher hardening-scan api-function)

say() { printf '\n== %s\n' "$*" >&2; }
t_start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r benches/requirements.txt
export PATH="$VENV/bin:$PATH"

# The floor must be built exactly as the functions are.
# The settings of [profile.release], comments and blank lines left out.
profile() { awk '/^\[profile\.release\]/{on=1; next} /^\[/{on=0} on && NF && !/^#/' "$1"; }
if ! diff <(profile Cargo.toml) <(profile benches/floor/Cargo.toml) >/dev/null; then
    echo "benches/floor/Cargo.toml's [profile.release] differs from Cargo.toml's: copy it over" >&2
    diff <(profile Cargo.toml) <(profile benches/floor/Cargo.toml) >&2 || true
    exit 2
fi

# One cargo invocation per function: built in one, cargo would unify the features of
# functions-runtime (hence migration-aws) over all of them and link every SDK client into
# every function, whereas each function's Cargo.toml enables only the SDKs its step uses.
# CARGO_BUILD_JOBS limits the jobs, as for any cargo command.
build_each() {
    for f in "${FUNCTIONS[@]}"; do
        cargo lambda build --release "$1" --lambda-dir "$2" -p "$f"
    done
}

if [ -z "${SKIP_BUILD:-}" ]; then
    say "building the functions (release, x86_64)"
    t0=$(date +%s)
    build_each --x86-64 "$CARGO_TARGET_DIR/lambda"
    (cd benches/floor && cargo lambda build --release --x86-64 --lambda-dir "$CARGO_TARGET_DIR/lambda")
    say "x86_64 build took $(( $(date +%s) - t0 )) s"
    if [ -n "${ARM64:-}" ]; then
        say "building the functions (release, arm64), for sizes"
        t0=$(date +%s)
        build_each --arm64 "$CARGO_TARGET_DIR/lambda-arm64"
        (cd benches/floor && cargo lambda build --release --arm64 --lambda-dir "$CARGO_TARGET_DIR/lambda-arm64")
        say "arm64 build took $(( $(date +%s) - t0 )) s"
    fi
fi

arm_args=()
if [ -n "${ARM64:-}" ] || [ -d "$CARGO_TARGET_DIR/lambda-arm64" ]; then
    arm_args=(--arm64-lambda-dir "$CARGO_TARGET_DIR/lambda-arm64")
fi

say "measuring ($RUNS runs each)"
status=0
"$VENV/bin/python" benches/bench.py \
    --lambda-dir "$CARGO_TARGET_DIR/lambda" \
    --floor "$CARGO_TARGET_DIR/lambda/floor/bootstrap" \
    --python "$VENV/bin/python" \
    --runs "$RUNS" \
    "${arm_args[@]}" \
    --json benches/results.json \
    --markdown benches/results.md || status=$?
say "benches/run.sh took $(( $(date +%s) - t_start )) s in all"
exit $status
