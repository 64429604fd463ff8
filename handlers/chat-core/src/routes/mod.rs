//! What each route does, generic over the store and poster so tests drive
//! them with fakes. Each `main` hands one of these to the Lambda runtime.
//! [`rooms`] holds the room actions (`join`, `leave`, `who`) and presence.

pub mod rooms;

use std::time::SystemTime;

use aws_lambda_events::apigw::{
    ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
    ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use chat_contract::{
    NOT_SENT_REPLY_PREFIX, ROOM_QUERY_PARAMETER, SUBPROTOCOL, USER_NAME_CONTEXT_KEY,
};

use crate::fanout::Fanout;
use crate::history::{HistoryStore, RoomHistory, Unnumbered};
use crate::message::{MAX_MESSAGE_BYTES, MessageError, read_message};
use crate::notify::{self, NotifyOutcome, NotifyRequest, RequestError};
use crate::poster::Poster;
use crate::protocol::{Frame, Protocol, epoch_ms};
use crate::segments::{
    Broadcast, BroadcastError, Delivery, JobLedger, JobQueue, SegmentJob, broadcast_or_split,
    run_job,
};
use crate::store::{Connection, ConnectionStore};

// Each reply begins with its chat-contract prefix, by which clients tell
// replies from chat (checked in tests/it/routes.rs).

/// The `$default` route's reply, before the caller's connection info.
pub const USAGE: &str = "Use the sendmessage route to send a message. Your info: ";
/// `$default`'s reply when GetConnection failed.
pub const USAGE_WITHOUT_INFO: &str = "Use the sendmessage route to send a message. (Your connection info could not be read just now.)";
/// What the sender hears when the connections could not be read: the route
/// has no route response, so a 500 body would never reach the client.
pub const NOT_DELIVERED: &str = "Your message may not have reached everyone: the list of connections could not be read. Please try again.";
/// What the sender hears when its message could not be kept in the room's
/// history (and so was not sent: every message of a room has its number).
pub const NOT_STORED: &str = "Your message was not sent: it could not be kept in the room's history just now. Please try again.";
/// What the sender hears when a large broadcast could not be queued for
/// the workers.
pub const NOT_QUEUED: &str = "Your message may not have reached everyone: it could not be handed to the workers that reach large audiences. Please try again.";

fn response(status_code: i64, body: &str) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status_code;
    response.body = Some(Body::Text(body.to_owned()));
    response
}

/// Tells one client what became of its request: an `error` frame (naming
/// the `action` answered) for a `chatstack.v1` client, the bare text for a
/// plain one. A failure to post is only logged: the route is answering
/// already.
async fn tell<P: Poster>(
    poster: &P,
    connection_id: &str,
    protocol: Protocol,
    action: Option<&str>,
    text: &str,
) {
    let frame;
    let data = match protocol {
        Protocol::Plain => text.as_bytes(),
        Protocol::V1 => {
            frame = Frame::Error {
                message: text,
                action,
            }
            .to_json();
            frame.as_bytes()
        }
    };
    if let Err(error) = poster.post(connection_id, data).await {
        tracing::warn!(connection_id, %error, "could not tell the client");
    }
}

fn connection_id(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event.request_context.connection_id.as_deref()
}

/// The user name the `$connect` authorizer gave the connection; API
/// Gateway passes it on every route. `None` on stages without tokens.
fn user_name(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event
        .request_context
        .authorizer
        .fields
        .get(USER_NAME_CONTEXT_KEY)?
        .as_str()
}

fn missing_connection_id() -> ApiGatewayProxyResponse {
    tracing::error!("event without requestContext.connectionId");
    response(400, "the event has no connection id")
}

