//! `chatstack notify`: a SigV4-signed `POST` to a stage's notify endpoint,
//! found in the stack's outputs (or given), and what the function answered.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde::Deserialize;
use serde_json::json;

use crate::aws::StackReader;
use crate::chat::StageName;
use crate::sigv4::{self, Request};

pub use crate::chat::NOTIFY_URL_OUTPUT;
/// The most one message to a client can be (API Gateway's limit).
pub const MAX_TEXT_BYTES: usize = chat_contract::MAX_MESSAGE_BYTES;
/// API Gateway gives up on an integration after 30 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(
        "stage {stage} has no notify endpoint: set `notify = true` under [stages.{stage}] in \
         chatstack.toml and deploy it"
    )]
    NoEndpoint { stage: String },
    #[error(
        "stack {stack} has no outputs at all, so its notify URL cannot be read: an operation may be \
         in progress or have failed; look with `aws cloudformation describe-stacks --stack-name {stack}`, \
         then run deploy again"
    )]
    NoOutputs { stack: String },
    #[error("name the stage (--stage) or the endpoint (--url)")]
    NoTarget,
    #[error(transparent)]
    Outputs(#[from] crate::aws::OutputsError),
    #[error("the text is {0} bytes; a message may have at most {MAX_TEXT_BYTES} (128 KB)")]
    TooLarge(usize),
    #[error(transparent)]
    Signing(#[from] sigv4::SigningError),
    #[error("could not reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url}: the signed request goes only over https:// (plain http:// only to this machine, \
         127.0.0.1 or localhost), so no one on the way can read or replay it"
    )]
    Insecure { url: String },
    #[error("{url} is not a URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered 200 with a body chatstack does not understand: {body}")]
    BadAnswer { url: String, body: String },
}

/// What the notify function did, as it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Outcome {
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
    pub unreached: usize,
    pub unknown: Vec<String>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sent to {} connection{}",
            self.sent,
            if self.sent == 1 { "" } else { "s" }
        )?;
        write!(
            f,
            " ({} gone and removed, {} failed",
            self.gone, self.failed
        )?;
        if self.unreached > 0 {
            write!(f, ", {} not reached before the deadline", self.unreached)?;
        }
        f.write_str(").")?;
        if !self.unknown.is_empty() {
            write!(f, "\nUnknown connection ids: {}", self.unknown.join(", "))?;
        }
        Ok(())
    }
}

/// The stage's `NotifyUrl`, from its stack's outputs.
pub async fn endpoint_of<C: StackReader>(
    cloud: &C,
    stage: &StageName,
) -> Result<String, NotifyError> {
    let outputs = crate::aws::stage_outputs(cloud, stage).await?;
    if outputs.is_empty() {
        // Every chat stack has outputs: none at all is not the settings.
        return Err(NotifyError::NoOutputs {
            stack: format!("chatstack-{stage}"),
        });
    }
    crate::aws::output_value(&outputs, NOTIFY_URL_OUTPUT)
        .map(str::to_owned)
        .ok_or_else(|| NotifyError::NoEndpoint {
            stage: stage.to_string(),
        })
}

/// The region an API Gateway URL's host names
/// (`<api>.execute-api.<region>.<suffix>`), else `fallback`.
pub fn region_of(url: &str, fallback: &str) -> String {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or("");
    let mut labels = host.split('.');
    match (labels.next(), labels.next(), labels.next()) {
        (Some(_api), Some("execute-api"), Some(region)) if !region.is_empty() => region.to_owned(),
        _ => fallback.to_owned(),
    }
}

/// The request body: the text, and the room or the connections when one
/// or some are named.
pub fn request_body(text: &str, room: Option<&str>, to: &[String]) -> Result<Vec<u8>, NotifyError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(NotifyError::TooLarge(text.len()));
    }
    let body = match room {
        Some(room) => json!({ "text": text, "room": room }),
        None if to.is_empty() => json!({ "text": text }),
        None => json!({ "text": text, "connectionIds": to }),
    };
    Ok(body.to_string().into_bytes())
}

