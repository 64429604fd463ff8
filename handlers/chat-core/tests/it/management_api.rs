//! The real management API client against a local HTTP server that answers
//! like API Gateway: 410 GoneException, other errors, GetConnection.
//! (moto does not emulate the management API, and never answers 410.)

use std::sync::{Arc, Mutex};

use crate::support::moto::sdk_config;
use chat_core::poster::{ManagementApi, PostError, Poster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves until dropped; records `METHOD path` of every request.
async fn fake_gateway() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/dev", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0; 64 * 1024];
                let mut read = 0;
                // Enough for one small request: headers and body arrive together.
                while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let request = String::from_utf8_lossy(&buffer[..read]).to_string();
                let line = request.lines().next().unwrap_or_default().to_owned();
                let mut parts = line.split(' ');
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                log.lock().unwrap().push(format!("{method} {path}"));
                let (status, headers, body) = if path.contains("gone-bare") {
                    ("410 Gone", "", String::new())
                } else if path.contains("gone") {
                    (
                        "410 Gone",
                        "x-amzn-ErrorType: GoneException\r\n",
                        r#"{"message":"connection is gone"}"#.to_owned(),
                    )
                } else if path.contains("throttled-bare") {
                    ("429 Too Many Requests", "", String::new())
                } else if path.contains("throttled") {
                    (
                        "429 Too Many Requests",
                        "x-amzn-ErrorType: LimitExceededException\r\n",
                        r#"{"message":"slow down"}"#.to_owned(),
                    )
                } else if path.contains("forbidden") {
                    (
                        "403 Forbidden",
                        "x-amzn-ErrorType: ForbiddenException\r\n",
                        r#"{"message":"not allowed"}"#.to_owned(),
                    )
                } else if method == "GET" {
                    (
                        "200 OK",
                        "",
                        r#"{"connectedAt":"2026-11-22T04:50:00Z","lastActiveAt":"2026-11-22T04:51:00Z","identity":{"sourceIp":"198.51.100.23","userAgent":"test-agent"}}"#.to_owned(),
                    )
                } else {
                    ("200 OK", "", String::new())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (endpoint, seen)
}

#[tokio::test]
async fn posts_to_the_stage_connections_path() {
    let (endpoint, seen) = fake_gateway().await;
    let api = ManagementApi::new(&sdk_config(&endpoint).await, &endpoint);
    api.post("abc", b"hello").await.expect("post works");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["POST /dev/@connections/abc"]
    );
}

#[tokio::test]
async fn gone_is_recognised_by_code_and_by_status() {
    let (endpoint, _) = fake_gateway().await;
    let api = ManagementApi::new(&sdk_config(&endpoint).await, &endpoint);
    assert_eq!(api.post("gone", b"x").await, Err(PostError::Gone));
    assert_eq!(api.post("gone-bare", b"x").await, Err(PostError::Gone));
}

#[tokio::test]
async fn throttling_is_recognised_by_code_and_by_status() {
    let (endpoint, _) = fake_gateway().await;
    let api = ManagementApi::new(&sdk_config(&endpoint).await, &endpoint);
    assert_eq!(api.post("throttled", b"x").await, Err(PostError::Throttled));
    assert_eq!(
        api.post("throttled-bare", b"x").await,
        Err(PostError::Throttled)
    );
}

#[tokio::test]
async fn other_errors_are_failures_with_their_code() {
    let (endpoint, _) = fake_gateway().await;
    let api = ManagementApi::new(&sdk_config(&endpoint).await, &endpoint);
    match api.post("forbidden", b"x").await {
        Err(PostError::Failed(detail)) => {
            assert!(detail.contains("ForbiddenException"), "{detail}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn get_connection_gives_the_callers_info() {
    let (endpoint, seen) = fake_gateway().await;
    let api = ManagementApi::new(&sdk_config(&endpoint).await, &endpoint);
    let info = api.get_connection("me").await.expect("GetConnection works");
    assert_eq!(info.connection_id, "me");
    assert_eq!(info.source_ip.as_deref(), Some("198.51.100.23"));
    assert_eq!(info.user_agent.as_deref(), Some("test-agent"));
    assert!(info.connected_at.is_some());
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["GET /dev/@connections/me"]
    );
}
