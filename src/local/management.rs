//! The emulated `@connections` management API of the WebSocket stage:
//! PostToConnection, GetConnection and DeleteConnection, signed with the
//! run's credentials and throttled as API Gateway's are.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, close_code};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;

use super::gateway::{Connection, Gateway, lock};

/// Why the management API refuses a request. Each answers as API Gateway
/// does: its status, its `x-amzn-errortype` and a JSON message, which is
/// what the SDK's error codes (`GoneException`, ...) are read from.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// Unsigned, or signed with other credentials or for another region.
    #[error("{0}")]
    Forbidden(String),
    /// The URL names a stage other than this API's.
    #[error("no such stage")]
    NoSuchStage,
    /// The connection is closed, or never was.
    #[error("the connection is gone")]
    Gone,
    /// Over the management API's request rate.
    #[error("Too Many Requests")]
    TooManyRequests,
    /// A message over API Gateway's limit (128 KB).
    #[error("Message too long: {bytes} bytes, at most {most}")]
    PayloadTooLarge { bytes: usize, most: usize },
    /// A body too large even to read to the end, so of no known size.
    #[error("Message too long: over {most} bytes")]
    UnreadablyLarge { most: usize },
}

impl ManagementError {
    fn status(&self) -> StatusCode {
        match self {
            ManagementError::Forbidden(_) => StatusCode::FORBIDDEN,
            ManagementError::NoSuchStage => StatusCode::NOT_FOUND,
            ManagementError::Gone => StatusCode::GONE,
            ManagementError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ManagementError::PayloadTooLarge { .. } | ManagementError::UnreadablyLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
        }
    }

    /// API Gateway's error type; `None` where it answers without one.
    fn error_type(&self) -> Option<&'static str> {
        match self {
            ManagementError::Forbidden(_) => Some("ForbiddenException"),
            ManagementError::NoSuchStage => None,
            ManagementError::Gone => Some("GoneException"),
            ManagementError::TooManyRequests => Some("LimitExceededException"),
            ManagementError::PayloadTooLarge { .. } | ManagementError::UnreadablyLarge { .. } => {
                Some("PayloadTooLargeException")
            }
        }
    }
}

impl IntoResponse for ManagementError {
    fn into_response(self) -> Response {
        let Some(error_type) = self.error_type() else {
            return (self.status(), self.to_string()).into_response();
        };
        // A gone connection's message is null, as API Gateway sends it.
        let message = match &self {
            ManagementError::Gone => serde_json::Value::Null,
            other => other.to_string().into(),
        };
        (
            self.status(),
            [
                ("x-amzn-errortype", error_type),
                ("content-type", "application/json"),
            ],
            json!({ "message": message }).to_string(),
        )
            .into_response()
    }
}

/// The methods of `/{stage}/@connections/{id}`, behind the signature check.
pub fn routes(gateway: &Arc<Gateway>) -> MethodRouter<Arc<Gateway>> {
    get(get_connection)
        .post(post_to_connection)
        .delete(delete_connection)
        .route_layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            require_signature,
        ))
}

/// The management API takes only requests signed (SigV4, execute-api) with
/// the run's credentials for its region, as AWS does: code that forgets to
/// sign fails here as it would in AWS. Unsigned: 403 `Missing
/// Authentication Token`; signed otherwise: 403 with SigV4's reason.
async fn require_signature(
    State(gateway): State<Arc<Gateway>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, ManagementError> {
    let (parts, body) = request.into_parts();
    // Past the message limit the post is refused anyway; read a little more
    // so that refusal still comes from PostToConnection, with the size.
    let most = gateway.limits.max_message_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, most + 1024).await else {
        return Err(ManagementError::UnreadablyLarge { most });
    };
    let signer = &gateway.access.management_signer;
    let checked = crate::sigv4::check_received(
        &parts,
        &bytes,
        Some(&signer.credentials),
        &signer.region,
        &[crate::sigv4::SERVICE],
    );
    if let Err(refusal) = checked {
        let message = match refusal {
            crate::sigv4::Refusal::Unsigned => "Missing Authentication Token".to_owned(),
            other => other.to_string(),
        };
        let _ = gateway
            .log
            .send(format!("@connections refused 403: {message}"));
        return Err(ManagementError::Forbidden(message));
    }
    Ok(next
        .run(axum::extract::Request::from_parts(parts, bytes.into()))
        .await)
}

/// The open connection `id` of this API's `stage`.
fn open_connection(
    gateway: &Gateway,
    stage: &str,
    id: &str,
) -> Result<Arc<Connection>, ManagementError> {
    if stage != gateway.stage {
        return Err(ManagementError::NoSuchStage);
    }
    gateway.connection(id).ok_or(ManagementError::Gone)
}

/// PostToConnection.
async fn post_to_connection(
    State(gateway): State<Arc<Gateway>>,
    Path((stage, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ManagementError> {
    if !gateway.management_throttle.admit("@connections") {
        return Err(ManagementError::TooManyRequests);
    }
    let connection = open_connection(&gateway, &stage, &id)?;
    let most = gateway.limits.max_message_bytes;
    if body.len() > most {
        return Err(ManagementError::PayloadTooLarge {
            bytes: body.len(),
            most,
        });
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    connection
        .sender
        .send(Message::Text(text.into()))
        .map_err(|_| ManagementError::Gone)?;
    Ok(StatusCode::OK)
}

/// GetConnection.
async fn get_connection(
    State(gateway): State<Arc<Gateway>>,
    Path((stage, id)): Path<(String, String)>,
) -> Result<Response, ManagementError> {
    let connection = open_connection(&gateway, &stage, &id)?;
    let context = &connection.context;
    let last_active = *lock(&connection.last_active);
    Ok(axum::Json(json!({
        "connectedAt": humantime::format_rfc3339_millis(context.connected_at).to_string(),
        "lastActiveAt": humantime::format_rfc3339_millis(last_active).to_string(),
        "identity": context.identity(),
    }))
    .into_response())
}

/// DeleteConnection: closes the connection as the server.
async fn delete_connection(
    State(gateway): State<Arc<Gateway>>,
    Path((stage, id)): Path<(String, String)>,
) -> Result<StatusCode, ManagementError> {
    let connection = open_connection(&gateway, &stage, &id)?;
    let _ = connection.sender.send(Message::Close(Some(CloseFrame {
        code: close_code::NORMAL,
        reason: "Closed by the management API".into(),
    })));
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_refusal_answers_with_api_gateways_status_and_error_type() {
        for (error, status, error_type, message) in [
            (
                ManagementError::Gone,
                410,
                Some("GoneException"),
                Some(serde_json::Value::Null),
            ),
            (
                ManagementError::TooManyRequests,
                429,
                Some("LimitExceededException"),
                Some("Too Many Requests".into()),
            ),
            (
                ManagementError::PayloadTooLarge { bytes: 5, most: 4 },
                413,
                Some("PayloadTooLargeException"),
                Some("Message too long: 5 bytes, at most 4".into()),
            ),
            (
                ManagementError::Forbidden("Missing Authentication Token".into()),
                403,
                Some("ForbiddenException"),
                Some("Missing Authentication Token".into()),
            ),
            (ManagementError::NoSuchStage, 404, None, None),
        ] {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            let header = response
                .headers()
                .get("x-amzn-errortype")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(header.as_deref(), error_type);
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            match message {
                Some(message) => {
                    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(json["message"], message);
                }
                None => assert_eq!(&body[..], b"no such stage"),
            }
        }
    }
}
