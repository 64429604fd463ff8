//! The chat page: one HTML file (`src/web/chat.html`, plain JavaScript, no
//! build step, nothing fetched from elsewhere) embedded in the binary,
//! served by `chatstack local` and `chatstack web` already pointed at a
//! stage's WebSocket URL.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("web/chat.html");
const CONFIG_PLACEHOLDER: &str = "__CHATSTACK_CONFIG__";

/// Where the page connects, and whether it asks for a token.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    pub url: String,
    pub token_required: bool,
    /// API Gateway's frame limit: the page refuses a larger message
    /// before sending it.
    pub max_frame_bytes: usize,
    /// How the functions' replies to a sender begin (chat-contract): the
    /// page shows them apart from chat messages.
    pub reply_prefixes: ReplyPrefixes,
    /// How often the page sends a heartbeat
    /// ([`chat_contract::heartbeat_seconds`] of the idle timeout).
    pub heartbeat_seconds: u64,
}

/// The prefixes of the replies a sender gets, by how the page shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplyPrefixes {
    /// `$default`'s usage: a system line.
    pub system: Vec<&'static str>,
    /// A message refused or a broadcast maybe incomplete: an error line.
    pub error: Vec<&'static str>,
}

impl ReplyPrefixes {
    pub fn of_this_version() -> Self {
        ReplyPrefixes {
            system: vec![chat_contract::USAGE_REPLY_PREFIX],
            error: vec![
                chat_contract::NOT_SENT_REPLY_PREFIX,
                chat_contract::INCOMPLETE_REPLY_PREFIX,
            ],
        }
    }
}

/// What the page is given: its config, and the protocol's names it
/// speaks (chat-contract's, so the page cannot drift from the functions).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PageData<'a> {
    #[serde(flatten)]
    config: &'a PageConfig,
    subprotocol: &'static str,
    token_subprotocol_prefix: &'static str,
    default_room: &'static str,
    heartbeat_route: &'static str,
    history_route: &'static str,
}

/// The page with `config` in it. The JSON sits in a data block; `<` is
/// escaped so no value can end the element.
pub fn page(config: &PageConfig) -> String {
    let data = PageData {
        config,
        subprotocol: chat_contract::SUBPROTOCOL,
        token_subprotocol_prefix: chat_contract::TOKEN_SUBPROTOCOL_PREFIX,
        default_room: chat_contract::DEFAULT_ROOM,
        heartbeat_route: chat_contract::HEARTBEAT_ROUTE,
        history_route: chat_contract::HISTORY_ROUTE,
    };
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace('<', "\\u003c");
    PAGE.replacen(CONFIG_PLACEHOLDER, &json, 1)
}

/// The origin (`scheme://host[:port]`) of a WebSocket URL the page may
/// connect to: wss://, or ws:// to loopback only.
fn connectable_origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    match parsed.scheme() {
        "wss" => {}
        "ws" if crate::loopback::is_loopback_host(host) => {}
        _ => return None,
    }
    Some(parsed.origin().ascii_serialization())
}

/// The page's Content-Security-Policy: its own inline script and style
/// (by hash and inline style), WebSocket connections to `origins` only,
/// and nothing else.
fn content_security_policy(origins: &[String]) -> String {
    let script = PAGE
        .rsplit_once("<script>")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(script, _)| script);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script));
    let connect = if origins.is_empty() {
        "'none'".to_owned()
    } else {
        origins.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src {connect}; img-src 'none'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// Where the page served for `query` may connect: the `configured`
/// origin and that of a `?url=` (which the page uses only once the user
/// accepts its host).
fn allowed_origins(configured: Option<&str>, query: Option<&str>) -> Vec<String> {
    let asked = query.and_then(|query| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "url")
            .and_then(|(_, url)| connectable_origin(&url))
    });
    let mut origins: Vec<String> = configured
        .map(str::to_owned)
        .into_iter()
        .chain(asked)
        .collect();
    origins.dedup();
    origins
}

