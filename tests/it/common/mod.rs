//! Helpers shared by the integration tests.

pub mod chat;
pub mod cli;
pub mod fake_cloud;
pub mod local;
pub mod moto;
pub mod oidc;
pub mod ws;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the `chatstack` binary built for these tests.
pub fn chatstack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(args)
        .output()
        .expect("the chatstack binary runs")
}

/// Runs `command` with `input` on its standard input (a password); what
/// it printed.
pub fn run_with_input(mut command: Command, input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    child
        .stdin
        .take()
        .expect("its standard input")
        .write_all(input.as_bytes())
        .expect("the input is written");
    child.wait_with_output().expect("the command ends")
}

/// The path of a pinned Python tool, installing it first if needed.
///
/// A missing tool fails the test with what to do; it is never a skip.
pub fn python_tool(name: &str) -> PathBuf {
    tool_from(None, name)
}

/// A tool from the checkov venv (see tests/tools.sh).
pub fn checkov() -> PathBuf {
    tool_from(Some("checkov"), "checkov")
}

fn tool_from(set: Option<&str>, name: &str) -> PathBuf {
    let script = Path::new(ROOT).join("tests/tools.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(set)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "tests/tools.sh could not install the test tools (it needs python3 with venv and pip, \
         and access to PyPI):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let tool = bin.join(name);
    assert!(
        tool.is_file(),
        "{} is missing after tests/tools.sh; is it in tests/requirements.txt?",
        tool.display()
    );
    tool
}

/// A fresh scratch directory under the target dir, named after the test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir can be created");
    dir
}

/// Stage settings for the tests: `notify` has the notify endpoint,
/// `authorized` requires tokens, `oidc` an identity provider's (with
/// groups and a required claim), `cognito` those of a user pool of its
/// own, `history` keeps rooms' messages, `scheduled` has a schedule (which
/// brings the endpoint too), `operated` has everything a production stage
/// adds (a custom domain, access and execution logs, alarms by e-mail and a
/// dashboard).
pub const SETTINGS: &str = r#"
[stages.notify]
notify = true

[stages.authorized]
authorization = true

[stages.oidc.authorization]
issuer = "https://example.eu.auth0.com/"
audience = "chatstack-web"
user_claim = "email"
groups = ["chat-users"]
required_claims = { email_verified = true }

[stages.cognito.authorization]
cognito = true

[stages.operated]
notify = true
authorization = true

[stages.operated.domain]
name = "chat.example.com"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
hosted_zone_id = "Z0123456789ABCDEFGHIJ"
notify_name = "notify.example.com"

[stages.operated.logging]
access = true
execution = "ERROR"

[stages.operated.alarms]
email = "ops@example.com"

[stages.history.history]
days = 3
max_per_request = 50

[stages.scheduled.schedule]
expression = "cron(0 9 ? * MON-FRI *)"
message = "Stand-up in 10 minutes"
timezone = "Europe/Berlin"
"#;

/// The stages [`SETTINGS`] configures, each template the checks go over.
pub const CONFIGURED_STAGES: [&str; 7] = [
    "notify",
    "scheduled",
    "authorized",
    "oidc",
    "cognito",
    "operated",
    "history",
];

/// The settings of `stage` in [`SETTINGS`].
pub fn stage_settings(stage: &chatstack::chat::StageName) -> chatstack::settings::StageSettings {
    chatstack::settings::Settings::parse(SETTINGS, Path::new("chatstack.toml"))
        .expect("the test settings parse")
        .stage(stage)
}
