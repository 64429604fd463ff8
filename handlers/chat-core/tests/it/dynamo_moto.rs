//! The real DynamoDB store against DynamoDB in a moto server.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use crate::support::moto::Moto;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use chat_core::store::{Connection, ConnectionStore, DynamoStore};

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("connectionId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("connectionId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table created in moto");
}

async fn scan_all(store: &DynamoStore) -> (BTreeSet<String>, usize) {
    let (mut ids, mut pages, mut start) = (BTreeSet::new(), 0, None);
    loop {
        let page = store.scan_page(start).await.expect("scan works");
        pages += 1;
        ids.extend(page.connection_ids);
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
    create_table(&client, "connections").await;
    let store = DynamoStore::new(client.clone(), "connections").with_page_limit(3);

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

    assert!(store.contains("conn-3=").await.expect("GetItem works"));
    store.delete("conn-3=").await.expect("delete works");
    assert!(!store.contains("conn-3=").await.expect("GetItem works"));
    store
        .delete("conn-3=")
        .await
        .expect("deleting again is fine");
    store
        .delete("never-existed")
        .await
        .expect("deleting nothing is fine");
    let (scanned, _) = scan_all(&store).await;
    assert_eq!(scanned.len(), 7);
    assert!(!scanned.contains("conn-3="));
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamo_store_reports_a_missing_table() {
    let moto = Moto::start();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let store = DynamoStore::new(client, "no-such-table");
    let error = store.scan_page(None).await.unwrap_err();
    assert_eq!(error.operation, "Scan");
    assert!(
        error.message.contains("ResourceNotFound"),
        "{}",
        error.message
    );
}
