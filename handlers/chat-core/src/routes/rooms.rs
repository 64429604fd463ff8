//! The room actions, `{"action":"join"|"leave"|"who","room":R}` and
//! `{"action":"history","room":R,"after":SEQ,"limit":N}`, and presence: the `chatstack.v1` members (listeners) of a room with at most
//! the stage's presence limit of them hear `joined` and `left` frames. Presence is best-effort, as
//! `$disconnect` is: a client that vanishes without one is reported gone
//! only when a broadcast meets its 410, or never (its items expire).

use std::time::SystemTime;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_contract::MAX_WHO_MEMBERS;
use futures::StreamExt;
use serde_json::Value;

use super::{over_message_rate, response, sender, tell};
use crate::history::{HistoryStore, RoomHistory, Span, StoredMessage};
use crate::message::MAX_MESSAGE_BYTES;
use crate::poster::Poster;
use crate::protocol::{Frame, MemberView};
use crate::segments::room_members;
use crate::store::{Connection, ConnectionStore, Joined, Member};

/// A change of a room's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Joined,
    Left,
}

fn view(member: &Member) -> MemberView {
    MemberView {
        connection_id: member.connection_id.clone(),
        user: member.user_name.clone(),
    }
}

/// Tells the `chatstack.v1` members of `room` (but `member` itself) that
/// `member` joined or left, when the room has at most `limit` of them: a
/// room with more is not told (each event is a post to every listener),
/// and reading them stops past `limit`. Failures are logged, never passed
/// on: presence is best-effort.
pub async fn announce<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    room: &str,
    change: Presence,
    member: &Member,
    limit: u32,
) {
    let listeners = match store.room_listeners(room, limit).await {
        Ok(Some(listeners)) => listeners,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(room, %error, "presence not announced");
            return;
        }
    };
    let seen = view(member);
    let frame = match change {
        Presence::Joined => Frame::Joined {
            room,
            member: &seen,
            action: None,
            last_seq: None,
            expires_at: None,
        },
        Presence::Left => Frame::Left {
            room,
            member: &seen,
            action: None,
        },
    }
    .to_json();
    let others = listeners
        .into_iter()
        .filter(|listener| listener.connection_id != member.connection_id);
    futures::stream::iter(others)
        .for_each_concurrent(32, |listener| {
            let frame = frame.as_bytes();
            async move {
                if let Err(error) = poster.post(&listener.connection_id, frame).await {
                    tracing::debug!(connection_id = listener.connection_id, %error, "presence not delivered");
                }
            }
        })
        .await;
}

/// The action a room route's body asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAction {
    Join(String),
    Leave(String),
    /// `None`: the room the connection connected to.
    Who(Option<String>),
    History(HistoryRequest),
}

/// What a `history` request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRequest {
    /// `None`: the room the connection connected to.
    pub room: Option<String>,
    /// The messages after this number; `None`: the last ones.
    pub after: Option<u64>,
    /// At most this many (and at most the stage's maximum); `None`: the
    /// stage's maximum.
    pub limit: Option<u32>,
}

/// Why a room action was refused; the text goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the request is not a JSON object with an \"action\"")]
    NotJson,
    #[error("\"{0}\" is not a room action (join, leave, who, history)")]
    UnknownAction(String),
    #[error("\"{0}\" must be a whole number (\"after\" from 0, \"limit\" from 1)")]
    NotACount(&'static str),
    #[error("this stage keeps no history")]
    NoHistory,
    #[error("{action} needs a \"room\": {{\"action\":\"{action}\",\"room\":\"NAME\"}}")]
    NoRoom { action: &'static str },
    #[error("\"room\" must be a string")]
    RoomNotAString,
    #[error("{0}")]
    BadRoom(chat_contract::RoomNameError),
    #[error(
        "you are in {} rooms, the most one connection may be in; leave one first",
        chat_contract::MAX_ROOMS_PER_CONNECTION
    )]
    TooManyRooms,
    #[error("you are not in room {0:?}")]
    NotIn(String),
}

