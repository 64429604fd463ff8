//! The template's HTTP APIs (the notify endpoint) on a port of their own,
//! as API Gateway serves them on a host of their own: a route's request
//! becomes a payload 2.0 event for its function, an `AWS_IAM` route takes
//! only requests signed by the credentials `local` runs with (403
//! otherwise, as API Gateway answers), and the function's answer is the
//! response.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::Credentials;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::app::HttpRoute;
use super::events::{epoch_ms, request_time};
use super::runtime::{FunctionRuntime, InvokeError};
use crate::sigv4::{self, Request};

/// The HTTP API routes and what they need.
pub struct HttpApi {
    pub routes: BTreeMap<String, HttpRoute>,
    pub runtimes: BTreeMap<String, Arc<FunctionRuntime>>,
    /// What signatures are checked against; `None` refuses every signed route.
    pub credentials: Option<Credentials>,
    /// The region signatures must be scoped to.
    pub region: String,
    /// `127.0.0.1:PORT`, where API Gateway has the API's host.
    pub domain_name: String,
    pub log: mpsc::UnboundedSender<String>,
}

impl HttpApi {
    pub fn router(self) -> Router {
        Router::new().fallback(serve).with_state(Arc::new(self))
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

async fn serve(
    State(api): State<Arc<HttpApi>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route_key = format!("{method} {}", uri.path());
    let Some(route) = api.routes.get(&route_key) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let header_pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    if route.signed_only
        && let Some(refused) = refuse_unsigned(
            &api,
            &route_key,
            &method,
            path_and_query,
            &header_pairs,
            &body,
        )
    {
        return refused;
    }
    let Some(runtime) = api.runtimes.get(&route.function) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let event = event(
        &api,
        &route_key,
        &uri,
        &header_pairs,
        &body,
        peer.ip().to_string(),
    );
    let started = Instant::now();
    let result = runtime.invoke(event).await;
    let response = match &result {
        Ok(answer) => function_response(answer),
        Err(InvokeError::TimedOut(_)) => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Err(_) => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    };
    let outcome = match &result {
        Ok(_) => response.status().as_u16().to_string(),
        Err(error) => error.to_string(),
    };
    let _ = api.log.send(format!(
        "{route_key:<12} {outcome:<4} {:>5} ms  ({})",
        started.elapsed().as_millis(),
        runtime.name
    ));
    response
}

/// API Gateway's 403 for a request an `AWS_IAM` route does not take:
/// unsigned, or not signed by the credentials `local` runs with.
fn refuse_unsigned(
    api: &HttpApi,
    route_key: &str,
    method: &Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    let request = Request {
        method: method.as_str(),
        uri: path_and_query,
        headers,
        body,
    };
    let refusal = sigv4::check_request(
        request,
        api.credentials.as_ref(),
        &api.region,
        SystemTime::now(),
    )
    .err()?;
    let _ = api
        .log
        .send(format!("{route_key:<12} refused 403: {refusal}"));
    Some(message(StatusCode::FORBIDDEN, &refusal.to_string()))
}

/// The payload 2.0 event of one request.
fn event(
    api: &HttpApi,
    route_key: &str,
    uri: &Uri,
    headers: &[(&str, &str)],
    body: &[u8],
    source_ip: String,
) -> Value {
    // API Gateway joins repeated headers with commas, names in lower case.
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        joined
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| (*value).to_owned());
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = SystemTime::now();
    let request_id = super::ids::unique_hex();
    let user_agent = joined.get("user-agent").cloned().unwrap_or_default();
    let (method, path) = route_key.split_once(' ').unwrap_or(("", route_key));
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": api.domain_name,
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": epoch_ms(now),
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The function's answer as the response: its status, headers and body,
/// or, for an answer without a status code, the answer itself as JSON
/// with 200 (payload 2.0's rule).
fn function_response(answer: &Value) -> Response {
    let Some(status) = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| StatusCode::from_u16(u16::try_from(code).ok()?).ok())
    else {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    };
    let body = answer.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if answer.get("isBase64Encoded") == Some(&Value::Bool(true)) {
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(bytes) => bytes,
            Err(_) => return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = (status, body).into_response();
    if let Some(Value::Object(headers)) = answer.get("headers") {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(axum::http::HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}
