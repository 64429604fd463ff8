//! The real DynamoDB history against DynamoDB in a moto server: numbers
//! from the counter under concurrent appends, reads after a number and of
//! the last ones, expired messages skipped, and where to go on.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::moto::{Moto, create_typed_table};
use aws_sdk_dynamodb::types::ScalarAttributeType;
use chat_core::history::{DynamoHistory, HistoryStore, Span, Unnumbered};

async fn history_table(moto: &Moto) -> DynamoHistory {
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let keys = [
        ("room", ScalarAttributeType::S),
        ("seq", ScalarAttributeType::N),
    ];
    create_typed_table(&client, "history", &keys).await;
    DynamoHistory::new(client, "history")
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn message(text: &str) -> Unnumbered<'_> {
    Unnumbered {
        text,
        from: Some("ana"),
        sender: Some("c1="),
        at_ms: 1_795_323_000_123,
    }
}

fn seqs(page: &chat_core::history::HistoryPage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_appends_are_numbered_one_by_one_and_read_back_in_order() {
    let moto = Moto::start();
    let history = history_table(&moto).await;
    let expires = now_s() + 3600;
    assert_eq!(history.last_seq("general").await.unwrap(), 0);
    let texts: Vec<String> = (1..=30).map(|n| format!("m{n}")).collect();
    let appends = texts
        .iter()
        .map(|text| history.append("general", message(text), expires));
    let mut numbers: Vec<u64> = futures::future::join_all(appends)
        .await
        .into_iter()
        .map(|seq| seq.expect("append works"))
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=30).collect::<Vec<_>>(),
        "contiguous, each once"
    );
    assert_eq!(history.last_seq("general").await.unwrap(), 30);
    history
        .append("ops", message("other"), expires)
        .await
        .unwrap();
    assert_eq!(
        history.last_seq("ops").await.unwrap(),
        1,
        "a counter per room"
    );

    let after = history
        .read("general", Span::After(25), 100, now_s())
        .await
        .unwrap();
    assert_eq!(seqs(&after), [26, 27, 28, 29, 30]);
    assert_eq!((after.more, after.next), (false, None));
    let kept = &after.messages[0];
    assert_eq!(
        (kept.from.as_deref(), kept.sender.as_deref(), kept.at_ms),
        (Some("ana"), Some("c1="), 1_795_323_000_123)
    );
    let by_number: Vec<&str> = after.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(by_number.len(), 5);

    let latest = history
        .read("general", Span::Latest, 5, now_s())
        .await
        .unwrap();
    assert_eq!(seqs(&latest), [26, 27, 28, 29, 30], "oldest first");
    assert_eq!((latest.more, latest.next), (true, None));

    let first = history
        .read("general", Span::After(0), 4, now_s())
        .await
        .unwrap();
    assert_eq!(seqs(&first), [1, 2, 3, 4]);
    assert_eq!((first.more, first.next), (true, Some(4)));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_messages_are_skipped_and_a_long_run_of_them_says_where_to_go_on() {
    let moto = Moto::start();
    let history = history_table(&moto).await;
    let now = now_s();
    // DynamoDB removes expired items within days, not at once: they are
    // still in the table, as moto keeps them.
    for n in 1..=20 {
        let text = format!("old {n}");
        history
            .append("general", message(&text), now - 10)
            .await
            .unwrap();
    }
    for n in 21..=22 {
        let text = format!("new {n}");
        history
            .append("general", message(&text), now + 3600)
            .await
            .unwrap();
    }
    let all = history
        .read("general", Span::After(0), 100, now)
        .await
        .unwrap();
    assert_eq!(seqs(&all), [21, 22]);
    assert!(!all.more);
    let latest = history.read("general", Span::Latest, 5, now).await.unwrap();
    assert_eq!(seqs(&latest), [21, 22]);

    // One at a time, the queries pass only expired ones for a while: the
    // answer is empty but says where to go on from, and going on arrives.
    let mut after = 0;
    let mut found = Vec::new();
    for _ in 0..10 {
        let page = history
            .read("general", Span::After(after), 1, now)
            .await
            .unwrap();
        found.extend(seqs(&page));
        match page.next {
            Some(next) => {
                assert!(next > after, "{next} moves on from {after}");
                after = next;
            }
            None => break,
        }
    }
    assert_eq!(found, [21, 22]);
}
