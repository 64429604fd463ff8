//! `chatstack chat` on the `chatstack.v1` protocol: the rooms a connection
//! is in, the one typed lines go to, the `/join`, `/leave` and `/who`
//! commands, and how each frame reads on a terminal.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Value, json};

use super::order::{Ask, RECENT, RoomOrder, Shown};

/// The commands, as `/help` lists them.
pub const HELP: &str = "Commands: /join ROOM (join it, or switch to it; your lines go there), \
/leave [ROOM], /who [ROOM], /help. Start a line with // to send one that begins with /.";

/// A typed line, read.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed {
    /// The JSON body to send: a message, or a room action.
    Send(String),
    /// Something to tell the user, sending nothing.
    Notice(String),
}

/// What the client knows of its rooms.
#[derive(Debug, Default)]
pub struct Rooms {
    /// Rooms it is in, in the order it joined them.
    joined: Vec<String>,
    /// The room every connection of the chat opens in (its URL's `?room=`).
    opens_in: String,
    /// Where typed lines go; `None` once it has left every room.
    talking_in: Option<String>,
    /// Its connection id, from the answers to its own joins: a message
    /// frame naming it is its own, already on screen as typed.
    me: Option<String>,
    /// Every id it had (one per connection): its messages in a history
    /// answer after a reconnect name an earlier one.
    mine: BTreeSet<String>,
    /// Until that answer comes (a message may come back first: the routes
    /// run side by side), the texts it sent, with their room.
    unechoed: VecDeque<(String, String)>,
    /// Each room's messages in `seq` order (stages with history).
    orders: BTreeMap<String, RoomOrder>,
    /// When API Gateway closes the connection, epoch milliseconds, from the
    /// answer to its first join.
    expires_at_ms: Option<u64>,
}

/// What a frame gives: lines to show, and requests to send.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub lines: Vec<String>,
    pub requests: Vec<String>,
}

impl Received {
    fn line(line: Option<String>) -> Self {
        Received {
            lines: line.into_iter().collect(),
            requests: Vec::new(),
        }
    }
}

/// Reads a room name from a command, checked against the rule.
fn room_argument(command: &str, argument: &str) -> Result<String, String> {
    chat_contract::check_room_name(argument)
        .map(|()| argument.to_owned())
        .map_err(|refused| format!("{command}: {refused}"))
}

impl Rooms {
    /// The room the client asked for as it connected (`None`: the
    /// stage's default); the answer to [`Rooms::first_join`] confirms it.
    pub fn connected_to(room: Option<&str>) -> Self {
        let room = room.unwrap_or(chat_contract::DEFAULT_ROOM).to_owned();
        Rooms {
            joined: vec![room.clone()],
            opens_in: room.clone(),
            talking_in: Some(room),
            ..Rooms::default()
        }
    }

    /// Joining the room it connected to again changes nothing on the
    /// server; the answer confirms the room (a stage may have refused it),
    /// and says the room's last number and the connection's expiry. After
    /// a reconnect, every room it was in is joined again, and the one every
    /// connection opens in is left if it had left it.
    pub fn joins(&self) -> Vec<String> {
        let first = self.talking_in.iter();
        let others = self
            .joined
            .iter()
            .filter(|room| Some(*room) != self.talking_in.as_ref());
        let joins = first
            .chain(others)
            .map(|room| json!({"action": "join", "room": room}).to_string());
        let left = (!self.joined.contains(&self.opens_in))
            .then(|| json!({"action": "leave", "room": self.opens_in}).to_string());
        joins.chain(left).collect()
    }

    /// When the connection will be closed, once a join answer said so.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }

    /// A new connection: a new id, and answers in flight are lost.
    pub fn reconnected(&mut self) {
        self.me = None;
        self.unechoed.clear();
        self.expires_at_ms = None;
        self.orders.values_mut().for_each(RoomOrder::reconnected);
    }

