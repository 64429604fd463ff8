//! The WebSocket gateway and the `@connections` management API, following
//! API Gateway's WebSocket semantics.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::app::{LocalApp, LocalAuthorizer, RouteTarget};
use super::events::{self, ConnectionContext};
use super::runtime::{FunctionRuntime, InvokeError};
use super::throttle::{RouteLimits, Throttle};

/// API Gateway's quotas, configurable for tests and long sessions.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Closed after this long without a message (API Gateway: 10 minutes).
    pub idle_timeout: Duration,
    /// Closed after this long in any case (API Gateway: 2 hours).
    pub max_lifetime: Duration,
    /// Largest message accepted (API Gateway: 128 KB).
    pub max_message_bytes: usize,
    /// Largest frame accepted (API Gateway: 32 KB); a larger message must
    /// come in several frames.
    pub max_frame_bytes: usize,
    /// Management API requests a second before it answers 429 (API
    /// Gateway's default account-wide limit: 10,000).
    pub management_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(2 * 60 * 60),
            max_message_bytes: chat_contract::MAX_MESSAGE_BYTES,
            max_frame_bytes: chat_contract::MAX_FRAME_BYTES,
            management_rate: 10_000,
        }
    }
}

pub(super) struct Connection {
    pub(super) context: ConnectionContext,
    pub(super) sender: mpsc::UnboundedSender<Message>,
    /// When the client last sent a message (GetConnection's lastActiveAt).
    pub(super) last_active: Mutex<SystemTime>,
}

/// The emulated API: its routes' functions and its open connections.
/// API Gateway ends a connection itself (idle timeout, lifetime, shutdown)
/// with [`close_code::AWAY`].
pub struct Gateway {
    pub app: LocalApp,
    pub stage: String,
    pub api_id: String,
    /// `127.0.0.1:PORT`.
    pub domain_name: String,
    pub limits: Limits,
    /// Runtimes by function logical id.
    pub runtimes: BTreeMap<String, Arc<FunctionRuntime>>,
    /// One line per invocation, for the user.
    pub log: mpsc::UnboundedSender<String>,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    /// The stage's route throttling; `None` when the template sets none.
    throttle: Option<Throttle>,
    /// The management API's request rate (one bucket, a second's worth).
    pub(super) management_throttle: Throttle,
    pub(super) access: Access,
}

/// Who may use the gateway.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who may call the management API: the handlers' credentials, for
    /// the handlers' region, as IAM would check the functions' role.
    pub management_signer: ManagementSigner,
    /// The browser origins a WebSocket may come from (the page's own and
    /// those the user allows); clients that send no `Origin` are not
    /// browsers and always may.
    pub allowed_origins: Vec<String>,
}

/// The credentials and region management API requests must be signed with.
#[derive(Debug, Clone)]
pub struct ManagementSigner {
    pub credentials: aws_credential_types::Credentials,
    pub region: String,
}

/// Like API Gateway's ids: short, opaque, ending in '='.
fn new_connection_id() -> String {
    format!("{}=", super::ids::unique_hex())
}

/// The status code of a Lambda proxy response; `None` when the response
/// has none (or was not JSON), which API Gateway treats as malformed.
fn status_code(response: &Value) -> Option<i64> {
    response["statusCode"].as_i64()
}

/// What API Gateway answers the upgrade request after `$connect` ran:
/// `None` accepts; a status refuses. A function error, a timeout or a
/// malformed response (no status code, not JSON) is a 502.
fn connect_verdict(result: &Result<Value, InvokeError>) -> Option<StatusCode> {
    match result.as_ref().map(status_code) {
        Ok(Some(code)) if (200..300).contains(&code) => None,
        Ok(Some(code)) => Some(
            u16::try_from(code)
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY),
        ),
        Ok(None) | Err(_) => Some(StatusCode::BAD_GATEWAY),
    }
}

