//! A function missing its configuration stops at start-up with a message
//! that names the variable, before it asks the Lambda runtime for events.

use std::process::Command;

fn start(env: &[(&str, &str)]) -> std::process::Output {
    start_binary(env!("CARGO_BIN_EXE_sendmessage"), env)
}

fn start_binary(binary: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(binary);
    command
        .env_clear()
        // Nothing listens here: if start-up got this far, the test would see
        // a runtime connection error instead of the configuration message.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

#[test]
fn missing_table_name_fails_fast_and_says_so() {
    let output = start(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TABLE_NAME is not set"), "{stderr}");
}

#[test]
fn bad_concurrency_fails_fast_and_says_so() {
    let output = start(&[("TABLE_NAME", "t"), ("SEND_CONCURRENCY", "lots")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SEND_CONCURRENCY is \"lots\""), "{stderr}");
}

/// The tables every function of a WebSocket route reads.
const TABLES: &[(&str, &str)] = &[("TABLE_NAME", "t"), ("CHATSTACK_MEMBERS_TABLE", "m")];

#[test]
fn functions_of_rooms_need_the_members_table_and_say_so() {
    for binary in [
        env!("CARGO_BIN_EXE_connect"),
        env!("CARGO_BIN_EXE_disconnect"),
        env!("CARGO_BIN_EXE_default"),
        env!("CARGO_BIN_EXE_sendmessage"),
        env!("CARGO_BIN_EXE_rooms"),
        env!("CARGO_BIN_EXE_notify"),
    ] {
        let output = start_binary(binary, &[("TABLE_NAME", "t")]);
        assert_eq!(output.status.code(), Some(1), "{binary}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("CHATSTACK_MEMBERS_TABLE is not set"),
            "{binary}: {stderr}"
        );
    }
}

#[test]
fn functions_that_post_need_the_management_endpoint_and_say_so() {
    for (binary, env) in [
        (env!("CARGO_BIN_EXE_sendmessage"), TABLES),
        (env!("CARGO_BIN_EXE_default"), TABLES),
        (env!("CARGO_BIN_EXE_connect"), TABLES),
        (env!("CARGO_BIN_EXE_disconnect"), TABLES),
        (env!("CARGO_BIN_EXE_rooms"), TABLES),
    ] {
        let output = start_binary(binary, env);
        assert_eq!(output.status.code(), Some(1), "{binary}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("CHATSTACK_MANAGEMENT_ENDPOINT is not set"),
            "{binary}: {stderr}"
        );
    }
}

#[test]
fn functions_that_broadcast_need_the_fanout_queue_and_say_so() {
    let env = [
        ("TABLE_NAME", "t"),
        ("CHATSTACK_MEMBERS_TABLE", "m"),
        ("CHATSTACK_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9/dev"),
        ("AWS_REGION", "us-east-1"),
    ];
    for binary in [
        env!("CARGO_BIN_EXE_sendmessage"),
        env!("CARGO_BIN_EXE_notify"),
        env!("CARGO_BIN_EXE_fanout"),
    ] {
        let output = start_binary(binary, &env);
        assert_eq!(output.status.code(), Some(1), "{binary}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("CHATSTACK_FANOUT_QUEUE_URL is not set"),
            "{binary}: {stderr}"
        );
    }
}

#[test]
fn the_worker_needs_the_fanout_jobs_table_and_says_so() {
    let env = [
        ("TABLE_NAME", "t"),
        ("CHATSTACK_MEMBERS_TABLE", "m"),
        ("CHATSTACK_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9/dev"),
        ("CHATSTACK_FANOUT_QUEUE_URL", "http://127.0.0.1:9/q.fifo"),
        ("AWS_REGION", "us-east-1"),
    ];
    let output = start_binary(env!("CARGO_BIN_EXE_fanout"), &env);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CHATSTACK_FANOUT_JOBS_TABLE is not set"),
        "{stderr}"
    );
}

#[test]
fn the_authorizer_needs_its_secret_and_says_so() {
    let output = start_binary(env!("CARGO_BIN_EXE_authorizer"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CHATSTACK_TOKEN_SECRET_ARN is not set"),
        "{stderr}"
    );
}

/// Set in the child process of
/// [`a_panic_ends_the_process_even_where_it_is_caught`].
const PANIC_CHILD: &str = "CHAT_CORE_TEST_PANIC_CHILD";

/// The debug build `chatstack local` runs unwinds; with the hook every
/// function installs, a panic still ends its process, as the release
/// build's `panic = "abort"` does in Lambda, even inside a
/// `catch_unwind` (where lambda_runtime runs a handler).
#[test]
fn a_panic_ends_the_process_even_where_it_is_caught() {
    if std::env::var_os(PANIC_CHILD).is_some() {
        chat_core::runtime::abort_on_panic();
        let caught = std::panic::catch_unwind(|| panic!("a handler's bug"));
        println!("survived: {}", caught.is_err());
        return;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([
            "--exact",
            "startup::a_panic_ends_the_process_even_where_it_is_caught",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PANIC_CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stdout.contains("survived"),
        "the panic was caught: {stdout}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(6), "not aborted: {stderr}");
    assert!(
        stderr.contains("a handler's bug"),
        "the panic was not reported: {stderr}"
    );
}
