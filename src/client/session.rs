//! One `chatstack chat` session across connections: what each connection
//! does while open (lines out, frames in, heartbeats, history requests),
//! and opening the next one when it ends, with full-jitter backoff so a
//! stage dropped at once is not called back by every client in the same
//! second.

use std::io::Write;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{
    ChatOptions, ClientError, Conversation, Sink, Socket, connect_failure, open, print_line,
    send_line, tls_connector,
};

/// The longest wait between tries to reconnect.
const MOST_WAIT: Duration = Duration::from_secs(30);

/// How a connection ended without an error.
pub enum Ended {
    /// The input ended and the server took the close.
    Quit,
    /// Closed by us shortly before API Gateway would have.
    Expiring,
}

pub struct Session<'a> {
    conversation: Conversation,
    input: mpsc::Receiver<std::io::Result<String>>,
    input_open: bool,
    heartbeat: Duration,
    shown_url: &'a str,
}

/// A random part of `cap`: full jitter.
fn jitter(cap: Duration) -> Duration {
    let random = getrandom::u64().unwrap_or(u64::MAX / 2);
    cap.mul_f64((random >> 11) as f64 / (1_u64 << 53) as f64)
}

/// When to reconnect ahead of an expiry `remaining` from now: between 85%
/// and 95% of the way there, so clients connected together spread out.
fn ahead_of(remaining: Duration) -> Duration {
    remaining.mul_f64(0.85) + jitter(remaining.mul_f64(0.1))
}

impl<'a> Session<'a> {
    pub fn new(
        conversation: Conversation,
        input: mpsc::Receiver<std::io::Result<String>>,
        options: ChatOptions<'_>,
        shown_url: &'a str,
    ) -> Self {
        Session {
            conversation,
            input,
            input_open: true,
            heartbeat: options.heartbeat,
            shown_url,
        }
    }

    /// Whether a lost connection is opened again: `chatstack.v1` only.
    pub fn reconnects(&self) -> bool {
        matches!(self.conversation, Conversation::Rooms(_))
    }

    /// A new connection is open: it has a new id and joins again.
    pub fn reconnected(&mut self) {
        if let Conversation::Rooms(rooms) = &mut self.conversation {
            rooms.reconnected();
        }
    }