/// The subprotocol `$connect`'s answer selects (its `Sec-WebSocket-Protocol`
/// header, any case), which API Gateway sends back in the handshake.
fn selected_subprotocol(answer: &Value) -> Option<String> {
    answer["headers"]
        .as_object()?
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))?
        .1
        .as_str()
        .map(str::to_owned)
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Gateway {
    pub fn new(
        app: LocalApp,
        stage: &str,
        domain_name: &str,
        limits: Limits,
        runtimes: BTreeMap<String, Arc<FunctionRuntime>>,
        log: mpsc::UnboundedSender<String>,
        access: Access,
    ) -> Arc<Self> {
        Arc::new(Gateway {
            throttle: app.route_limits.map(Throttle::new),
            management_throttle: Throttle::new(RouteLimits {
                rate: f64::from(limits.management_rate),
                burst: limits.management_rate,
            }),
            app,
            stage: stage.to_owned(),
            api_id: "local".to_owned(),
            domain_name: domain_name.to_owned(),
            limits,
            runtimes,
            log,
            connections: Mutex::new(HashMap::new()),
            access,
        })
    }

    /// Closes every connection with 1001 Going Away, as API Gateway does on
    /// a shutdown or deployment, and waits (at most `limit`) for the
    /// clients to answer, so each hears why before the process ends.
    pub async fn close_all(&self, limit: Duration) {
        let open: Vec<Arc<Connection>> = lock(&self.connections).values().cloned().collect();
        for connection in &open {
            let _ = connection.sender.send(Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: "Going away: chatstack local stopped".into(),
            })));
        }
        let deadline = tokio::time::Instant::now() + limit;
        while !lock(&self.connections).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/{stage}", get(upgrade))
            .route(
                "/{stage}/@connections/{id}",
                super::management::routes(self),
            )
            .with_state(self.clone())
    }

    /// Invokes the function behind `route_key`; `None` when there is no
    /// such route, or it invokes no function (a `MOCK`).
    async fn invoke(
        &self,
        route_key: &str,
        connection_id: &str,
        event: Value,
    ) -> Option<Result<Value, InvokeError>> {
        let RouteTarget::Function(function) = self.app.routes.get(route_key)? else {
            return None;
        };
        let runtime = self.runtimes.get(function)?;
        let started = Instant::now();
        let result = runtime.invoke(event).await;
        let outcome = match &result {
            Ok(response) => status_code(response).map_or("malformed".to_owned(), |c| c.to_string()),
            Err(error) => error.to_string(),
        };
        let _ = self.log.send(format!(
            "{route_key:<12} {connection_id:<18} {outcome:<4} {:>5} ms  ({})",
            started.elapsed().as_millis(),
            runtime.name
        ));
        Some(result)
    }

    /// Runs the `$connect` authorizer as API Gateway does: 401 without the
    /// identity source (the function is not invoked), 403 on a deny, 500
    /// when it fails or answers something else; on an allow, what every
    /// event of the connection carries as `requestContext.authorizer`.
    async fn authorize(
        &self,
        authorizer: &LocalAuthorizer,
        context: &ConnectionContext,
        request: &events::UpgradeRequest,
        request_id: &str,
    ) -> Result<serde_json::Map<String, Value>, Response> {
        let has_identity = authorizer.query_parameter.as_ref().is_none_or(|parameter| {
            request
                .query
                .iter()
                .any(|(key, value)| key == parameter && !value.is_empty())
        });
        let log = |outcome: &str, started: Instant| {
            let _ = self.log.send(format!(
                "{:<12} {:<18} {outcome:<4} {:>5} ms  (authorizer)",
                "$connect",
                context.connection_id,
                started.elapsed().as_millis()
            ));
        };
        let started = Instant::now();
        if !has_identity {
            log("401 no token", started);
            return Err((StatusCode::UNAUTHORIZED, "Unauthorized").into_response());
        }
        let runtime = self
            .runtimes
            .get(&authorizer.function)
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let event = events::authorizer_request(context, request, request_id);
        let answer = runtime.invoke(event).await;
        let effect = answer
            .as_ref()
            .ok()
            .and_then(|answer| answer["policyDocument"]["Statement"][0]["Effect"].as_str());
        match (effect, &answer) {
            (Some("Allow"), Ok(answer)) => {
                log("allow", started);
                let mut granted = answer["context"].as_object().cloned().unwrap_or_default();
                granted.insert("principalId".into(), answer["principalId"].clone());
                Ok(granted)
            }
            (Some("Deny"), _) => {
                log("403 deny", started);
                Err((StatusCode::FORBIDDEN, "Forbidden").into_response())
            }
            (_, Err(error)) => {
                log(&error.to_string(), started);
                Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response())
            }
            (_, Ok(_)) => {
                log("malformed", started);
                Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response())
            }
        }
    }

    /// Whether the stage's throttling lets one more request to `route` through.
    fn admit(&self, route: &str) -> bool {
        self.throttle.as_ref().is_none_or(|t| t.admit(route))
    }

    pub(super) fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        lock(&self.connections).get(id).cloned()
    }

    /// Routes one message and reports a failed integration to the sender,
    /// as API Gateway does.
    async fn on_message(self: Arc<Self>, context: ConnectionContext, body: String) {
        // Unique even for two messages in one millisecond.
        let request_id = super::ids::unique_hex();
        let error = match self.app.select_route(&body) {
            None => Some("Forbidden"),
            Some(route) if !self.admit(route) => Some("Too Many Requests"),
            // API Gateway answers a MOCK route itself: nothing is invoked,
            // and with no route response the client is sent nothing.
            Some(route) if self.app.routes.get(route) == Some(&RouteTarget::Mock) => {
                let _ = self.log.send(format!(
                    "{route:<12} {:<18} MOCK (no function)",
                    context.connection_id
                ));
                None
            }
            Some(route) => {
                let event = events::message(&context, route, &body, &request_id);
                match self.invoke(route, &context.connection_id, event).await {
                    Some(Ok(_)) => None,
                    _ => Some("Internal server error"),
                }
            }
        };
        if let (Some(message), Some(connection)) = (error, self.connection(&context.connection_id))
        {
            let text = json!({
                "message": message,
                "connectionId": context.connection_id,
                "requestId": request_id,
            });
            let _ = connection
                .sender
                .send(Message::Text(text.to_string().into()));
        }
    }

    /// Serves one accepted connection until it ends, then runs `$disconnect`.
    async fn serve(self: Arc<Self>, socket: WebSocket, context: ConnectionContext) {
        let (sink, mut stream) = socket.split();
        let (sender, outgoing) = mpsc::unbounded_channel::<Message>();
        let id = context.connection_id.clone();
        // When a data frame last went either way: the idle timeout counts
        // from here; control frames (ping, pong) do not move it.
        let last_data = Arc::new(Mutex::new(tokio::time::Instant::now()));
        lock(&self.connections).insert(
            id.clone(),
            Arc::new(Connection {
                context: context.clone(),
                sender: sender.clone(),
                last_active: Mutex::new(SystemTime::now()),
            }),
        );
        let writer = spawn_writer(sink, outgoing, last_data.clone());
        let idle_timeout = self.limits.idle_timeout;
        let end_of_life = tokio::time::Instant::now() + self.limits.max_lifetime;
        let end = loop {
            let idle_at = *lock(&last_data) + idle_timeout;
            tokio::select! {
                frame = stream.next() => {
                    if let Some(end) = self.on_frame(frame, &context, &last_data) {
                        break end;
                    }
                }
                // Data may have gone out meanwhile: only then is it idle.
                () = tokio::time::sleep_until(idle_at) => {
                    if *lock(&last_data) + idle_timeout <= tokio::time::Instant::now() {
                        break End::Closing(close_code::AWAY, "Going away: idle timeout");
                    }
                }
                () = tokio::time::sleep_until(end_of_life) => {
                    break End::Closing(close_code::AWAY, "Going away: maximum connection lifetime");
                }
            }
        };
        let (code, reason) = match end {
            End::Closing(code, reason) => {
                let _ = sender.send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })));
                (code, reason.to_owned())
            }
            End::Closed(code, reason) => (code, reason),
        };
        lock(&self.connections).remove(&id);
        drop(sender);
        let _ = writer.await;
        let request_id = format!("{id}-disconnect");
        let event = events::disconnect(&context, code, &reason, &request_id);
        self.invoke("$disconnect", &id, event).await;
    }

    /// Handles one frame from the client; `Some` when the connection ends.
    fn on_frame(
        self: &Arc<Self>,
        frame: Option<Result<Message, axum::Error>>,
        context: &ConnectionContext,
        last_data: &Mutex<tokio::time::Instant>,
    ) -> Option<End> {
        match frame {
            Some(Ok(Message::Text(text))) => {
                *lock(last_data) = tokio::time::Instant::now();
                if let Some(connection) = self.connection(&context.connection_id) {
                    *lock(&connection.last_active) = SystemTime::now();
                }
                if text.len() > self.limits.max_message_bytes {
                    return Some(End::Closing(close_code::SIZE, "Message too big"));
                }
                tokio::spawn(self.clone().on_message(context.clone(), text.to_string()));
                None
            }
            // API Gateway takes text frames only.
            Some(Ok(Message::Binary(_))) => Some(End::Closing(
                close_code::UNSUPPORTED,
                "Binary frames are not supported",
            )),
            Some(Ok(Message::Close(frame))) => Some(End::Closed(
                frame.as_ref().map_or(close_code::STATUS, |f| f.code),
                frame.map_or_else(
                    || "Client-side close frame without status code".to_owned(),
                    |f| f.reason.to_string(),
                ),
            )),
            Some(Ok(_ping_or_pong)) => None,
            // tungstenite refuses a frame over max_frame_size with a capacity
            // error; its type is axum's tungstenite's, so it is recognised by
            // its text.
            Some(Err(error)) if error.to_string().contains("Space limit exceeded") => {
                Some(End::Closing(close_code::SIZE, "Message too big"))
            }
            Some(Err(error)) => Some(End::Closed(
                close_code::ABNORMAL,
                format!("Connection lost: {error}"),
            )),
            None => Some(End::Closed(
                close_code::ABNORMAL,
                "Going away: the client left without a close frame".to_owned(),
            )),
        }
    }
}

