//! `chatstack chat`: a terminal client for the chat app (what the AWS guide
//! uses wscat for), for `chatstack local` and deployed stages alike.

use std::io::Write;
use std::sync::Arc;

use std::collections::VecDeque;

mod order;
mod rooms;
mod session;

use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

pub use chat_contract::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the connection failed: {0}")]
    Connection(String),
    #[error("the server closed the connection{0}")]
    ClosedByServer(String),
    #[error(
        "the connection to {0} ended without a close frame: the server stopped or the network \
         dropped (is chatstack local still running?)"
    )]
    Dropped(String),
    #[error("could not write: {0}")]
    Output(#[from] std::io::Error),
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// TLS for chatstack's own connections (wss:// and the notify endpoint):
/// rustls with ring and the system's trusted roots.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

fn tls_connector() -> Result<Connector, ClientError> {
    let config = tls_config().map_err(ClientError::Tls)?;
    Ok(Connector::Rustls(Arc::new(config)))
}

/// `url` with `value` (when there is one) as its `name` query parameter.
fn with_parameter(url: &str, name: &str, value: Option<&str>) -> String {
    let Some(value) = value else {
        return url.to_owned();
    };
    let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={encoded}")
}

/// `url` with `token` as its `token` query parameter (browsers cannot
/// send headers on a WebSocket, so API Gateway's authorizer reads it there).
pub fn with_token(url: &str, token: Option<&str>) -> String {
    with_parameter(url, chat_contract::TOKEN_QUERY_PARAMETER, token)
}

/// What a typed line becomes on a plain connection:
/// `{"action":"sendmessage","data":line}`, or the line itself with `raw`.
pub fn outgoing(line: &str, raw: bool) -> String {
    if raw {
        line.to_owned()
    } else {
        json!({"action": "sendmessage", "data": line}).to_string()
    }
}

/// How `chatstack chat` talks.
#[derive(Debug, Clone, Copy)]
pub struct ChatOptions<'a> {
    /// Send lines as typed and show frames as they come, on a plain
    /// connection (as wscat does).
    pub raw: bool,
    /// The room to connect to (`None`: the stage's default).
    pub room: Option<&'a str>,
    /// How often to send a heartbeat on a `chatstack.v1` connection, so it
    /// does not go idle.
    pub heartbeat: std::time::Duration,
    /// Tries to open a `chatstack.v1` connection again after it closed or
    /// dropped, before giving up (0: end with it, as a plain one does).
    pub retries: u32,
    /// The connection token, for a stage that requires one.
    pub token: Option<&'a str>,
}

/// The guide's conversation: bare text both ways (or, with `raw`, what is
/// typed), for `--raw` and for stages that predate rooms.
struct PlainChat {
    raw: bool,
    /// What we sent that the server echoes back to us on an open stage.
    unechoed: VecDeque<String>,
}

impl PlainChat {
    fn read_line(&mut self, line: &str) -> rooms::Typed {
        if !self.raw {
            self.unechoed.push_back(line.to_owned());
        }
        rooms::Typed::Send(outgoing(line, self.raw))
    }

    fn show(&mut self, frame: &str) -> Option<String> {
        let message = Incoming::parse(frame, self.raw);
        // Our own message coming back: on an open stage the bare text we
        // typed, already on screen; on a token stage it carries our name,
        // and is shown.
        if self
            .unechoed
            .front()
            .is_some_and(|sent| sent == message.text())
        {
            self.unechoed.pop_front();
            if matches!(message, Incoming::Plain(_)) {
                return None;
            }
        }
        Some(message.line())
    }
}

/// A connection's conversation, by the protocol the stage agreed to.
enum Conversation {
    Plain(PlainChat),
    Rooms(rooms::Rooms),
}

impl Conversation {
    fn read_line(&mut self, line: &str) -> rooms::Typed {
        match self {
            Conversation::Plain(chat) => chat.read_line(line),
            Conversation::Rooms(rooms) => rooms.read_line(line),
        }
    }

    fn receive(&mut self, frame: &str) -> rooms::Received {
        match self {
            Conversation::Plain(chat) => rooms::Received {
                lines: chat.show(frame).into_iter().collect(),
                requests: Vec::new(),
            },
            Conversation::Rooms(rooms) => rooms.receive(frame),
        }
    }

