//! Posting to connections through the API Gateway management API.

use std::future::Future;

use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostError {
    /// 410: the client went away; its id should be forgotten.
    #[error("connection is gone (410)")]
    Gone,
    /// 429: the management API's request rate was exceeded; worth
    /// retrying after a pause, and never a sign the client is gone.
    #[error("throttled (429)")]
    Throttled,
    #[error("timed out")]
    TimedOut,
    #[error("{0}")]
    Failed(String),
}

/// What `GetConnection` says about a connection, as sent back by `$default`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub connection_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Sends to connections; the management API in production, fakes in tests.
pub trait Poster: Send + Sync {
    /// `PostToConnection`: sends `data` to one client.
    fn post(
        &self,
        connection_id: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(), PostError>> + Send;

    /// `GetConnection`: what API Gateway knows of one client.
    fn get_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<ConnectionInfo, PostError>> + Send;
}

/// The API Gateway management API at one endpoint.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementApi {
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(endpoint)
            .build();
        ManagementApi {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }
}

/// Maps an SDK error, recognising 410 Gone by its error code or, from
/// emulators that omit the code, by its status.
fn post_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E, aws_sdk_apigatewaymanagement::config::http::HttpResponse>,
) -> PostError {
    let status = error.raw_response().map(|r| r.status().as_u16());
    let gone = error.code() == Some("GoneException") || status == Some(410);
    if gone {
        return PostError::Gone;
    }
    let throttled = matches!(
        error.code(),
        Some("LimitExceededException" | "TooManyRequestsException" | "ThrottlingException")
    ) || status == Some(429);
    if throttled {
        return PostError::Throttled;
    }
    let detail = match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => crate::describe(&error),
    };
    PostError::Failed(detail)
}

impl Poster for ManagementApi {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PostError> {
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
            .map_err(post_error)?;
        Ok(())
    }

    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, PostError> {
        let output = self
            .client
            .get_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map_err(post_error)?;
        let identity = output.identity();
        Ok(ConnectionInfo {
            connection_id: connection_id.to_owned(),
            connected_at: output.connected_at().map(|t| t.to_string()),
            last_active_at: output.last_active_at().map(|t| t.to_string()),
            source_ip: identity.and_then(|i| i.source_ip()).map(str::to_owned),
            user_agent: identity.and_then(|i| i.user_agent()).map(str::to_owned),
        })
    }
}