/// How a connection ends.
enum End {
    /// The gateway closes it, with this code and reason.
    Closing(u16, &'static str),
    /// The client closed it, or went away.
    Closed(u16, String),
}

/// Sends what the connection is given, in order, until a close frame or
/// the last sender is gone; each data frame counts as activity.
fn spawn_writer(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::UnboundedReceiver<Message>,
    last_data: Arc<Mutex<tokio::time::Instant>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if matches!(message, Message::Text(_)) {
                *lock(&last_data) = tokio::time::Instant::now();
            }
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    })
}

/// What `$connect` is told of the upgrade request: headers, the decoded
/// query string, and the port it came in on (`domain_name` is `host:port`).
fn upgrade_request(
    headers: &HeaderMap,
    query: Option<&str>,
    domain_name: &str,
) -> events::UpgradeRequest {
    events::UpgradeRequest {
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        query: form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        port: domain_name
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(80),
    }
}

/// The refusal of a browser page of another origin (one a hostile site
/// could open beside the user's chat), unless `--allow-origin` allows it.
fn refuse_foreign_origin(gateway: &Gateway, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get("origin").map(|v| v.to_str().unwrap_or("?"));
    if crate::loopback::origin_allowed(origin, &gateway.access.allowed_origins) {
        return None;
    }
    let _ = gateway.log.send(format!(
        "$connect refused 403: a browser page at {} (not this gateway's page; allow it with --allow-origin)",
        origin.unwrap_or_default()
    ));
    Some(
        (
            StatusCode::FORBIDDEN,
            "Forbidden: a page of another origin may not connect (chatstack local --allow-origin ORIGIN allows one)",
        )
            .into_response(),
    )
}

