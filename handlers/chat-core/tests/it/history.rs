//! Rooms' history through the routes, with fakes: numbers on delivered
//! messages, contiguous under concurrent senders, `history` answers and
//! their limits, the join answer's last number and expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{
    FakeHistory, FakePoster, FakeStore, NO_HISTORY, action, fanout, frames, message_from,
    store_with,
};
use chat_core::fanout::FanoutConfig;
use chat_core::history::{RoomHistory, Unnumbered};
use chat_core::routes::{self, NOT_STORED, rooms};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);

fn later() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}

async fn send(
    store: &FakeStore,
    poster: &FakePoster,
    history: &RoomHistory<FakeHistory>,
    from: &str,
    text: &str,
) -> i64 {
    let body = json!({"action": "sendmessage", "data": text}).to_string();
    routes::send_message(
        store,
        poster,
        &message_from(from, Some(&body)),
        &fanout(FanoutConfig::default()),
        Some(history),
        None,
        later(),
    )
    .await
    .status_code
}

/// `from`'s room action `body` on `route`, answered at `now`.
async fn act(
    store: &FakeStore,
    poster: &FakePoster,
    history: Option<&RoomHistory<FakeHistory>>,
    from: &str,
    body: Value,
    now: SystemTime,
) -> i64 {
    let route = body["action"].as_str().unwrap_or("history").to_owned();
    rooms::room_action(
        store,
        poster,
        &action(from, &route, &body.to_string()),
        history,
        100,
        None,
        now,
    )
    .await
    .status_code
}

/// The one frame `id` got.
fn only_frame(poster: &FakePoster, id: &str) -> Value {
    let mut all = frames(poster);
    let got = all.remove(id).unwrap_or_default();
    assert_eq!(got.len(), 1, "{id}: {got:?}");
    got.into_iter().next().unwrap()
}