    /// What a typed line means.
    pub fn read_line(&mut self, line: &str) -> Typed {
        if let Some(text) = line.strip_prefix("//") {
            return self.say(&format!("/{text}"));
        }
        let Some(command) = line.strip_prefix('/') else {
            return self.say(line);
        };
        let (name, argument) = command
            .split_once(char::is_whitespace)
            .map_or((command, ""), |(name, rest)| (name, rest.trim()));
        let room_or_current = |command: &str| -> Result<String, String> {
            if argument.is_empty() {
                self.talking_in.clone().ok_or_else(|| {
                    format!("{command}: you are in no room; name one: /{command} ROOM")
                })
            } else {
                room_argument(command, argument)
            }
        };
        let request = |action: &str, room: Result<String, String>| match room {
            Ok(room) => Typed::Send(json!({"action": action, "room": room}).to_string()),
            Err(why) => Typed::Notice(why),
        };
        match name {
            "join" if argument.is_empty() => Typed::Notice("join: which room? /join ROOM".into()),
            "join" => request("join", room_argument("join", argument)),
            "leave" => request("leave", room_or_current("leave")),
            "who" => request("who", room_or_current("who")),
            "help" => Typed::Notice(HELP.into()),
            other => Typed::Notice(format!("/{other} is not a command. {HELP}")),
        }
    }

    fn say(&mut self, text: &str) -> Typed {
        match &self.talking_in {
            Some(room) => {
                if self.me.is_none() {
                    self.unechoed.push_back((room.clone(), text.to_owned()));
                }
                Typed::Send(
                    json!({"action": "sendmessage", "room": room, "data": text}).to_string(),
                )
            }
            None => Typed::Notice("You are in no room: /join one to talk.".into()),
        }
    }

    /// What a frame shows as (no line for the client's own message coming
    /// back, already on screen as typed), in `seq` order, and the history
    /// requests that fill what it missed.
    pub fn receive(&mut self, frame: &str) -> Received {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(frame) else {
            // Only a reply that could not learn the protocol is not JSON.
            return Received::line(Some(format!("* {frame}")));
        };
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let room = text("room");
        let answers_me = fields.get("action").is_some();
        match (text("type"), room) {
            (Some("message"), _) => self.live_message(&fields),
            (Some("joined"), Some(room)) if answers_me => self.answered_join(room, &fields),
            (Some("left"), Some(room)) if answers_me => Received::line(Some(self.left(room))),
            (Some(change @ ("joined" | "left")), Some(room)) => {
                let who = text("user").or(text("connectionId")).unwrap_or("someone");
                Received::line(Some(format!("* {who} {change} #{room}")))
            }
            (Some("who"), Some(room)) => Received::line(Some(who_line(room, &fields))),
            (Some("history"), Some(room)) => self.history(room, &fields),
            (Some("error"), _) => {
                Received::line(Some(format!("! {}", text("message").unwrap_or(frame))))
            }
            _ => Received::line(Some(format!("< {frame}"))),
        }
    }

    /// A `message` frame as it arrives: shown in its room's order when it
    /// has a number, at once when not (a push, a stage without history).
    fn live_message(&mut self, fields: &serde_json::Map<String, Value>) -> Received {
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let body = text("text").unwrap_or("");
        let room = text("room");
        let own = self.is_own(text("connectionId"), room, body);
        let line = self.message(room, text("from"), body, own);
        match (room, fields.get("seq").and_then(Value::as_u64)) {
            (Some(room), Some(seq)) => {
                let shown = self.order(room).arrive(seq, line);
                self.requests(room, shown)
            }
            _ => Received::line(line),
        }
    }

    fn order(&mut self, room: &str) -> &mut RoomOrder {
        self.orders.entry(room.to_owned()).or_default()
    }

    /// Lines to show, and the request an order asked for.
    fn requests(&self, room: &str, shown: Shown) -> Received {
        let request = shown.ask.map(|ask| {
            let mut body = json!({"action": chat_contract::HISTORY_ROUTE, "room": room});
            match ask {
                Ask::After(seq) => body["after"] = seq.into(),
                Ask::Recent => body["limit"] = RECENT.into(),
            }
            body.to_string()
        });
        Received {
            lines: shown.lines,
            requests: request.into_iter().collect(),
        }
    }

    /// The answer to its own join: its id, the connection's expiry, and
    /// (with history) what it missed in the room.
    fn answered_join(&mut self, room: &str, fields: &serde_json::Map<String, Value>) -> Received {
        if let Some(id) = fields.get("connectionId").and_then(Value::as_str) {
            self.me = Some(id.to_owned());
            self.mine.insert(id.to_owned());
            self.unechoed.clear();
        }
        if let Some(expires) = fields.get("expiresAt").and_then(Value::as_u64) {
            self.expires_at_ms.get_or_insert(expires);
        }
        let mut received = Received::line(Some(self.joined(room)));
        if let Some(last_seq) = fields.get("lastSeq").and_then(Value::as_u64) {
            let shown = self.order(room).joined(last_seq);
            let more = self.requests(room, shown);
            received.lines.extend(more.lines);
            received.requests = more.requests;
        }
        received
    }

