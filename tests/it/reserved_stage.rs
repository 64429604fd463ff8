//! `--stage bootstrap` would name chatstack's own assets stack: every
//! command refuses it before reaching AWS (each run in process).

use crate::common::cli::run as chatstack;

#[test]
fn every_command_refuses_the_stage_of_chatstacks_own_stack() {
    for command in [
        &["synth", "--stage", "bootstrap"][..],
        &["deploy", "--stage", "bootstrap", "--yes", "--no-build"],
        &["diff", "--stage", "bootstrap", "--no-build"],
        &["destroy", "--stage", "bootstrap", "--yes"],
        &["local", "--stage", "bootstrap", "--no-build"],
    ] {
        let output = chatstack(command);
        // clap's exit code for a bad argument: refused while parsing.
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        assert!(output.stdout.is_empty(), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("is reserved") && stderr.contains("chatstack-bootstrap"),
            "{command:?}: {stderr}"
        );
    }
}