    /// The last line read was not sent after all: it will not come back.
    fn unsent(&mut self) {
        match self {
            Conversation::Plain(chat) => {
                chat.unechoed.pop_back();
            }
            Conversation::Rooms(rooms) => rooms.unsent(),
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the WebSocket. With `rooms`, asks for [`chat_contract::SUBPROTOCOL`]
/// and sends `token` beside it in `Sec-WebSocket-Protocol`, out of the URL
/// (and so out of any log of URLs); a stage deployed before it took tokens
/// there refuses with 401 before its authorizer runs, and is asked again
/// with the token in the query. A plain connection (`--raw`, a stage that
/// predates rooms) sends it in the query, as wscat users do.
async fn open(
    url: &str,
    token: Option<&str>,
    connector: Option<Connector>,
    rooms: bool,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::Error;
    if !rooms {
        return handshake(&with_token(url, token), None, connector, false).await;
    }
    match handshake(url, token, connector.clone(), true).await {
        Err(Error::Http(response)) if response.status() == 401 && token.is_some() => {
            handshake(&with_token(url, token), None, connector, true).await
        }
        opened => opened,
    }
}

async fn handshake(
    url: &str,
    token: Option<&str>,
    connector: Option<Connector>,
    rooms: bool,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert(
        "user-agent",
        HeaderValue::from_static(concat!("chatstack/", env!("CARGO_PKG_VERSION"))),
    );
    if rooms {
        let offered = match token {
            Some(token) => format!(
                "{}, {}{token}",
                chat_contract::SUBPROTOCOL,
                chat_contract::TOKEN_SUBPROTOCOL_PREFIX
            ),
            None => chat_contract::SUBPROTOCOL.to_owned(),
        };
        let offered = HeaderValue::from_str(&offered).map_err(|_| {
            tokio_tungstenite::tungstenite::Error::Url(
                tokio_tungstenite::tungstenite::error::UrlError::UnableToConnect(
                    "the token holds characters a header cannot carry".to_owned(),
                ),
            )
        })?;
        headers.insert("sec-websocket-protocol", offered);
    }
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector).await?;
    Ok(socket)
}

/// A stage deployed before rooms completes the handshake without
/// selecting the subprotocol it was offered.
fn predates_rooms(error: &tokio_tungstenite::tungstenite::Error) -> bool {
    use tokio_tungstenite::tungstenite::error::{Error, ProtocolError, SubProtocolError};
    matches!(
        error,
        Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol
        ))
    )
}

/// `message` as the frames API Gateway accepts: one text frame when it is
/// small, else a text frame and continuations of at most 32 KB each, so it
/// still arrives as one message. `None` when it is over 128 KB.
pub fn frames(message: &str) -> Option<Vec<Message>> {
    if message.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    if message.len() <= MAX_FRAME_BYTES {
        return Some(vec![Message::Text(message.into())]);
    }
    let chunks: Vec<&[u8]> = message.as_bytes().chunks(MAX_FRAME_BYTES).collect();
    let last = chunks.len() - 1;
    Some(
        chunks
            .into_iter()
            .enumerate()
            .map(|(n, chunk)| {
                let opcode = if n == 0 { Data::Text } else { Data::Continue };
                Message::Frame(Frame::message(
                    chunk.to_vec(),
                    OpCode::Data(opcode),
                    n == last,
                ))
            })
            .collect(),
    )
}