/// The room a connecting client asked for (`?room=`), or the default one.
fn requested_room(
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<String, chat_contract::RoomNameError> {
    match event.query_string_parameters.first(ROOM_QUERY_PARAMETER) {
        Some(room) => chat_contract::check_room_name(room).map(|()| room.to_owned()),
        None => Ok(chat_contract::DEFAULT_ROOM.to_owned()),
    }
}

/// What a connecting client offered in `Sec-WebSocket-Protocol`.
fn offered_protocols(event: &ApiGatewayWebsocketProxyRequest) -> Option<&str> {
    event
        .headers
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
}

/// `$connect`: records the connection in its first room, echoing the
/// `chatstack.v1` subprotocol when the client offered it (API Gateway
/// completes the handshake only with the header the integration returns),
/// else the entry its token came in, the only other one it offered.
/// A failure answers 500, which makes API Gateway refuse the connection,
/// so no client is left unreachable; a bad room name answers 400 with the
/// rule. Members of the room hear it joined (see [`rooms::announce`]).
/// `lifetime`: how long API Gateway keeps it open.
pub async fn connect<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
    presence_limit: u32,
    lifetime: std::time::Duration,
    now: SystemTime,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    let room = match requested_room(event) {
        Ok(room) => room,
        Err(refused) => {
            tracing::info!(connection_id = id, reason = %refused, "connection refused: bad room");
            return response(400, &refused.to_string());
        }
    };
    let offered = offered_protocols(event);
    let protocol = Protocol::offered(offered);
    let connection = Connection::opened(id, now)
        .lasting(lifetime)
        .by(user_name(event))
        .speaking(protocol)
        .in_room(&room);
    if let Err(error) = store.put(&connection).await {
        tracing::error!(connection_id = id, %error, "could not record the connection");
        return response(500, "Failed to connect.");
    }
    tracing::info!(connection_id = id, room, "connected");
    rooms::announce(
        store,
        poster,
        &room,
        rooms::Presence::Joined,
        &connection.member(),
        presence_limit,
    )
    .await;
    let mut answer = response(200, "Connected.");
    let selected = match protocol {
        Protocol::V1 => Some(SUBPROTOCOL),
        Protocol::Plain => crate::protocol::token_entry(offered),
    };
    if let Some(value) = selected.and_then(|entry| http::HeaderValue::from_str(entry).ok()) {
        answer.headers.insert("sec-websocket-protocol", value);
    }
    answer
}

/// The per-user connection cap, on stages with users: `None` when the
/// connection may open; else `$connect`'s refusal (429), which API Gateway
/// turns into a refused handshake. Connections opened at the same moment
/// may each see the count below the cap (best-effort, as presence is). A
/// table that cannot be read lets the connection open: recording it would
/// fail next anyway.
pub async fn over_connection_cap<S: ConnectionStore>(
    store: &S,
    event: &ApiGatewayWebsocketProxyRequest,
    most: u32,
    now: SystemTime,
) -> Option<ApiGatewayProxyResponse> {
    let user = user_name(event)?;
    let now_s = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    match store.user_connections(user, now_s).await {
        Ok(open) if open >= most as usize => {
            tracing::warn!(
                user,
                open,
                most,
                "connection refused: the user holds the most allowed"
            );
            Some(response(429, "Too many connections for this user."))
        }
        Ok(_) => None,
        Err(error) => {
            tracing::error!(%error, "connections per user not counted");
            None
        }
    }
}

/// `$disconnect`: forgets the connection and its memberships; the members
/// of its rooms hear it left. Always 200: the client is gone whatever
/// happens, and TTL removes an id whose delete failed.
pub async fn disconnect<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
    presence_limit: u32,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    match store.delete(id).await {
        Ok(gone) => {
            let rooms = gone.as_ref().map(|c| c.rooms.join(","));
            tracing::info!(connection_id = id, rooms, "disconnected");
            if let Some(connection) = gone {
                let member = connection.member();
                for room in &connection.rooms {
                    rooms::announce(
                        store,
                        poster,
                        room,
                        rooms::Presence::Left,
                        &member,
                        presence_limit,
                    )
                    .await;
                }
            }
        }
        Err(error) => {
            tracing::error!(connection_id = id, %error, "could not forget the connection")
        }
    }
    response(200, "Disconnected.")
}

