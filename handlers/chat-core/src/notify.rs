//! The notify function: server push to every connection, or to chosen
//! ones, from the notify endpoint (a signed `POST /notify`) or a schedule.
//!
//! The request, as the body of the POST or the schedule's input:
//! `{"text": "...", "room": "...", "connectionIds": ["...", ...]}`, `room`
//! and `connectionIds` optional and not both (without either, everyone).

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::fanout::{Fanout, Summary, send_to};
use crate::history::{HistoryStore, RoomHistory, Unnumbered};
use crate::message::MAX_MESSAGE_BYTES;
use crate::poster::Poster;
use crate::segments::{Broadcast, BroadcastError, Delivery, JobQueue, broadcast_or_split};
use crate::store::ConnectionStore;

/// The most connection ids one request may name: a targeted push is for a
/// few clients; everyone is a push without ids.
pub const MAX_CONNECTION_IDS: usize = 100;

/// A push to make.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NotifyRequest {
    pub text: String,
    /// Only this room's members.
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub connection_ids: Option<Vec<String>>,
}

/// Why a request was refused; the caller gets this text with a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the request has no body: send {{\"text\": \"...\"}}")]
    NoBody,
    #[error(
        "the body is {size} bytes, over {MAX_MESSAGE_BYTES} (128 KB, the most API Gateway delivers to a client in one message)"
    )]
    TooLarge { size: usize },
    #[error(
        "the text is {size} bytes as clients receive it (in a JSON frame, or a history answer), over {MAX_MESSAGE_BYTES} (128 KB)"
    )]
    TooLargeFramed { size: usize },
    #[error("the body is not base64 as its encoding says")]
    BadEncoding,
    #[error(
        "the body is not a valid request ({0}): send {{\"text\": \"...\", \"connectionIds\": [...]}}"
    )]
    Invalid(String),
    #[error(
        "the body is not JSON (it breaks at line {line}, column {column}): send {{\"text\": \"...\"}} \
         with Content-Type: application/json"
    )]
    NotJson { line: usize, column: usize },
    #[error("\"text\" is empty: there is nothing to send")]
    EmptyText,
    #[error(
        "{count} connection ids, over the limit of {MAX_CONNECTION_IDS}: to reach everyone, leave connectionIds out"
    )]
    TooManyIds { count: usize },
    #[error(
        "\"connectionIds\" is an empty list: name at least one, or leave it out to reach everyone"
    )]
    NoIds,
    #[error("\"room\": {0}")]
    BadRoom(chat_contract::RoomNameError),
    #[error(
        "\"room\" and \"connectionIds\" both given: a push goes to a room or to named connections"
    )]
    RoomAndIds,
}

impl From<serde_json::Error> for RequestError {
    /// Not JSON at all, said plainly; JSON of the wrong shape, with serde's
    /// words for which field is wrong (`missing field `text``).
    fn from(error: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof => RequestError::NotJson {
                line: error.line(),
                column: error.column(),
            },
            Category::Data | Category::Io => RequestError::Invalid(error.to_string()),
        }
    }
}

impl NotifyRequest {
    /// The largest copy a client may get of the push, as large as its
    /// fields can make it: a v1 `message` frame (numbered, on a stage with
    /// history), or a `history` answer holding it alone (to a room).
    fn largest_copy(&self) -> usize {
        let room = self.room.as_deref();
        let message = crate::protocol::Frame::Message {
            room,
            text: &self.text,
            from: None,
            connection_id: None,
            at: u64::MAX,
            seq: Some(u64::MAX),
        };
        let framed = message.to_json().len();
        let in_history = room.map_or(0, |room| {
            crate::routes::rooms::history_frame_overhead(room) + framed
        });
        framed.max(in_history)
    }