/// A new connection's context, as API Gateway fills it in.
fn new_connection(gateway: &Gateway, peer: SocketAddr, headers: &HeaderMap) -> ConnectionContext {
    ConnectionContext {
        connection_id: new_connection_id(),
        connected_at: SystemTime::now(),
        api_id: gateway.api_id.clone(),
        stage: gateway.stage.clone(),
        domain_name: gateway.domain_name.clone(),
        source_ip: peer.ip().to_string(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorizer: None,
    }
}

/// `GET /{stage}` with an upgrade: runs `$connect`, and accepts only if it
/// answered 2xx.
async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    Path(stage): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if stage != gateway.stage {
        return (
            StatusCode::NOT_FOUND,
            format!("no stage {stage}; this API serves /{}", gateway.stage),
        )
            .into_response();
    }
    if let Some(refusal) = refuse_foreign_origin(&gateway, &headers) {
        return refusal;
    }
    let request = upgrade_request(&headers, query.as_deref(), &gateway.domain_name);
    let mut context = new_connection(&gateway, peer, &headers);
    if !gateway.admit("$connect") {
        return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
    }
    let request_id = format!("{}-connect", context.connection_id);
    if let Some(authorizer) = &gateway.app.connect_authorizer {
        match gateway
            .authorize(authorizer, &context, &request, &request_id)
            .await
        {
            Ok(granted) => context.authorizer = Some(granted),
            Err(refusal) => return refusal,
        }
    }
    let event = events::connect(&context, &request, &request_id);
    // No $connect route: API Gateway accepts every connection.
    let answer = gateway
        .invoke("$connect", &context.connection_id, event)
        .await;
    if let Some(status) = answer.as_ref().and_then(connect_verdict) {
        return (status, "the $connect route refused the connection").into_response();
    }
    let subprotocol = answer
        .as_ref()
        .and_then(|answer| answer.as_ref().ok())
        .and_then(selected_subprotocol);
    accept(gateway, upgrade, context, subprotocol)
}