/// How long `sendmessage` posts a direct broadcast itself before it stops
/// (the ids not reached are logged as `unreached`): a broadcast meeting
/// the management API's 429s ends here instead of retrying until API
/// Gateway's 29 s, so the function's concurrency stays near the stage's
/// route rate times this, not times 29 s. 2,000 posts take about 1.3 s.
pub const DIRECT_BROADCAST_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection a route's event comes from, as stored: `Err` is the
/// route's answer when it is not there (or the table cannot be read), the
/// client told why in plain text (its protocol is unknown then).
pub async fn sender<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
) -> Result<Connection, ApiGatewayProxyResponse> {
    let Some(id) = connection_id(event) else {
        return Err(missing_connection_id());
    };
    match store.connection(id).await {
        Ok(Some(connection)) => Ok(connection),
        Ok(None) => {
            tracing::warn!(
                connection_id = id,
                "a route of a connection the table does not hold"
            );
            Err(response(410, "This connection is not recorded; reconnect."))
        }
        Err(error) => {
            tracing::error!(connection_id = id, %error, "the sender's connection could not be read");
            tell(poster, id, Protocol::Plain, None, NOT_DELIVERED).await;
            Err(response(500, "Failed to read the connection."))
        }
    }
}

/// The per-connection rate of messages and room actions: `None` when the
/// request may go on; else the answer (429), the sender told why. A table
/// that cannot be read lets it go: the limit guards the stage, and the
/// broadcast would fail there next anyway.
pub async fn over_message_rate<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    sender: &Connection,
    action: &str,
    per_minute: u32,
    now: SystemTime,
) -> Option<ApiGatewayProxyResponse> {
    let id = sender.connection_id.as_str();
    let minute = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60;
    match store.count_message(id, minute, per_minute).await {
        Ok(true) => None,
        Ok(false) => {
            tracing::warn!(
                connection_id = id,
                per_minute,
                action,
                "request refused: over the rate limit"
            );
            let reply = format!(
                "{NOT_SENT_REPLY_PREFIX} you are sending too fast (this stage takes at most {per_minute} messages a minute from one connection); wait a moment."
            );
            tell(poster, id, sender.protocol, Some(action), &reply).await;
            Some(response(429, "Too many messages."))
        }
        Err(error) => {
            tracing::error!(%error, "message rate not checked");
            None
        }
    }
}

/// `sendmessage`: posts the text to the members of a room the sender is
/// in (the one named, or the one it connected to), itself or through the
/// workers (see [`crate::segments`]). Bad input gets an explanation sent to
/// the sender alone, and nothing is broadcast. `per_minute`: the stage's
/// message rate limit, if any. On a stage with `history`, the message is
/// numbered and kept first, so a member that joins meanwhile finds it in
/// the history if the broadcast misses it.
pub async fn send_message<S: ConnectionStore, P: Poster, Q: JobQueue, H: HistoryStore>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
    fanout: &Fanout<Q>,
    history: Option<&RoomHistory<H>>,
    per_minute: Option<u32>,
    deadline: tokio::time::Instant,
) -> ApiGatewayProxyResponse {
    let sender = match self::sender(store, poster, event).await {
        Ok(sender) => sender,
        Err(answer) => return answer,
    };
    let now = SystemTime::now();
    if let Some(limit) = per_minute
        && let Some(refused) =
            over_message_rate(store, poster, &sender, "sendmessage", limit, now).await
    {
        return refused;
    }
    let id = sender.connection_id.as_str();
    let body = event.body.as_deref();
    let checked = outgoing_message(&sender, body, user_name(event), now, history.is_some());
    let (room, text) = match checked {
        Ok(outgoing) => outgoing,
        Err(refused) => return refuse_message(poster, &sender, refused).await,
    };
    let at_ms = epoch_ms(now);
    let kept = Unnumbered {
        text: &text,
        from: user_name(event),
        sender: Some(id),
        at_ms,
    };
    let seq = match keep(history, poster, &sender, &room, kept).await {
        Ok(seq) => seq,
        Err(refused) => return refused,
    };
    let message = Broadcast {
        room: Some(&room),
        text: &text,
        from: user_name(event),
        sender: Some(id),
        at_ms,
        seq,
    };
    let deadline = deadline.min(tokio::time::Instant::now() + DIRECT_BROADCAST_BUDGET);
    let delivered = broadcast_or_split(store, poster, fanout, &message, deadline).await;
    answer_delivery(poster, &sender, &room, seq, delivered).await
}

