//! The heartbeat route through `chatstack local`: a `MOCK` integration
//! that keeps a connection from going idle and invokes no function.

use std::time::{Duration, Instant};

use crate::common::local::Local;
use crate::common::ws::receive;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread")]
async fn heartbeats_keep_a_connection_past_the_idle_timeout_and_invoke_nothing() {
    let local = Local::start_with(&["--idle-timeout", "2"]);
    let (mut beating, _) = tokio_tungstenite::connect_async(&local.url).await.unwrap();
    let (mut silent, _) = tokio_tungstenite::connect_async(&local.url).await.unwrap();
    local.await_ids(2).await;
    let invocations = |local: &Local| {
        local
            .lines()
            .iter()
            .filter(|l| l.starts_with(chat_contract::HEARTBEAT_ROUTE))
            .cloned()
            .collect::<Vec<_>>()
    };

    // Three idle timeouts of heartbeats, one a second: still open, and
    // nothing came back.
    let heartbeat = format!(r#"{{"action":"{}"}}"#, chat_contract::HEARTBEAT_ROUTE);
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        beating
            .send(Message::Text(heartbeat.clone().into()))
            .await
            .unwrap();
        if let Ok(frame) = tokio::time::timeout(Duration::from_secs(1), beating.next()).await {
            panic!("a heartbeat is answered with nothing, got {frame:?}");
        }
    }
    // The silent one was closed as idle meanwhile.
    match tokio::time::timeout(Duration::from_secs(1), silent.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected the silent client's idle close, got {other:?}"),
    }
    beating
        .send(Message::Text(
            r#"{"action":"sendmessage","data":"still here"}"#.into(),
        ))
        .await
        .unwrap();
    assert_eq!(receive(&mut beating).await, "still here");

    // Each heartbeat is a MOCK line in local's log, and no function ran.
    let beats = invocations(&local);
    assert!(beats.len() >= 5, "{:?}", local.lines());
    assert!(
        beats.iter().all(|l| l.contains("MOCK (no function)")),
        "{beats:?}"
    );
    // (local logs an invocation once it returns, after the reply left.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while !local.lines().iter().any(|l| l.starts_with("sendmessage")) {
        assert!(Instant::now() < deadline, "{:?}", local.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let routed: Vec<String> = local
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("$default") || l.starts_with("sendmessage"))
        .collect();
    assert_eq!(
        routed.len(),
        1,
        "only the message invoked a function: {routed:?}"
    );
}

#[test]
fn the_chat_client_heartbeats_through_idle_periods() {
    use std::io::{BufRead, Write};
    let local = Local::start_with(&["--idle-timeout", "2"]);
    let mut chat = std::process::Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["chat", &local.url, "--heartbeat", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(chat.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("Connected to "), "{line}");
    // Three idle timeouts, then a message still goes through.
    std::thread::sleep(Duration::from_secs(6));
    assert!(chat.try_wait().unwrap().is_none(), "chat ended while idle");
    writeln!(chat.stdin.as_mut().unwrap(), "after a quiet while").unwrap();
    drop(chat.stdin.take());
    assert!(chat.wait().unwrap().success());
    let beats = local
        .lines()
        .iter()
        .filter(|l| l.starts_with(chat_contract::HEARTBEAT_ROUTE))
        .count();
    assert!(beats >= 4, "{:?}", local.lines());
    let connects = local
        .lines()
        .iter()
        .filter(|l| l.starts_with("$connect"))
        .count();
    assert_eq!(
        connects, 1,
        "never closed for idleness, so never reconnected"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !local.lines().iter().any(|l| l.starts_with("sendmessage")) {
        assert!(Instant::now() < deadline, "{:?}", local.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
}
