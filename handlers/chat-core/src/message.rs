//! The `sendmessage` payload.

use serde_json::Value;

pub use chat_contract::MAX_MESSAGE_BYTES;

/// Why a `sendmessage` body was refused; the text goes back to the sender.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    #[error("the message has no body")]
    Empty,
    #[error(
        "the message is {size} bytes, over API Gateway's limit of {MAX_MESSAGE_BYTES} (128 KB)"
    )]
    TooLarge { size: usize },
    #[error("the message is not a JSON object")]
    NotJsonObject,
    #[error("the message has no \"data\" field")]
    MissingText,
    #[error("the \"{field}\" field must be a string")]
    NotAString { field: &'static str },
    #[error("{0}")]
    BadRoom(chat_contract::RoomNameError),
    #[error(
        "you are not in room {room:?} (join it first: {{\"action\":\"join\",\"room\":\"{room}\"}})"
    )]
    NotInRoom { room: String },
}

impl MessageError {
    /// What the sender is told.
    pub fn reply(&self) -> String {
        let prefix = chat_contract::NOT_SENT_REPLY_PREFIX;
        match self {
            MessageError::BadRoom(_) | MessageError::NotInRoom { .. } => {
                format!("{prefix} {self}.")
            }
            _ => format!(
                "{prefix} {self}. Send {{\"action\":\"sendmessage\",\"data\":\"your text\"}}."
            ),
        }
    }
}

/// A `sendmessage` body, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub text: String,
    /// The room named (checked against the rule); `None`: the sender's own.
    pub room: Option<String>,
}

/// The text to broadcast, and the room named, from a `sendmessage` body.
///
/// Accepts `{"action":"sendmessage","data":"..."}` (the blog's format) and
/// `{"action":"sendmessage","message":"..."}` (the docs tutorial's); `data`
/// wins when both are present. `"room"` is optional.
pub fn read_message(body: Option<&str>) -> Result<Outgoing, MessageError> {
    let body = body.ok_or(MessageError::Empty)?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge { size: body.len() });
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(body) else {
        return Err(MessageError::NotJsonObject);
    };
    let room = match fields.remove("room") {
        None | Some(Value::Null) => None,
        Some(Value::String(room)) => {
            chat_contract::check_room_name(&room).map_err(MessageError::BadRoom)?;
            Some(room)
        }
        Some(_) => return Err(MessageError::NotAString { field: "room" }),
    };
    for field in ["data", "message"] {
        match fields.remove(field) {
            Some(Value::String(text)) => return Ok(Outgoing { text, room }),
            Some(_) => return Err(MessageError::NotAString { field }),
            None => {}
        }
    }
    Err(MessageError::MissingText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_blogs_data_field() {
        let body = r#"{"action":"sendmessage","data":"hello"}"#;
        assert_eq!(read_message(Some(body)).unwrap().text, "hello");
    }

    #[test]
    fn reads_the_tutorials_message_field() {
        let body = r#"{"action":"sendmessage","message":"hi there"}"#;
        assert_eq!(read_message(Some(body)).unwrap().text, "hi there");
    }

    #[test]
    fn data_wins_over_message() {
        let body = r#"{"action":"sendmessage","message":"m","data":"d"}"#;
        assert_eq!(read_message(Some(body)).unwrap().text, "d");
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let cases = [
            (None, MessageError::Empty),
            (Some("not json"), MessageError::NotJsonObject),
            (Some("[1,2]"), MessageError::NotJsonObject),
            (
                Some(r#"{"action":"sendmessage"}"#),
                MessageError::MissingText,
            ),
            (
                Some(r#"{"action":"sendmessage","data":42}"#),
                MessageError::NotAString { field: "data" },
            ),
            (
                Some(r#"{"action":"sendmessage","message":null}"#),
                MessageError::NotAString { field: "message" },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(read_message(body), Err(expected), "{body:?}");
        }
    }

    #[test]
    fn refuses_payloads_over_128_kb_and_accepts_the_limit() {
        let wrapper = r#"{"action":"sendmessage","data":""}"#.len();
        let at_limit = format!(
            r#"{{"action":"sendmessage","data":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES - wrapper)
        );
        assert_eq!(at_limit.len(), MAX_MESSAGE_BYTES);
        assert!(read_message(Some(&at_limit)).is_ok());
        let over = at_limit.replacen('x', "xx", 1);
        assert_eq!(
            read_message(Some(&over)),
            Err(MessageError::TooLarge {
                size: MAX_MESSAGE_BYTES + 1
            })
        );
    }

    #[test]
    fn reads_the_room_and_checks_its_name() {
        let body = r#"{"action":"sendmessage","room":"ops","data":"hi"}"#;
        assert_eq!(
            read_message(Some(body)).unwrap(),
            Outgoing {
                text: "hi".into(),
                room: Some("ops".into())
            }
        );
        assert_eq!(read_message(Some(r#"{"data":"hi"}"#)).unwrap().room, None);
        assert!(matches!(
            read_message(Some(r#"{"room":"a b","data":"hi"}"#)),
            Err(MessageError::BadRoom(_))
        ));
        assert_eq!(
            read_message(Some(r#"{"room":7,"data":"hi"}"#)),
            Err(MessageError::NotAString { field: "room" })
        );
    }

    #[test]
    fn reply_tells_the_sender_what_to_send() {
        let reply = MessageError::MissingText.reply();
        assert!(reply.contains("no \"data\" field"), "{reply}");
        assert!(reply.contains(r#"{"action":"sendmessage","data":"your text"}"#));
    }
}