/// A message refused before anything was sent: the sender told why (400).
async fn refuse_message<P: Poster>(
    poster: &P,
    sender: &Connection,
    refused: MessageError,
) -> ApiGatewayProxyResponse {
    let id = sender.connection_id.as_str();
    tracing::info!(connection_id = id, reason = %refused, "message refused");
    let reply = refused.reply();
    tell(poster, id, sender.protocol, Some("sendmessage"), &reply).await;
    response(400, &refused.to_string())
}

/// The route's answer to a broadcast's outcome; the sender told when it
/// stopped.
async fn answer_delivery<P: Poster>(
    poster: &P,
    sender: &Connection,
    room: &str,
    seq: Option<u64>,
    delivered: Result<Delivery, BroadcastError>,
) -> ApiGatewayProxyResponse {
    let id = sender.connection_id.as_str();
    match delivered {
        Ok(delivery) => {
            log_delivery(&delivery, id, room, seq);
            response(200, "Message sent.")
        }
        Err(error) => {
            tracing::error!(%error, room, "broadcast stopped");
            let reply = match error {
                BroadcastError::Store(_) => NOT_DELIVERED,
                BroadcastError::Queue(_) => NOT_QUEUED,
                BroadcastError::History(_) => NOT_STORED,
            };
            tell(poster, id, sender.protocol, Some("sendmessage"), reply).await;
            response(500, "Failed to send the message.")
        }
    }
}

/// Numbers and keeps `sender`'s message to `room` on a stage with
/// `history` (its `seq`; `None` without history); `Err` is the route's
/// answer when it cannot be kept, the sender told.
async fn keep<P: Poster, H: HistoryStore>(
    history: Option<&RoomHistory<H>>,
    poster: &P,
    sender: &Connection,
    room: &str,
    message: Unnumbered<'_>,
) -> Result<Option<u64>, ApiGatewayProxyResponse> {
    let Some(history) = history else {
        return Ok(None);
    };
    let id = sender.connection_id.as_str();
    match history.append(room, message, message.at_ms / 1000).await {
        Ok(seq) => Ok(Some(seq)),
        Err(error) => {
            tracing::error!(connection_id = id, room, %error, "message not kept");
            tell(poster, id, sender.protocol, Some("sendmessage"), NOT_STORED).await;
            Err(response(500, "Failed to keep the message."))
        }
    }
}

/// The room and text of `sender`'s `sendmessage` body, checked: a room
/// it is in (the one named, or the one it connected to), and every copy
/// within API Gateway's message limit once `from` and `now` are added
/// (and, where the room keeps `history`, within a `history` answer too).
fn outgoing_message(
    sender: &Connection,
    body: Option<&str>,
    from: Option<&str>,
    now: SystemTime,
    history: bool,
) -> Result<(String, String), MessageError> {
    let outgoing = read_message(body)?;
    let room = outgoing.room.unwrap_or_else(|| sender.room.clone());
    if !sender.is_in(&room) {
        return Err(MessageError::NotInRoom { room });
    }
    let at = epoch_ms(now);
    let seq = history.then_some(u64::MAX);
    let connection_id = Some(sender.connection_id.as_str());
    let rendered = Broadcast {
        room: Some(&room),
        text: &outgoing.text,
        from,
        sender: connection_id,
        at_ms: at,
        seq,
    }
    .rendered();
    // Its framed copy inside a history answer, alone.
    let in_history = history.then(|| rooms::history_frame_overhead(&room) + rendered.framed.len());
    let size = rendered.largest().max(in_history.unwrap_or(0));
    if size > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge { size });
    }
    Ok((room, outgoing.text))
}

/// The one line every message's broadcast leaves: who sent it, to which
/// room, and its totals or where it went.
fn log_delivery(delivery: &Delivery, sender: &str, room: &str, seq: Option<u64>) {
    let source = "sendmessage";
    match delivery {
        Delivery::Direct(summary) => tracing::info!(
            source,
            connection_id = sender,
            room,
            seq,
            sent = summary.sent,
            gone = summary.gone,
            failed = summary.failed,
            unreached = summary.unreached,
            duration_ms = summary.duration.as_millis() as u64,
            "{}",
            if summary.unreached == 0 {
                "broadcast done"
            } else {
                "broadcast stopped before the invocation deadline"
            }
        ),
        Delivery::Split {
            broadcast_id,
            segments,
        } => tracing::info!(
            source,
            connection_id = sender,
            room,
            seq,
            %broadcast_id,
            segments,
            "broadcast split: each segment's totals follow in the fanout function's log"
        ),
    }
}

