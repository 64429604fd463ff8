//! The real DynamoDB store against DynamoDB in a moto server.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use crate::support::moto::{Moto, create_keyed_table};
use aws_sdk_dynamodb::types::AttributeValue;
use chat_core::protocol::Protocol;
use chat_core::store::{Connection, ConnectionStore, DynamoStore, Joined, ROOM_SHARDS};

/// The connections and members tables, as the template keys them.
async fn create_tables(client: &aws_sdk_dynamodb::Client) -> DynamoStore {
    create_keyed_table(client, "connections", &["connectionId"]).await;
    create_keyed_table(client, "members", &["roomKey", "connectionId"]).await;
    DynamoStore::new(client.clone(), "connections", "members")
}

/// Every member id of `room`, reading each shard in pages of `limit`.
async fn room_ids(store: &DynamoStore, room: &str, limit: u32) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for shard in 0..ROOM_SHARDS {
        let mut start = None;
        loop {
            let page = store
                .room_page(room, shard, start, limit)
                .await
                .expect("Query works");
            ids.extend(page.members.into_iter().map(|m| m.connection_id));
            start = page.next_start;
            if start.is_none() {
                break;
            }
        }
    }
    ids
}

async fn scan_all(store: &DynamoStore) -> (BTreeSet<String>, usize) {
    let (mut ids, mut pages, mut start) = (BTreeSet::new(), 0, None);
    loop {
        let page = store.scan_page(start).await.expect("scan works");
        pages += 1;
        ids.extend(page.members.into_iter().map(|m| m.connection_id));
        start = page.next_start;
        if start.is_none() {
            return (ids, pages);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_puts_finds_scans_in_pages_and_deletes() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = create_tables(&client).await.with_page_limit(3);

    let opened = UNIX_EPOCH + Duration::from_secs(1_795_323_000);
    let ids: BTreeSet<String> = (0..8).map(|n| format!("conn-{n}=")).collect();
    for id in &ids {
        store
            .put(&Connection::opened(id, opened))
            .await
            .expect("put works");
    }

    let item = client
        .get_item()
        .table_name("connections")
        .key("connectionId", AttributeValue::S("conn-0=".into()))
        .send()
        .await
        .unwrap();
    let item = item.item().expect("the item was stored");
    assert_eq!(
        item["connectedAt"],
        AttributeValue::N("1795323000000".into())
    );
    assert_eq!(
        item["expiresAt"],
        AttributeValue::N((1_795_323_000 + 7200).to_string())
    );

    let (scanned, pages) = scan_all(&store).await;
    assert_eq!(scanned, ids);
    assert!(pages >= 3, "8 items, 3 a page: {pages} pages");

    let found = store.connection("conn-3=").await.expect("GetItem works");
    assert_eq!(found, Some(Connection::opened("conn-3=", opened)));
    let gone = store.delete("conn-3=").await.expect("delete works");
    assert_eq!(gone.map(|c| c.rooms), Some(vec!["general".to_owned()]));
    assert_eq!(
        store.connection("conn-3=").await.expect("GetItem works"),
        None
    );
    assert_eq!(
        store
            .delete("conn-3=")
            .await
            .expect("deleting again is fine"),
        None
    );
    assert_eq!(
        store
            .delete("never-existed")
            .await
            .expect("deleting nothing is fine"),
        None
    );
    let (scanned, _) = scan_all(&store).await;
    assert_eq!(scanned.len(), 7);
    assert!(!scanned.contains("conn-3="));
    let general = room_ids(&store, "general", 2).await;
    assert_eq!(general.len(), 7, "its membership went with it: {general:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_joins_leaves_and_bounds_rooms() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = create_tables(&client).await;
    let now = UNIX_EPOCH + Duration::from_secs(1_795_323_000);
    let framed = Connection::opened("ana=", now)
        .by(Some("ana"))
        .speaking(Protocol::V1)
        .in_room("ops");
    store.put(&framed).await.expect("put works");
    store
        .put(&Connection::opened("bo=", now))
        .await
        .expect("put works");

    assert_eq!(
        room_ids(&store, "ops", 10).await,
        BTreeSet::from(["ana=".to_owned()])
    );
    let Joined::Joined(member) = store.join("bo=", "ops").await.expect("join works") else {
        panic!("bo joins ops");
    };
    assert_eq!(member.protocol, Protocol::Plain);
    assert_eq!(store.join("bo=", "ops").await.unwrap(), Joined::AlreadyIn);
    assert_eq!(
        store.join("nobody=", "ops").await.unwrap(),
        Joined::NoConnection
    );
    let ops = room_ids(&store, "ops", 1).await;
    assert_eq!(ops, BTreeSet::from(["ana=".to_owned(), "bo=".to_owned()]));

    // The member items carry what a broadcast and `who` need.
    let mut members = Vec::new();
    for shard in 0..ROOM_SHARDS {
        members.extend(
            store
                .room_page("ops", shard, None, 10)
                .await
                .unwrap()
                .members,
        );
    }
    let ana = members.iter().find(|m| m.connection_id == "ana=").unwrap();
    assert_eq!(
        (ana.protocol, ana.user_name.as_deref()),
        (Protocol::V1, Some("ana"))
    );

    // Only the chatstack.v1 member listens for presence.
    let listeners = store.room_listeners("ops", 10).await.unwrap().unwrap();
    let ids: Vec<&str> = listeners.iter().map(|m| m.connection_id.as_str()).collect();
    assert_eq!(ids, ["ana="]);
    assert_eq!(
        store.room_listeners("ops", 0).await.unwrap(),
        None,
        "over the limit"
    );

    let bo = store.connection("bo=").await.unwrap().unwrap();
    assert_eq!(bo.rooms.len(), 2);
    assert!(bo.is_in("ops") && bo.is_in("general"));

    // Up to the most rooms a connection may be in, and no further.
    for n in 2..chat_contract::MAX_ROOMS_PER_CONNECTION {
        let joined = store.join("bo=", &format!("room-{n}")).await.unwrap();
        assert!(matches!(joined, Joined::Joined(_)), "room {n}: {joined:?}");
    }
    assert_eq!(
        store.join("bo=", "one-more").await.unwrap(),
        Joined::TooManyRooms
    );
    assert_eq!(store.join("bo=", "ops").await.unwrap(), Joined::AlreadyIn);

    let left = store.leave("bo=", "ops").await.unwrap();
    assert_eq!(left.map(|m| m.connection_id), Some("bo=".to_owned()));
    assert_eq!(
        store.leave("bo=", "ops").await.unwrap(),
        None,
        "not in it any more"
    );
    assert_eq!(
        room_ids(&store, "ops", 10).await,
        BTreeSet::from(["ana=".to_owned()])
    );
    assert!(matches!(
        store.join("bo=", "one-more").await.unwrap(),
        Joined::Joined(_)
    ));

    // Leaving every room keeps the connection, in no room.
    assert!(store.leave("ana=", "ops").await.unwrap().is_some());
    assert_eq!(
        store.room_listeners("ops", 10).await.unwrap(),
        Some(Vec::new())
    );
    let ana = store.connection("ana=").await.unwrap().unwrap();
    assert!(ana.rooms.is_empty() && ana.room == "ops", "{ana:?}");

    let gone = store.delete("bo=").await.unwrap().expect("bo was there");
    assert_eq!(gone.rooms.len(), chat_contract::MAX_ROOMS_PER_CONNECTION);
    for room in gone.rooms {
        assert!(room_ids(&store, &room, 10).await.is_empty(), "{room}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_reports_a_missing_table() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = DynamoStore::new(client, "no-such-table", "no-such-members");
    let error = store.scan_page(None).await.unwrap_err();
    assert_eq!(error.operation, "Scan");
    assert!(
        error.message.contains("ResourceNotFound"),
        "{}",
        error.message
    );
}
