//! Every synthesized template passes cfn-lint (pinned in
//! tests/requirements.txt) with no finding at all, informational ones included.

use crate::common;

use chatstack::settings::StageSettings;
use std::process::Command;

use crate::common::{python_tool, scratch_dir};
use chatstack::chat::StageName;
use chatstack::cli::{Format, render};

/// The chat template of several stages in both formats, and the bootstrap
/// stack's template.
#[test]
fn templates_pass_cfn_lint_with_no_findings() {
    let dir = scratch_dir("cfn_lint");
    let mut files = Vec::new();
    let long = "s".repeat(128);
    let unconfigured = ["dev", "prod", "Feature_2-x", long.as_str()];
    for stage in unconfigured.into_iter().chain(common::CONFIGURED_STAGES) {
        let stage_name: StageName = stage.parse().unwrap();
        for (format, extension) in [(Format::Json, "json"), (Format::Yaml, "yaml")] {
            let file = dir.join(format!("{}.{extension}", &stage[..stage.len().min(20)]));
            let settings = common::stage_settings(&stage_name);
            std::fs::write(&file, render(&stage_name, &settings, format).unwrap()).unwrap();
            files.push(file);
        }
    }
    let bootstrap = dir.join("bootstrap.yaml");
    std::fs::write(
        &bootstrap,
        chatstack::deploy::bootstrap::template()
            .unwrap()
            .to_yaml()
            .unwrap(),
    )
    .unwrap();
    files.push(bootstrap);
    let output = Command::new(python_tool("cfn-lint"))
        .args(["--include-checks", "I", "--"])
        .args(&files)
        .output()
        .expect("cfn-lint runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && report.trim().is_empty(),
        "cfn-lint findings (exit {:?}):\n{report}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A control for the test above: cfn-lint does report a broken template, so
/// "no findings" means something.
#[test]
fn cfn_lint_reports_a_broken_template() {
    let dir = scratch_dir("cfn_lint_control");
    let stage: StageName = "dev".parse().unwrap();
    let broken = render(&stage, &StageSettings::default(), Format::Json)
        .unwrap()
        .replace("provided.al2023", "provided.al1999");
    let file = dir.join("broken.json");
    std::fs::write(&file, broken).unwrap();
    let output = Command::new(python_tool("cfn-lint"))
        .args(["--include-checks", "I", "--"])
        .arg(&file)
        .output()
        .expect("cfn-lint runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("provided.al1999"));
}