    /// A `history` answer: its messages in the room's order.
    fn history(&mut self, room: &str, fields: &serde_json::Map<String, Value>) -> Received {
        let messages: Vec<(u64, Option<String>)> = fields
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|message| {
                let text = |name: &str| message.get(name).and_then(Value::as_str);
                let seq = message.get("seq").and_then(Value::as_u64)?;
                let own = text("connectionId").is_some_and(|id| self.mine.contains(id));
                let line = self.message(Some(room), text("from"), text("text")?, own);
                Some((seq, line))
            })
            .collect();
        let more = fields.get("more").and_then(Value::as_bool).unwrap_or(false);
        let next = fields.get("next").and_then(Value::as_u64);
        let shown = self.order(room).answered(room, messages, more, next);
        self.requests(room, shown)
    }

    fn message(
        &self,
        room: Option<&str>,
        from: Option<&str>,
        text: &str,
        own: bool,
    ) -> Option<String> {
        if own {
            // Typed, so on screen; a stage with tokens names the sender,
            // which is news (the server's name for you).
            from?;
        }
        let place = match room {
            Some(room) if Some(room) != self.talking_in.as_deref() => format!("[#{room}] "),
            _ => String::new(),
        };
        Some(match from {
            Some(from) => format!("< {place}{from}: {text}"),
            None => format!("< {place}{text}"),
        })
    }

    /// Whether a message is its own: by connection id once known, else by
    /// the text it sent last to that room.
    fn is_own(&mut self, sender: Option<&str>, room: Option<&str>, text: &str) -> bool {
        if self.me.is_some() {
            return sender.is_some_and(|id| self.mine.contains(id));
        }
        let echoed = self
            .unechoed
            .front()
            .is_some_and(|(sent_to, sent)| Some(sent_to.as_str()) == room && sent == text);
        if echoed {
            self.unechoed.pop_front();
        }
        echoed
    }

    /// The last line read was not sent after all: it will not come back.
    pub fn unsent(&mut self) {
        self.unechoed.pop_back();
    }

    fn joined(&mut self, room: &str) -> String {
        if !self.joined.iter().any(|r| r == room) {
            self.joined.push(room.to_owned());
        }
        self.talking_in = Some(room.to_owned());
        format!(
            "* You are in #{room}; your lines go there. ({})",
            self.listing()
        )
    }

    fn left(&mut self, room: &str) -> String {
        self.joined.retain(|r| r != room);
        if self.talking_in.as_deref() == Some(room) {
            self.talking_in = self.joined.last().cloned();
        }
        match &self.talking_in {
            Some(now) => format!("* You left #{room}; your lines go to #{now}."),
            None => format!("* You left #{room} and are in no room: /join one to talk."),
        }
    }

    fn listing(&self) -> String {
        let rooms: Vec<String> = self.joined.iter().map(|r| format!("#{r}")).collect();
        format!("your rooms: {}", rooms.join(" "))
    }
}