/// Refuses a URL a signed request must not go to: anything but https://,
/// except http:// to loopback (`chatstack local`'s notify endpoint).
fn check_url(url: &str) -> Result<(), NotifyError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| NotifyError::BadUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let loopback = parsed
        .host_str()
        .is_some_and(crate::loopback::is_loopback_host);
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(NotifyError::Insecure {
            url: url.to_owned(),
        }),
    }
}

/// POSTs `body` to `url`, signed with `credentials` for `region`.
pub async fn post(
    url: &str,
    region: &str,
    credentials: &Credentials,
    body: Vec<u8>,
) -> Result<Outcome, NotifyError> {
    check_url(url)?;
    let content_type = ("content-type", "application/json");
    let signature = sigv4::sign_request(
        Request {
            method: "POST",
            uri: url,
            headers: &[content_type],
            body: &body,
        },
        credentials,
        region,
        SystemTime::now(),
    )?;
    let unreachable = |reason: String| NotifyError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let client = sigv4::signed_request_client(REQUEST_TIMEOUT).map_err(unreachable)?;
    let request = client.post(url).header(content_type.0, content_type.1);
    let response = sigv4::with_signature(request, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(crate::aws::error_chain(&e)))?;
    answer_of(url, response).await
}

/// What the endpoint's answer says: the outcome, or why there is none. A
/// redirect is reported, never followed.
async fn answer_of(url: &str, response: reqwest::Response) -> Result<Outcome, NotifyError> {
    let refused = |status: reqwest::StatusCode, message: String| NotifyError::Refused {
        url: url.to_owned(),
        status: status.as_u16(),
        message,
    };
    let status = response.status();
    if status.is_redirection() {
        let target = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nowhere");
        return Err(refused(
            status,
            format!(
                "a redirect to {target}, not followed: a signed request goes only where it was addressed"
            ),
        ));
    }
    let text = response
        .text()
        .await
        .map_err(|e| NotifyError::Unreachable {
            url: url.to_owned(),
            reason: crate::aws::error_chain(&e),
        })?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body.get("message")?.as_str().map(str::to_owned))
            .unwrap_or(text);
        return Err(refused(status, message));
    }
    serde_json::from_str(&text).map_err(|_| NotifyError::BadAnswer {
        url: url.to_owned(),
        body: text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_requests_go_over_https_or_to_loopback_only() {
        for good in [
            "https://abc.execute-api.eu-west-1.amazonaws.com/notify",
            "http://127.0.0.1:8081/notify",
            "http://localhost:8081/notify",
            "http://[::1]:8081/notify",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://abc.execute-api.eu-west-1.amazonaws.com/notify",
            "http://127.0.0.1.example.com/notify",
            "ftp://127.0.0.1/notify",
        ] {
            assert!(
                matches!(check_url(bad), Err(NotifyError::Insecure { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_url("not a url"),
            Err(NotifyError::BadUrl { .. })
        ));
    }

    #[test]
    fn the_region_comes_from_an_api_gateway_host() {
        assert_eq!(
            region_of(
                "https://a1b2.execute-api.eu-west-1.amazonaws.com/notify",
                "x"
            ),
            "eu-west-1"
        );
        assert_eq!(
            region_of(
                "https://a1b2.execute-api.cn-north-1.amazonaws.com.cn/notify",
                "x"
            ),
            "cn-north-1"
        );
        assert_eq!(
            region_of("http://127.0.0.1:9000/notify", "us-east-1"),
            "us-east-1"
        );
    }

    #[test]
    fn the_body_names_connections_only_when_given() {
        let everyone: serde_json::Value =
            serde_json::from_slice(&request_body("hi", None, &[]).unwrap()).unwrap();
        assert_eq!(everyone, json!({"text": "hi"}));
        let some: serde_json::Value =
            serde_json::from_slice(&request_body("hi", None, &["a".into()]).unwrap()).unwrap();
        assert_eq!(some, json!({"text": "hi", "connectionIds": ["a"]}));
        let room: serde_json::Value =
            serde_json::from_slice(&request_body("hi", Some("ops"), &[]).unwrap()).unwrap();
        assert_eq!(room, json!({"text": "hi", "room": "ops"}));
        assert!(matches!(
            request_body(&"x".repeat(MAX_TEXT_BYTES + 1), None, &[]),
            Err(NotifyError::TooLarge(_))
        ));
    }
}
