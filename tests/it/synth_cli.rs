//! `chatstack synth` as a user runs it: in process (`common::cli`), and
//! once as the binary.

use crate::common;

use crate::common::cli::run as chatstack;
use crate::common::scratch_dir;
use serde_json::Value;

fn synth_json(stage: &str) -> Value {
    let output = chatstack(&["synth", "--stage", stage, "--format", "json"]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("synth prints JSON")
}

#[test]
fn bad_stage_is_refused_with_the_rule_and_no_template() {
    // The binary: clap's refusal and its status reach the process's streams.
    let output = common::chatstack(&["synth", "--stage", "bad stage!"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("letters, digits, '-' or '_'") && stderr.contains("bad stage!"),
        "{stderr}"
    );
}

#[test]
fn json_and_yaml_describe_the_same_template() {
    let json = synth_json("dev");
    let output = chatstack(&["synth", "--stage", "dev", "--format", "yaml"]);
    assert!(output.status.success());
    let yaml: Value = serde_yaml::from_slice(&output.stdout).expect("synth prints YAML");
    assert_eq!(json, yaml);
}

#[test]
fn yaml_is_the_default_format_and_dev_the_default_stage() {
    let output = chatstack(&["synth"]);
    assert!(output.status.success());
    let yaml: Value = serde_yaml::from_slice(&output.stdout).unwrap();
    assert_eq!(yaml, synth_json("dev"));
}

#[test]
fn output_file_gets_the_template_and_stdout_stays_empty() {
    let dir = scratch_dir("synth_output_file");
    let file = dir.join("prod.json");
    let output = chatstack(&[
        "synth",
        "--stage",
        "prod",
        "--format",
        "json",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, synth_json("prod"));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn unwritable_output_is_a_clear_error() {
    let dir = scratch_dir("synth_unwritable");
    let file = dir.join("missing-dir/t.yaml");
    let output = chatstack(&["synth", "--output", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: could not write"), "{stderr}");
    assert!(stderr.contains("missing-dir"), "{stderr}");
}

#[test]
fn help_explains_every_flag() {
    let output = chatstack(&["synth", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--stage",
        "--format",
        "--output",
        "chatstack-<stage>",
        "[default: dev]",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn stage_names_the_api_stage_and_the_urls() {
    let template = synth_json("prod");
    let stage = &template["Resources"]["Stage"]["Properties"];
    assert_eq!(stage["StageName"], "prod");
    let url = template["Outputs"]["WebSocketUrl"]["Value"]["Fn::Sub"]
        .as_str()
        .unwrap();
    assert_eq!(
        url,
        "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"
    );
}

#[test]
fn a_settings_file_adds_to_its_stage_only_and_mistakes_are_refused_by_key() {
    let dir = scratch_dir("synth_cli_settings");
    let config = dir.join("chatstack.toml");
    std::fs::write(&config, common::SETTINGS).unwrap();
    let config = config.to_str().unwrap();
    let with = |stage: &str| -> Value {
        let output = chatstack(&[
            "synth", "--stage", stage, "--format", "json", "--config", config,
        ]);
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    assert!(with("scheduled")["Resources"].get("PushSchedule").is_some());
    assert!(with("notify")["Outputs"].get("NotifyUrl").is_some());
    assert_eq!(with("dev"), synth_json("dev"), "no table: the guide's app");

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[stages.dev.schedule]\nexpression = \"rate(1 hours)\"\nmessage = \"m\"\n",
    )
    .unwrap();
    let output = chatstack(&["synth", "--config", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("expression")
            && stderr.contains("singular for 1"),
        "{stderr}"
    );
    let output = chatstack(&[
        "synth",
        "--config",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml"));
}

#[test]
fn synth_notes_a_template_over_cloudformations_inline_limit() {
    let dir = scratch_dir("synth_inline_limit");
    let config = dir.join("chatstack.toml");
    std::fs::write(
        &config,
        "[stages.big]\nnotify = true\nauthorization = true\n\n\
         [stages.big.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"hourly\"\n",
    )
    .unwrap();
    let run = |format: &str| {
        // The binary: the note goes to the process's stderr.
        let output = common::chatstack(&[
            "synth",
            "--stage",
            "big",
            "--format",
            format,
            "--config",
            config.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{output:?}");
        (
            output.stdout.len(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let limit = chatstack::deploy::TEMPLATE_BODY_LIMIT;
    for format in ["json", "yaml"] {
        let (bytes, stderr) = run(format);
        // Every setting as JSON is over the limit; as YAML, under it.
        assert_eq!(
            stderr.contains(&format!("this template is {bytes} bytes, over CloudFormation's {limit}-byte TemplateBody limit")),
            bytes > limit,
            "{format}: {bytes} bytes: {stderr}"
        );
    }
    assert!(
        run("json").0 > limit,
        "the JSON form of every setting is over the limit"
    );
}

#[test]
fn a_stages_throttling_setting_reaches_its_stage() {
    let dir = scratch_dir("synth_throttling");
    let config = dir.join("chatstack.toml");
    std::fs::write(
        &config,
        "[stages.dev.throttling]\nrate_limit = 20\nburst_limit = 5\n",
    )
    .unwrap();
    let output = chatstack(&[
        "synth",
        "--format",
        "json",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let template: Value = serde_json::from_slice(&output.stdout).unwrap();
    let route = &template["Resources"]["Stage"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(route["ThrottlingRateLimit"], 20.0);
    assert_eq!(route["ThrottlingBurstLimit"], 5);
    let other = synth_json("prod");
    let route = &other["Resources"]["Stage"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(route["ThrottlingRateLimit"], 100.0);
}
