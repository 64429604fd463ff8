//! Every route's behaviour, driven with fakes and real event shapes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::{
    FakePoster, FakeStore, NO_HISTORY, event, everyone, fanout, ids, message_from,
};
use aws_lambda_events::encodings::Body;
use chat_core::fanout::FanoutConfig;
use chat_core::routes::{self, USAGE};
use chat_core::segments::{Delivery, broadcast_or_split};
use chat_core::store::CONNECTION_LIFETIME;

/// A deadline no test reaches.
fn later() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}

fn body_text(response: &aws_lambda_events::apigw::ApiGatewayProxyResponse) -> String {
    match &response.body {
        Some(Body::Text(text)) => text.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[test]
fn real_event_shapes_parse() {
    let connect = event("connect");
    assert_eq!(
        connect.request_context.route_key.as_deref(),
        Some("$connect")
    );
    assert_eq!(
        connect.request_context.event_type.as_deref(),
        Some("CONNECT")
    );
    assert_eq!(
        connect.request_context.connection_id.as_deref(),
        Some("Bc2dEeXyIAMCJcw=")
    );
    let disconnect = event("disconnect");
    assert_eq!(
        disconnect.request_context.route_key.as_deref(),
        Some("$disconnect")
    );
    assert_eq!(
        disconnect.request_context.disconnect_status_code,
        Some(1000)
    );
    let message = event("sendmessage");
    assert_eq!(
        message.request_context.event_type.as_deref(),
        Some("MESSAGE")
    );
    assert_eq!(message.request_context.apiid.as_deref(), Some("a1b2c3d4e5"));
    assert!(message.body.unwrap().contains("\"action\":\"sendmessage\""));
}

#[tokio::test]
async fn connect_records_the_id_with_a_two_hour_ttl() {
    let store = FakeStore::with_ids([]);
    let now = UNIX_EPOCH + Duration::from_secs(1_795_323_000);
    let response = routes::connect(
        &store,
        &FakePoster::default(),
        &event("connect"),
        100,
        CONNECTION_LIFETIME,
        now,
    )
    .await;
    assert_eq!(response.status_code, 200);
    let items = store.items.lock().unwrap();
    let stored = &items["Bc2dEeXyIAMCJcw="];
    assert_eq!(stored.connected_at_ms, 1_795_323_000_000);
    assert_eq!(stored.expires_at_s, 1_795_323_000 + 2 * 3600);
}

#[tokio::test]
async fn connect_refuses_the_connection_when_the_store_fails() {
    let store = FakeStore {
        fail_put: true,
        ..FakeStore::with_ids([])
    };
    let response = routes::connect(
        &store,
        &FakePoster::default(),
        &event("connect"),
        100,
        CONNECTION_LIFETIME,
        SystemTime::now(),
    )
    .await;
    assert_eq!(response.status_code, 500);
    assert!(store.ids().is_empty());
}

#[tokio::test]
async fn disconnect_removes_the_id_and_is_idempotent() {
    let store = FakeStore::with_ids(["Bc2dEeXyIAMCJcw=".to_owned(), "other".to_owned()]);
    let event = event("disconnect");
    assert_eq!(
        routes::disconnect(&store, &FakePoster::default(), &event, 100)
            .await
            .status_code,
        200
    );
    assert_eq!(store.ids(), BTreeSet::from(["other".to_owned()]));
    assert_eq!(
        routes::disconnect(&store, &FakePoster::default(), &event, 100)
            .await
            .status_code,
        200
    );
    assert_eq!(store.ids(), BTreeSet::from(["other".to_owned()]));
}

#[tokio::test]
async fn disconnect_answers_200_even_when_the_delete_fails() {
    let store = FakeStore {
        fail_delete: true,
        ..FakeStore::with_ids(["Bc2dEeXyIAMCJcw=".to_owned()])
    };
    let response =
        routes::disconnect(&store, &FakePoster::default(), &event("disconnect"), 100).await;
    assert_eq!(response.status_code, 200);
    assert_eq!(store.ids().len(), 1, "left for TTL to remove");
}

#[tokio::test]
async fn a_route_without_connection_id_is_a_client_error() {
    let mut event = event("connect");
    event.request_context.connection_id = None;
    let store = FakeStore::with_ids([]);
    assert_eq!(
        routes::connect(
            &store,
            &FakePoster::default(),
            &event,
            100,
            CONNECTION_LIFETIME,
            SystemTime::now()
        )
        .await
        .status_code,
        400
    );
    assert!(store.ids().is_empty());
}

#[tokio::test]
async fn sendmessage_reaches_every_member_of_the_room_once_in_both_formats() {
    for body in [
        r#"{"action":"sendmessage","data":"hello"}"#,
        r#"{"action":"sendmessage","message":"hello"}"#,
    ] {
        let all = ids(23);
        let store = FakeStore {
            page_size: 5,
            ..FakeStore::with_ids(all.clone())
        };
        let poster = FakePoster::default();
        let response = routes::send_message(
            &store,
            &poster,
            &message_from("c007", Some(body)),
            &fanout(FanoutConfig::default()),
            NO_HISTORY,
            None,
            later(),
        )
        .await;
        assert_eq!(response.status_code, 200);
        let received = poster.received();
        assert_eq!(received.keys().cloned().collect::<Vec<_>>(), all, "{body}");
        assert!(received.values().all(|texts| texts == &["hello"]));
        assert_eq!(
            store.scans.load(Ordering::SeqCst),
            0,
            "a room's message reads its members, not the table"
        );
        assert_eq!(
            store.room_queries.load(Ordering::SeqCst),
            chat_core::store::ROOM_SHARDS as usize,
            "one query a shard"
        );
    }
}

#[tokio::test]
async fn gone_recipients_are_deleted_and_only_they() {
    let store = FakeStore {
        page_size: 3,
        ..FakeStore::with_ids(ids(10))
    };
    let poster = FakePoster {
        gone: BTreeSet::from(["c002".to_owned(), "c008".to_owned()]),
        ..FakePoster::default()
    };
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    let response = routes::send_message(
        &store,
        &poster,
        &message_from("c005", Some(body)),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(response.status_code, 200);
    let expected: BTreeSet<String> = ids(10)
        .into_iter()
        .filter(|id| id != "c002" && id != "c008")
        .collect();
    assert_eq!(store.ids(), expected, "the sender c005 stays");
    assert_eq!(poster.received().len(), 8);
}

#[tokio::test]
async fn a_failing_recipient_does_not_stop_the_others() {
    let store = FakeStore::with_ids(ids(6));
    let poster = FakePoster {
        failing: BTreeSet::from(["c000".to_owned(), "c003".to_owned()]),
        ..FakePoster::default()
    };
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    let response = routes::send_message(
        &store,
        &poster,
        &message_from("c001", Some(body)),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(response.status_code, 200);
    let received: Vec<_> = poster.received().into_keys().collect();
    assert_eq!(received, ["c001", "c002", "c004", "c005"]);
    assert_eq!(
        store.ids().len(),
        6,
        "a failure is not a 410: nobody is deleted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_recipient_times_out_without_holding_up_the_others() {
    let store = FakeStore::with_ids(ids(4));
    let poster = FakePoster {
        slow: [("c001".to_owned(), Duration::from_secs(60))].into(),
        ..FakePoster::default()
    };
    let config = FanoutConfig {
        concurrency: 2,
        post_timeout: Duration::from_secs(3),
    };
    let started = tokio::time::Instant::now();
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    let response = routes::send_message(
        &store,
        &poster,
        &message_from("c000", Some(body)),
        &fanout(config),
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(response.status_code, 200);
    let received: Vec<_> = poster.received().into_keys().collect();
    assert_eq!(received, ["c000", "c002", "c003"]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrency_bound_holds_and_is_used() {
    let store = FakeStore {
        page_size: 25,
        ..FakeStore::with_ids(ids(60))
    };
    let poster = FakePoster {
        latency: Duration::from_millis(10),
        ..FakePoster::default()
    };
    let config = FanoutConfig {
        concurrency: 7,
        post_timeout: Duration::from_secs(3),
    };
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    routes::send_message(
        &store,
        &poster,
        &message_from("c000", Some(body)),
        &fanout(config),
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(poster.received().len(), 60);
    assert_eq!(poster.max_in_flight.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn a_broadcast_stops_starting_posts_before_the_deadline_and_counts_who_it_missed() {
    // 3 pages of 4; one post at a time, each taking 1 s.
    let store = FakeStore {
        page_size: 4,
        ..FakeStore::with_ids(ids(12))
    };
    let poster = FakePoster {
        latency: Duration::from_secs(1),
        ..FakePoster::default()
    };
    let config = FanoutConfig {
        concurrency: 1,
        post_timeout: Duration::from_secs(3),
    };
    // Posts may start until 10 - 3 (post timeout) - 1 (margin) = 6 s: at 0..=5.
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(10);
    let direct = |delivery| match delivery {
        Ok(Delivery::Direct(summary)) => summary,
        other => panic!("expected a direct broadcast: {other:?}"),
    };
    let summary = direct(
        broadcast_or_split(&store, &poster, &fanout(config), &everyone("hi"), deadline).await,
    );
    assert_eq!(summary.sent, 6);
    assert_eq!(summary.unreached, 6, "every page is read before posting");
    assert_eq!(poster.received().len(), 6);
    assert!(
        tokio::time::Instant::now() <= deadline,
        "done before the deadline"
    );

    // With time to spare, everyone is reached and nothing is reported missing.
    let poster = FakePoster::default();
    let summary = direct(
        broadcast_or_split(&store, &poster, &fanout(config), &everyone("hi"), later()).await,
    );
    assert_eq!((summary.sent, summary.unreached), (12, 0));
}

#[tokio::test]
async fn bad_input_is_answered_to_the_sender_only_and_nothing_is_broadcast() {
    let oversize = format!(
        r#"{{"action":"sendmessage","data":"{}"}}"#,
        "x".repeat(128 * 1024)
    );
    let cases = [
        (Some("{not json"), "not a JSON object"),
        (Some(r#"{"action":"sendmessage"}"#), "no \"data\" field"),
        (
            Some(r#"{"action":"sendmessage","data":7}"#),
            "must be a string",
        ),
        (Some(oversize.as_str()), "over API Gateway's limit"),
        (None, "no body"),
    ];
    for (body, reason) in cases {
        let store = FakeStore::with_ids(ids(5));
        let poster = FakePoster::default();
        let response = routes::send_message(
            &store,
            &poster,
            &message_from("c003", body),
            &fanout(FanoutConfig::default()),
            NO_HISTORY,
            None,
            later(),
        )
        .await;
        assert_eq!(response.status_code, 400);
        let received = poster.received();
        assert_eq!(received.keys().collect::<Vec<_>>(), ["c003"], "{reason}");
        assert!(
            received["c003"][0].contains(reason),
            "{:?}",
            received["c003"]
        );
        assert_eq!(
            store.scans.load(Ordering::SeqCst) + store.room_queries.load(Ordering::SeqCst),
            0,
            "nothing read, no broadcast"
        );
        assert!(body_text(&response).contains(reason));
    }
}

#[tokio::test]
async fn a_failed_room_read_answers_500_stops_and_tells_the_sender() {
    let store = FakeStore {
        fail_room_query: true,
        ..FakeStore::with_ids(ids(3))
    };
    let poster = FakePoster::default();
    let body = r#"{"action":"sendmessage","data":"hi"}"#;
    let response = routes::send_message(
        &store,
        &poster,
        &message_from("c000", Some(body)),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        later(),
    )
    .await;
    assert_eq!(response.status_code, 500);
    let received = poster.received();
    assert_eq!(
        received,
        BTreeMap::from([("c000".to_owned(), vec![routes::NOT_DELIVERED.to_owned()])]),
        "only the sender hears, and hears why"
    );
}

#[tokio::test]
async fn default_route_answers_the_caller_with_usage_and_info() {
    let poster = FakePoster::default();
    let event = event("sendmessage");
    let response = routes::default_route(&FakeStore::with_ids([]), &poster, &event).await;
    assert_eq!(response.status_code, 200);
    let received = poster.received();
    assert_eq!(received.len(), 1, "only the caller hears back");
    let reply = &received["Bc2dEeXyIAMCJcw="][0];
    let info = reply.strip_prefix(USAGE).expect("usage text first");
    let info: serde_json::Value = serde_json::from_str(info).unwrap();
    assert_eq!(info["connectionId"], "Bc2dEeXyIAMCJcw=");
    assert_eq!(info["sourceIp"], "198.51.100.23");
}

#[tokio::test]
async fn default_route_reports_a_failed_lookup_to_the_caller() {
    let poster = FakePoster {
        fail_info: true,
        ..FakePoster::default()
    };
    let response =
        routes::default_route(&FakeStore::with_ids([]), &poster, &event("sendmessage")).await;
    assert_eq!(response.status_code, 500);
    assert_eq!(
        poster.received(),
        BTreeMap::from([(
            "Bc2dEeXyIAMCJcw=".to_owned(),
            vec![routes::USAGE_WITHOUT_INFO.to_owned()]
        )])
    );
}

/// The notify endpoint's event (HTTP API payload 2.0) with `body`.
fn notify_event(body: &str) -> serde_json::Value {
    let path = format!("{}/tests/events/notify.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["body"] = body.into();
    event
}

async fn notify(
    store: &FakeStore,
    poster: &FakePoster,
    event: serde_json::Value,
) -> serde_json::Value {
    routes::notify(
        store,
        poster,
        event,
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        later(),
    )
    .await
    .unwrap()
}

/// The status and the JSON body of an HTTP API response.
fn answer(response: &serde_json::Value) -> (u64, serde_json::Value) {
    let body = response["body"].as_str().unwrap();
    (
        response["statusCode"].as_u64().unwrap(),
        serde_json::from_str(body).unwrap(),
    )
}

#[tokio::test]
async fn notify_without_ids_reaches_every_connection_once_and_says_so() {
    let store = FakeStore::with_ids(ids(3));
    let poster = FakePoster {
        gone: BTreeSet::from(["c001".to_owned()]),
        ..Default::default()
    };
    let response = notify(
        &store,
        &poster,
        notify_event(r#"{"text":"server says hi"}"#),
    )
    .await;
    let (status, outcome) = answer(&response);
    assert_eq!(status, 200);
    assert_eq!(
        outcome,
        serde_json::json!({"sent": 2, "gone": 1, "failed": 0, "unreached": 0, "unknown": []})
    );
    let received = poster.received();
    assert_eq!(received["c000"], vec!["server says hi"]);
    assert_eq!(received["c002"], vec!["server says hi"]);
    assert!(!store.ids().contains("c001"), "the gone id is removed");
}

#[tokio::test]
async fn notify_with_ids_reaches_only_those_and_reports_unknown_ones() {
    let store = FakeStore::with_ids(ids(3));
    let poster = FakePoster::default();
    let body = r#"{"text":"just you","connectionIds":["c002","nobody","c002"]}"#;
    let (status, outcome) = answer(&notify(&store, &poster, notify_event(body)).await);
    assert_eq!(status, 200);
    assert_eq!(
        outcome,
        serde_json::json!({"sent": 1, "gone": 0, "failed": 0, "unreached": 0, "unknown": ["nobody"]})
    );
    assert_eq!(
        poster.received(),
        BTreeMap::from([("c002".to_owned(), vec!["just you".to_owned()])])
    );
}

#[tokio::test]
async fn notify_refuses_bad_bodies_with_a_reason_and_sends_nothing() {
    let store = FakeStore::with_ids(ids(2));
    let poster = FakePoster::default();
    for (body, reason) in [
        ("not json", "the body is not JSON"),
        (r#"{"text":7}"#, "expected a string"),
        (r#"{"message":"hi"}"#, "unknown field `message`"),
        (r#"{"text":""}"#, "empty"),
    ] {
        let (status, answer) = answer(&notify(&store, &poster, notify_event(body)).await);
        assert_eq!(status, 400, "{body}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(reason), "{body}: {message}");
    }
    let mut no_body = notify_event("");
    no_body["body"] = serde_json::Value::Null;
    assert_eq!(answer(&notify(&store, &poster, no_body).await).0, 400);
    assert!(poster.received().is_empty());
}

#[tokio::test]
async fn notify_decodes_a_base64_body_as_api_gateway_sends_it() {
    let store = FakeStore::with_ids(ids(1));
    let poster = FakePoster::default();
    let mut event = notify_event("eyJ0ZXh0IjoiZW5jb2RlZCJ9"); // {"text":"encoded"}
    event["isBase64Encoded"] = true.into();
    assert_eq!(answer(&notify(&store, &poster, event).await).0, 200);
    assert_eq!(poster.received()["c000"], vec!["encoded"]);
}

#[tokio::test]
async fn a_scheduled_notify_reaches_everyone_and_a_failed_scan_fails_the_invocation() {
    let store = FakeStore::with_ids(ids(2));
    let poster = FakePoster::default();
    let outcome = notify(&store, &poster, serde_json::json!({"text": "on schedule"})).await;
    assert_eq!(outcome["sent"], 2);
    assert_eq!(poster.received().len(), 2);

    let failing = FakeStore {
        fail_scan_page: Some(0),
        ..FakeStore::with_ids(ids(2))
    };
    let result = routes::notify(
        &failing,
        &poster,
        serde_json::json!({"text": "on schedule"}),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        later(),
    )
    .await;
    assert!(result.is_err(), "a retry may succeed: {result:?}");
}

#[test]
fn every_reply_to_a_sender_begins_with_its_contract_prefix() {
    use chat_contract::{INCOMPLETE_REPLY_PREFIX, NOT_SENT_REPLY_PREFIX, USAGE_REPLY_PREFIX};
    use chat_core::message::MessageError;
    assert!(routes::USAGE.starts_with(USAGE_REPLY_PREFIX));
    assert!(routes::USAGE_WITHOUT_INFO.starts_with(USAGE_REPLY_PREFIX));
    assert!(routes::NOT_DELIVERED.starts_with(INCOMPLETE_REPLY_PREFIX));
    assert!(routes::NOT_QUEUED.starts_with(INCOMPLETE_REPLY_PREFIX));
    assert!(
        MessageError::MissingText
            .reply()
            .starts_with(NOT_SENT_REPLY_PREFIX)
    );
}

#[tokio::test]
async fn a_connection_over_its_message_rate_is_told_so_and_others_are_not_held_up() {
    let store = FakeStore::with_ids(ids(3));
    let poster = FakePoster::default();
    let minute = UNIX_EPOCH + Duration::from_secs(1_795_453_200);
    let check = |sender: &'static str, at: SystemTime| {
        let (store, poster) = (&store, &poster);
        async move {
            let Ok(sender) = routes::sender(store, poster, &message_from(sender, None)).await
            else {
                return Some(());
            };
            routes::over_message_rate(store, poster, &sender, "sendmessage", 3, at)
                .await
                .map(|refused| assert_eq!(refused.status_code, 429))
        }
    };
    for _ in 0..3 {
        assert!(check("c000", minute).await.is_none());
    }
    check("c000", minute + Duration::from_secs(30))
        .await
        .expect("the fourth in a minute is refused");
    let told = poster.received();
    let reply = &told["c000"];
    assert_eq!(reply.len(), 1, "{told:?}");
    assert!(
        reply[0].starts_with(chat_contract::NOT_SENT_REPLY_PREFIX)
            && reply[0].contains("3 messages a minute"),
        "{reply:?}"
    );
    // Another connection has its own count; the next minute starts again.
    assert!(check("c001", minute).await.is_none());
    assert!(
        check("c000", minute + Duration::from_secs(60))
            .await
            .is_none()
    );
    // An id the table does not hold sends nothing.
    let stranger = routes::sender(&store, &poster, &message_from("stranger", None)).await;
    assert_eq!(stranger.map(|_| ()).unwrap_err().status_code, 410);
}
