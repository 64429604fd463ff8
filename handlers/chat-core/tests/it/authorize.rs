//! The `$connect` authorizer and the user names it gives connections:
//! driven with real event shapes and fakes; the secret read from Secrets
//! Manager in a moto server.

use std::time::{Duration, SystemTime};

use crate::support::moto::Moto;
use crate::support::{FakePoster, FakeStore, NO_HISTORY, event, fanout, ids};
use chat_core::authorize::{self, TokenSecret};
use chat_core::fanout::FanoutConfig;
use chat_core::routes;
use chat_core::store::CONNECTION_LIFETIME;
use serde_json::json;

const SECRET: &str = "the stage's secret";

fn authorizer_event(
    token: Option<&str>,
) -> aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest {
    let path = format!("{}/tests/events/authorize.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    match token {
        Some(token) => {
            event["queryStringParameters"]["token"] = token.into();
            event["multiValueQueryStringParameters"]["token"] = json!([token]);
        }
        None => {
            event["queryStringParameters"] = json!({});
            event["multiValueQueryStringParameters"] = json!({});
        }
    }
    serde_json::from_value(event).unwrap()
}

fn token(secret: &str, user: &str, ttl: Duration, now: SystemTime) -> String {
    chat_token::mint(secret.as_bytes(), &user.parse().unwrap(), ttl, now).unwrap()
}

#[tokio::test]
async fn a_valid_token_is_allowed_with_its_user_name_and_anything_else_denied() {
    let secret = TokenSecret::new(SECRET);
    let now = SystemTime::now();
    let method_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/dev/$connect";
    let valid = token(SECRET, "alice", Duration::from_secs(3600), now);
    let answer = authorize::authorize(&secret, &authorizer_event(Some(&valid)), now).await;
    assert_eq!(answer["principalId"], "alice");
    assert_eq!(answer["context"], json!({"userName": "alice"}));
    assert_eq!(
        answer["policyDocument"]["Statement"],
        json!([{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}])
    );

    let expired = token(
        SECRET,
        "alice",
        Duration::from_secs(60),
        now - Duration::from_secs(120),
    );
    let other_secret = token("another secret", "alice", Duration::from_secs(3600), now);
    let tampered = valid.replacen("v1.", "v1.A", 1);
    for (what, event) in [
        ("expired", authorizer_event(Some(&expired))),
        ("another secret", authorizer_event(Some(&other_secret))),
        ("tampered", authorizer_event(Some(&tampered))),
        ("garbage", authorizer_event(Some("not a token"))),
        ("missing", authorizer_event(None)),
    ] {
        let answer = authorize::authorize(&secret, &event, now).await;
        assert_eq!(
            answer["policyDocument"]["Statement"][0]["Effect"], "Deny",
            "{what}"
        );
        assert!(answer.get("context").is_none(), "{what}: no user name");
    }
}

/// `event` with `Sec-WebSocket-Protocol: <offered>`.
pub fn offering(
    mut event: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest,
    offered: &str,
) -> aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest {
    event
        .headers
        .insert("sec-websocket-protocol", offered.parse().unwrap());
    event
}

#[tokio::test]
async fn a_token_may_come_in_sec_websocket_protocol_beside_the_subprotocol() {
    let secret = TokenSecret::new(SECRET);
    let now = SystemTime::now();
    let valid = token(SECRET, "alice", Duration::from_secs(3600), now);
    let other = token(SECRET, "mallory", Duration::from_secs(3600), now);
    for offered in [
        format!("chatstack.v1, chatstack.token.{valid}"),
        format!("chatstack.token.{valid}"),
    ] {
        let event = offering(authorizer_event(None), &offered);
        let answer = authorize::authorize(&secret, &event, now).await;
        assert_eq!(answer["principalId"], "alice", "{offered}");
    }
    // The header's token is the one used when both are there.
    let event = offering(
        authorizer_event(Some(&other)),
        &format!("chatstack.token.{valid}"),
    );
    assert_eq!(
        authorize::presented_token(&event),
        Some((valid.as_str(), authorize::Transport::Header))
    );
    let event = authorizer_event(Some(&other));
    assert_eq!(
        authorize::presented_token(&event),
        Some((other.as_str(), authorize::Transport::Query))
    );
    // An empty entry is no token.
    let event = offering(authorizer_event(None), "chatstack.v1, chatstack.token.");
    assert_eq!(authorize::presented_token(&event), None);
    let answer = authorize::authorize(&secret, &event, now).await;
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Deny");
}

#[tokio::test]
async fn connect_echoes_the_subprotocol_or_else_the_token_entry() {
    let cases = [
        ("chatstack.v1, chatstack.token.abc", Some("chatstack.v1")),
        ("chatstack.token.abc", Some("chatstack.token.abc")),
        ("chatstack.v1", Some("chatstack.v1")),
        ("something.else", None),
    ];
    for (offered, selected) in cases {
        let store = FakeStore::with_ids(Vec::new());
        let mut connecting = as_user(event("connect"), "alice");
        connecting
            .headers
            .insert("sec-websocket-protocol", offered.parse().unwrap());
        let response = routes::connect(
            &store,
            &FakePoster::default(),
            &connecting,
            100,
            CONNECTION_LIFETIME,
            SystemTime::now(),
        )
        .await;
        assert_eq!(response.status_code, 200);
        let echoed = response
            .headers
            .get("sec-websocket-protocol")
            .map(|value| value.to_str().unwrap());
        assert_eq!(echoed, selected, "{offered}");
    }
}