/// `fanout`: runs each queued job of a split broadcast (the queue hands
/// one at a time). A job that fails is reported back, so SQS hands it out
/// again later; in a FIFO batch the jobs after it are reported too, as
/// they must not overtake it.
pub async fn fanout_jobs<S: ConnectionStore, P: Poster, Q: JobQueue, L: JobLedger>(
    store: &S,
    poster: &P,
    fanout: &Fanout<Q>,
    ledger: &L,
    event: SqsEvent,
    deadline: tokio::time::Instant,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut failed = false;
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        if !failed {
            let job = serde_json::from_str::<SegmentJob>(record.body.as_deref().unwrap_or(""));
            failed = match job {
                Ok(job) => {
                    let outcome = run_job(store, poster, fanout, ledger, job, deadline).await;
                    if let Err(error) = &outcome {
                        tracing::error!(%message_id, %error, "fan-out job failed; SQS will hand it out again");
                    }
                    outcome.is_err()
                }
                Err(error) => {
                    // Retrying cannot mend it; the queue's redrive policy
                    // moves it to the dead-letter queue after a few tries.
                    tracing::error!(%message_id, %error, "not a fan-out job");
                    true
                }
            };
        }
        if failed {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// `$default`: tells the caller how to use the API, with its connection
/// info (in an `error` frame naming the action it sent, for a
/// `chatstack.v1` client).
pub async fn default_route<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(event) else {
        return missing_connection_id();
    };
    // Its protocol decides the reply's form; unknown, the guide's plain text.
    let protocol = match store.connection(id).await {
        Ok(connection) => connection.map_or(Protocol::Plain, |c| c.protocol),
        Err(error) => {
            tracing::warn!(connection_id = id, %error, "the caller's protocol could not be read");
            Protocol::Plain
        }
    };
    let action = event
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|body| body.get("action")?.as_str().map(str::to_owned));
    let info = match poster.get_connection(id).await {
        Ok(info) => info,
        Err(error) => {
            tracing::error!(connection_id = id, %error, "GetConnection failed");
            tell(poster, id, protocol, action.as_deref(), USAGE_WITHOUT_INFO).await;
            return response(500, "Failed to read the connection.");
        }
    };
    let info = serde_json::to_string(&info).unwrap_or_else(|_| "{}".to_owned());
    let usage = format!("{USAGE}{info}");
    let reply = match protocol {
        Protocol::Plain => usage,
        Protocol::V1 => Frame::Error {
            message: &usage,
            action: action.as_deref(),
        }
        .to_json(),
    };
    match poster.post(id, reply.as_bytes()).await {
        Ok(()) => response(200, "Usage sent."),
        Err(error) => {
            tracing::error!(connection_id = id, %error, "could not answer the caller");
            response(500, "Failed to answer.")
        }
    }
}

/// `notify`: from the notify endpoint (an HTTP API payload 2.0 event),
/// answers the caller with the outcome, or a 400 that says what is wrong
/// with the request; from a schedule (the request itself as the event),
/// returns the outcome, and fails the invocation only when the connections
/// could not be read (a retry may then succeed; a bad request never will).
pub async fn notify<S: ConnectionStore, P: Poster, Q: JobQueue, H: HistoryStore>(
    store: &S,
    poster: &P,
    event: serde_json::Value,
    fanout: &Fanout<Q>,
    history: Option<&RoomHistory<H>>,
    deadline: tokio::time::Instant,
) -> Result<serde_json::Value, BroadcastError> {
    let pushing = Pushing {
        fanout,
        history,
        deadline,
    };
    let from_endpoint = event
        .get("requestContext")
        .is_some_and(|context| context.get("http").is_some());
    if from_endpoint {
        let response = match serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
            Ok(request) => notify_endpoint(store, poster, &request, pushing).await,
            Err(error) => {
                tracing::error!(%error, "not an HTTP API event");
                http_response(400, &serde_json::json!({"message": "malformed event"}))
            }
        };
        return Ok(serde_json::to_value(response).unwrap_or_default());
    }
    let request = serde_json::from_value::<NotifyRequest>(event)
        .map_err(|e| RequestError::Invalid(e.to_string()))
        .and_then(|request| request.check().map(|()| request));
    match request {
        Ok(request) => {
            let outcome = push(store, poster, request, pushing, "schedule").await?;
            Ok(serde_json::to_value(outcome).unwrap_or_default())
        }
        Err(refused) => {
            tracing::error!(reason = %refused, "scheduled push refused");
            Ok(serde_json::json!({ "message": refused.to_string() }))
        }
    }
}

