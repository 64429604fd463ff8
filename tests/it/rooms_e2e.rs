//! Rooms through `chatstack local`: real `chatstack.v1` WebSocket clients
//! (and a plain one, as the guide's wscat connects) against the real
//! handler binaries and DynamoDB in moto.

use std::time::Duration;

use crate::common::chat::ChatProcess;
use crate::common::local::Local;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws::{Client, connect_v1, frame, receive, send};

/// Nothing more arrives at any of `clients` for a while (waited out side
/// by side).
async fn quiet(clients: Vec<&mut Client>) {
    let waits = clients
        .into_iter()
        .enumerate()
        .map(|(n, client)| async move {
            if let Ok(frame) = tokio::time::timeout(Duration::from_millis(800), client.next()).await
            {
                panic!("client {n}: expected nothing, got {frame:?}");
            }
        });
    futures_util::future::join_all(waits).await;
}

/// A `message` frame's fields, `at` (when it was taken) checked and left
/// out.
fn message_of(frame: &Value) -> Value {
    assert!(frame["at"].as_u64().is_some_and(|at| at > 0), "{frame}");
    let mut fields = frame.clone();
    fields.as_object_mut().unwrap().remove("at");
    fields
}

/// Joins `room` again (which changes nothing) to learn the client's id
/// from the answer.
async fn own_id(client: &mut Client, room: &str) -> String {
    send(client, json!({"action": "join", "room": room})).await;
    let answer = frame(client).await;
    assert_eq!(
        (answer["type"].as_str(), answer["action"].as_str()),
        (Some("joined"), Some("join")),
        "{answer}"
    );
    answer["connectionId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rooms_deliver_to_their_members_only_with_presence_and_refusals() {
    let local = Local::start();
    let room_url = |room: &str| format!("{}?room={room}", local.url);

    let mut ana = connect_v1(&room_url("alpha")).await;
    local.await_ids(1).await;
    let mut bo = connect_v1(&room_url("alpha")).await;
    let bo_joined = frame(&mut ana).await;
    assert_eq!(
        (bo_joined["type"].as_str(), bo_joined["room"].as_str()),
        (Some("joined"), Some("alpha")),
        "a member hears another connect into its room: {bo_joined}"
    );
    assert_eq!(bo_joined.get("action"), None, "not an answer to ana");
    let mut cy = connect_v1(&room_url("beta")).await;
    // wscat, as the guide connects: no subprotocol, no room.
    let mut guide = tokio_tungstenite::connect_async(&local.url)
        .await
        .unwrap()
        .0;
    let mut in_general = connect_v1(&local.url).await;
    local.await_ids(5).await;
    quiet(vec![&mut ana]).await;

    let ana_id = own_id(&mut ana, "alpha").await;
    let bo_id = own_id(&mut bo, "alpha").await;
    assert_eq!(bo_joined["connectionId"], bo_id.as_str());
    let cy_id = own_id(&mut cy, "beta").await;
    // Joining a room one is in again tells nobody else.
    quiet(vec![&mut ana, &mut bo, &mut cy]).await;

    // A message goes to its room's members once, and to nobody else.
    send(
        &mut ana,
        json!({"action": "sendmessage", "data": "to alpha"}),
    )
    .await;
    for member in [&mut ana, &mut bo] {
        assert_eq!(
            message_of(&frame(member).await),
            json!({"type": "message", "room": "alpha", "text": "to alpha", "connectionId": ana_id})
        );
    }
    quiet(vec![
        &mut ana,
        &mut bo,
        &mut cy,
        &mut in_general,
        &mut guide,
    ])
    .await;

    // cy joins alpha too: its answer names the action, alpha hears it.
    send(&mut cy, json!({"action": "join", "room": "alpha"})).await;
    let mut answer = frame(&mut cy).await;
    let expires_at = answer
        .as_object_mut()
        .unwrap()
        .remove("expiresAt")
        .and_then(|at| at.as_u64())
        .expect("the answer says when the connection closes");
    let two_hours_ms = 2 * 3600 * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        (now_ms + two_hours_ms - 60_000..=now_ms + two_hours_ms).contains(&expires_at),
        "{expires_at}"
    );
    assert_eq!(
        answer,
        json!({"type": "joined", "room": "alpha", "connectionId": cy_id, "action": "join"}),
        "no lastSeq: this stage keeps no history"
    );
    for member in [&mut ana, &mut bo] {
        assert_eq!(
            frame(member).await,
            json!({"type": "joined", "room": "alpha", "connectionId": cy_id})
        );
    }

    // A connection in two rooms gets both, each once.
    send(
        &mut bo,
        json!({"action": "sendmessage", "room": "alpha", "data": "both"}),
    )
    .await;
    send(
        &mut cy,
        json!({"action": "sendmessage", "room": "beta", "data": "beta only"}),
    )
    .await;
    let mut heard_by_cy = vec![
        message_of(&frame(&mut cy).await),
        message_of(&frame(&mut cy).await),
    ];
    heard_by_cy.sort_by_key(|m| m["text"].to_string());
    assert_eq!(
        heard_by_cy,
        [
            json!({"type": "message", "room": "beta", "text": "beta only", "connectionId": cy_id}),
            json!({"type": "message", "room": "alpha", "text": "both", "connectionId": bo_id}),
        ]
    );
    for member in [&mut ana, &mut bo] {
        assert_eq!(message_of(&frame(member).await)["text"], "both");
    }
    quiet(vec![&mut ana, &mut bo, &mut cy]).await;

    // who answers the members.
    send(&mut ana, json!({"action": "who", "room": "alpha"})).await;
    let who = frame(&mut ana).await;
    assert_eq!(
        (
            who["type"].as_str(),
            who["count"].as_u64(),
            who["action"].as_str()
        ),
        (Some("who"), Some(3), Some("who")),
        "{who}"
    );
    let mut listed: Vec<&str> = who["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["connectionId"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = vec![ana_id.as_str(), bo_id.as_str(), cy_id.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);

    // Leaving stops delivery, and the room hears it.
    send(&mut cy, json!({"action": "leave", "room": "alpha"})).await;
    assert_eq!(
        frame(&mut cy).await,
        json!({"type": "left", "room": "alpha", "connectionId": cy_id, "action": "leave"})
    );
    for member in [&mut ana, &mut bo] {
        assert_eq!(
            frame(member).await,
            json!({"type": "left", "room": "alpha", "connectionId": cy_id})
        );
    }
    send(&mut ana, json!({"action": "sendmessage", "data": "after"})).await;
    for member in [&mut ana, &mut bo] {
        assert_eq!(message_of(&frame(member).await)["text"], "after");
    }
    quiet(vec![&mut cy]).await;

    // Refused with a reason, to the sender only, and nothing delivered.
    for (body, action, reason) in [
        (
            json!({"action": "sendmessage", "room": "alpha", "data": "sneak"}),
            "sendmessage",
            "you are not in room \"alpha\"",
        ),
        (
            json!({"action": "join", "room": "no spaces"}),
            "join",
            "the room name holds ' '",
        ),
        (
            json!({"action": "sendmessage", "room": "a#1", "data": "x"}),
            "sendmessage",
            "the room name holds '#'",
        ),
        (
            json!({"action": "who", "room": "alpha"}),
            "who",
            "you are not in room \"alpha\"",
        ),
        (
            json!({"action": "leave", "room": "alpha"}),
            "leave",
            "you are not in room \"alpha\"",
        ),
    ] {
        send(&mut cy, body.clone()).await;
        let refused = frame(&mut cy).await;
        assert_eq!(
            (refused["type"].as_str(), refused["action"].as_str()),
            (Some("error"), Some(action)),
            "{body}: {refused}"
        );
        assert!(
            refused["message"].as_str().unwrap().contains(reason),
            "{body}: {refused}"
        );
        quiet(vec![&mut ana, &mut bo]).await;
    }
    // A first room that breaks the rule fails the handshake (400).
    let refused = tokio_tungstenite::connect_async(format!("{}?room=%3Cscript%3E", local.url))
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("400")),
        "{refused:?}"
    );

    // The guide's flow: plain text, the default room.
    guide
        .send(Message::Text(
            r#"{"action":"sendmessage","data":"hello"}"#.into(),
        ))
        .await
        .unwrap();
    assert_eq!(receive(&mut guide).await, "hello");
    let hello = message_of(&frame(&mut in_general).await);
    let guide_id = hello["connectionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !guide_id.is_empty() && ![&ana_id, &bo_id, &cy_id].contains(&&guide_id),
        "{hello}"
    );
    assert_eq!(
        hello,
        json!({"type": "message", "room": "general", "text": "hello", "connectionId": guide_id})
    );
    quiet(vec![&mut ana, &mut bo, &mut cy]).await;

    // A member that disconnects is heard leaving.
    bo.close(None).await.unwrap();
    assert_eq!(
        frame(&mut ana).await,
        json!({"type": "left", "room": "alpha", "connectionId": bo_id})
    );
    local.await_ids(4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_client_joins_switches_and_leaves_rooms_and_shows_presence() {
    let local = Local::start();
    let mut ana = ChatProcess::start(&[&local.url, "--room", "ops"]);
    ana.wait_for_line("* You are in #ops; your lines go there. (your rooms: #ops)")
        .await;
    let mut bo = ChatProcess::start(&[&local.url]);
    bo.wait_for_line("* You are in #general; your lines go there. (your rooms: #general)")
        .await;

    bo.type_line("/join ops");
    bo.wait_for_line("* You are in #ops; your lines go there. (your rooms: #general #ops)")
        .await;
    ana.wait_for("bo's join", |l| {
        l.starts_with("* ") && l.ends_with(" joined #ops")
    })
    .await;
    bo.type_line("hi ops");
    ana.wait_for_line("< hi ops").await;
    bo.type_line("/who");
    bo.wait_for("the answer to who", |l| l.starts_with("* #ops: 2 here: "))
        .await;

    // Back to general: ana, in ops only, hears none of it; a message of a
    // room one is in but not talking in is marked with its room.
    bo.type_line("/join general");
    bo.wait_for_line("* You are in #general; your lines go there. (your rooms: #general #ops)")
        .await;
    bo.type_line("to general");
    ana.type_line("to ops");
    bo.wait_for_line("< [#ops] to ops").await;
    bo.type_line("/join bad name");
    bo.wait_for_line(
        "join: the room name holds ' ' (a room name is 1 to 64 letters, digits, '-', '_' or '.')",
    )
    .await;

    ana.type_line("/leave");
    ana.wait_for_line("* You left #ops and are in no room: /join one to talk.")
        .await;
    bo.wait_for("ana's leave", |l| {
        l.starts_with("* ") && l.ends_with(" left #ops")
    })
    .await;
    ana.type_line("anyone?");
    ana.wait_for_line("You are in no room: /join one to talk.")
        .await;
    assert!(!ana.printed("to general"), "{:?}", ana.lines());
    ana.finish();
    bo.finish();
}

/// A stage deployed before rooms: it accepts the WebSocket without the
/// subprotocol and answers each message with what it received.
async fn stage_before_rooms() -> (String, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/dev", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut received = Vec::new();
        // The client's first try (offering the subprotocol) is dropped by
        // it; the second stays.
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.unwrap();
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                continue;
            };
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    received.push(text.to_string());
                    let reply = format!("got {text}");
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        received
    });
    (url, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_client_talks_plainly_to_a_stage_that_predates_rooms() {
    let (url, server) = stage_before_rooms().await;
    let mut chat = ChatProcess::start(&[&url, "--room", "ops"]);
    chat.wait_for("the notice", |l| l.starts_with("This stage predates rooms"))
        .await;
    chat.type_line("hello");
    chat.wait_for_line(r#"< got {"action":"sendmessage","data":"hello"}"#)
        .await;
    chat.finish();
    assert_eq!(
        server.await.unwrap(),
        [r#"{"action":"sendmessage","data":"hello"}"#],
        "the guide's body, and no room action"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_stage_with_tokens_frames_name_the_users() {
    let config = crate::common::scratch_dir("rooms_tokens").join("chatstack.toml");
    std::fs::write(&config, "[stages.dev]\nauthorization = true\n").unwrap();
    let local = Local::start_with(&["--config", config.to_str().unwrap()]);
    let url_for = |user: &str| format!("{}?room=ops&token={}", local.url, local.token_for(user));
    let mut alice = connect_v1(&url_for("alice")).await;
    local.await_ids(1).await;
    let mut bob = connect_v1(&url_for("bob")).await;
    let joined = frame(&mut alice).await;
    assert_eq!(
        (joined["type"].as_str(), joined["user"].as_str()),
        (Some("joined"), Some("bob")),
        "{joined}"
    );

    send(&mut alice, json!({"action": "sendmessage", "data": "hi"})).await;
    let mut heard = Vec::new();
    for member in [&mut alice, &mut bob] {
        let mut message = message_of(&frame(member).await);
        let sender = message.as_object_mut().unwrap().remove("connectionId");
        assert!(sender.as_ref().is_some_and(Value::is_string), "{message}");
        heard.push(sender);
        assert_eq!(
            message,
            json!({"type": "message", "room": "ops", "text": "hi", "from": "alice"})
        );
    }
    assert_eq!(heard[0], heard[1], "one sender");
    send(&mut bob, json!({"action": "who"})).await;
    let who = frame(&mut bob).await;
    let mut users: Vec<&str> = who["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["alice", "bob"], "{who}");
}