fn seqs(frame: &Value) -> Vec<u64> {
    frame["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn concurrent_senders_get_contiguous_numbers_and_every_copy_carries_its_own() {
    let members: Vec<String> = (0..8).map(|n| format!("m{n}")).collect();
    let framed: Vec<(&str, &[&str])> = members
        .iter()
        .map(|id| (id.as_str(), &["general"][..]))
        .collect();
    let store = store_with(&framed, &[("plain", &["general"]), ("other", &["ops"])]);
    let history = FakeHistory::default().kept(DAY, 100);
    let poster = FakePoster::default();
    let sends = (0..40).map(|n| {
        let (store, poster, history) = (&store, &poster, &history);
        let from = members[n % members.len()].clone();
        async move { send(store, poster, history, &from, &format!("message {n}")).await }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(history.store.seqs("general"), (1..=40).collect::<Vec<_>>());
    assert!(history.store.seqs("ops").is_empty(), "ops heard nothing");

    let received = frames_of(&poster, "m3");
    let mut numbered: Vec<(u64, String)> = received
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    numbered.sort();
    assert_eq!(numbered.len(), 40);
    assert_eq!(
        numbered.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>(),
        "each number once"
    );
    // Each copy's number is the one its text was kept under.
    let rooms = history.store.rooms.lock().unwrap();
    for (seq, text) in &numbered {
        let kept = &rooms["general"].1[*seq as usize - 1].0;
        assert_eq!((&kept.text, kept.seq), (text, *seq));
    }
    // A plain client still gets the bare text, no number.
    assert!(
        poster.received()["plain"]
            .iter()
            .all(|t| t.starts_with("message "))
    );
}

/// The frames `id` got, parsed.
fn frames_of(poster: &FakePoster, id: &str) -> Vec<Value> {
    let received = poster.received();
    let texts = received.get(id).map(Vec::as_slice).unwrap_or_default();
    texts
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect()
}

#[tokio::test]
async fn a_message_that_cannot_be_kept_is_not_sent_and_the_sender_is_told() {
    let store = store_with(&[("a", &["general"]), ("b", &["general"])], &[]);
    let failing = FakeHistory {
        fail_append: true,
        ..FakeHistory::default()
    };
    let history = failing.kept(DAY, 100);
    let poster = FakePoster::default();
    assert_eq!(send(&store, &poster, &history, "a", "lost?").await, 500);
    let answer = only_frame(&poster, "a");
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["message"], NOT_STORED);
    assert!(frames_of(&poster, "b").is_empty(), "nothing delivered");
}

/// A store of `a` (in general and ops) and `b` (in general), and a history
/// of `count` messages in general, kept at `kept_at_s` for `retention`.
async fn room_with_history(
    count: u64,
    kept_at_s: u64,
    retention: Duration,
    most: u32,
) -> (FakeStore, RoomHistory<FakeHistory>) {
    let store = store_with(&[("a", &["general", "ops"]), ("b", &["general"])], &[]);
    let history = FakeHistory::default().kept(retention, most);
    for n in 1..=count {
        let text = format!("m{n}");
        let message = Unnumbered {
            text: &text,
            from: None,
            sender: Some("b"),
            at_ms: kept_at_s * 1000,
        };
        history.append("general", message, kept_at_s).await.unwrap();
    }
    (store, history)
}

fn epoch_s(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn history_answers_after_a_number_or_the_last_ones_in_order() {
    let now = SystemTime::now();
    let (store, history) = room_with_history(30, epoch_s(now), DAY, 100).await;
    let poster = FakePoster::default();
    let asked = json!({"action": "history", "room": "general", "after": 25});
    assert_eq!(
        act(&store, &poster, Some(&history), "a", asked, now).await,
        200
    );
    let answer = only_frame(&poster, "a");
    assert_eq!(answer["type"], "history");
    assert_eq!(answer["room"], "general");
    assert_eq!(seqs(&answer), [26, 27, 28, 29, 30]);
    assert_eq!(answer["more"], false);
    assert!(answer.get("next").is_none());
    let first = &answer["messages"][0];
    assert_eq!(
        (
            &first["type"],
            &first["room"],
            &first["text"],
            &first["connectionId"]
        ),
        (
            &json!("message"),
            &json!("general"),
            &json!("m26"),
            &json!("b")
        ),
        "each is a message frame"
    );

    // The last 20, for a newcomer; the room it connected to by default.
    let poster = FakePoster::default();
    let asked = json!({"action": "history", "limit": 20});
    assert_eq!(
        act(&store, &poster, Some(&history), "b", asked, now).await,
        200
    );
    let answer = only_frame(&poster, "b");
    assert_eq!(seqs(&answer), (11..=30).collect::<Vec<_>>());
    assert_eq!(answer["more"], true, "older ones remain");

    // A limit cuts an `after` read: more, and where to go on.
    let poster = FakePoster::default();
    let asked = json!({"action": "history", "after": 0, "limit": 4});
    assert_eq!(
        act(&store, &poster, Some(&history), "a", asked, now).await,
        200
    );
    let answer = only_frame(&poster, "a");
    assert_eq!(seqs(&answer), [1, 2, 3, 4]);
    assert_eq!(
        (&answer["more"], &answer["next"]),
        (&json!(true), &json!(4))
    );
}

#[tokio::test]
async fn the_stage_maximum_per_request_is_enforced() {
    let now = SystemTime::now();
    let (store, history) = room_with_history(30, epoch_s(now), DAY, 10).await;
    for asked in [
        json!({"action": "history", "after": 0, "limit": 500}),
        json!({"action": "history", "after": 0}),
    ] {
        let poster = FakePoster::default();
        assert_eq!(
            act(&store, &poster, Some(&history), "a", asked.clone(), now).await,
            200
        );
        let answer = only_frame(&poster, "a");
        assert_eq!(seqs(&answer), (1..=10).collect::<Vec<_>>(), "{asked}");
        assert_eq!(
            (&answer["more"], &answer["next"]),
            (&json!(true), &json!(10))
        );
    }
}

#[tokio::test]
async fn messages_past_the_retention_are_not_given() {
    let now = SystemTime::now();
    let retention = Duration::from_secs(60);
    let (store, history) = room_with_history(5, epoch_s(now) - 120, retention, 100).await;
    for n in 6..=7 {
        let text = format!("m{n}");
        let fresh = Unnumbered {
            text: &text,
            from: None,
            sender: None,
            at_ms: 0,
        };
        history
            .append("general", fresh, epoch_s(now))
            .await
            .unwrap();
    }
    let poster = FakePoster::default();
    let asked = json!({"action": "history", "after": 2});
    assert_eq!(
        act(&store, &poster, Some(&history), "a", asked, now).await,
        200
    );
    let answer = only_frame(&poster, "a");
    assert_eq!(
        seqs(&answer),
        [6, 7],
        "3 to 5 expired: a gap the client shows"
    );
}

#[tokio::test]
async fn history_is_refused_for_a_room_not_joined_bad_numbers_and_stages_without_it() {
    let now = SystemTime::now();
    let (store, history) = room_with_history(3, epoch_s(now), DAY, 100).await;
    for (body, reason) in [
        (
            json!({"action": "history", "room": "ops"}),
            "not in room \"ops\"",
        ),
        (json!({"action": "history", "after": -1}), "whole number"),
        (json!({"action": "history", "limit": 0}), "whole number"),
        (json!({"action": "history", "after": "5"}), "whole number"),
    ] {
        let poster = FakePoster::default();
        assert_eq!(
            act(&store, &poster, Some(&history), "b", body.clone(), now).await,
            400
        );
        let answer = only_frame(&poster, "b");
        assert_eq!(
            (&answer["type"], &answer["action"]),
            (&json!("error"), &json!("history"))
        );
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(reason), "{body}: {message}");
    }
    let poster = FakePoster::default();
    let asked = json!({"action": "history"});
    assert_eq!(act(&store, &poster, NO_HISTORY, "b", asked, now).await, 400);
    let answer = only_frame(&poster, "b");
    assert_eq!(answer["message"], "this stage keeps no history");
}

#[tokio::test]
async fn an_answer_holds_what_fits_in_one_message_and_says_where_to_go_on() {
    let now = SystemTime::now();
    let store = store_with(&[("a", &["general"])], &[]);
    let history = FakeHistory::default().kept(DAY, 100);
    let big = "x".repeat(30_000);
    for _ in 0..10 {
        let message = Unnumbered {
            text: &big,
            from: None,
            sender: Some("a"),
            at_ms: 1,
        };
        history
            .append("general", message, epoch_s(now))
            .await
            .unwrap();
    }
    let poster = FakePoster::default();
    let asked = json!({"action": "history", "after": 0});
    assert_eq!(
        act(&store, &poster, Some(&history), "a", asked, now).await,
        200
    );
    let sent = &poster.received()["a"][0];
    assert!(
        sent.len() <= chat_contract::MAX_MESSAGE_BYTES,
        "{}",
        sent.len()
    );
    let answer: Value = serde_json::from_str(sent).unwrap();
    assert_eq!(seqs(&answer), [1, 2, 3, 4], "four of 30 KB fit in 128 KB");
    assert_eq!(
        (&answer["more"], &answer["next"]),
        (&json!(true), &json!(4))
    );

    let poster = FakePoster::default();
    let asked = json!({"action": "history"});
    assert_eq!(
        act(&store, &poster, Some(&history), "a", asked, now).await,
        200
    );
    let answer = only_frame(&poster, "a");
    assert_eq!(seqs(&answer), [7, 8, 9, 10], "the newest that fit");
    assert_eq!(answer["more"], true);
}

#[tokio::test]
async fn a_message_too_large_for_a_history_answer_is_refused_where_history_is_kept() {
    let store = store_with(&[("a", &["general"])], &[]);
    let history = FakeHistory::default().kept(DAY, 100);
    // Fits a message frame, not a history frame around it.
    let overhead = r#"{"type":"message","room":"general","text":"","connectionId":"a","at":1795323000000,"seq":18446744073709551615}"#.len();
    let text = "y".repeat(chat_contract::MAX_MESSAGE_BYTES - overhead - 10);
    let poster = FakePoster::default();
    assert_eq!(send(&store, &poster, &history, "a", &text).await, 400);
    assert!(history.store.seqs("general").is_empty(), "nothing kept");
    let answer = only_frame(&poster, "a");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("over API Gateway's limit"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_answer_to_a_join_names_the_rooms_last_number_and_the_connections_expiry() {
    let now = SystemTime::now();
    let (store, history) = room_with_history(12, epoch_s(now), DAY, 100).await;
    let poster = FakePoster::default();
    let joined = json!({"action": "join", "room": "general"});
    assert_eq!(
        act(&store, &poster, Some(&history), "b", joined, now).await,
        200
    );
    let answer = only_frame(&poster, "b");
    assert_eq!(answer["type"], "joined");
    assert_eq!(answer["lastSeq"], 12);
    let expires = answer["expiresAt"].as_u64().unwrap();
    let stored = store.items.lock().unwrap()["b"].expires_at_s;
    assert_eq!(expires, stored * 1000);

    let poster = FakePoster::default();
    let joined = json!({"action": "join", "room": "fresh"});
    assert_eq!(
        act(&store, &poster, Some(&history), "b", joined, now).await,
        200
    );
    assert_eq!(
        only_frame(&poster, "b")["lastSeq"],
        0,
        "a room with none yet"
    );

    let poster = FakePoster::default();
    let joined = json!({"action": "join", "room": "general"});
    assert_eq!(
        act(&store, &poster, NO_HISTORY, "a", joined, now).await,
        200
    );
    let answer = only_frame(&poster, "a");
    assert!(
        answer.get("lastSeq").is_none(),
        "no history, no number: {answer}"
    );
    assert!(answer["expiresAt"].as_u64().is_some());
}

async fn push(
    store: &FakeStore,
    poster: &FakePoster,
    history: &RoomHistory<FakeHistory>,
    body: Value,
) -> Value {
    let fanout = fanout(FanoutConfig::default());
    routes::notify(store, poster, body, &fanout, Some(history), later())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_push_to_a_room_is_numbered_and_kept_and_a_push_to_everyone_is_not() {
    let store = store_with(&[("a", &["general"])], &[]);
    let history = FakeHistory::default().kept(DAY, 100);
    send(&store, &FakePoster::default(), &history, "a", "first").await;
    let poster = FakePoster::default();
    let to_room = json!({"text": "deploy at 5", "room": "general"});
    let outcome = push(&store, &poster, &history, to_room).await;
    assert_eq!((&outcome["sent"], &outcome["seq"]), (&json!(1), &json!(2)));
    assert_eq!(only_frame(&poster, "a")["seq"], 2);
    assert_eq!(history.store.seqs("general"), [1, 2]);
    let kept = history.store.rooms.lock().unwrap()["general"].1[1]
        .0
        .clone();
    assert_eq!((kept.text.as_str(), kept.sender), ("deploy at 5", None));

    let poster = FakePoster::default();
    let outcome = push(&store, &poster, &history, json!({"text": "to all"})).await;
    assert!(outcome.get("seq").is_none(), "{outcome}");
    assert!(only_frame(&poster, "a").get("seq").is_none());
    assert_eq!(
        history.store.seqs("general"),
        [1, 2],
        "not a room's message"
    );
}
