//! History against DynamoDB in moto on loopback: a message numbered and
//! kept (the counter's UpdateItem and the message's PutItem), alone and
//! with senders side by side; and the catch-up reads a reconnecting client
//! makes (after its last number) and a newcomer's (the last 20). The
//! figures are chatstack's and moto's own time on this machine, not
//! DynamoDB's: what they show is the number and shape of the calls, and
//! how the cost grows with a read's size. `cargo bench --bench history`
//! (in handlers/).

#[path = "../tests/it/support/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::ScalarAttributeType;
use chat_core::history::{DynamoHistory, HistoryStore, Span, Unnumbered};

const APPENDS: usize = 300;
const SENDERS: usize = 8;
const READS: usize = 100;

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn message(text: &str) -> Unnumbered<'_> {
    Unnumbered {
        text,
        from: Some("ana"),
        sender: Some("L0bbyC0nnId="),
        at_ms: 1_795_323_000_123,
    }
}

fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
    )
}

/// Appends of 200-byte messages to `room`, one after another.
async fn appends(history: &DynamoHistory, room: &str, count: usize) -> Vec<Duration> {
    let text = "x".repeat(200);
    let expires = now_s() + 86_400;
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        history
            .append(room, message(&text), expires)
            .await
            .expect("append works");
        times.push(started.elapsed());
    }
    times
}

async fn reads(
    history: &DynamoHistory,
    room: &str,
    span: Span,
    limit: u32,
) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(READS);
    let mut got = 0;
    for _ in 0..READS {
        let started = Instant::now();
        let page = history
            .read(room, span, limit, now_s())
            .await
            .expect("read works");
        times.push(started.elapsed());
        got = page.messages.len();
    }
    (times, got)
}

#[tokio::main]
async fn main() {
    let moto = moto::Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let keys = [
        ("room", ScalarAttributeType::S),
        ("seq", ScalarAttributeType::N),
    ];
    moto::create_typed_table(&client, "history", &keys).await;
    let history = DynamoHistory::new(client, "history");

    println!("history against moto on loopback (200-byte messages; moto's time, not DynamoDB's)");
    println!("| operation | DynamoDB calls | p50 | p99 |");
    println!("|---|---|---|---|");
    let (p50, p99) = percentiles(appends(&history, "general", APPENDS).await);
    println!(
        "| keep one message ({APPENDS}, one sender) | UpdateItem + PutItem | {p50:.2} ms | {p99:.2} ms |"
    );

    let started = Instant::now();
    let side_by_side = (0..SENDERS).map(|_| appends(&history, "busy", APPENDS / SENDERS));
    let times: Vec<Duration> = futures::future::join_all(side_by_side)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    let kept = times.len();
    let (p50, p99) = percentiles(times);
    println!(
        "| keep one message ({SENDERS} senders side by side, {:.0} a second) | UpdateItem + PutItem | {p50:.2} ms | {p99:.2} ms |",
        kept as f64 / elapsed.as_secs_f64()
    );
    let last = history.last_seq("busy").await.expect("the counter reads");
    assert_eq!(last as usize, kept, "every number given once");

    for (what, span, limit) in [
        (
            "catch up on 10 missed",
            Span::After(APPENDS as u64 - 10),
            100,
        ),
        (
            "catch up on 100 missed",
            Span::After(APPENDS as u64 - 100),
            100,
        ),
        ("a newcomer's last 20", Span::Latest, 20),
    ] {
        let (times, got) = reads(&history, "general", span, limit).await;
        assert!(got > 0);
        let (p50, p99) = percentiles(times);
        println!("| {what} ({got} messages, {READS} reads) | Query | {p50:.2} ms | {p99:.2} ms |");
    }
}