/// `GET /`: the page.
pub fn router(config: PageConfig) -> Router {
    let body = page(&config);
    let configured = connectable_origin(&config.url);
    Router::new().route(
        "/",
        get(move |RawQuery(query): RawQuery| async move {
            let origins = allowed_origins(configured.as_deref(), query.as_deref());
            let policy = content_security_policy(&origins);
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                    (header::CONTENT_SECURITY_POLICY, policy),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                ],
                body,
            )
                .into_response()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_embedded_and_cannot_close_its_element() {
        let html = page(&PageConfig {
            url: "ws://127.0.0.1:8080/dev</script><script>alert(1)".to_owned(),
            token_required: true,
            max_frame_bytes: chat_contract::MAX_FRAME_BYTES,
            reply_prefixes: ReplyPrefixes::of_this_version(),
            heartbeat_seconds: chat_contract::HEARTBEAT_SECONDS,
        });
        assert!(!html.contains(CONFIG_PLACEHOLDER));
        assert!(html.contains(r#""tokenRequired":true"#));
        assert!(html.contains(
            r#""subprotocol":"chatstack.v1","tokenSubprotocolPrefix":"chatstack.token.","defaultRoom":"general""#
        ));
        assert!(!html.contains("</script><script>alert"));
        assert_eq!(html.matches("</script>").count(), 2);
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_script() {
        let policy = content_security_policy(&[]);
        assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(!policy.contains("script-src 'unsafe-inline'"));
        assert!(policy.contains("connect-src 'none';"));
    }

    #[test]
    fn the_page_connects_only_to_the_configured_origin_and_an_asked_secure_one() {
        let config = PageConfig {
            url: "wss://abc.execute-api.eu-west-1.amazonaws.com/prod".to_owned(),
            token_required: true,
            max_frame_bytes: chat_contract::MAX_FRAME_BYTES,
            reply_prefixes: ReplyPrefixes::of_this_version(),
            heartbeat_seconds: chat_contract::HEARTBEAT_SECONDS,
        };
        let configured = "wss://abc.execute-api.eu-west-1.amazonaws.com";
        let origin = connectable_origin(&config.url);
        let allowed = |query| allowed_origins(origin.as_deref(), query);
        assert_eq!(allowed(None), [configured]);
        assert_eq!(
            allowed(Some("url=wss%3A%2F%2Fother.example%3A8443%2Fdev")),
            [configured, "wss://other.example:8443"]
        );
        // Unencrypted to another machine, or not a WebSocket: never.
        for refused in [
            "url=ws%3A%2F%2Fother.example%2Fdev",
            "url=https%3A%2F%2Fx.example",
            "url=nonsense",
        ] {
            assert_eq!(allowed(Some(refused)), [configured], "{refused}");
        }
        let local = PageConfig {
            url: "ws://127.0.0.1:8080/dev".to_owned(),
            ..config
        };
        let local_origin = connectable_origin(&local.url);
        assert_eq!(
            allowed_origins(local_origin.as_deref(), None),
            ["ws://127.0.0.1:8080"]
        );
        let policy = content_security_policy(&allowed_origins(local_origin.as_deref(), None));
        assert!(
            policy.contains("connect-src ws://127.0.0.1:8080;"),
            "{policy}"
        );
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the stack of stage {stage} has no WebSocketUrl output: is it a chatstack stage?")]
    NoUrl { stage: String },
    #[error(transparent)]
    Outputs(#[from] crate::aws::OutputsError),
    #[error("could not serve the page on {address}: {source}")]
    Serve {
        address: String,
        source: std::io::Error,
    },
}

/// The page of a deployed stage: its `WebSocketUrl`, and a token field
/// when the stage requires tokens (it has a `TokenSecretArn` or an
/// `OidcIssuer` output).
pub async fn deployed_page<C: crate::aws::StackReader>(
    cloud: &C,
    stage: &crate::chat::StageName,
) -> Result<PageConfig, WebError> {
    let outputs = crate::aws::stage_outputs(cloud, stage).await?;
    let output = |key: &str| crate::aws::output_value(&outputs, key).map(str::to_owned);
    Ok(PageConfig {
        // The custom domain's, when the stage has one: what people type.
        url: output(crate::chat::DOMAIN_URL_OUTPUT)
            .or_else(|| output(crate::chat::WEBSOCKET_URL_OUTPUT))
            .ok_or_else(|| WebError::NoUrl {
                stage: stage.to_string(),
            })?,
        token_required: output(crate::chat::TOKEN_SECRET_OUTPUT).is_some()
            || output(crate::chat::OIDC_ISSUER_OUTPUT).is_some(),
        max_frame_bytes: chat_contract::MAX_FRAME_BYTES,
        reply_prefixes: ReplyPrefixes::of_this_version(),
        heartbeat_seconds: chat_contract::HEARTBEAT_SECONDS,
    })
}
