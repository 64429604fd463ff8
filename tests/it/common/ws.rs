//! WebSocket clients as the tests drive them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, within 10 s (pings and pongs passed over).
pub async fn receive(client: &mut Client) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return text.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// A client that asks for `chatstack.v1`; `local` must select it.
pub async fn connect_v1(url: &str) -> Client {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(chat_contract::SUBPROTOCOL),
    );
    let (client, response) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(
        response.headers().get("sec-websocket-protocol"),
        Some(&HeaderValue::from_static(chat_contract::SUBPROTOCOL))
    );
    client
}

pub async fn send(client: &mut Client, body: Value) {
    client
        .send(Message::Text(body.to_string().into()))
        .await
        .unwrap();
}

/// The next frame, parsed: every frame a v1 client gets is JSON.
pub async fn frame(client: &mut Client) -> Value {
    let text = receive(client).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A client whose `Sec-WebSocket-Protocol` is `offered`: the connection and
/// the protocol the server selected, or why the handshake failed.
pub async fn connect_offering(
    url: &str,
    offered: &str,
) -> Result<(Client, Option<String>), String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(offered).map_err(|e| e.to_string())?,
    );
    let (client, response) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let selected = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Ok((client, selected))
}
