//! The synthesized templates, reviewed: a change here is a change to what
//! users deploy. Snapshots live in the top-level `snapshots/` directory.

use crate::common;

use chatstack::chat::StageName;
use chatstack::cli::{Format, render};
use clap::ValueEnum;

fn assert_template_snapshot(stage: &str, format: Format) {
    let stage_name: StageName = stage.parse().unwrap();
    let text = render(&stage_name, &common::stage_settings(&stage_name), format).unwrap();
    let format_name = format
        .to_possible_value()
        .expect("every format has a name")
        .get_name()
        .to_owned();
    let name = format!("template_{stage}_{format_name}");
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        description => format!("chatstack synth --stage {stage} --format {format_name}"),
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn dev_json() {
    assert_template_snapshot("dev", Format::Json);
}

#[test]
fn dev_yaml() {
    assert_template_snapshot("dev", Format::Yaml);
}

#[test]
fn prod_json() {
    assert_template_snapshot("prod", Format::Json);
}

#[test]
fn prod_yaml() {
    assert_template_snapshot("prod", Format::Yaml);
}

/// A stage whose settings add the notify endpoint.
#[test]
fn notify_yaml() {
    assert_template_snapshot("notify", Format::Yaml);
}

/// A stage that requires tokens to connect.
#[test]
fn authorized_yaml() {
    assert_template_snapshot("authorized", Format::Yaml);
}

/// A stage that trusts an identity provider's tokens.
#[test]
fn oidc_yaml() {
    assert_template_snapshot("oidc", Format::Yaml);
}

/// A stage with a Cognito user pool of its own.
#[test]
fn cognito_yaml() {
    assert_template_snapshot("cognito", Format::Yaml);
}

/// A stage run in production: a custom domain, logs, alarms, a dashboard.
#[test]
fn operated_yaml() {
    assert_template_snapshot("operated", Format::Yaml);
}

/// A stage that keeps each room's messages.
#[test]
fn history_yaml() {
    assert_template_snapshot("history", Format::Yaml);
}

/// A stage whose settings add a schedule (and so the notify endpoint).
#[test]
fn scheduled_yaml() {
    assert_template_snapshot("scheduled", Format::Yaml);
}

/// The assets bucket stack every account gets on first deploy.
#[test]
fn bootstrap_yaml() {
    let text = chatstack::deploy::bootstrap::template()
        .unwrap()
        .to_yaml()
        .unwrap();
    insta::with_settings!({
        snapshot_path => "../../snapshots",
        prepend_module_to_snapshot => false,
        description => "the chatstack-bootstrap stack (assets bucket)",
        omit_expression => true,
    }, {
        insta::assert_snapshot!("bootstrap_yaml", text);
    });
}