/// Completes the handshake `$connect` accepted, with the subprotocol it
/// selected (sent only if the client offered it, as a WebSocket server
/// must), and serves the connection.
fn accept(
    gateway: Arc<Gateway>,
    upgrade: WebSocketUpgrade,
    context: ConnectionContext,
    subprotocol: Option<String>,
) -> Response {
    let upgrade = match subprotocol {
        Some(protocol) => upgrade.protocols([protocol]),
        None => upgrade,
    };
    upgrade
        // Larger than the limit, so an oversize message gets API Gateway's
        // close code (1009) from us rather than a protocol error.
        .max_message_size(gateway.limits.max_message_bytes * 8)
        .max_frame_size(gateway.limits.max_frame_bytes)
        .on_upgrade(move |socket| gateway.serve(socket, context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_accepts_only_a_2xx_answer_and_a_malformed_one_is_a_502() {
        let answer = |value: Value| connect_verdict(&Ok(value));
        assert_eq!(answer(json!({"statusCode": 200})), None);
        assert_eq!(answer(json!({"statusCode": 204, "body": "x"})), None);
        assert_eq!(
            answer(json!({"statusCode": 401})),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            answer(json!({"statusCode": 500})),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
        // Not JSON reaches the gateway as Null; no or a non-number status code.
        for malformed in [
            Value::Null,
            json!({"body": "hi"}),
            json!({"statusCode": "200"}),
            json!({"statusCode": 99999}),
        ] {
            assert_eq!(
                answer(malformed.clone()),
                Some(StatusCode::BAD_GATEWAY),
                "{malformed}"
            );
        }
        for error in [
            InvokeError::Function("panic".into()),
            InvokeError::TimedOut(Duration::from_secs(10)),
            InvokeError::Unavailable,
        ] {
            assert_eq!(connect_verdict(&Err(error)), Some(StatusCode::BAD_GATEWAY));
        }
    }
}
