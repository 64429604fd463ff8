//! `chatstack chat`: a terminal client for the chat app (what the AWS guide
//! uses wscat for), for `chatstack local` and deployed stages alike.

use std::io::Write;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// API Gateway closes the connection on a frame over 32 KB...
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// ...and on a message over 128 KB, however it is framed.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the connection failed: {0}")]
    Connection(String),
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

/// `url` with `token` as its `token` query parameter (browsers cannot
/// send headers on a WebSocket, so API Gateway's authorizer reads it there).
pub fn with_token(url: &str, token: Option<&str>) -> String {
    let Some(token) = token else {
        return url.to_owned();
    };
    let encoded: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}{}={encoded}",
        chat_contract::TOKEN_QUERY_PARAMETER
    )
}

/// What a typed line becomes: `{"action":"sendmessage","data":line}`, or
/// the line itself with `raw`.
pub fn outgoing(line: &str, raw: bool) -> String {
    if raw {
        line.to_owned()
    } else {
        json!({"action": "sendmessage", "data": line}).to_string()
    }
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

/// Connects to `url`, sends each line of `input`, prints what arrives.
pub async fn run_chat(
    url: &str,
    raw: bool,
    input: impl AsyncBufRead + Unpin,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let connector = if url.starts_with("wss://") {
        Some(tls_connector()?)
    } else {
        None
    };
    let connect_error = |reason: String| ClientError::Connect {
        url: url.to_owned(),
        reason,
    };
    let mut request = url
        .into_client_request()
        .map_err(|e| connect_error(e.to_string()))?;
    request.headers_mut().insert(
        "user-agent",
        HeaderValue::from_static(concat!("chatstack/", env!("CARGO_PKG_VERSION"))),
    );
    let (socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
    writeln!(
        out,
        "Connected to {url}. Type a message and press Enter; Ctrl-D quits."
    )?;
    out.flush()?;
    let (mut sink, mut stream) = socket.split();
    let mut lines = input.lines();
    let mut input_open = true;
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    writeln!(out, "{text}")?;
                    out.flush()?;
                }
                Some(Ok(Message::Binary(bytes))) => {
                    writeln!(out, "{}", String::from_utf8_lossy(&bytes))?;
                    out.flush()?;
                }
                Some(Ok(Message::Close(frame))) => {
                    if input_open {
                        let why = frame
                            .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                            .unwrap_or_default();
                        writeln!(out, "Connection closed by the server{why}.")?;
                    }
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(ClientError::Connection(error.to_string())),
                None => return Ok(()),
            },
            line = lines.next_line(), if input_open => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let message = outgoing(&line, raw);
                    let Some(frames) = frames(&message) else {
                        writeln!(
                            out,
                            "Not sent: the message is {} bytes; API Gateway takes at most {MAX_MESSAGE_BYTES}.",
                            message.len()
                        )?;
                        out.flush()?;
                        continue;
                    };
                    for frame in frames {
                        sink.send(frame)
                            .await
                            .map_err(|e| ClientError::Connection(e.to_string()))?;
                    }
                }
                Ok(None) | Err(_) => {
                    input_open = false;
                    let _ = sink.send(Message::Close(None)).await;
                }
            },
        }
    }
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