impl RoomAction {
    /// The action in a room route's body.
    pub fn parse(body: Option<&str>) -> Result<Self, RoomError> {
        let Some(Value::Object(fields)) = body.and_then(|b| serde_json::from_str(b).ok()) else {
            return Err(RoomError::NotJson);
        };
        let room = match fields.get("room") {
            None | Some(Value::Null) => None,
            Some(Value::String(room)) => {
                chat_contract::check_room_name(room).map_err(RoomError::BadRoom)?;
                Some(room.clone())
            }
            Some(_) => return Err(RoomError::RoomNotAString),
        };
        let action = fields.get("action").and_then(Value::as_str).unwrap_or("");
        match action {
            "join" => room
                .map(RoomAction::Join)
                .ok_or(RoomError::NoRoom { action: "join" }),
            "leave" => room
                .map(RoomAction::Leave)
                .ok_or(RoomError::NoRoom { action: "leave" }),
            "who" => Ok(RoomAction::Who(room)),
            "history" => Ok(RoomAction::History(HistoryRequest {
                room,
                after: count(&fields, "after", 0)?,
                limit: count(&fields, "limit", 1)?.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            })),
            other => Err(RoomError::UnknownAction(other.to_owned())),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            RoomAction::Join(_) => "join",
            RoomAction::Leave(_) => "leave",
            RoomAction::Who(_) => "who",
            RoomAction::History(_) => "history",
        }
    }
}

/// The whole number of at least `least` in `fields`' `name`, if any.
fn count(
    fields: &serde_json::Map<String, Value>,
    name: &'static str,
    least: u64,
) -> Result<Option<u64>, RoomError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| *n >= least)
            .map(Some)
            .ok_or(RoomError::NotACount(name)),
    }
}

/// The room routes (`join`, `leave`, `who`, `history`): the answer goes to
/// the caller as a frame (`joined`, `left`, `who`, `history` or `error`);
/// the members of the room hear joins and leaves. Each counts against the
/// stage's message rate (`per_minute`), as a message does.
pub async fn room_action<S: ConnectionStore, P: Poster, H: HistoryStore>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
    history: Option<&RoomHistory<H>>,
    presence_limit: u32,
    per_minute: Option<u32>,
    now: SystemTime,
) -> ApiGatewayProxyResponse {
    let caller = match sender(store, poster, event).await {
        Ok(caller) => caller,
        Err(answer) => return answer,
    };
    let id = caller.connection_id.as_str();
    let action = match RoomAction::parse(event.body.as_deref()) {
        Ok(action) => action,
        Err(refused) => {
            let name = event.request_context.route_key.as_deref();
            tell(poster, id, caller.protocol, name, &refused.to_string()).await;
            return response(400, &refused.to_string());
        }
    };
    if let Some(limit) = per_minute
        && let Some(refused) =
            over_message_rate(store, poster, &caller, action.name(), limit, now).await
    {
        return refused;
    }
    let name = action.name();
    let outcome = match action {
        RoomAction::Join(room) => {
            let joining = Joining {
                room: &room,
                presence_limit,
                history,
            };
            join(store, poster, &caller, joining).await
        }
        RoomAction::Leave(room) => leave(store, poster, &caller, &room, presence_limit).await,
        RoomAction::Who(room) => {
            let room = room.unwrap_or_else(|| caller.room.clone());
            who(store, poster, &caller, &room).await
        }
        RoomAction::History(request) => match history {
            Some(history) => read_history(poster, &caller, request, history, now).await,
            None => Err(Refused::Client(RoomError::NoHistory)),
        },
    };
    answer_outcome(poster, &caller, name, outcome).await
}

/// The route's answer to an action's outcome; the caller told why when it
/// was refused (unless it has gone).
async fn answer_outcome<P: Poster>(
    poster: &P,
    caller: &Connection,
    name: &str,
    outcome: Result<Answered, Refused>,
) -> ApiGatewayProxyResponse {
    let id = caller.connection_id.as_str();
    match outcome {
        Ok(Answered) => response(200, "Done."),
        Err(Refused::Client(refused)) => {
            tracing::info!(connection_id = id, action = name, reason = %refused, "room action refused");
            tell(
                poster,
                id,
                caller.protocol,
                Some(name),
                &refused.to_string(),
            )
            .await;
            response(400, &refused.to_string())
        }
        Err(Refused::Gone) => {
            tracing::info!(
                connection_id = id,
                action = name,
                "the connection went away meanwhile"
            );
            response(410, "This connection is not recorded; reconnect.")
        }
        Err(Refused::Store(error)) => {
            tracing::error!(connection_id = id, action = name, %error, "room action failed");
            let reply = "The room could not be read or changed just now. Please try again.";
            tell(poster, id, caller.protocol, Some(name), reply).await;
            response(500, "Failed.")
        }
    }
}

/// A room action that reached its end (its answer posted).
struct Answered;

