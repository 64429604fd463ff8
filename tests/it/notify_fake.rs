//! `chatstack notify`'s library against fakes: the endpoint from the
//! stack's outputs (a scripted CloudFormation), and the signed POST and
//! every kind of answer (an HTTP server here that checks SigV4 as API
//! Gateway's AWS_IAM authorization does).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::common::fake_cloud::{FakeCloud, deployed_with_outputs};
use aws_credential_types::Credentials;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chatstack::chat::StageName;
use chatstack::notify::{self, NotifyError, Outcome};
use chatstack::sigv4::{self, Request};

fn credentials(secret: &str) -> Credentials {
    Credentials::new("AKIDFAKE", secret, None, None, "test")
}

#[tokio::test]
async fn the_endpoint_comes_from_the_stack_outputs_or_the_error_says_what_to_do() {
    let stage: StageName = "prod".parse().unwrap();
    let url = "https://a1.execute-api.eu-west-1.amazonaws.com/notify";
    let with = FakeCloud::default().with_stack(
        "chatstack-prod",
        deployed_with_outputs(&[("NotifyUrl", url)]),
    );
    assert_eq!(notify::endpoint_of(&with, &stage).await.unwrap(), url);

    let without = FakeCloud::default().with_stack(
        "chatstack-prod",
        deployed_with_outputs(&[("WebSocketUrl", "wss://a/prod")]),
    );
    let error = notify::endpoint_of(&without, &stage).await.unwrap_err();
    assert!(matches!(error, NotifyError::NoEndpoint { .. }));
    assert!(error.to_string().contains("notify = true"), "{error}");

    // A stack without any output: not a settings matter, and not said to be.
    let bare = FakeCloud::default().with_stack("chatstack-prod", deployed_with_outputs(&[]));
    let error = notify::endpoint_of(&bare, &stage).await.unwrap_err();
    assert!(matches!(error, NotifyError::NoOutputs { .. }), "{error}");
    assert!(
        error.to_string().contains("has no outputs")
            && !error.to_string().contains("notify = true"),
        "{error}"
    );

    let missing = FakeCloud::default();
    let error = notify::endpoint_of(&missing, &stage).await.unwrap_err();
    assert!(
        error.to_string().contains("chatstack deploy --stage prod"),
        "{error}"
    );
}

/// What the fake endpoint received, and what it answers.
#[derive(Default)]
struct Endpoint {
    bodies: Mutex<Vec<String>>,
    answer: Mutex<(u16, String)>,
}

/// Serves `endpoint` on 127.0.0.1, checking signatures against `secret`.
async fn serve(endpoint: Arc<Endpoint>, secret: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let endpoint = endpoint.clone();
            async move {
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
                    .collect();
                let request = Request {
                    method: "POST",
                    uri: "/notify",
                    headers: &pairs,
                    body: &body,
                };
                if let Err(refusal) = sigv4::check_request(
                    request,
                    Some(&credentials(secret)),
                    "us-east-1",
                    SystemTime::now(),
                ) {
                    let body = serde_json::json!({"message": refusal.to_string()}).to_string();
                    return (StatusCode::FORBIDDEN, body);
                }
                endpoint
                    .bodies
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let (status, body) = endpoint.answer.lock().unwrap().clone();
                (StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/notify")
}

#[tokio::test]
async fn the_post_is_signed_and_every_answer_is_reported() {
    let endpoint = Arc::new(Endpoint::default());
    let url = serve(endpoint.clone(), "right").await;
    let body = || notify::request_body("hello", None, &["c1".to_owned()]).unwrap();

    *endpoint.answer.lock().unwrap() = (
        200,
        r#"{"sent":1,"gone":0,"failed":0,"unreached":0,"unknown":["c9"]}"#.to_owned(),
    );
    let outcome = notify::post(&url, "us-east-1", &credentials("right"), body())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome {
            sent: 1,
            unknown: vec!["c9".into()],
            ..Outcome::default()
        }
    );
    assert_eq!(
        endpoint.bodies.lock().unwrap().as_slice(),
        [r#"{"connectionIds":["c1"],"text":"hello"}"#]
    );

    let forged = notify::post(&url, "us-east-1", &credentials("wrong"), body())
        .await
        .unwrap_err();
    assert!(
        matches!(&forged, NotifyError::Refused { status: 403, message, .. } if message.contains("signature")),
        "{forged}"
    );

    for (status, answer, expected) in [
        (
            400,
            r#"{"message":"\"text\" is empty"}"#,
            "answered 400: \"text\" is empty",
        ),
        (
            500,
            "Internal Server Error",
            "answered 500: Internal Server Error",
        ),
    ] {
        *endpoint.answer.lock().unwrap() = (status, answer.to_owned());
        let error = notify::post(&url, "us-east-1", &credentials("right"), body())
            .await
            .unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
    *endpoint.answer.lock().unwrap() = (200, "not json".to_owned());
    let error = notify::post(&url, "us-east-1", &credentials("right"), body())
        .await
        .unwrap_err();
    assert!(matches!(error, NotifyError::BadAnswer { .. }), "{error}");

    let nowhere = notify::post(
        "http://127.0.0.1:9/notify",
        "us-east-1",
        &credentials("right"),
        body(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&nowhere, NotifyError::Unreachable { url, .. } if url.contains("127.0.0.1:9")),
        "{nowhere}"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_with_the_signed_request() {
    // Where a redirect would send the request: it must hear nothing.
    let elsewhere = Arc::new(Endpoint::default());
    let target = serve(elsewhere.clone(), "s3cret").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let location = target.clone();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::post(move || {
            let location = location.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", location)]) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{address}/notify");
    let error = notify::post(
        &url,
        "us-east-1",
        &credentials("s3cret"),
        br#"{"text":"hi"}"#.to_vec(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, NotifyError::Refused { status: 307, message, .. } if message.contains("not followed") && message.contains(&target)),
        "{error}"
    );
    assert!(elsewhere.bodies.lock().unwrap().is_empty());
    // Plain http:// to another machine is refused before anything is sent.
    let error = notify::post(
        "http://notify.example.com/notify",
        "us-east-1",
        &credentials("s3cret"),
        b"{}".to_vec(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, NotifyError::Insecure { .. }), "{error}");
}
