//! checkov (pinned in tests/requirements-checkov.txt) finds nothing in the
//! templates: every finding is fixed or skipped in the resource's metadata
//! with a one-line reason.

use crate::common;

use std::process::Command;

use crate::common::scratch_dir;
use chatstack::chat::StageName;
use chatstack::cli::{Format, render};

#[test]
fn checkov_finds_nothing_unexplained() {
    let dir = scratch_dir("checkov");
    for stage in ["dev", "prod"].into_iter().chain(common::CONFIGURED_STAGES) {
        let stage_name: StageName = stage.parse().unwrap();
        std::fs::write(
            dir.join(format!("{stage}.json")),
            render(
                &stage_name,
                &common::stage_settings(&stage_name),
                Format::Json,
            )
            .unwrap(),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("bootstrap.yaml"),
        chatstack::deploy::bootstrap::template()
            .unwrap()
            .to_yaml()
            .unwrap(),
    )
    .unwrap();
    let output = Command::new(common::checkov())
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
            "-d",
            ".",
        ])
        // Relative paths: checkov's parser puts each file's path among a
        // function's environment variables (`__file__`), and CKV_AWS_45
        // takes a long absolute one (a clone's own target dir) for a
        // high-entropy secret.
        .current_dir(&dir)
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("checkov runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(&report).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON ({e}):\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let summary = &json["summary"];
    assert_eq!(summary["failed"], 0, "checkov findings:\n{report}");
    assert!(
        summary["passed"].as_u64().unwrap() > 50,
        "checkov checked little: {summary}"
    );
    // Every skip carries its reason.
    let skipped = json["results"]["skipped_checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!skipped.is_empty());
    for check in skipped {
        let reason = check["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or("");
        assert!(reason.len() > 20, "skip without a reason: {check}");
    }
}
