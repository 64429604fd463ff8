//! What the listeners chatstack opens on 127.0.0.1 check before anything
//! else (`local`'s gateway, notify endpoint, Runtime APIs and services;
//! `chatstack web`'s page). Loopback is not private: every web page the
//! user's browser shows can send requests there, and so can every other
//! user of the machine.
//!
//! - `Host` must name loopback and the listener's own port: a page that
//!   rebinds a name of its own to 127.0.0.1 (DNS rebinding) sends its own
//!   name, and is refused before it reaches any route.
//! - A browser's WebSocket carries the page's `Origin`, which browsers do
//!   not let pages forge: the gateway takes only its own page's (and those
//!   the user allows), so another site cannot open a connection in the
//!   user's name (cross-site WebSocket hijacking).

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether a host (a URL's, an IPv6 address in brackets) is this machine.
pub use chat_contract::is_loopback_host;

/// Whether a `Host` header names loopback and `port`.
pub fn is_own_host(host_header: &str, port: u16) -> bool {
    let Some((host, named_port)) = host_header.rsplit_once(':') else {
        return false;
    };
    named_port.parse() == Ok(port) && is_loopback_host(host)
}

/// `router` refusing (403) any request whose `Host` is not loopback at
/// `port`, before routing.
pub fn own_host_only(router: Router, port: u16) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| check_host(request, next, port),
    ))
}

async fn check_host(request: Request, next: Next, port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    match host {
        Some(host) if is_own_host(host, port) => next.run(request).await,
        _ => (
            StatusCode::FORBIDDEN,
            "Forbidden: this loopback service answers only requests for its own address",
        )
            .into_response(),
    }
}

/// The origins a browser gives the page served at loopback `port`.
pub fn page_origins(port: u16) -> Vec<String> {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|host| format!("http://{host}:{port}"))
        .collect()
}

/// Whether a connection with `origin` (its `Origin` header, if any) may
/// open: no `Origin` is a client that is not a browser (wscat, chatstack
/// chat), which no web page can make the browser be; otherwise the origin
/// must be one of `allowed` exactly (scheme, host and port).
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    match origin {
        None => true,
        Some(origin) => {
            let origin = origin.trim_end_matches('/');
            allowed.iter().any(|allowed| allowed == origin)
        }
    }
}

/// An `--allow-origin` value checked: `scheme://host[:port]`, nothing
/// after it, as browsers send it.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim_end_matches('/');
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or_else(|| format!("{text:?} is not an origin: write it as http://HOST:PORT"))?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@'])
    {
        return Err(format!(
            "{text:?} is not an origin: write it as http://HOST:PORT or https://HOST, with no path"
        ));
    }
    Ok(origin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_and_the_own_port_pass() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "127.1.2.3:8080",
        ] {
            assert!(is_own_host(host, 8080), "{host}");
        }
        for host in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "evil.example:8080",
            "127.0.0.1.evil.example:8080",
            "localhost.evil.example:8080",
            "10.0.0.1:8080",
            "",
        ] {
            assert!(!is_own_host(host, 8080), "{host}");
        }
    }

    #[test]
    fn browsers_must_come_from_an_allowed_origin() {
        let allowed = page_origins(8080);
        assert!(origin_allowed(None, &allowed));
        assert!(origin_allowed(Some("http://127.0.0.1:8080"), &allowed));
        assert!(origin_allowed(Some("http://localhost:8080"), &allowed));
        for foreign in [
            "https://evil.example",
            "http://127.0.0.1:3000",
            "null",
            "http://127.0.0.1:8080.evil.example",
        ] {
            assert!(!origin_allowed(Some(foreign), &allowed), "{foreign}");
        }
    }

    #[test]
    fn allowed_origins_are_parsed_as_browsers_send_them() {
        assert_eq!(
            parse_origin("http://localhost:3000/"),
            Ok("http://localhost:3000".to_owned())
        );
        for bad in ["localhost:3000", "ftp://x", "http://x/app", "http://"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
