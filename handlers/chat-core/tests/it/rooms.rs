//! Rooms and the `chatstack.v1` protocol through the routes, with fakes:
//! joining on connect and by action, who hears what, presence, refusals.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::support::{
    FakePoster, FakeStore, NO_HISTORY, action, event, fanout, frames, message_from, store_with,
};
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use chat_core::fanout::FanoutConfig;
use chat_core::protocol::Protocol;
use chat_core::routes::{self, rooms};
use chat_core::store::CONNECTION_LIFETIME;
use chat_core::store::Connection;
use serde_json::{Value, json};

fn later() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(3600)
}

/// A `$connect` event of `id` with this query string and subprotocol offer.
fn connecting(
    id: &str,
    room: Option<&str>,
    offer: Option<&str>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut event = event("connect");
    event.request_context.connection_id = Some(id.to_owned());
    if let Some(room) = room {
        event.query_string_parameters = aws_lambda_events::query_map::QueryMap::from(
            std::collections::HashMap::from([("room".to_owned(), room.to_owned())]),
        );
    }
    if let Some(offer) = offer {
        event
            .headers
            .insert("sec-websocket-protocol", offer.parse().unwrap());
    }
    event
}

async fn send(store: &FakeStore, poster: &FakePoster, from: &str, body: &str) -> i64 {
    routes::send_message(
        store,
        poster,
        &message_from(from, Some(body)),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        later(),
    )
    .await
    .status_code
}

async fn room_action(
    store: &FakeStore,
    poster: &FakePoster,
    from: &str,
    route: &str,
    body: &str,
) -> i64 {
    rooms::room_action(
        store,
        poster,
        &action(from, route, body),
        NO_HISTORY,
        100,
        None,
        SystemTime::now(),
    )
    .await
    .status_code
}

#[tokio::test]
async fn connect_joins_the_room_asked_for_and_echoes_the_subprotocol() {
    let store = FakeStore::with_ids([]);
    let poster = FakePoster::default();
    let now = SystemTime::now();
    let answer = routes::connect(
        &store,
        &poster,
        &connecting("a", Some("ops"), Some("chat1, chatstack.v1")),
        100,
        CONNECTION_LIFETIME,
        now,
    )
    .await;
    assert_eq!(answer.status_code, 200);
    assert_eq!(answer.headers["sec-websocket-protocol"], "chatstack.v1");
    let a = store.items.lock().unwrap()["a"].clone();
    assert_eq!((a.protocol, a.room.as_str()), (Protocol::V1, "ops"));
    assert_eq!(store.room("ops"), BTreeSet::from(["a".to_owned()]));

    // No offer, no room: the guide's client, in the default room, no header.
    let answer = routes::connect(
        &store,
        &poster,
        &connecting("b", None, None),
        100,
        CONNECTION_LIFETIME,
        now,
    )
    .await;
    assert_eq!(answer.status_code, 200);
    assert!(answer.headers.get("sec-websocket-protocol").is_none());
    assert_eq!(store.room("general"), BTreeSet::from(["b".to_owned()]));
    let b = store.items.lock().unwrap()["b"].clone();
    assert_eq!(b.protocol, Protocol::Plain);
}

#[tokio::test]
async fn connect_refuses_a_bad_room_name_with_the_rule() {
    let store = FakeStore::with_ids([]);
    let answer = routes::connect(
        &store,
        &FakePoster::default(),
        &connecting("a", Some("no spaces"), None),
        100,
        CONNECTION_LIFETIME,
        SystemTime::now(),
    )
    .await;
    assert_eq!(answer.status_code, 400);
    let body = format!("{:?}", answer.body);
    assert!(body.contains("1 to 64 letters"), "{body}");
    assert!(store.ids().is_empty(), "nothing recorded");
}

#[tokio::test]
async fn a_room_hears_its_messages_once_and_another_room_nothing() {
    let store = store_with(
        &[("a1", &["a"]), ("both", &["a", "b"])],
        &[("a2", &["a"]), ("b1", &["b"])],
    );
    let poster = FakePoster::default();
    let body = r#"{"action":"sendmessage","room":"a","data":"hello a"}"#;
    assert_eq!(send(&store, &poster, "a2", body).await, 200);
    let received = poster.received();
    assert_eq!(
        received.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["a1".into(), "a2".into(), "both".into()]),
        "b1 is not in room a"
    );
    // The plain member gets the bare text; the framed ones a message frame.
    assert_eq!(received["a2"], ["hello a"]);
    let frame: Value = serde_json::from_str(&received["a1"][0]).unwrap();
    assert_eq!(frame["type"], "message");
    assert_eq!(frame["room"], "a");
    assert_eq!(frame["text"], "hello a");
    assert!(frame["at"].as_u64().unwrap() > 1_700_000_000_000, "{frame}");
    assert!(frame.get("from").is_none(), "no name on an open stage");
    assert_eq!(frame["connectionId"], "a2", "the sender's connection");
    assert_eq!(received["both"].len(), 1);

    // The room it connected to is the default; a connection in two rooms
    // hears both.
    let poster = FakePoster::default();
    let body = r#"{"action":"sendmessage","data":"hello b"}"#;
    assert_eq!(send(&store, &poster, "b1", body).await, 200);
    let received = poster.received();
    assert_eq!(
        received.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["b1".into(), "both".into()])
    );
}