/// What a push is sent with: the fan-out, the stage's history, the
/// invocation's deadline.
struct Pushing<'a, Q, H> {
    fanout: &'a Fanout<Q>,
    history: Option<&'a RoomHistory<H>>,
    deadline: tokio::time::Instant,
}

impl<Q, H> Clone for Pushing<'_, Q, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Q, H> Copy for Pushing<'_, Q, H> {}

async fn notify_endpoint<S: ConnectionStore, P: Poster, Q: JobQueue, H: HistoryStore>(
    store: &S,
    poster: &P,
    request: &ApiGatewayV2httpRequest,
    pushing: Pushing<'_, Q, H>,
) -> ApiGatewayV2httpResponse {
    let parsed = request_body(request).and_then(|body| NotifyRequest::parse(&body));
    let push_request = match parsed {
        Ok(push_request) => push_request,
        Err(refused) => {
            tracing::info!(reason = %refused, "notify request refused");
            return http_response(400, &serde_json::json!({ "message": refused.to_string() }));
        }
    };
    match push(store, poster, push_request, pushing, "endpoint").await {
        Ok(outcome) => http_response(200, &outcome),
        Err(BroadcastError::Store(_)) => http_response(
            500,
            &serde_json::json!({"message": "the connections could not be read; nothing was sent"}),
        ),
        Err(BroadcastError::Queue(_)) => http_response(
            500,
            &serde_json::json!({"message": "the broadcast could not be handed to the workers; some or all segments were not queued"}),
        ),
        Err(BroadcastError::History(_)) => http_response(
            500,
            &serde_json::json!({"message": "the push could not be kept in the room's history; nothing was sent"}),
        ),
    }
}

/// The body's bytes, decoded when API Gateway base64-encoded it.
fn request_body(request: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, RequestError> {
    let body = request.body.as_deref().ok_or(RequestError::NoBody)?;
    if request.is_base64_encoded {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| RequestError::BadEncoding)
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

/// Runs one push and logs its totals.
async fn push<S: ConnectionStore, P: Poster, Q: JobQueue, H: HistoryStore>(
    store: &S,
    poster: &P,
    request: NotifyRequest,
    pushing: Pushing<'_, Q, H>,
    source: &str,
) -> Result<NotifyOutcome, BroadcastError> {
    let Pushing {
        fanout,
        history,
        deadline,
    } = pushing;
    let targeted = request.connection_ids.as_ref().map_or(0, Vec::len);
    let room = request.room.clone();
    // Boxed: the fan-out's state machine nested in the runtime's is deeper
    // than the compiler lays out by default.
    match Box::pin(notify::notify(
        store, poster, request, fanout, history, deadline,
    ))
    .await
    {
        Ok(outcome) => {
            tracing::info!(
                source,
                room,
                targeted,
                sent = outcome.sent,
                gone = outcome.gone,
                failed = outcome.failed,
                unreached = outcome.unreached,
                unknown = outcome.unknown.len(),
                segments = outcome.segments,
                broadcast_id = outcome.broadcast_id,
                seq = outcome.seq,
                "{}",
                if outcome.segments.is_some() {
                    "notify split: each segment's totals follow in the fanout function's log"
                } else {
                    "notify done"
                }
            );
            Ok(outcome)
        }
        Err(error) => {
            tracing::error!(source, %error, "notify stopped");
            Err(error)
        }
    }
}

fn http_response(status_code: i64, body: &impl serde::Serialize) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status_code;
    response.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.body = Some(Body::Text(serde_json::to_string(body).unwrap_or_default()));
    response
}
