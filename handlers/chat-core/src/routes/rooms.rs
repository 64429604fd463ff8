//! The room actions, `{"action":"join"|"leave"|"who","room":R}`, and
//! presence: the `chatstack.v1` members (listeners) of a room with at most
//! the stage's presence limit of them hear `joined` and `left` frames. Presence is best-effort, as
//! `$disconnect` is: a client that vanishes without one is reported gone
//! only when a broadcast meets its 410, or never (its items expire).

use std::time::SystemTime;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chat_contract::MAX_WHO_MEMBERS;
use futures::StreamExt;
use serde_json::Value;

use super::{over_message_rate, response, sender, tell};
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
}

/// Why a room action was refused; the text goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("the request is not a JSON object with an \"action\"")]
    NotJson,
    #[error("\"{0}\" is not a room action (join, leave, who)")]
    UnknownAction(String),
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
            other => Err(RoomError::UnknownAction(other.to_owned())),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            RoomAction::Join(_) => "join",
            RoomAction::Leave(_) => "leave",
            RoomAction::Who(_) => "who",
        }
    }
}

/// The room routes (`join`, `leave`, `who`): the answer goes to the caller
/// as a frame (`joined`, `left`, `who`, or `error`); the members of the
/// room hear joins and leaves. Each counts against the stage's message
/// rate (`per_minute`), as a message does.
pub async fn room_action<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    event: &ApiGatewayWebsocketProxyRequest,
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
        RoomAction::Join(room) => join(store, poster, &caller, &room, presence_limit).await,
        RoomAction::Leave(room) => leave(store, poster, &caller, &room, presence_limit).await,
        RoomAction::Who(room) => {
            let room = room.unwrap_or_else(|| caller.room.clone());
            who(store, poster, &caller, &room).await
        }
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

async fn join<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    caller: &Connection,
    room: &str,
    presence_limit: u32,
) -> Result<Answered, Refused> {
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
    let seen = view(&member);
    answer(
        poster,
        caller,
        Frame::Joined {
            room,
            member: &seen,
            action: Some("join"),
        },
    )
    .await;
    Ok(Answered)
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
