//! The `chatstack.v1` wire protocol: the frames a client that asked for
//! the subprotocol receives, and how each recipient's copy of a message is
//! written. A client that did not ask gets the guide's bare text (or, on a
//! stage with tokens, `{"from","text"}` as before rooms).
//!
//! Fields may be added to a frame; a name here never changes meaning.

use serde::Serialize;

use chat_contract::SUBPROTOCOL;

/// How a connection reads what it is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// The guide's: bare text.
    #[default]
    Plain,
    /// [`SUBPROTOCOL`]: JSON frames with a `type`.
    V1,
}

impl Protocol {
    /// [`Protocol::V1`] when the client's `Sec-WebSocket-Protocol` offers
    /// [`SUBPROTOCOL`] among its comma-separated choices.
    pub fn offered(header: Option<&str>) -> Self {
        let offers_v1 = header
            .into_iter()
            .flat_map(|value| value.split(','))
            .any(|offer| offer.trim() == SUBPROTOCOL);
        if offers_v1 {
            Protocol::V1
        } else {
            Protocol::Plain
        }
    }

    /// As stored on the connection and member items (`None`: plain).
    pub fn stored(self) -> Option<&'static str> {
        match self {
            Protocol::Plain => None,
            Protocol::V1 => Some(SUBPROTOCOL),
        }
    }

    /// From a stored value; anything but [`SUBPROTOCOL`] reads as plain.
    pub fn from_stored(value: Option<&str>) -> Self {
        if value == Some(SUBPROTOCOL) {
            Protocol::V1
        } else {
            Protocol::Plain
        }
    }
}

/// The entry of a client's `Sec-WebSocket-Protocol` that carries its token
/// ([`chat_contract::TOKEN_SUBPROTOCOL_PREFIX`]), as offered.
pub fn token_entry(header: Option<&str>) -> Option<&str> {
    header
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|offer| offer.starts_with(chat_contract::TOKEN_SUBPROTOCOL_PREFIX))
}

/// A member as `who` and presence events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub connection_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Every frame a [`Protocol::V1`] client receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame<'a> {
    /// A chat message, or a server push (`from` and `connectionId`
    /// absent; `room` absent when the push is to every connection).
    Message {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<&'a str>,
        /// The sending connection (as `who` and presence name it).
        #[serde(rename = "connectionId", skip_serializing_if = "Option::is_none")]
        connection_id: Option<&'a str>,
        /// When the server took it, epoch milliseconds.
        at: u64,
        /// Its number in the room, on stages that keep history: one more
        /// than the room's message before it.
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    Joined {
        room: &'a str,
        #[serde(flatten)]
        member: &'a MemberView,
        /// The action answered, when this is the answer to the client's
        /// own (so it learns its connection id); absent on another
        /// member's event.
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<&'a str>,
        /// On the answer to the client's own join, on stages that keep
        /// history: the room's last `seq` (0: none yet), so the client
        /// knows what it missed.
        #[serde(rename = "lastSeq", skip_serializing_if = "Option::is_none")]
        last_seq: Option<u64>,
        /// On the answer to the client's own join: when API Gateway will
        /// close the connection, epoch milliseconds (clients reconnect
        /// shortly before).
        #[serde(rename = "expiresAt", skip_serializing_if = "Option::is_none")]
        expires_at: Option<u64>,
    },
    Left {
        room: &'a str,
        #[serde(flatten)]
        member: &'a MemberView,
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<&'a str>,
    },
    Who {
        room: &'a str,
        /// At most [`chat_contract::MAX_WHO_MEMBERS`] of them.
        members: &'a [MemberView],
        /// How many members the room has.
        count: usize,
        action: &'a str,
    },
    /// The answer to a `history` request: `message` frames in `seq` order.
    History {
        room: &'a str,
        messages: &'a [Frame<'a>],
        /// Whether more of what was asked for remains: newer messages
        /// (ask again after `next`) when the request named `after`, older
        /// ones when it asked for the last messages.
        more: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        next: Option<u64>,
    },
    Error {
        message: &'a str,
        /// The action refused, when the frame answers one.
        #[serde(skip_serializing_if = "Option::is_none")]
        action: Option<&'a str>,
    },
}

impl Frame<'_> {
    pub fn to_json(&self) -> String {
        // A frame holds only strings and numbers: it always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One message as each kind of client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// What a plain client gets (as before rooms).
    pub plain: String,
    /// What a [`Protocol::V1`] client gets: a `message` frame.
    pub framed: String,
}

impl Rendered {
    /// `text` sent to `room` (`None`: to every connection) by connection
    /// `sender` (`None`: a push) of `from` (a user, on stages with tokens)
    /// at `at_ms`, numbered `seq` in its room's history.
    pub fn message(
        room: Option<&str>,
        text: &str,
        from: Option<&str>,
        sender: Option<&str>,
        at_ms: u64,
        seq: Option<u64>,
    ) -> Self {
        let plain = match from {
            Some(user) => serde_json::json!({ "from": user, "text": text }).to_string(),
            None => text.to_owned(),
        };
        let framed = Frame::Message {
            room,
            text,
            from,
            connection_id: sender,
            at: at_ms,
            seq,
        }
        .to_json();
        Rendered { plain, framed }
    }