    /// Runs one connection until it ends.
    pub async fn converse(
        &mut self,
        socket: Socket,
        out: &mut dyn Write,
    ) -> Result<Ended, ClientError> {
        let (mut sink, mut stream) = socket.split();
        let rooms = self.reconnects();
        if let Conversation::Rooms(rooms) = &self.conversation {
            send_all(&mut sink, rooms.joins()).await?;
        }
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + self.heartbeat, self.heartbeat);
        let beat = json!({"action": chat_contract::HEARTBEAT_ROUTE}).to_string();
        let mut reconnect_at: Option<Instant> = None;
        loop {
            let expiring = async {
                match reconnect_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = heartbeat.tick(), if rooms && self.input_open => {
                    send_all(&mut sink, vec![beat.clone()]).await?;
                }
                () = expiring, if self.input_open => {
                    let _ = sink.send(Message::Close(None)).await;
                    print_line(out, "* reconnecting ahead of the connection's time limit")?;
                    return Ok(Ended::Expiring);
                }
                frame = stream.next() => {
                    if let Some(ended) = self.receive(frame, &mut sink, out).await? {
                        return Ok(ended);
                    }
                    reconnect_at = reconnect_at.or_else(|| self.expiry());
                }
                line = self.input.recv(), if self.input_open => match line {
                    Some(Ok(line)) if line.trim().is_empty() => {}
                    Some(Ok(line)) => send_line(&mut self.conversation, &line, &mut sink, out).await?,
                    Some(Err(_)) | None => {
                        self.input_open = false;
                        let _ = sink.send(Message::Close(None)).await;
                    }
                },
            }
        }
    }

    /// When to reconnect, once the server said when it will close.
    fn expiry(&self) -> Option<Instant> {
        let Conversation::Rooms(rooms) = &self.conversation else {
            return None;
        };
        let expires_at_ms = rooms.expires_at_ms()?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            });
        let remaining = Duration::from_millis(expires_at_ms.saturating_sub(now_ms));
        Some(Instant::now() + ahead_of(remaining))
    }

    /// Shows what arrived and sends what it asks for; `Some` when the
    /// connection ended as asked, an `Err` saying why the server ended it.
    async fn receive(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        sink: &mut Sink,
        out: &mut dyn Write,
    ) -> Result<Option<Ended>, ClientError> {
        match frame {
            Some(Ok(Message::Text(text))) => {
                let received = self.conversation.receive(&text);
                for line in &received.lines {
                    print_line(out, &crate::terminal::visible(line))?;
                }
                send_all(sink, received.requests).await?;
            }
            Some(Ok(Message::Binary(bytes))) => {
                let text = String::from_utf8_lossy(&bytes);
                print_line(out, &format!("< {}", crate::terminal::visible(&text)))?;
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None if !self.input_open => {
                return Ok(Some(Ended::Quit));
            }
            Some(Ok(Message::Close(frame))) => {
                let why = frame
                    .map(|f| format!(" ({} {})", u16::from(f.code), f.reason))
                    .unwrap_or_default();
                return Err(ClientError::ClosedByServer(why));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(ClientError::Dropped(self.shown_url.to_owned())),
        }
        Ok(None)
    }
}

async fn send_all(sink: &mut Sink, bodies: Vec<String>) -> Result<(), ClientError> {
    for body in bodies {
        sink.send(Message::Text(body.into()))
            .await
            .map_err(|e| ClientError::Connection(e.to_string()))?;
    }
    Ok(())
}

/// Opens the next connection (`chatstack.v1`) after one ended, `why` (an
/// error) or ahead of its time limit (`None`, at once), trying `retries`
/// times with full-jitter waits (a random part of 1 s, 2 s, 4 s ... up to
/// 30 s); the last failure when none opens.
pub async fn reconnect(
    url: &str,
    shown_url: &str,
    options: ChatOptions<'_>,
    why: Option<ClientError>,
    out: &mut dyn Write,
) -> Result<Socket, ClientError> {
    let retries = options.retries;
    let connector = if url.starts_with("wss://") {
        Some(tls_connector()?)
    } else {
        None
    };
    let mut failure = why;
    for attempt in 0..retries.max(1) {
        if let Some(error) = &failure {
            let cap = MOST_WAIT.min(Duration::from_secs(1) * 2_u32.saturating_pow(attempt));
            let wait = jitter(cap);
            print_line(
                out,
                &format!(
                    "! {error}; reconnecting in {:.1} s (try {} of {retries})",
                    wait.as_secs_f64(),
                    attempt + 1
                ),
            )?;
            tokio::time::sleep(wait).await;
        }
        match open(url, options.token, connector.clone(), true).await {
            Ok(socket) => {
                print_line(out, &format!("* reconnected to {shown_url}"))?;
                return Ok(socket);
            }
            Err(error) => {
                failure = Some(ClientError::Connect {
                    url: shown_url.to_owned(),
                    reason: connect_failure(&error),
                });
            }
        }
    }
    Err(failure.unwrap_or_else(|| ClientError::Dropped(shown_url.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_jittered_under_their_cap_and_expiry_is_met_early() {
        let cap = Duration::from_secs(4);
        let waits: Vec<Duration> = (0..200).map(|_| jitter(cap)).collect();
        assert!(waits.iter().all(|w| *w < cap));
        let spread = waits
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*waits.iter().min().unwrap());
        assert!(spread > Duration::from_secs(2), "{spread:?}");
        let two_hours = Duration::from_secs(7200);
        for _ in 0..100 {
            let at = ahead_of(two_hours);
            assert!(
                at >= Duration::from_secs(6120) && at < Duration::from_secs(6840),
                "{at:?}"
            );
        }
    }
}
