//! `./deploy.sh`: usage and argument checks (the deploy itself is
//! `chatstack deploy`, tested against moto and the fake).

use crate::common;

use std::process::Command;

fn deploy_sh(args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(format!("{}/deploy.sh", common::ROOT))
        .args(args)
        .output()
        .expect("bash runs")
}

#[test]
fn without_a_stage_it_prints_usage_and_fails() {
    let output = deploy_sh(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("usage: ./deploy.sh STAGE"));
}

#[test]
fn a_flag_in_place_of_the_stage_is_refused() {
    let output = deploy_sh(&["--yes"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the first argument is the stage"));
}

#[test]
fn help_explains_what_it_runs() {
    let output = deploy_sh(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("handlers/build.sh") && help.contains("chatstack deploy --stage STAGE"));
}