#[tokio::test]
async fn a_send_to_a_room_not_joined_or_badly_named_is_refused_and_nothing_delivered() {
    let store = store_with(&[("a1", &["a"])], &[("p1", &["a"]), ("b1", &["b"])]);
    for (from, body, reason) in [
        (
            "a1",
            r#"{"action":"sendmessage","room":"b","data":"x"}"#,
            "not in room \"b\"",
        ),
        (
            "p1",
            r#"{"action":"sendmessage","room":"b","data":"x"}"#,
            "not in room \"b\"",
        ),
        (
            "a1",
            r#"{"action":"sendmessage","room":"b#1","data":"x"}"#,
            "1 to 64 letters",
        ),
    ] {
        let poster = FakePoster::default();
        assert_eq!(send(&store, &poster, from, body).await, 400, "{body}");
        let received = poster.received();
        assert_eq!(received.keys().collect::<Vec<_>>(), [from], "{body}");
        let reply = &received[from][0];
        if from == "a1" {
            let frame: Value = serde_json::from_str(reply).unwrap();
            assert_eq!(
                (frame["type"].as_str(), frame["action"].as_str()),
                (Some("error"), Some("sendmessage"))
            );
            assert!(
                frame["message"].as_str().unwrap().contains(reason),
                "{frame}"
            );
        } else {
            assert!(
                reply.starts_with(chat_contract::NOT_SENT_REPLY_PREFIX) && reply.contains(reason),
                "plain text: {reply}"
            );
        }
    }
}

#[tokio::test]
async fn join_leave_and_who_answer_in_frames_and_members_hear_presence() {
    let store = store_with(
        &[("ana", &["lobby"]), ("bo", &["ops"])],
        &[("cy", &["ops"])],
    );
    let poster = FakePoster::default();
    assert_eq!(
        room_action(
            &store,
            &poster,
            "ana",
            "join",
            r#"{"action":"join","room":"ops"}"#
        )
        .await,
        200
    );
    let got = frames(&poster);
    let expires_at = store.items.lock().unwrap()["ana"].expires_at_ms();
    assert_eq!(
        got["ana"],
        [
            json!({"type": "joined", "room": "ops", "connectionId": "ana", "action": "join", "expiresAt": expires_at})
        ],
        "the caller's answer names its action and when its connection closes"
    );
    assert_eq!(
        got["bo"],
        [json!({"type": "joined", "room": "ops", "connectionId": "ana"})]
    );
    assert!(
        !got.contains_key("cy"),
        "a plain client hears no presence: {got:?}"
    );
    assert_eq!(
        store.room("ops"),
        BTreeSet::from(["ana".into(), "bo".into(), "cy".into()])
    );

    // Joining again changes nothing and tells no one else.
    let poster = FakePoster::default();
    assert_eq!(
        room_action(
            &store,
            &poster,
            "ana",
            "join",
            r#"{"action":"join","room":"ops"}"#
        )
        .await,
        200
    );
    assert_eq!(poster.received().keys().collect::<Vec<_>>(), ["ana"]);

    let poster = FakePoster::default();
    assert_eq!(
        room_action(
            &store,
            &poster,
            "bo",
            "who",
            r#"{"action":"who","room":"ops"}"#
        )
        .await,
        200
    );
    let who = &frames(&poster)["bo"][0];
    assert_eq!(
        (
            who["type"].as_str(),
            who["room"].as_str(),
            who["count"].as_u64(),
            who["action"].as_str()
        ),
        (Some("who"), Some("ops"), Some(3), Some("who"))
    );
    let listed: BTreeSet<&str> = who["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["connectionId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, BTreeSet::from(["ana", "bo", "cy"]));

    let poster = FakePoster::default();
    assert_eq!(
        room_action(
            &store,
            &poster,
            "ana",
            "leave",
            r#"{"action":"leave","room":"ops"}"#
        )
        .await,
        200
    );
    let got = frames(&poster);
    assert_eq!(
        got["ana"],
        [json!({"type": "left", "room": "ops", "connectionId": "ana", "action": "leave"})],
        "the caller's answer names its action"
    );
    assert_eq!(
        got["bo"],
        [json!({"type": "left", "room": "ops", "connectionId": "ana"})]
    );

    // Leaving stops delivery.
    let poster = FakePoster::default();
    assert_eq!(
        send(
            &store,
            &poster,
            "bo",
            r#"{"action":"sendmessage","room":"ops","data":"hi"}"#
        )
        .await,
        200
    );
    assert_eq!(
        poster.received().keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["bo".into(), "cy".into()])
    );
}

