//! Replays, on stable Rust, every seed of `fuzz/seeds.txt` and every crash saved under
//! `fuzz/regressions/<target>/` through the checks the fuzz targets run.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(target, directory)` pairs of `fuzz/seeds.txt`.
fn seed_dirs() -> Vec<(String, PathBuf)> {
    let text = fs::read_to_string(root().join("fuzz/seeds.txt")).expect("fuzz/seeds.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (target, dir) = l.split_once(char::is_whitespace).expect("target and directory");
            (target.to_owned(), root().join(dir.trim()))
        })
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_target_has_seeds_and_every_seed_passes_its_check() {
    let dirs = seed_dirs();
    for target in fuzz_checks::TARGETS {
        let seeds: Vec<PathBuf> = dirs.iter().filter(|(t, _)| t == target).flat_map(|(_, d)| files(d)).collect();
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for seed in seeds {
            let data = fs::read(&seed).unwrap();
            // A seed the check throws away at the first step explores nothing.
            match target {
                "api_gateway_event" => {
                    serde_json::from_slice::<aws_lambda_events::apigw::ApiGatewayV2httpRequest>(&data).expect("an HTTP API event");
                }
                "step_payload" | "watcher_event" => {
                    serde_json::from_slice::<serde_json::Value>(&data).expect("JSON");
                }
                _ => {}
            }
            fuzz_checks::check(target, &data);
        }
    }
    for (target, dir) in dirs {
        assert!(fuzz_checks::TARGETS.contains(&target.as_str()), "fuzz/seeds.txt names unknown target {target}");
        assert!(dir.is_dir(), "{} is not a directory", dir.display());
    }
}

#[test]
fn every_saved_crash_passes_its_check() {
    let regressions = root().join("fuzz/regressions");
    for target in fuzz_checks::TARGETS {
        for input in files(&regressions.join(target)) {
            fuzz_checks::check(target, &fs::read(&input).unwrap());
        }
    }
}

#[test]
fn the_fuzz_crate_has_one_binary_per_check() {
    let manifest = fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for target in fuzz_checks::TARGETS {
        assert!(manifest.contains(&format!("name = \"{target}\"")), "fuzz/Cargo.toml has no binary {target}");
        let source = fs::read_to_string(root().join(format!("fuzz/fuzz_targets/{target}.rs"))).unwrap();
        assert!(source.contains(&format!("fuzz_checks::{target}(")), "fuzz_targets/{target}.rs does not call its check");
    }
}

/// The fuzzer's first finds in the API function were panics in lambda_http's conversion of
/// events (a body flagged base64 that is not, a `Host` that is not a domain name, a `Host`
/// that makes no URI). The function now converts events itself: each one answers 4xx.
#[test]
fn events_that_crashed_lambda_http_are_answered_4xx() {
    let inputs = files(&root().join("fuzz/regressions/api_gateway_event"));
    assert!(inputs.len() >= 3, "the three lambda_http panics are kept");
    for input in inputs {
        let data = fs::read(&input).unwrap();
        let answer = fuzz_checks::answer_http_api_event(&data).expect("an HTTP API event");
        assert!(answer.status.is_client_error(), "{}: answered {}", input.display(), answer.status);
        fuzz_checks::api_gateway_event(&data);
    }
}