    /// The larger of the two copies, in bytes: both must fit API Gateway's
    /// message limit.
    pub fn largest(&self) -> usize {
        self.plain.len().max(self.framed.len())
    }

    /// The copy for a client of `protocol`.
    pub fn for_protocol(&self, protocol: Protocol) -> &[u8] {
        match protocol {
            Protocol::Plain => self.plain.as_bytes(),
            Protocol::V1 => self.framed.as_bytes(),
        }
    }
}

/// Epoch milliseconds of `now`.
pub fn epoch_ms(now: std::time::SystemTime) -> u64 {
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn the_subprotocol_is_picked_from_the_offers() {
        assert_eq!(Protocol::offered(None), Protocol::Plain);
        assert_eq!(Protocol::offered(Some("chat1")), Protocol::Plain);
        assert_eq!(Protocol::offered(Some("chatstack.v1")), Protocol::V1);
        assert_eq!(Protocol::offered(Some("chat1, chatstack.v1")), Protocol::V1);
        assert_eq!(Protocol::offered(Some("chatstack.v10")), Protocol::Plain);
        assert_eq!(Protocol::from_stored(Protocol::V1.stored()), Protocol::V1);
        assert_eq!(Protocol::from_stored(None), Protocol::Plain);
    }

    #[test]
    fn frames_have_a_type_and_the_documented_fields() {
        let parsed = |frame: Frame| serde_json::from_str::<Value>(&frame.to_json()).unwrap();
        assert_eq!(
            parsed(Frame::Message {
                room: Some("r"),
                text: "hi",
                from: Some("ana"),
                connection_id: Some("c1"),
                at: 7,
                seq: Some(12),
            }),
            json!({"type": "message", "room": "r", "text": "hi", "from": "ana", "connectionId": "c1", "at": 7, "seq": 12})
        );
        let member = MemberView {
            connection_id: "c1".into(),
            user: None,
        };
        assert_eq!(
            parsed(Frame::Joined {
                room: "r",
                member: &member,
                action: None,
                last_seq: None,
                expires_at: None,
            }),
            json!({"type": "joined", "room": "r", "connectionId": "c1"})
        );
        assert_eq!(
            parsed(Frame::Joined {
                room: "r",
                member: &member,
                action: Some("join"),
                last_seq: Some(4),
                expires_at: Some(9),
            }),
            json!({"type": "joined", "room": "r", "connectionId": "c1", "action": "join", "lastSeq": 4, "expiresAt": 9})
        );
        let kept = Frame::Message {
            room: Some("r"),
            text: "hi",
            from: None,
            connection_id: None,
            at: 7,
            seq: Some(3),
        };
        assert_eq!(
            parsed(Frame::History {
                room: "r",
                messages: std::slice::from_ref(&kept),
                more: true,
                next: Some(3),
            }),
            json!({"type": "history", "room": "r", "more": true, "next": 3, "messages": [
                {"type": "message", "room": "r", "text": "hi", "at": 7, "seq": 3}
            ]})
        );
        assert_eq!(
            parsed(Frame::Left {
                room: "r",
                member: &member,
                action: Some("leave")
            }),
            json!({"type": "left", "room": "r", "connectionId": "c1", "action": "leave"})
        );
        assert_eq!(
            parsed(Frame::Who {
                room: "r",
                members: std::slice::from_ref(&member),
                count: 1,
                action: "who"
            }),
            json!({"type": "who", "room": "r", "members": [{"connectionId": "c1"}], "count": 1, "action": "who"})
        );
        assert_eq!(
            parsed(Frame::Error {
                message: "no",
                action: Some("join")
            }),
            json!({"type": "error", "message": "no", "action": "join"})
        );
    }

    #[test]
    fn plain_clients_get_what_they_got_before_rooms() {
        let open = Rendered::message(Some("general"), "hello", None, Some("c1"), 1, Some(1));
        assert_eq!(open.plain, "hello");
        assert_eq!(open.for_protocol(Protocol::Plain), b"hello");
        let named = Rendered::message(None, "hello", Some("ana"), None, 1, None);
        assert_eq!(
            serde_json::from_str::<Value>(&named.plain).unwrap(),
            json!({"from": "ana", "text": "hello"})
        );
        let framed: Value = serde_json::from_slice(named.for_protocol(Protocol::V1)).unwrap();
        assert_eq!(framed["type"], "message");
        assert_eq!(framed.get("room"), None, "a push to everyone names no room");
        assert_eq!(framed.get("connectionId"), None, "nor a sender");
        assert!(named.largest() >= named.plain.len());
    }
}