enum Refused {
    Client(RoomError),
    /// The caller's connection item went away after the route read it
    /// (its `$disconnect` ran meanwhile): there is no one to answer.
    Gone,
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for Refused {
    fn from(error: crate::store::StoreError) -> Self {
        Refused::Store(error)
    }
}

/// Posts `frame` to the caller (logged if it cannot be).
async fn answer<P: Poster>(poster: &P, caller: &Connection, frame: Frame<'_>) {
    if let Err(error) = poster
        .post(&caller.connection_id, frame.to_json().as_bytes())
        .await
    {
        tracing::warn!(connection_id = caller.connection_id, %error, "could not answer the caller");
    }
}

/// What a join needs besides the caller.
struct Joining<'a, H> {
    room: &'a str,
    presence_limit: u32,
    history: Option<&'a RoomHistory<H>>,
}

/// Joins `caller` to the room, and answers with its id, its connection's
/// expiry and (on a stage with history) the room's last number, read
/// after the membership was written: a message numbered later reaches it
/// live, one numbered before is in the history.
async fn join<S: ConnectionStore, P: Poster, H: HistoryStore>(
    store: &S,
    poster: &P,
    caller: &Connection,
    joining: Joining<'_, H>,
) -> Result<Answered, Refused> {
    let Joining {
        room,
        presence_limit,
        history,
    } = joining;
    let member = caller.member();
    match store.join(&caller.connection_id, room).await? {
        Joined::Joined(member) => {
            tracing::info!(connection_id = caller.connection_id, room, "joined");
            announce(
                store,
                poster,
                room,
                Presence::Joined,
                &member,
                presence_limit,
            )
            .await;
        }
        Joined::AlreadyIn => {}
        Joined::TooManyRooms => return Err(Refused::Client(RoomError::TooManyRooms)),
        Joined::NoConnection => return Err(Refused::Gone),
    }
    let last_seq = match history {
        None => None,
        Some(history) => match history.store.last_seq(room).await {
            Ok(seq) => Some(seq),
            Err(error) => {
                tracing::warn!(connection_id = caller.connection_id, room, %error, "the room's last number was not read");
                None
            }
        },
    };
    let seen = view(&member);
    answer(
        poster,
        caller,
        Frame::Joined {
            room,
            member: &seen,
            action: Some("join"),
            last_seq,
            expires_at: Some(caller.expires_at_ms()),
        },
    )
    .await;
    Ok(Answered)
}

/// A kept message as a `message` frame of `room`.
fn message_frame<'a>(room: &'a str, message: &'a StoredMessage) -> Frame<'a> {
    Frame::Message {
        room: Some(room),
        text: &message.text,
        from: message.from.as_deref(),
        connection_id: message.sender.as_deref(),
        at: message.at_ms,
        seq: Some(message.seq),
    }
}

/// The bytes a `history` answer of `room` takes besides its messages (with
/// the largest `next`): one holding messages of sizes a, b, ... is this
/// plus a + b + ... and a comma between each two. So a message's size in
/// an answer is known from its frame without writing the answer.
pub fn history_frame_overhead(room: &str) -> usize {
    Frame::History {
        room,
        messages: &[],
        more: true,
        next: Some(u64::MAX),
    }
    .to_json()
    .len()
}

/// Answers a `history` request for a room the caller is in, with at most
/// the stage's maximum of messages, as many as one frame holds.
async fn read_history<P: Poster, H: HistoryStore>(
    poster: &P,
    caller: &Connection,
    request: HistoryRequest,
    history: &RoomHistory<H>,
    now: SystemTime,
) -> Result<Answered, Refused> {
    let room = request.room.unwrap_or_else(|| caller.room.clone());
    if !caller.is_in(&room) {
        return Err(Refused::Client(RoomError::NotIn(room)));
    }
    let limit = request
        .limit
        .unwrap_or(history.max_per_request)
        .min(history.max_per_request);
    let span = request.after.map_or(Span::Latest, Span::After);
    let now_s = crate::protocol::epoch_ms(now) / 1000;
    let page = history.store.read(&room, span, limit, now_s).await?;
    let frames: Vec<Frame> = page
        .messages
        .iter()
        .map(|message| message_frame(&room, message))
        .collect();
    let fitting = fit_in_one_frame(&room, &frames, span);
    let cut = fitting.len() < frames.len();
    let more = page.more || cut;
    let next = match span {
        Span::After(_) if cut => fitting
            .end
            .checked_sub(1)
            .map(|last| page.messages[last].seq),
        Span::After(_) => page.next,
        Span::Latest => None,
    };
    let kept = &frames[fitting];
    let frame = Frame::History {
        room: &room,
        messages: kept,
        more,
        next: next.filter(|_| more),
    };
    answer(poster, caller, frame).await;
    Ok(Answered)
}

