//! API Gateway WebSocket proxy events, in the shape Lambda receives them.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html>

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Milliseconds since the epoch.
pub fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// What every event of one connection shares.
#[derive(Debug, Clone)]
pub struct ConnectionContext {
    pub connection_id: String,
    pub connected_at: SystemTime,
    pub api_id: String,
    pub stage: String,
    /// `127.0.0.1:PORT`, where API Gateway has `{api}.execute-api.{region}.amazonaws.com`.
    pub domain_name: String,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

impl ConnectionContext {
    /// `{"sourceIp": ..., "userAgent": ...}`, as events and GetConnection give it.
    pub fn identity(&self) -> Value {
        let mut identity = json!({"sourceIp": self.source_ip});
        if let Some(agent) = &self.user_agent {
            identity["userAgent"] = json!(agent);
        }
        identity
    }
}

fn request_context(
    context: &ConnectionContext,
    route_key: &str,
    event_type: &str,
    request_id: &str,
) -> Map<String, Value> {
    let now = SystemTime::now();
    let identity = context.identity();
    let context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": humantime::format_rfc3339_millis(now).to_string(),
        "messageDirection": "IN",
        "stage": context.stage,
        "connectedAt": epoch_ms(context.connected_at),
        "requestTimeEpoch": epoch_ms(now),
        "identity": identity,
        "requestId": request_id,
        "domainName": context.domain_name,
        "connectionId": context.connection_id,
        "apiId": context.api_id,
    });
    match context {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `$connect`, with the upgrade request's headers.
pub fn connect(
    context: &ConnectionContext,
    headers: &[(String, String)],
    request_id: &str,
) -> Value {
    let single: Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let multi: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": request_context(context, "$connect", "CONNECT", request_id),
        "isBase64Encoded": false,
    })
}

/// A message routed to `route_key`.
pub fn message(
    context: &ConnectionContext,
    route_key: &str,
    body: &str,
    request_id: &str,
) -> Value {
    let mut request_context = request_context(context, route_key, "MESSAGE", request_id);
    request_context.insert("messageId".into(), json!(request_id));
    json!({
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": false,
    })
}

/// `$disconnect`, with the close code and reason.
pub fn disconnect(
    context: &ConnectionContext,
    status_code: u16,
    reason: &str,
    request_id: &str,
) -> Value {
    let mut request_context = request_context(context, "$disconnect", "DISCONNECT", request_id);
    request_context.insert("disconnectStatusCode".into(), json!(status_code));
    request_context.insert("disconnectReason".into(), json!(reason));
    json!({
        "headers": {"Host": context.domain_name},
        "multiValueHeaders": {"Host": [context.domain_name]},
        "requestContext": request_context,
        "isBase64Encoded": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> ConnectionContext {
        ConnectionContext {
            connection_id: "abc=".into(),
            connected_at: UNIX_EPOCH + std::time::Duration::from_millis(1_795_323_000_000),
            api_id: "local".into(),
            stage: "dev".into(),
            domain_name: "127.0.0.1:8080".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test".into()),
        }
    }

    #[test]
    fn message_events_carry_what_handlers_read() {
        let event = message(
            &context(),
            "sendmessage",
            r#"{"action":"sendmessage"}"#,
            "r1",
        );
        let rc = &event["requestContext"];
        assert_eq!(rc["routeKey"], "sendmessage");
        assert_eq!(rc["eventType"], "MESSAGE");
        assert_eq!(rc["connectionId"], "abc=");
        assert_eq!(rc["connectedAt"], 1_795_323_000_000u64);
        assert_eq!(rc["apiId"], "local");
        assert_eq!(rc["stage"], "dev");
        assert_eq!(rc["messageDirection"], "IN");
        assert!(rc["requestTimeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
        assert_eq!(event["body"], r#"{"action":"sendmessage"}"#);
    }

    #[test]
    fn disconnect_events_say_why() {
        let event = disconnect(&context(), 1001, "Going away", "r2");
        assert_eq!(event["requestContext"]["eventType"], "DISCONNECT");
        assert_eq!(event["requestContext"]["disconnectStatusCode"], 1001);
    }
}
