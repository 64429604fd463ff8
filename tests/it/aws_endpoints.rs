//! The real SDK path of deploy against endpoints on 127.0.0.1 that answer
//! what moto cannot be made to: S3's 403 for a missing key, and nothing.

use std::process::{Command, Stdio};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use axum::http::StatusCode;
use chatstack::aws::CloudError;
use chatstack::aws::{StackReader, https_client};
use chatstack::deploy::aws::AwsCloud;
use chatstack::deploy::cloud::Cloud;

async fn cloud_at(endpoint: &str) -> AwsCloud {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    AwsCloud::new(&config)
}

/// An HTTP server on 127.0.0.1 answering `status` to every request.
async fn answering(status: StatusCode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(move || async move { status });
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// A URL on 127.0.0.1 where nothing listens.
fn nothing_listening() -> String {
    let port = chatstack::local::dynamo::free_port().expect("a free port");
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn object_tags_forbidden_means_not_there_and_the_upload_decides() {
    for status in [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND] {
        let cloud = cloud_at(&answering(status).await).await;
        assert_eq!(
            cloud.object_tags("bucket", "key.zip").await.unwrap(),
            None,
            "{status}"
        );
    }
    let cloud = cloud_at(&answering(StatusCode::BAD_REQUEST).await).await;
    assert!(cloud.object_tags("bucket", "key.zip").await.is_err());
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_is_named_with_what_to_check() {
    let endpoint = nothing_listening();
    let cloud = cloud_at(&endpoint).await;
    let error = cloud.describe_stack("chatstack-dev").await.unwrap_err();
    assert!(
        matches!(&error, CloudError::Unreachable { endpoint: e, .. } if *e == endpoint),
        "{error:?}"
    );
    let error = cloud.object_tags("bucket", "key").await.unwrap_err();
    assert!(matches!(error, CloudError::Unreachable { .. }), "{error:?}");
}

#[test]
fn the_cli_says_which_endpoint_it_could_not_reach() {
    let endpoint = nothing_listening();
    let output = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["destroy", "--stage", "dev", "--yes"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("could not reach {endpoint}"))
            && stderr.contains("AWS_ENDPOINT_URL"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}
