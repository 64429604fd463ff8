//! The function list and the handlers workspace describe the same
//! functions: every entry has a binary there, and every binary an entry.
//! (The names both sides must agree on otherwise are in the chat-contract
//! crate that both depend on.)

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::ROOT;
use chatstack::chat::FUNCTIONS;

/// The binaries of the handlers workspace, as cargo sees them.
fn handler_binaries() -> BTreeSet<String> {
    let manifest = Path::new(ROOT).join("handlers/Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|package| package["targets"].as_array().unwrap())
        .filter(|target| {
            target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "bin")
        })
        .map(|target| target["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_function_has_a_handler_binary_and_every_binary_a_function() {
    let listed: BTreeSet<String> = FUNCTIONS.iter().map(|spec| spec.name.to_owned()).collect();
    assert_eq!(listed.len(), FUNCTIONS.len(), "function names are unique");
    assert_eq!(handler_binaries(), listed);
}

#[test]
fn logical_prefixes_and_route_keys_are_unique() {
    let prefixes: BTreeSet<_> = FUNCTIONS.iter().map(|spec| spec.logical_prefix).collect();
    let routes: Vec<_> = FUNCTIONS.iter().flat_map(|spec| spec.routes()).collect();
    assert_eq!(prefixes.len(), FUNCTIONS.len());
    let keys: BTreeSet<_> = routes.iter().map(|route| route.key).collect();
    assert_eq!(keys.len(), routes.len(), "route keys are unique");
    // A route's logical ids may share its function's prefix (one route),
    // never another function's or route's.
    let route_prefixes: BTreeSet<_> = routes.iter().map(|route| route.logical_prefix).collect();
    assert_eq!(route_prefixes.len(), routes.len());
    for spec in FUNCTIONS {
        for route in spec.routes() {
            assert!(
                route.logical_prefix == spec.logical_prefix
                    || !prefixes.contains(route.logical_prefix),
                "{route:?}"
            );
        }
    }
}
