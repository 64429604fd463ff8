//! `cargo run` and `cargo test` build the dependencies once: the features the
//! test-only dependencies turn on are turned on in every build (Cargo.toml),
//! since a crate built with other features is built again, and with it
//! everything above it (the AWS SDKs). This fails when that list falls short.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::ROOT;

/// Each package of the build, by name and version, with its features, as
/// `cargo tree` resolves them for `edges`.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .current_dir(ROOT)
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "--no-dedupe",
        ])
        .args(["-e", edges, "-f", "{p}|{f}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        let package = package.trim_end_matches(" (*)").to_owned();
        let features = features
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        packages
            .entry(package)
            .or_insert_with(BTreeSet::new)
            .extend(features);
    }
    packages
}

#[test]
fn the_test_build_turns_on_no_feature_the_normal_build_lacks() {
    let normal = features("no-dev");
    let with_tests = features("normal,build,dev");
    assert!(normal.keys().any(|p| p.starts_with("aws-sdk-s3 ")));
    let short: Vec<String> = with_tests
        .iter()
        .filter_map(|(package, features)| {
            let built = normal.get(package)?;
            let missing: Vec<_> = features.difference(built).cloned().collect();
            (!missing.is_empty()).then(|| format!("{package}: {}", missing.join(", ")))
        })
        .collect();
    assert!(
        short.is_empty(),
        "the tests turn on features the normal build does not, so `cargo test` \
         builds these (and all above them) again; add them to Cargo.toml's list:\n{}",
        short.join("\n")
    );
}