    /// The request in `body`, checked against every limit.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(RequestError::TooLarge { size: body.len() });
        }
        let request: NotifyRequest = serde_json::from_slice(body).map_err(RequestError::from)?;
        request.check()?;
        Ok(request)
    }

    /// The limits a request from a schedule must meet too.
    pub fn check(&self) -> Result<(), RequestError> {
        if self.text.is_empty() {
            return Err(RequestError::EmptyText);
        }
        if self.text.len() > MAX_MESSAGE_BYTES {
            return Err(RequestError::TooLarge {
                size: self.text.len(),
            });
        }
        let framed = self.largest_copy();
        if framed > MAX_MESSAGE_BYTES {
            return Err(RequestError::TooLargeFramed { size: framed });
        }
        if let Some(room) = &self.room {
            chat_contract::check_room_name(room).map_err(RequestError::BadRoom)?;
            if self.connection_ids.is_some() {
                return Err(RequestError::RoomAndIds);
            }
        }
        match &self.connection_ids {
            Some(ids) if ids.is_empty() => Err(RequestError::NoIds),
            Some(ids) if ids.len() > MAX_CONNECTION_IDS => {
                Err(RequestError::TooManyIds { count: ids.len() })
            }
            _ => Ok(()),
        }
    }
}

/// What a push did, as the caller reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyOutcome {
    pub sent: usize,
    /// Connections that answered 410 and were removed.
    pub gone: usize,
    pub failed: usize,
    /// Not posted to: the invocation's deadline came first.
    pub unreached: usize,
    /// Named ids the table does not hold: never connected, or long gone.
    pub unknown: Vec<String>,
    /// A push to everyone past the direct limit: the broadcast handed to
    /// this many workers, whose totals are in the fanout function's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    #[serde(
        default,
        rename = "broadcastId",
        skip_serializing_if = "Option::is_none"
    )]
    pub broadcast_id: Option<String>,
    /// The push's number in its room's history, on stages that keep one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl NotifyOutcome {
    fn from_summary(summary: &Summary, unknown: Vec<String>) -> Self {
        NotifyOutcome {
            sent: summary.sent,
            gone: summary.gone,
            failed: summary.failed,
            unreached: summary.unreached,
            unknown,
            ..NotifyOutcome::default()
        }
    }
}

/// A push to a room, numbered and kept on a stage with `history`: its
/// `seq` (`None`: not a room's, or no history).
async fn keep<H: HistoryStore>(
    history: Option<&RoomHistory<H>>,
    request: &NotifyRequest,
    at_ms: u64,
) -> Result<Option<u64>, BroadcastError> {
    let (Some(history), Some(room)) = (history, request.room.as_deref()) else {
        return Ok(None);
    };
    let kept = Unnumbered {
        text: &request.text,
        from: None,
        sender: None,
        at_ms,
    };
    let seq = history.append(room, kept, at_ms / 1000).await;
    seq.map(Some).map_err(BroadcastError::History)
}

