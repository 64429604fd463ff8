//! API Gateway WebSocket proxy events, in the shape Lambda receives them.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-mapping-template-reference.html>

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Milliseconds since the epoch.
pub(crate) fn epoch_ms(time: SystemTime) -> u64 {
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
    /// What the `$connect` authorizer returned (`principalId` and its
    /// context), which API Gateway passes on every route of the connection.
    pub authorizer: Option<Map<String, Value>>,
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

/// API Gateway's `requestTime`: `23/Nov/2026:14:02:58 +0000`.
pub(crate) fn request_time(time: SystemTime) -> String {
    // RFC 3339 in UTC: `2026-11-23T14:02:58Z`, rearranged.
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    let month = match &rfc3339[5..7] {
        "01" => "Jan",
        "02" => "Feb",
        "03" => "Mar",
        "04" => "Apr",
        "05" => "May",
        "06" => "Jun",
        "07" => "Jul",
        "08" => "Aug",
        "09" => "Sep",
        "10" => "Oct",
        "11" => "Nov",
        _ => "Dec",
    };
    format!(
        "{}/{month}/{}:{} +0000",
        &rfc3339[8..10],
        &rfc3339[0..4],
        &rfc3339[11..19]
    )
}

/// A header name as API Gateway presents it (`Sec-WebSocket-Key`, `Host`);
/// HTTP/1.1 servers see them lower-cased.
fn header_name(name: &str) -> String {
    const KNOWN: [&str; 7] = [
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
    ];
    if let Some(known) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return (*known).to_owned();
    }
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `key: value` pairs as `(single, multi)` maps: the last value of a
/// repeated key, and all of them in order.
fn single_and_multi(pairs: &[(String, String)]) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (key, value) in pairs {
        single.insert(key.clone(), json!(value));
        match multi.get_mut(key).and_then(Value::as_array_mut) {
            Some(values) => values.push(json!(value)),
            None => {
                multi.insert(key.clone(), json!([value]));
            }
        }
    }
    (single, multi)
}

fn request_context(
    context: &ConnectionContext,
    route_key: &str,
    event_type: &str,
    request_id: &str,
) -> Map<String, Value> {
    let now = SystemTime::now();
    let identity = context.identity();
    let context_of = context;
    let context = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
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
    let authorizer = context_of.authorizer.clone();
    match context {
        Value::Object(mut map) => {
            if let Some(authorizer) = authorizer {
                map.insert("authorizer".into(), Value::Object(authorizer));
            }
            map
        }
        _ => Map::new(),
    }
}

/// What the upgrade request brought: its headers and its query string.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// Names as received (any case).
    pub headers: Vec<(String, String)>,
    /// Decoded `key=value` pairs, in order.
    pub query: Vec<(String, String)>,
    pub port: u16,
}

/// `$connect`, with the upgrade request's headers (as API Gateway presents
/// them, with its `X-Forwarded-*` set) and query string parameters.
pub fn connect(context: &ConnectionContext, request: &UpgradeRequest, request_id: &str) -> Value {
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (header_name(name), value.clone()))
        .collect();
    headers.extend([
        ("X-Forwarded-For".to_owned(), context.source_ip.clone()),
        ("X-Forwarded-Port".to_owned(), request.port.to_string()),
        // Local serves plain ws://; API Gateway terminates TLS (https).
        ("X-Forwarded-Proto".to_owned(), "http".to_owned()),
    ]);
    let (single, multi) = single_and_multi(&headers);
    let mut event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": request_context(context, "$connect", "CONNECT", request_id),
        "isBase64Encoded": false,
    });
    // Absent, not empty, without a query string, as in API Gateway's events.
    if !request.query.is_empty() {
        let (single, multi) = single_and_multi(&request.query);
        event["queryStringParameters"] = Value::Object(single);
        event["multiValueQueryStringParameters"] = Value::Object(multi);
    }
    event
}