#[tokio::test]
async fn a_join_whose_connection_went_away_meanwhile_answers_410_and_joins_nothing() {
    let store = FakeStore {
        forget_on_read: true,
        ..store_with(&[("ana", &["lobby"]), ("bo", &["ops"])], &[])
    };
    let poster = FakePoster::default();
    let status = room_action(
        &store,
        &poster,
        "ana",
        "join",
        r#"{"action":"join","room":"ops"}"#,
    )
    .await;
    assert_eq!(status, 410);
    assert!(
        poster.received().is_empty(),
        "no one to answer, nothing to announce: {:?}",
        poster.received()
    );
    assert_eq!(store.room("ops"), BTreeSet::from(["bo".into()]));
}

#[tokio::test]
async fn room_actions_refuse_with_a_reason_in_an_error_frame() {
    let store = store_with(&[("ana", &["lobby"])], &[]);
    for (route, body, reason) in [
        (
            "leave",
            r#"{"action":"leave","room":"ops"}"#,
            "not in room \"ops\"",
        ),
        (
            "who",
            r#"{"action":"who","room":"ops"}"#,
            "not in room \"ops\"",
        ),
        ("join", r#"{"action":"join"}"#, "needs a \"room\""),
        (
            "join",
            r#"{"action":"join","room":"x y"}"#,
            "1 to 64 letters",
        ),
        ("join", "not json", "not a JSON object"),
    ] {
        let poster = FakePoster::default();
        assert_eq!(
            room_action(&store, &poster, "ana", route, body).await,
            400,
            "{body}"
        );
        let frame = &frames(&poster)["ana"][0];
        assert_eq!(frame["type"], "error", "{body}");
        assert_eq!(frame["action"], route, "{body}");
        assert!(
            frame["message"].as_str().unwrap().contains(reason),
            "{frame}"
        );
    }
    assert_eq!(store.room("ops"), BTreeSet::new());
}

#[tokio::test]
async fn a_connection_is_in_at_most_twenty_rooms() {
    let store = store_with(&[("ana", &["r0"])], &[]);
    for n in 1..chat_contract::MAX_ROOMS_PER_CONNECTION {
        let body = format!(r#"{{"action":"join","room":"r{n}"}}"#);
        assert_eq!(
            room_action(&store, &FakePoster::default(), "ana", "join", &body).await,
            200
        );
    }
    let poster = FakePoster::default();
    let status = room_action(
        &store,
        &poster,
        "ana",
        "join",
        r#"{"action":"join","room":"one-more"}"#,
    )
    .await;
    assert_eq!(status, 400);
    let frame = &frames(&poster)["ana"][0];
    assert!(
        frame["message"]
            .as_str()
            .unwrap()
            .contains("leave one first"),
        "{frame}"
    );
}

#[tokio::test]
async fn presence_stops_past_the_limit_and_disconnect_tells_every_room() {
    let store = store_with(&[("ana", &["big", "small"]), ("bo", &["small"])], &[]);
    for n in 0..5 {
        store.insert(
            Connection::opened(&format!("x{n}"), SystemTime::now())
                .speaking(Protocol::V1)
                .in_room("big"),
        );
    }
    let poster = FakePoster::default();
    let answer = routes::disconnect(
        &store,
        &poster,
        &{
            let mut event = event("disconnect");
            event.request_context.connection_id = Some("ana".into());
            event
        },
        3,
    )
    .await;
    assert_eq!(answer.status_code, 200);
    let got = frames(&poster);
    // "small" (2 members) is within the limit of 3; "big" (6) is not.
    assert_eq!(got.keys().collect::<Vec<_>>(), ["bo"], "{got:?}");
    assert_eq!(
        got["bo"],
        [json!({"type": "left", "room": "small", "connectionId": "ana"})]
    );
    assert!(store.room("big").len() == 5 && !store.room("small").contains("ana"));
}

#[tokio::test]
async fn notify_reaches_a_room_only_and_names_it() {
    let store = store_with(&[("a1", &["a"])], &[("a2", &["a"]), ("b1", &["b"])]);
    let poster = FakePoster::default();
    let outcome = routes::notify(
        &store,
        &poster,
        json!({"text": "deploy at 5", "room": "a"}),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        later(),
    )
    .await
    .unwrap();
    assert_eq!(outcome["sent"], 2);
    let received = poster.received();
    assert_eq!(received["a2"], ["deploy at 5"]);
    let frame: Value = serde_json::from_str(&received["a1"][0]).unwrap();
    assert_eq!(
        (frame["type"].as_str(), frame["room"].as_str()),
        (Some("message"), Some("a"))
    );
    assert!(!received.contains_key("b1"));

    // Without a room, everyone; the frame names no room.
    let poster = FakePoster::default();
    routes::notify(
        &store,
        &poster,
        json!({"text": "all"}),
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        later(),
    )
    .await
    .unwrap();
    let received = poster.received();
    assert_eq!(received.len(), 3);
    let frame: Value = serde_json::from_str(&received["a1"][0]).unwrap();
    assert!(frame.get("room").is_none(), "{frame}");
}