/// Sends the request's text to everyone, to a room's members, or to the
/// named connections the table holds (the others are reported as unknown,
/// each id once). A push to a room is a message of the room: on a stage
/// with `history` it is numbered and kept first, as a chat message is.
pub async fn notify<S: ConnectionStore, P: Poster, Q: JobQueue, H: HistoryStore>(
    store: &S,
    poster: &P,
    request: NotifyRequest,
    fanout: &Fanout<Q>,
    history: Option<&RoomHistory<H>>,
    deadline: tokio::time::Instant,
) -> Result<NotifyOutcome, BroadcastError> {
    let config = fanout.config;
    let at_ms = crate::protocol::epoch_ms(std::time::SystemTime::now());
    let seq = keep(history, &request, at_ms).await?;
    let message = Broadcast {
        room: request.room.as_deref(),
        text: &request.text,
        from: None,
        sender: None,
        at_ms,
        seq,
    };
    let Some(mut ids) = request.connection_ids.clone() else {
        let outcome = match broadcast_or_split(store, poster, fanout, &message, deadline).await? {
            Delivery::Direct(summary) => NotifyOutcome::from_summary(&summary, Vec::new()),
            Delivery::Split {
                broadcast_id,
                segments,
            } => NotifyOutcome {
                segments: Some(segments),
                broadcast_id: Some(broadcast_id),
                ..NotifyOutcome::default()
            },
        };
        return Ok(NotifyOutcome { seq, ..outcome });
    };
    ids.sort();
    ids.dedup();
    let checked: Vec<(String, Result<_, crate::store::StoreError>)> = futures::stream::iter(ids)
        .map(|id| async move {
            let held = store.connection(&id).await;
            (id, held)
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for (id, held) in checked {
        match held? {
            Some(connection) => known.push(connection.member()),
            None => unknown.push(id),
        }
    }
    unknown.sort();
    let summary = send_to(store, poster, known, &message.rendered(), config, deadline).await;
    Ok(NotifyOutcome::from_summary(&summary, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_against_every_limit() {
        let ok = NotifyRequest::parse(br#"{"text":"hi","connectionIds":["a","b"]}"#).unwrap();
        assert_eq!(ok.connection_ids, Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            NotifyRequest::parse(br#"{"text":"hi"}"#)
                .unwrap()
                .connection_ids,
            None
        );
        let refused = |body: &[u8]| NotifyRequest::parse(body).unwrap_err();
        assert!(matches!(
            refused(b"not json"),
            RequestError::NotJson { line: 1, column: 2 }
        ));
        let said = refused(b"not json").to_string();
        assert!(
            said.starts_with("the body is not JSON") && !said.contains("expected ident"),
            "{said}"
        );
        assert!(
            matches!(refused(br#"{"txt":"hi"}"#), RequestError::Invalid(e) if e.contains("txt"))
        );
        assert!(
            matches!(refused(br#"{"text":5}"#), RequestError::Invalid(e) if e.contains("string"))
        );
        assert!(
            matches!(refused(br#"{}"#), RequestError::Invalid(e) if e.contains("missing field `text`"))
        );
        assert_eq!(refused(br#"{"text":""}"#), RequestError::EmptyText);
        assert_eq!(
            refused(br#"{"text":"a","connectionIds":[]}"#),
            RequestError::NoIds
        );
        assert_eq!(
            NotifyRequest::parse(br#"{"text":"a","room":"ops"}"#)
                .unwrap()
                .room
                .as_deref(),
            Some("ops")
        );
        assert!(matches!(
            refused(br#"{"text":"a","room":"no room"}"#),
            RequestError::BadRoom(_)
        ));
        assert_eq!(
            refused(br#"{"text":"a","room":"ops","connectionIds":["c"]}"#),
            RequestError::RoomAndIds
        );
        let many: Vec<String> = (0..=MAX_CONNECTION_IDS).map(|n| format!("c{n}")).collect();
        let body = serde_json::json!({"text": "a", "connectionIds": many}).to_string();
        assert_eq!(
            refused(body.as_bytes()),
            RequestError::TooManyIds {
                count: MAX_CONNECTION_IDS + 1
            }
        );
        let big = serde_json::json!({"text": "x".repeat(MAX_MESSAGE_BYTES)}).to_string();
        assert!(matches!(
            refused(big.as_bytes()),
            RequestError::TooLarge { .. }
        ));
        // Within 128 KB as a body, over it as the frame clients get.
        let text = "x".repeat(MAX_MESSAGE_BYTES - 40);
        let body = serde_json::json!({"text": text, "room": "general"}).to_string();
        assert!(body.len() <= MAX_MESSAGE_BYTES);
        match refused(body.as_bytes()) {
            RequestError::TooLargeFramed { size } => assert!(size > MAX_MESSAGE_BYTES, "{size}"),
            other => panic!("{other:?}"),
        }
        let fits = serde_json::json!({"text": "x".repeat(MAX_MESSAGE_BYTES - 300)}).to_string();
        assert!(NotifyRequest::parse(fits.as_bytes()).is_ok());
    }
}