/// The event of a `REQUEST` authorizer on `$connect`: the upgrade request
/// as `$connect` gets it, with the ARN of the route being authorized.
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html>
pub fn authorizer_request(
    context: &ConnectionContext,
    request: &UpgradeRequest,
    request_id: &str,
) -> Value {
    let mut event = connect(context, request, request_id);
    event["type"] = json!("REQUEST");
    event["methodArn"] = json!(format!(
        "arn:aws:execute-api:{}:000000000000:{}/{}/$connect",
        super::LOCAL_REGION,
        context.api_id,
        context.stage
    ));
    event["stageVariables"] = json!({});
    if let Some(fields) = event.as_object_mut() {
        fields.remove("isBase64Encoded");
    }
    event
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
    // The headers API Gateway sends on $disconnect: not the client's, which
    // may be long gone, but these, mostly empty.
    json!({
        "headers": {
            "Host": context.domain_name,
            "x-api-key": "",
            "X-Forwarded-For": "",
            "x-restapi": "",
        },
        "multiValueHeaders": {
            "Host": [context.domain_name],
            "x-api-key": [""],
            "X-Forwarded-For": [""],
            "x-restapi": [""],
        },
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
            authorizer: None,
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
    fn request_time_is_in_api_gateways_format() {
        let time = humantime::parse_rfc3339("2026-11-23T14:22:58.250Z").unwrap();
        assert_eq!(request_time(time), "23/Nov/2026:14:22:58 +0000");
        let time = humantime::parse_rfc3339("2027-01-05T03:04:05Z").unwrap();
        assert_eq!(request_time(time), "05/Jan/2027:03:04:05 +0000");
        let rc = &message(&context(), "r", "b", "id")["requestContext"];
        let text = rc["requestTime"].as_str().unwrap();
        assert_eq!(text.len(), "23/Nov/2026:14:22:58 +0000".len(), "{text}");
        assert!(text.ends_with(" +0000"), "{text}");
    }

    #[test]
    fn connect_events_carry_the_query_and_headers_as_api_gateway_sends_them() {
        let request = UpgradeRequest {
            headers: vec![
                ("host".into(), "127.0.0.1:8080".into()),
                ("sec-websocket-key".into(), "k==".into()),
                ("user-agent".into(), "test".into()),
            ],
            query: vec![
                ("token".into(), "a b".into()),
                ("room".into(), "1".into()),
                ("room".into(), "2".into()),
            ],
            port: 8080,
        };
        let event = connect(&context(), &request, "r0");
        let headers = &event["headers"];
        assert_eq!(headers["Host"], "127.0.0.1:8080");
        assert_eq!(headers["Sec-WebSocket-Key"], "k==");
        assert_eq!(headers["User-Agent"], "test");
        assert_eq!(headers["X-Forwarded-For"], "127.0.0.1");
        assert_eq!(headers["X-Forwarded-Port"], "8080");
        assert_eq!(headers["X-Forwarded-Proto"], "http");
        assert_eq!(
            event["multiValueHeaders"]["Host"],
            json!(["127.0.0.1:8080"])
        );
        assert_eq!(event["queryStringParameters"]["token"], "a b");
        assert_eq!(event["queryStringParameters"]["room"], "2");
        assert_eq!(
            event["multiValueQueryStringParameters"]["room"],
            json!(["1", "2"])
        );
        let bare = connect(&context(), &UpgradeRequest::default(), "r1");
        assert!(bare.get("queryStringParameters").is_none());
    }

    #[test]
    fn disconnect_events_say_why() {
        let event = disconnect(&context(), 1001, "Going away", "r2");
        assert_eq!(event["requestContext"]["eventType"], "DISCONNECT");
        assert_eq!(event["headers"]["x-api-key"], "");
        assert_eq!(event["headers"]["Host"], "127.0.0.1:8080");
        assert_eq!(event["requestContext"]["disconnectStatusCode"], 1001);
    }
}