/// `url` as it may be shown: without its `token` query parameter, which
/// is a credential.
pub fn without_token(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(chat_contract::TOKEN_QUERY_PARAMETER))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// Lines of standard input, read on a thread of their own: tokio's stdin
/// reads block the runtime's shutdown, so a chat the server ended would
/// wait for a keypress.
pub fn stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (sender, receiver) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if sender.blocking_send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Why a connection attempt failed, in the user's terms, with what to try.
fn connect_failure(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => match response.status().as_u16() {
            200..=299 => "the server answered HTTP without upgrading to a WebSocket: is the \
                          stage in the URL (ws://HOST:PORT/STAGE, wss://ID.execute-api.REGION.amazonaws.com/STAGE)?"
                .to_owned(),
            401 => "refused (401): this stage requires a token: pass --token or set \
                    CHATSTACK_TOKEN (chatstack token --stage STAGE --user NAME)"
                .to_owned(),
            403 => "refused (403): this stage takes a valid token (--token or CHATSTACK_TOKEN; \
                    chatstack token --stage STAGE --user NAME): none was given, or it is expired, \
                    tampered, or for another stage, run or app"
                .to_owned(),
            404 => "no such stage here (404): check the stage in the URL; chatstack local \
                    prints the URL it serves"
                .to_owned(),
            429 => "throttled (429): too many new connections; try again in a moment".to_owned(),
            status => format!("the server answered HTTP {status} instead of a WebSocket"),
        },
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "nothing listens there: is chatstack local running, and on that port?".to_owned()
        }
        Error::Url(_) => "not a WebSocket URL: use ws://HOST:PORT/STAGE or wss://HOST/STAGE"
            .to_owned(),
        other => other.to_string(),
    }
}

/// A text frame that arrived: a token stage's `{"from":..,"text":..}`, or
/// anything else (an open stage's bare text, replies, `--raw`).
enum Incoming<'a> {
    Named { from: String, text: String },
    Plain(&'a str),
}

impl<'a> Incoming<'a> {
    fn parse(frame: &'a str, raw: bool) -> Self {
        if !raw
            && let Ok(serde_json::Value::Object(message)) = serde_json::from_str(frame)
            && let (Some(from), Some(text)) = (
                message.get("from").and_then(|v| v.as_str()),
                message.get("text").and_then(|v| v.as_str()),
            )
        {
            return Incoming::Named {
                from: from.to_owned(),
                text: text.to_owned(),
            };
        }
        Incoming::Plain(frame)
    }

    /// The message's text, as a sender typed it.
    fn text(&self) -> &str {
        match self {
            Incoming::Named { text, .. } => text,
            Incoming::Plain(text) => text,
        }
    }

    /// `< ` marks it apart from what you type: `< alice: hi`, `< hi`.
    fn line(&self) -> String {
        match self {
            Incoming::Named { from, text } => format!("< {from}: {text}"),
            Incoming::Plain(text) => format!("< {text}"),
        }
    }
}

/// Connects to `url`, sends each line of `input`, prints what arrives.
/// Ends when the input ends (Ok), or when the server closes the connection
/// or it drops (an error saying why): at once on a plain connection, after
/// `retries` failed tries to reconnect on a `chatstack.v1` one, which also
/// reconnects shortly before API Gateway's time limit, rejoins its rooms
/// and catches up on what it missed. Only `shown_url`, the URL without its
/// token, is ever printed. Speaks `chatstack.v1` unless `raw`, or unless
/// the stage predates rooms (then as before, saying so).
pub async fn run_chat(
    url: &str,
    options: ChatOptions<'_>,
    input: mpsc::Receiver<std::io::Result<String>>,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let url = with_parameter(url, chat_contract::ROOM_QUERY_PARAMETER, options.room);
    let shown_url = without_token(&url);
    let (mut socket, conversation) = connect_conversation(&url, &shown_url, options, out).await?;
    print_line(
        out,
        &format!("Connected to {shown_url}. Type a message and press Enter; Ctrl-D quits."),
    )?;
    let mut session = session::Session::new(conversation, input, options, &shown_url);
    loop {
        let why = match session.converse(socket, out).await {
            Ok(session::Ended::Quit) => return Ok(()),
            Ok(session::Ended::Expiring) => None,
            Err(error) if retries(&session, options) && error.is_lost_connection() => Some(error),
            Err(error) => return Err(error),
        };
        socket = session::reconnect(&url, &shown_url, options, why, out).await?;
        session.reconnected();
    }
}

/// Whether a connection that ended is opened again.
fn retries(session: &session::Session, options: ChatOptions) -> bool {
    session.reconnects() && options.retries > 0
}

impl ClientError {
    /// The connection ended (closed, dropped, failed): another may open.
    fn is_lost_connection(&self) -> bool {
        matches!(
            self,
            ClientError::ClosedByServer(_) | ClientError::Dropped(_) | ClientError::Connection(_)
        )
    }
}

