//! History through `chatstack local`: real `chatstack.v1` clients against
//! the real handler binaries and DynamoDB in moto. A client dropped without
//! a close catches up on exactly what it missed, a newcomer reads the last
//! messages, concurrent senders number a room without gaps, and the
//! stage's limits hold.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::chat::ChatProcess;
use crate::common::local::Local;
use crate::common::ws::{Client, connect_v1, frame, send};

/// `local` with history kept, at most 20 messages a request, and `extra`.
fn local_with_history(name: &str, extra: &[&str]) -> Local {
    let config = crate::common::scratch_dir(name).join("chatstack.toml");
    std::fs::write(&config, "[stages.dev.history]\nmax_per_request = 20\n").unwrap();
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    Local::start_with(&args)
}

/// The next frame of `kind`, passing over presence.
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let got = frame(client).await;
        match got["type"].as_str() {
            Some(t) if t == kind => return got,
            Some("joined" | "left") => continue,
            _ => panic!("expected a {kind} frame, got {got}"),
        }
    }
}

/// The `seq` of the next `count` messages, in the order they arrived.
async fn numbers(client: &mut Client, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < count {
        let message = next_of(client, "message").await;
        assert_eq!(message["room"], "general", "{message}");
        seqs.push(
            message["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("no seq: {message}")),
        );
    }
    seqs
}

/// Joins general (already in it) and reads the answer (passing over
/// others' presence).
async fn join_answer(client: &mut Client) -> Value {
    send(client, json!({"action": "join", "room": "general"})).await;
    loop {
        let answer = next_of(client, "joined").await;
        if answer["action"] == "join" {
            return answer;
        }
    }
}

async fn history(client: &mut Client, request: Value) -> Value {
    send(client, request).await;
    next_of(client, "history").await
}

fn seqs_of(answer: &Value) -> Vec<u64> {
    answer["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {answer}"))
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// `count` messages from `sender`, sent one after another.
async fn say(sender: &mut Client, from: &str, count: usize) {
    for n in 0..count {
        let text = format!("{from} {n}");
        send(sender, json!({"action": "sendmessage", "data": text})).await;
    }
}

fn sorted(mut seqs: Vec<u64>) -> Vec<u64> {
    seqs.sort();
    seqs
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_client_catches_up_exactly_and_a_newcomer_reads_the_last_twenty() {
    let local = local_with_history("history_e2e", &[]);
    let url = &local.url;
    let mut alice = connect_v1(url).await;
    let mut bob = connect_v1(url).await;
    let mut carol = connect_v1(url).await;
    for client in [&mut alice, &mut bob] {
        join_answer(client).await;
    }
    let answer = join_answer(&mut carol).await;
    assert_eq!(answer["lastSeq"], 0, "nothing said yet: {answer}");
    assert!(answer["expiresAt"].as_u64().is_some(), "{answer}");

    say(&mut alice, "alice", 5).await;
    assert_eq!(sorted(numbers(&mut carol, 5).await), [1, 2, 3, 4, 5]);
    let last_seen = 5;

    // Carol's connection dies without a close frame (as a killed process's
    // or a lost network's would); the others talk meanwhile, at once.
    drop(carol);
    let (a, b) = tokio::join!(say(&mut alice, "alice", 5), say(&mut bob, "bob", 5));
    let ((), ()) = (a, b);
    let heard = numbers(&mut bob, 15).await;
    assert_eq!(
        sorted(heard),
        (1..=15).collect::<Vec<_>>(),
        "two senders at once: every number once, none skipped"
    );
    numbers(&mut alice, 15).await;

    let mut carol = connect_v1(url).await;
    let answer = join_answer(&mut carol).await;
    assert_eq!(answer["lastSeq"], 15, "the join answer says what it missed");
    let missed = history(
        &mut carol,
        json!({"action": "history", "room": "general", "after": last_seen}),
    )
    .await;
    assert_eq!(seqs_of(&missed), (6..=15).collect::<Vec<_>>(), "in order");
    assert_eq!(missed["more"], false);
    let texts: Vec<&str> = missed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.iter().filter(|t| t.starts_with("bob ")).count(), 5);
    assert_eq!(texts.iter().filter(|t| t.starts_with("alice ")).count(), 5);

    // Live again: the next one arrives once, numbered after the catch-up.
    say(&mut bob, "bob again", 1).await;
    assert_eq!(numbers(&mut carol, 1).await, [16]);
    assert_eq!(numbers(&mut alice, 1).await, [16]);

    // More, for a newcomer to read the last 20 of.
    say(&mut alice, "alice more", 14).await;
    // Every one of them numbered and kept before the newcomer asks.
    assert_eq!(
        sorted(numbers(&mut alice, 14).await),
        (17..=30).collect::<Vec<_>>()
    );
    let mut dave = connect_v1(url).await;
    join_answer(&mut dave).await;
    let last = history(&mut dave, json!({"action": "history", "limit": 20})).await;
    assert_eq!(seqs_of(&last), (11..=30).collect::<Vec<_>>());
    assert_eq!(last["more"], true, "older ones remain");

    // The stage's maximum (20) holds whatever is asked.
    let capped = history(
        &mut dave,
        json!({"action": "history", "after": 0, "limit": 500}),
    )
    .await;
    assert_eq!(seqs_of(&capped), (1..=20).collect::<Vec<_>>());
    assert_eq!(
        (&capped["more"], &capped["next"]),
        (&json!(true), &json!(20))
    );
    let rest = history(&mut dave, json!({"action": "history", "after": 20})).await;
    assert_eq!(seqs_of(&rest), (21..=30).collect::<Vec<_>>());
    assert_eq!(rest["more"], false);

    // Only for rooms it is in.
    send(&mut dave, json!({"action": "history", "room": "elsewhere"})).await;
    let refused = next_of(&mut dave, "error").await;
    assert_eq!(refused["action"], "history");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not in room \"elsewhere\""),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_older_than_the_retention_are_gone_from_the_history() {
    let local = local_with_history("history_retention", &["--history-retention", "2"]);
    let mut alice = connect_v1(&local.url).await;
    join_answer(&mut alice).await;
    say(&mut alice, "old", 3).await;
    numbers(&mut alice, 3).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    say(&mut alice, "new", 2).await;
    numbers(&mut alice, 2).await;
    let mut bob = connect_v1(&local.url).await;
    let answer = join_answer(&mut bob).await;
    assert_eq!(answer["lastSeq"], 5, "numbers are never reused");
    let kept = history(&mut bob, json!({"action": "history", "after": 0})).await;
    assert_eq!(
        seqs_of(&kept),
        [4, 5],
        "1 to 3 expired: the client sees a gap it cannot fill"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_stays_through_forced_lifetimes_and_idle_periods_and_loses_nothing() {
    let local = local_with_history(
        "history_chat",
        &["--max-lifetime", "5", "--idle-timeout", "2"],
    );
    let mut reader = ChatProcess::start(&[&local.url, "--heartbeat", "1"]);
    reader
        .wait_for("the first join", |l| l.starts_with("* You are in #general"))
        .await;

    // A writer talks for four lifetimes, on a new connection every 3 s
    // (its own would be closed at 5), each message taken before the next;
    // quiet stretches make the reader rely on its heartbeats.
    let mut sent = 0;
    for _ in 0..6 {
        let mut writer = connect_v1(&local.url).await;
        join_answer(&mut writer).await;
        for _ in 0..4 {
            let text = format!("note {sent}");
            send(&mut writer, json!({"action": "sendmessage", "data": text})).await;
            numbers(&mut writer, 1).await;
            sent += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        drop(writer);
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let wanted: Vec<String> = (0..sent).map(|n| format!("< note {n}")).collect();
    let heard = reader.lines_starting("< note ", wanted.len()).await;
    let all = reader.lines();
    assert_eq!(heard, wanted, "every message once, in order: {all:#?}");
    let ahead = all
        .iter()
        .filter(|l| l.contains("reconnecting ahead of the connection's time limit"))
        .count();
    assert!(ahead >= 3, "reconnected ahead of each lifetime: {all:#?}");
    assert!(
        !all.iter().any(|l| l.contains("no longer kept")),
        "no gap: {all:#?}"
    );
    assert!(reader.running(), "still chatting");
    reader.finish();
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_closed_for_idleness_reconnects_and_catches_up_on_what_was_said_meanwhile() {
    // No heartbeat inside the idle timeout: local closes the reader.
    let local = local_with_history("history_chat_idle", &["--idle-timeout", "2"]);
    let reader = ChatProcess::start(&[&local.url, "--heartbeat", "540"]);
    reader
        .wait_for("the first join", |l| l.starts_with("* You are in #general"))
        .await;

    // Closed for idleness: while the reader waits to reconnect (a random
    // part of a second), a writer talks; what the reader missed comes from
    // the history, what came after its rejoin live: each once, in order.
    let mut writer = connect_v1(&local.url).await;
    join_answer(&mut writer).await;
    reader
        .wait_for("the close", |l| l.contains("reconnecting in"))
        .await;
    for n in 0..3 {
        let text = format!("meanwhile {n}");
        send(&mut writer, json!({"action": "sendmessage", "data": text})).await;
        numbers(&mut writer, 1).await;
    }
    let heard = reader.lines_starting("< meanwhile ", 3).await;
    assert_eq!(heard, ["< meanwhile 0", "< meanwhile 1", "< meanwhile 2"]);
    reader.finish();
}
