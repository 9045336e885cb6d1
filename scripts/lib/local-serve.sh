# Sourced by scripts/load and scripts/contract-fuzz: start `cam-local serve` on a free
# loopback port, stop it (and remove $WORK) on exit.
#   start_local_serve BINARY [ENV=VALUE...]   sets WORK, SERVER and BASE (http://127.0.0.1:PORT)

start_local_serve() {
    local binary=$1
    shift
    WORK=$(mktemp -d)
    trap 'stop_local_serve' EXIT
    env "$@" "$binary" serve --port 0 >"$WORK/out" 2>"$WORK/server.log" &
    SERVER=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
    BASE=$(sed -n 's/^listening on //p' "$WORK/out")
    [[ -n $BASE ]] || { echo "the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
}

stop_local_serve() {
    [[ -n ${SERVER:-} ]] && kill "$SERVER" 2>/dev/null
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
