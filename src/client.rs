//! `chatstack chat`: a terminal client for the chat app (what the AWS guide
//! uses wscat for), for `chatstack local` and deployed stages alike.

use std::io::Write;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;

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

/// TLS for wss:// URLs: rustls with ring and the system's trusted roots.
fn tls_connector() -> Result<Connector, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ClientError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
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
    let (socket, _) = tokio_tungstenite::connect_async_tls_with_config(url, None, false, connector)
        .await
        .map_err(|e| ClientError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
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
                Ok(Some(line)) => sink
                    .send(Message::Text(outgoing(&line, raw).into()))
                    .await
                    .map_err(|e| ClientError::Connection(e.to_string()))?,
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
    use super::*;

    #[test]
    fn lines_become_sendmessage_actions_unless_raw() {
        assert_eq!(
            outgoing("hi \"you\"", false),
            r#"{"action":"sendmessage","data":"hi \"you\""}"#
        );
        assert_eq!(outgoing(r#"{"action":"x"}"#, true), r#"{"action":"x"}"#);
    }
}
