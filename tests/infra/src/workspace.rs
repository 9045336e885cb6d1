//! `cargo metadata`: the workspace's own packages and their binaries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::template::root;

pub fn metadata() -> &'static Value {
    static METADATA: OnceLock<Value> = OnceLock::new();
    METADATA.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            // --no-deps: the workspace's own packages only. Without it cargo resolves every
            // platform's dependencies (Windows, Android crates) that no build here downloads,
            // and a fresh machine's --offline metadata fails.
            .args(["metadata", "--format-version", "1", "--no-deps", "--locked", "--offline", "--manifest-path"])
            .arg(root().join("Cargo.toml"))
            .output()
            .expect("cargo metadata runs");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("cargo metadata answers JSON")
    })
}

/// Every binary target of a workspace member under `functions/`.
pub fn workspace_function_binaries() -> BTreeSet<String> {
    function_binary_dirs().into_keys().collect()
}

/// Each binary under `functions/` and its package's directory, relative to the workspace
/// root (`functions/<dir>`): what a function's `CodeUri` names, so that `sam build` runs
/// cargo-lambda inside that package and cargo resolves features for it alone.
pub fn function_binary_dirs() -> BTreeMap<String, String> {
    let functions_dir = root().join("functions");
    let members: BTreeSet<&str> =
        metadata()["workspace_members"].as_array().expect("workspace_members").iter().filter_map(Value::as_str).collect();
    let mut binaries = BTreeMap::new();
    for package in metadata()["packages"].as_array().expect("packages") {
        if !members.contains(package["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
        if !manifest.starts_with(&functions_dir) {
            continue;
        }
        for target in package["targets"].as_array().expect("targets") {
            if target["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")) {
                let dir = manifest.parent().and_then(|d| d.strip_prefix(root()).ok()).expect("a package under the root");
                binaries.insert(target["name"].as_str().expect("target name").to_owned(), dir.display().to_string());
            }
        }
    }
    binaries
}
