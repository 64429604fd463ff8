//! What each route does, generic over the store and poster so tests drive
//! them with fakes. Each `main` hands one of these to the Lambda runtime.

use std::time::SystemTime;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;

use crate::fanout::{FanoutConfig, broadcast};
use crate::message::text_to_send;
use crate::poster::Poster;
use crate::store::{Connection, ConnectionStore};

/// The `$default` route's reply, before the caller's connection info.
pub const USAGE: &str = "Use the sendmessage route to send a message. Your info: ";
/// `$default`'s reply when GetConnection failed.
pub const USAGE_WITHOUT_INFO: &str = "Use the sendmessage route to send a message. (Your connection info could not be read just now.)";
/// What the sender hears when the connections could not be read: the route
/// has no route response, so a 500 body would never reach the client.
pub const NOT_DELIVERED: &str = "Your message may not have reached everyone: the list of connections could not be read. Please try again.";

fn response(status_code: i64, body: &str) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status_code;
    response.body = Some(Body::Text(body.to_owned()));
    response
}

/// Posts `text` to one client; a failure is only logged, since the route
/// is already answering an error.
async fn tell<P: Poster>(poster: &P, connection_id: &str, text: &str) {
    if let Err(error) = poster.post(connection_id, text.as_bytes()).await {
        tracing::warn!(connection_id, %error, "could not tell the client");
    }
}

fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event.request_context.connection_id.as_deref()
}

fn missing_connection_id() -> ApiGatewayProxyResponse {
    tracing::error!("event without requestContext.connectionId");
    response(400, "the event has no connection id")
}

/// `$connect`: records the connection. A failure answers 500, which makes
/// API Gateway refuse the connection, so no client is left unreachable.
pub async fn connect<S: ConnectionStore>(
    store: &S,
    event: &ApiGatewayWebsocketProxyRequest,
    now: SystemTime,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    match store.put(&Connection::opened(id, now)).await {
        Ok(()) => response(200, "Connected."),
        Err(error) => {
            tracing::error!(connection_id = id, %error, "could not record the connection");
            response(500, "Failed to connect.")
        }
    }
}

/// `$disconnect`: forgets the connection. Always 200: the client is gone
/// whatever happens, and TTL removes an id whose delete failed.
pub async fn disconnect<S: ConnectionStore>(
    store: &S,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    if let Err(error) = store.delete(id).await {
        tracing::error!(connection_id = id, %error, "could not forget the connection");
    }
    response(200, "Disconnected.")
}

/// `sendmessage`: posts the text to every connection. Bad input gets an
/// explanation sent to the sender alone, and nothing is broadcast.
pub async fn send_message<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
    config: FanoutConfig,
    deadline: tokio::time::Instant,
) -> ApiGatewayProxyResponse {
    let Some(sender) = connection_id(event) else {
        return missing_connection_id();
    };
    let text = match text_to_send(event.body.as_deref()) {
        Ok(text) => text,
        Err(refused) => {
            tracing::info!(connection_id = sender, reason = %refused, "message refused");
            tell(poster, sender, &refused.reply()).await;
            return response(400, &refused.to_string());
        }
    };
    match broadcast(store, poster, text.as_bytes(), config, deadline).await {
        Ok(summary) => {
            let complete = summary.unreached == 0 && !summary.stopped_early;
            tracing::info!(
                sent = summary.sent,
                gone = summary.gone,
                failed = summary.failed,
                unreached = summary.unreached,
                stopped_early = summary.stopped_early,
                duration_ms = summary.duration.as_millis() as u64,
                "{}",
                if complete {
                    "broadcast done"
                } else {
                    "broadcast stopped before the invocation deadline"
                }
            );
            response(200, "Message sent.")
        }
        Err(error) => {
            tracing::error!(%error, "broadcast stopped: could not read the connections");
            tell(poster, sender, NOT_DELIVERED).await;
            response(500, "Failed to send the message.")
        }
    }
}

/// `$default`: tells the caller how to use the API, with its connection info.
pub async fn default_route<P: Poster>(
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    let info = match poster.get_connection(id).await {
        Ok(info) => info,
        Err(error) => {
            tracing::error!(connection_id = id, %error, "GetConnection failed");
            tell(poster, id, USAGE_WITHOUT_INFO).await;
            return response(500, "Failed to read the connection.");
        }
    };
    let info = serde_json::to_string(&info).unwrap_or_else(|_| "{}".to_owned());
    match poster.post(id, format!("{USAGE}{info}").as_bytes()).await {
        Ok(()) => response(200, "Usage sent."),
        Err(error) => {
            tracing::error!(connection_id = id, %error, "could not answer the caller");
            response(500, "Failed to answer.")
        }
    }
}