/// `* #ops: 3 here: alice, bob, 4f3a=` (and how many more it left out).
fn who_line(room: &str, fields: &serde_json::Map<String, Value>) -> String {
    let members: Vec<&str> = fields
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|member| {
            member
                .get("user")
                .or(member.get("connectionId"))
                .and_then(Value::as_str)
        })
        .collect();
    let count = fields
        .get("count")
        .and_then(Value::as_u64)
        .unwrap_or(members.len() as u64);
    let more = count.saturating_sub(members.len() as u64);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("* #{room}: {count} here: {}{tail}", members.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a frame shows, as one text (`None`: nothing).
    fn show(rooms: &mut Rooms, frame: &str) -> Option<String> {
        let received = rooms.receive(frame);
        assert!(received.requests.is_empty(), "{received:?}");
        (!received.lines.is_empty()).then(|| received.lines.join("\n"))
    }

    fn body(typed: Typed) -> Value {
        match typed {
            Typed::Send(body) => serde_json::from_str(&body).unwrap(),
            Typed::Notice(notice) => panic!("a notice: {notice}"),
        }
    }

    #[test]
    fn lines_go_to_the_room_talked_in_and_commands_become_requests() {
        let mut rooms = Rooms::connected_to(Some("ops"));
        assert_eq!(rooms.joins(), [r#"{"action":"join","room":"ops"}"#]);
        assert_eq!(
            body(rooms.read_line("hi")),
            json!({"action": "sendmessage", "room": "ops", "data": "hi"})
        );
        assert_eq!(
            body(rooms.read_line("//etc/hosts")),
            json!({"action": "sendmessage", "room": "ops", "data": "/etc/hosts"})
        );
        assert_eq!(
            body(rooms.read_line("/join  lobby ")),
            json!({"action": "join", "room": "lobby"})
        );
        assert_eq!(
            body(rooms.read_line("/who")),
            json!({"action": "who", "room": "ops"})
        );
        assert_eq!(
            body(rooms.read_line("/leave lobby")),
            json!({"action": "leave", "room": "lobby"})
        );
        for (line, says) in [
            ("/join", "which room?"),
            ("/join no way", "the room name holds ' '"),
            ("/who a#b", "the room name holds '#'"),
            ("/shout hi", "/shout is not a command"),
            ("/help", "/join ROOM"),
        ] {
            match rooms.read_line(line) {
                Typed::Notice(notice) => assert!(notice.contains(says), "{line}: {notice}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn its_own_message_is_known_even_when_it_comes_back_before_the_join_answer() {
        let mut rooms = Rooms::connected_to(None);
        body(rooms.read_line("hi"));
        let own = r#"{"type":"message","room":"general","text":"hi","connectionId":"me=","at":1}"#;
        assert_eq!(
            show(&mut rooms, own),
            None,
            "matched by its text while its id is unknown"
        );
        assert_eq!(show(&mut rooms, own).as_deref(), Some("< hi"), "only once");
        show(
            &mut rooms,
            r#"{"type":"joined","room":"general","connectionId":"me=","action":"join"}"#,
        );
        assert_eq!(show(&mut rooms, own), None, "then by its id");
    }

    #[test]
    fn answers_move_the_conversation_and_others_read_as_system_lines() {
        let mut rooms = Rooms::connected_to(None);
        let answer = show(
            &mut rooms,
            r#"{"type":"joined","room":"general","connectionId":"me=","action":"join"}"#,
        );
        assert_eq!(
            answer.as_deref(),
            Some("* You are in #general; your lines go there. (your rooms: #general)")
        );
        show(
            &mut rooms,
            r#"{"type":"joined","room":"ops","connectionId":"me=","action":"join"}"#,
        );
        assert_eq!(
            body(rooms.read_line("hi")),
            json!({"action": "sendmessage", "room": "ops", "data": "hi"})
        );
        // Its own message back (its connection named): already on screen.
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"message","room":"ops","text":"hi","connectionId":"me=","at":1}"#
            ),
            None
        );
        // Another room's: marked.
        assert_eq!(
            show(&mut rooms, r#"{"type":"message","room":"general","text":"yo","from":"bo","connectionId":"b=","at":1}"#)
                .as_deref(),
            Some("< [#general] bo: yo")
        );
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"message","room":"ops","text":"hi","connectionId":"x=","at":1}"#
            )
            .as_deref(),
            Some("< hi"),
            "the same text from someone else is shown"
        );
        // A push names no connection.
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"message","room":"ops","text":"maintenance at noon","at":1}"#
            )
            .as_deref(),
            Some("< maintenance at noon")
        );
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"joined","room":"ops","connectionId":"x=","user":"cy"}"#
            )
            .as_deref(),
            Some("* cy joined #ops")
        );
        assert_eq!(
            show(&mut rooms, r#"{"type":"who","room":"ops","members":[{"connectionId":"me="},{"connectionId":"x=","user":"cy"}],"count":5,"action":"who"}"#)
                .as_deref(),
            Some("* #ops: 5 here: me=, cy and 3 more")
        );
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"error","message":"you are not in room \"x\"","action":"who"}"#
            )
            .as_deref(),
            Some("! you are not in room \"x\"")
        );
        assert_eq!(
            show(
                &mut rooms,
                r#"{"type":"left","room":"ops","connectionId":"me=","action":"leave"}"#
            )
            .as_deref(),
            Some("* You left #ops; your lines go to #general.")
        );
        show(
            &mut rooms,
            r#"{"type":"left","room":"general","connectionId":"me=","action":"leave"}"#,
        );
        // A new connection opens in general again: it is left again.
        assert_eq!(rooms.joins(), [r#"{"action":"leave","room":"general"}"#]);
        assert!(matches!(rooms.read_line("anyone?"), Typed::Notice(n) if n.contains("no room")));
        assert!(matches!(rooms.read_line("/who"), Typed::Notice(n) if n.contains("no room")));
        assert_eq!(
            show(&mut rooms, "Internal error").as_deref(),
            Some("* Internal error")
        );
    }
}