/// The messages of `frames` (oldest first) one `history` frame holds
/// within API Gateway's message limit: the oldest for [`Span::After`],
/// the newest for [`Span::Latest`].
fn fit_in_one_frame(room: &str, frames: &[Frame<'_>], span: Span) -> std::ops::Range<usize> {
    let mut budget = MAX_MESSAGE_BYTES.saturating_sub(history_frame_overhead(room));
    // Each message and the comma before it.
    let mut fits = |frame: &Frame| {
        let size = frame.to_json().len() + 1;
        let fits = size <= budget;
        budget = budget.saturating_sub(size);
        fits
    };
    match span {
        Span::After(_) => 0..frames.iter().take_while(|f| fits(f)).count(),
        Span::Latest => {
            let newest = frames.iter().rev().take_while(|f| fits(f)).count();
            frames.len() - newest..frames.len()
        }
    }
}

async fn leave<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    caller: &Connection,
    room: &str,
    presence_limit: u32,
) -> Result<Answered, Refused> {
    let Some(member) = store.leave(&caller.connection_id, room).await? else {
        return Err(Refused::Client(RoomError::NotIn(room.to_owned())));
    };
    tracing::info!(connection_id = caller.connection_id, room, "left");
    announce(store, poster, room, Presence::Left, &member, presence_limit).await;
    let seen = view(&member);
    answer(
        poster,
        caller,
        Frame::Left {
            room,
            member: &seen,
            action: Some("leave"),
        },
    )
    .await;
    Ok(Answered)
}

/// Lists at most [`MAX_WHO_MEMBERS`] members (in id order within each
/// shard) and counts them all, for a room the caller is in.
async fn who<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    caller: &Connection,
    room: &str,
) -> Result<Answered, Refused> {
    if !caller.is_in(room) {
        return Err(Refused::Client(RoomError::NotIn(room.to_owned())));
    }
    let members = room_members(store, room, usize::MAX)
        .await?
        .unwrap_or_default();
    let listed: Vec<MemberView> = members.iter().take(MAX_WHO_MEMBERS).map(view).collect();
    answer(
        poster,
        caller,
        Frame::Who {
            room,
            members: &listed,
            count: members.len(),
            action: "who",
        },
    )
    .await;
    Ok(Answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answers_size_is_its_overhead_plus_its_messages_and_commas() {
        let message = |text| Frame::Message {
            room: Some("ops"),
            text,
            from: Some("ana"),
            connection_id: Some("c1="),
            at: 1_795_323_000_123,
            seq: Some(7),
        };
        let (a, b) = (message("hi"), message("a \"quoted\" line"));
        let answer = |messages: &[Frame]| {
            Frame::History {
                room: "ops",
                messages,
                more: true,
                next: Some(u64::MAX),
            }
            .to_json()
            .len()
        };
        let overhead = history_frame_overhead("ops");
        let a_len = a.to_json().len();
        let b_len = b.to_json().len();
        assert_eq!(answer(&[]), overhead);
        assert_eq!(answer(std::slice::from_ref(&a)), overhead + a_len);
        assert_eq!(answer(&[a, b]), overhead + a_len + b_len + 1);
    }

    #[test]
    fn room_actions_are_read_with_reasons() {
        let parse = |body: &str| RoomAction::parse(Some(body));
        assert_eq!(
            parse(r#"{"action":"join","room":"ops"}"#),
            Ok(RoomAction::Join("ops".into()))
        );
        assert_eq!(
            parse(r#"{"action":"leave","room":"ops"}"#),
            Ok(RoomAction::Leave("ops".into()))
        );
        assert_eq!(parse(r#"{"action":"who"}"#), Ok(RoomAction::Who(None)));
        assert_eq!(
            parse(r#"{"action":"join"}"#),
            Err(RoomError::NoRoom { action: "join" })
        );
        assert!(matches!(
            parse(r#"{"action":"join","room":"a#b"}"#),
            Err(RoomError::BadRoom(_))
        ));
        assert_eq!(
            parse(r#"{"action":"join","room":1}"#),
            Err(RoomError::RoomNotAString)
        );
        assert_eq!(RoomAction::parse(Some("nope")), Err(RoomError::NotJson));
        assert_eq!(RoomAction::parse(None), Err(RoomError::NotJson));
        assert_eq!(
            parse(r#"{"action":"dance","room":"a"}"#),
            Err(RoomError::UnknownAction("dance".into()))
        );
    }
}
