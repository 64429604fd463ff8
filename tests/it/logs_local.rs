//! `chatstack logs --local` as a new user meets it: start `chatstack
//! local`, chat, then read what the functions logged, once and following.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::local::{Local, field_after};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn logs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .arg("logs")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("chatstack runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The run's log directory, from the banner.
fn logs_dir(local: &Local) -> String {
    let log = local
        .lines()
        .iter()
        .find(|l| l.contains("function sendmessage "))
        .and_then(|l| field_after(l, " log "))
        .expect("the banner names sendmessage's log")
        .to_owned();
    std::path::Path::new(&log)
        .parent()
        .unwrap()
        .display()
        .to_string()
}

/// Lines of `logs` output until one contains `wanted`, or 20 s.
fn read_until(lines: &mpsc::Receiver<String>, wanted: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.iter().any(|l| l.contains(wanted)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with {wanted:?} in: {seen:#?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_sent_on_local_shows_in_its_logs_with_totals() {
    let local = Local::start();
    let dir = logs_dir(&local);
    let hint = format!("Read the logs with: chatstack logs --local {dir} --follow");
    assert!(local.lines().contains(&hint), "{:?}", local.lines());
    let (mut alice, _) = tokio_tungstenite::connect_async(&local.url).await.unwrap();
    let (_bob, _) = tokio_tungstenite::connect_async(&local.url).await.unwrap();
    let ids = local.await_ids(2).await;
    alice
        .send(Message::Text(
            r#"{"action":"sendmessage","data":"hi all"}"#.into(),
        ))
        .await
        .unwrap();
    assert!(matches!(alice.next().await, Some(Ok(Message::Text(t))) if t == "hi all"));

    // As the README says: the latest run's logs of the last minute.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let output = logs(&["--local", "--since", "1m"]);
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        if text.contains("broadcast done") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let broadcast = text
        .lines()
        .find(|l| l.contains("broadcast done"))
        .unwrap_or_else(|| panic!("no broadcast line in:\n{text}"));
    assert!(
        broadcast.contains(" sendmessage INFO   broadcast done connection_id="),
        "{broadcast}"
    );
    // The room, right after who sent to it.
    let sender = field_after(broadcast, "connection_id=").unwrap();
    assert!(
        broadcast.contains(&format!("connection_id={sender} room=general ")),
        "{broadcast}"
    );
    assert!(
        broadcast.contains(" sent=2 gone=0 failed=0 unreached=0 "),
        "{broadcast}"
    );
    assert!(ids.iter().any(|id| id == sender), "{sender} in {ids:?}");
    assert!(text.starts_with("--- "), "a day header first:\n{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains(" connect ")
                && l.contains("connected connection_id=")
                && l.contains(" room=general "))
            .count()
            == 2,
        "both connections:\n{text}"
    );
    // Lambda's report, folded into one line; its start hidden.
    let report = text
        .lines()
        .find(|l| l.contains(" sendmessage REPORT "))
        .unwrap_or_else(|| panic!("no report line:\n{text}"));
    assert!(
        report.contains(" MB") && report.contains("memory "),
        "{report}"
    );
    assert!(!text.contains("platform.start"), "{text}");

    // One function, JSON for piping: every event, Lambda's included.
    let json = logs(&[
        "--local",
        &dir,
        "--since",
        "1m",
        "--function",
        "sendmessage",
        "--json",
    ]);
    let events: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.iter().all(|e| e["function"] == "sendmessage"));
    assert!(
        events
            .iter()
            .any(|e| e["message"]["type"] == "platform.start")
    );
    assert!(
        events
            .iter()
            .any(|e| e["message"]["fields"]["message"] == "broadcast done")
    );

    // A filter pattern, as CloudWatch Logs takes it.
    let filtered = stdout(&logs(&[
        "--local",
        &dir,
        "--since",
        "1m",
        "--filter",
        "\"broadcast done\"",
    ]));
    assert_eq!(
        filtered.lines().filter(|l| !l.starts_with("---")).count(),
        1,
        "{filtered}"
    );

    // A name that is not a function of the run lists those that are.
    let wrong = logs(&["--local", &dir, "--function", "sendmesage"]);
    assert_eq!(wrong.status.code(), Some(1));
    let error = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        error.contains("has no function \"sendmesage\"; its functions are: connect, disconnect, sendmessage, rooms, default"),
        "{error}"
    );

    follow_until_ctrl_c(&dir, &mut alice).await;
}

/// `--follow` prints what arrives after it started, then Ctrl-C ends it
/// cleanly.
async fn follow_until_ctrl_c(
    dir: &str,
    alice: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) {
    let mut follow = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["logs", "--local", dir, "--since", "1m", "--follow"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = mpsc::channel();
    let reader = BufReader::new(follow.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut seen = Vec::new();
    read_until(&lines, "sent=2", &mut seen);
    alice
        .send(Message::Text(
            r#"{"action":"sendmessage","data":"while following"}"#.into(),
        ))
        .await
        .unwrap();
    let before = seen.iter().filter(|l| l.contains("broadcast done")).count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.iter().filter(|l| l.contains("broadcast done")).count() == before {
        assert!(
            Instant::now() < deadline,
            "the new broadcast never showed: {seen:#?}"
        );
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(500)) {
            seen.push(line);
        }
    }
    let pid = follow.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs --follow ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "Ctrl-C is a clean stop: {status:?}");
    assert_eq!(
        seen.iter().filter(|l| l.contains("broadcast done")).count(),
        2,
        "each broadcast once: {seen:#?}"
    );
}