/// A route event of a connection the authorizer let in as `user`.
fn as_user(
    mut event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
    user: &str,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut value = serde_json::to_value(&event).unwrap();
    value["requestContext"]["authorizer"] =
        json!({"principalId": user, "userName": user, "integrationLatency": 12});
    event = serde_json::from_value(value).unwrap();
    event
}

#[tokio::test]
async fn connect_stores_the_user_name_and_messages_carry_it() {
    let store = FakeStore::with_ids(Vec::new());
    let response = routes::connect(
        &store,
        &FakePoster::default(),
        &as_user(event("connect"), "alice"),
        100,
        CONNECTION_LIFETIME,
        SystemTime::now(),
    )
    .await;
    assert_eq!(response.status_code, 200);
    let stored = store.items.lock().unwrap()["Bc2dEeXyIAMCJcw="].clone();
    assert_eq!(stored.user_name.as_deref(), Some("alice"));

    let mut sender = ids(2);
    sender.push("Bc2dEeXyIAMCJcw=".to_owned());
    let store = FakeStore::with_ids(sender);
    let poster = FakePoster::default();
    let mut message = as_user(event("sendmessage"), "alice");
    message.body = Some(r#"{"action":"sendmessage","data":"<b>hi</b>"}"#.to_owned());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    routes::send_message(
        &store,
        &poster,
        &message,
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        deadline,
    )
    .await;
    assert_eq!(poster.received().len(), 3, "both others and the sender");
    for received in poster.received().values() {
        let received: serde_json::Value = serde_json::from_str(&received[0]).unwrap();
        assert_eq!(received, json!({"from": "alice", "text": "<b>hi</b>"}));
    }

    // Without an authorizer (an open stage) the text arrives as sent.
    let poster = FakePoster::default();
    let mut open = event("sendmessage");
    open.body = Some(r#"{"action":"sendmessage","data":"plain"}"#.to_owned());
    routes::send_message(
        &store,
        &poster,
        &open,
        &fanout(FanoutConfig::default()),
        NO_HISTORY,
        None,
        deadline,
    )
    .await;
    assert_eq!(poster.received().len(), 3);
    assert!(poster.received().values().all(|texts| texts == &["plain"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_is_read_from_secrets_manager() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let arn = client
        .create_secret()
        .name("chatstack-dev-token")
        .secret_string(SECRET)
        .send()
        .await
        .expect("secret created in moto")
        .arn()
        .unwrap()
        .to_owned();
    let secret = authorize::read_token_secret(&config, &arn).await.unwrap();
    let now = SystemTime::now();
    let valid = token(SECRET, "bob", Duration::from_secs(60), now);
    let answer = authorize::authorize(&secret, &authorizer_event(Some(&valid)), now).await;
    assert_eq!(answer["principalId"], "bob");

    let missing = authorize::read_token_secret(
        &config,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope",
    )
    .await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn a_user_at_the_connection_cap_is_refused_and_only_that_user() {
    let now = SystemTime::now();
    let store = FakeStore::with_ids(Vec::new());
    let open_as = |id: &str, user: &str, at: SystemTime| {
        let connection = chat_core::store::Connection::opened(id, at).by(Some(user));
        store
            .items
            .lock()
            .unwrap()
            .insert(id.to_owned(), connection);
    };
    open_as("a1", "alice", now);
    open_as("a2", "alice", now);
    // Its two hours are up: its $disconnect never ran, and it counts no more.
    open_as("a0", "alice", now - Duration::from_secs(3 * 60 * 60));
    open_as("b1", "bob", now);
    let connecting = |user: &str| as_user(event("connect"), user);
    let refused = routes::over_connection_cap(&store, &connecting("alice"), 2, now)
        .await
        .expect("alice holds two already");
    assert_eq!(refused.status_code, 429);
    assert!(
        routes::over_connection_cap(&store, &connecting("alice"), 3, now)
            .await
            .is_none()
    );
    assert!(
        routes::over_connection_cap(&store, &connecting("bob"), 2, now)
            .await
            .is_none()
    );
    // An open stage has no users to count.
    assert!(
        routes::over_connection_cap(&store, &event("connect"), 1, now)
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_connections_are_counted_through_the_index_by_user() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use chat_core::store::{Connection, ConnectionStore, DynamoStore};
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let key = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .unwrap()
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name("connections")
        .key_schema(key(chat_contract::CONNECTION_ID))
        .attribute_definitions(string(chat_contract::CONNECTION_ID))
        .attribute_definitions(string(chat_contract::USER_NAME))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(chat_contract::USER_INDEX)
                .key_schema(key(chat_contract::USER_NAME))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes(chat_contract::EXPIRES_AT)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("the table is created in moto");
    crate::support::moto::create_keyed_table(&client, "members", &["roomKey", "connectionId"])
        .await;
    let store = DynamoStore::new(client, "connections", "members");
    let now = SystemTime::now();
    for (id, user, at) in [
        ("a1", Some("alice"), now),
        ("a2", Some("alice"), now),
        ("a0", Some("alice"), now - Duration::from_secs(3 * 60 * 60)),
        ("b1", Some("bob"), now),
        ("x1", None, now),
    ] {
        store
            .put(&Connection::opened(id, at).by(user))
            .await
            .unwrap();
    }
    let now_s = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(store.user_connections("alice", now_s).await.unwrap(), 2);
    assert_eq!(store.user_connections("bob", now_s).await.unwrap(), 1);
    assert_eq!(store.user_connections("carol", now_s).await.unwrap(), 0);
}