fn print_line(out: &mut dyn Write, line: &str) -> Result<(), ClientError> {
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Opens the connection and picks the conversation the stage takes:
/// `chatstack.v1`, or plain for `--raw` and for a stage that predates rooms.
async fn connect_conversation(
    url: &str,
    shown_url: &str,
    options: ChatOptions<'_>,
    out: &mut dyn Write,
) -> Result<(Socket, Conversation), ClientError> {
    let connect_error = |error: tokio_tungstenite::tungstenite::Error| ClientError::Connect {
        url: shown_url.to_owned(),
        reason: connect_failure(&error),
    };
    let plain = || {
        Conversation::Plain(PlainChat {
            raw: options.raw,
            unechoed: VecDeque::new(),
        })
    };
    let connector = if url.starts_with("wss://") {
        Some(tls_connector()?)
    } else {
        None
    };
    match open(url, options.token, connector.clone(), !options.raw).await {
        Ok(socket) if options.raw => Ok((socket, plain())),
        Ok(socket) => Ok((
            socket,
            Conversation::Rooms(rooms::Rooms::connected_to(options.room)),
        )),
        Err(error) if predates_rooms(&error) => {
            print_line(
                out,
                &format!(
                    "This stage predates rooms (it did not take the {} protocol): one room, \
                     plain text, no /join, /leave or /who. Deploy again to have them.",
                    chat_contract::SUBPROTOCOL
                ),
            )?;
            let socket = open(url, options.token, connector, false)
                .await
                .map_err(connect_error)?;
            Ok((socket, plain()))
        }
        Err(error) => Err(connect_error(error)),
    }
}

type Sink = futures_util::stream::SplitSink<Socket, Message>;

/// Sends what a typed line asks for, or tells the user why not.
async fn send_line(
    conversation: &mut Conversation,
    line: &str,
    sink: &mut Sink,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let message = match conversation.read_line(line) {
        rooms::Typed::Send(body) => body,
        rooms::Typed::Notice(notice) => return print_line(out, &notice),
    };
    let Some(frames) = frames(&message) else {
        conversation.unsent();
        return print_line(
            out,
            &format!(
                "Not sent: the message is {} bytes; API Gateway takes at most {MAX_MESSAGE_BYTES}.",
                message.len()
            ),
        );
    };
    for frame in frames {
        sink.send(frame)
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_token_joins_the_url_as_its_query_parameter() {
        assert_eq!(with_token("ws://h/dev", None), "ws://h/dev");
        assert_eq!(
            with_token("ws://h/dev", Some("v1.a.b")),
            "ws://h/dev?token=v1.a.b"
        );
        assert_eq!(
            with_token("ws://h/dev?x=1", Some("a b&c")),
            "ws://h/dev?x=1&token=a+b%26c"
        );
    }
    use super::*;

    #[test]
    fn messages_are_framed_within_api_gateways_limits() {
        let small = frames("hello").unwrap();
        assert!(matches!(&small[..], [Message::Text(t)] if t.as_str() == "hello"));

        let text = "é".repeat(50 * 1024); // 100 KB, split inside characters
        let framed = frames(&text).unwrap();
        assert_eq!(framed.len(), 4);
        let mut joined = Vec::new();
        for (n, message) in framed.iter().enumerate() {
            let Message::Frame(frame) = message else {
                panic!("frame {n} is {message:?}");
            };
            assert!(frame.payload().len() <= MAX_FRAME_BYTES);
            let expected = if n == 0 { Data::Text } else { Data::Continue };
            assert_eq!(frame.header().opcode, OpCode::Data(expected));
            assert_eq!(frame.header().is_final, n == framed.len() - 1);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, text.as_bytes());

        assert!(frames(&"x".repeat(MAX_MESSAGE_BYTES)).is_some());
        assert!(frames(&"x".repeat(MAX_MESSAGE_BYTES + 1)).is_none());
    }

    #[test]
    fn lines_become_sendmessage_actions_unless_raw() {
        assert_eq!(
            outgoing("hi \"you\"", false),
            r#"{"action":"sendmessage","data":"hi \"you\""}"#
        );
        assert_eq!(outgoing(r#"{"action":"x"}"#, true), r#"{"action":"x"}"#);
    }
}
