//! Mistakes a user makes on the command line get one line saying what is
//! wrong and what to do, before anything is read or started.

use crate::common;

use std::process::{Command, Output, Stdio};

use crate::common::scratch_dir;

fn run(args: &[&str], home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Where the handlers' local builds are, if the tests moved it.
        .envs(std::env::var("CARGO_TARGET_DIR").map(|d| ("CARGO_TARGET_DIR", d)))
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_profile_that_does_not_exist_is_named_with_those_that_do() {
    let home = scratch_dir("cli_errors_profile");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-1\n",
    )
    .unwrap();
    for args in [
        &["destroy", "--stage", "dev", "--yes", "--profile", "nosuch"][..],
        &[
            "token",
            "--stage",
            "dev",
            "--user",
            "a",
            "--profile",
            "nosuch",
        ][..],
    ] {
        let output = run(args, &home);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let text = stderr(&output);
        assert!(
            text.contains("there is no AWS profile \"nosuch\"")
                && text.contains("they define default, work")
                && !text.contains("no AWS region")
                && !text.contains("no AWS credentials"),
            "{args:?}: {text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}

#[test]
fn a_token_lifetime_under_a_minute_or_over_30_days_is_refused_before_anything_is_read() {
    let home = scratch_dir("cli_errors_ttl");
    for (ttl, rule) in [
        ("0s", "at least a minute"),
        ("59s", "at least a minute"),
        ("31d", "at most 30 days"),
    ] {
        // The secret file does not exist: the lifetime is refused first.
        let output = run(
            &[
                "token",
                "--secret-file",
                "missing",
                "--user",
                "a",
                "--ttl",
                ttl,
            ],
            &home,
        );
        assert_eq!(output.status.code(), Some(2), "{ttl}");
        let text = stderr(&output);
        assert!(
            text.contains(rule) && text.contains("--ttl"),
            "{ttl}: {text}"
        );
    }
}

#[test]
fn local_with_a_dynamodb_endpoint_and_no_credentials_fails_in_one_line() {
    let home = scratch_dir("cli_errors_dynamodb_endpoint");
    // Built by the other tests' runs or by this one first.
    drop(common::local::Local::start());
    let port = chatstack::local::dynamo::free_port().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let handlers = format!("{}/handlers", common::ROOT);
    let output = run(
        &[
            "local",
            "--port",
            "0",
            "--no-build",
            "--handlers-dir",
            &handlers,
            "--dynamodb-endpoint",
            &endpoint,
        ],
        &home,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(
        text.contains("creating table") && text.contains("Connection refused"),
        "{text}"
    );
    assert!(!text.contains("ProviderChainError"), "{text}");
}

#[test]
fn a_bare_chatstack_says_where_to_start_and_usage_shows_the_either_or() {
    let home = scratch_dir("cli_errors_bare");
    let bare = run(&[], &home);
    assert_eq!(bare.status.code(), Some(2));
    let text = stderr(&bare);
    assert!(
        text.contains("Start here:") && text.contains("chatstack local"),
        "{text}"
    );
    for (command, either_or) in [
        (
            "token",
            "chatstack token (--stage S | --local [DIR] | --secret-file F) --user NAME",
        ),
        ("notify", "chatstack notify (--stage S | --url URL)"),
    ] {
        let help = run(&[command, "--help"], &home);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains(either_or), "{command}: {text}");
    }
    for command in ["diff", "destroy", "users"] {
        let help = run(&[command, "--help"], &home);
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains("Examples:"), "{command}: {text}");
    }
    // The users commands say what they need and where the password comes from.
    let help = run(&["users", "--help"], &home);
    let text = String::from_utf8_lossy(&help.stdout);
    for needed in [
        "cognito-idp:AdminCreateUser",
        "cognito-idp:ListUsers",
        "standard input",
    ] {
        assert!(text.contains(needed), "users --help lacks {needed}: {text}");
    }
    let help = run(&["users", "add", "--help"], &home);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("without echo") && text.contains("--local"),
        "{text}"
    );
}

#[test]
fn users_need_a_pool_and_a_fit_name_before_anything_is_sent() {
    let home = scratch_dir("cli_errors_users");
    let neither = run(&["users", "list"], &home);
    assert_eq!(neither.status.code(), Some(2));
    assert!(stderr(&neither).contains("--stage"), "{}", stderr(&neither));
    let nowhere = home.join("no-run");
    let no_run = run(
        &["users", "list", "--local", nowhere.to_str().unwrap()],
        &home,
    );
    assert_eq!(no_run.status.code(), Some(1));
    assert!(
        stderr(&no_run).contains("has no user pool") && stderr(&no_run).contains("cognito = true"),
        "{}",
        stderr(&no_run)
    );
    assert_eq!(stderr(&no_run).lines().count(), 1, "{}", stderr(&no_run));
    let spaced = run(
        &[
            "users",
            "remove",
            "a b",
            "--local",
            nowhere.to_str().unwrap(),
        ],
        &home,
    );
    assert!(
        stderr(&spaced).contains("invalid user name \"a b\""),
        "{}",
        stderr(&spaced)
    );
}
