//! The listeners local serves on loopback besides the Runtime APIs and
//! moto's guard: the gateway with the management API and the chat page,
//! and the notify endpoint.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::app::LocalApp;
use super::gateway::{self, Gateway};
use super::runtime::FunctionRuntime;
use super::services::LocalServices;
use super::{LOCAL_REGION, LocalError, http_api, io_error};

/// Serves the WebSocket gateway, the management API and the chat page on
/// `listener` until aborted.
pub(super) fn serve_gateway(
    listener: tokio::net::TcpListener,
    gateway: &Arc<Gateway>,
    address: SocketAddr,
    stage: &str,
) -> tokio::task::JoinHandle<io::Result<()>> {
    let page = crate::web::PageConfig {
        url: format!("ws://{address}/{stage}"),
        token_required: gateway.app.connect_authorizer.is_some(),
        max_frame_bytes: gateway.limits.max_frame_bytes,
        reply_prefixes: crate::web::ReplyPrefixes::of_this_version(),
        heartbeat_seconds: chat_contract::heartbeat_seconds(gateway.limits.idle_timeout.as_secs()),
    };
    let router = crate::loopback::own_host_only(
        gateway.router().merge(crate::web::router(page)),
        address.port(),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
}

/// Who may use the gateway: the handlers' credentials and region sign
/// management API calls; browsers may connect from the gateway's own page
/// and the origins the user allowed.
pub(super) fn gateway_access(
    services: &LocalServices,
    port: u16,
    allowed_origins: &[String],
) -> gateway::Access {
    gateway::Access {
        management_signer: gateway::ManagementSigner {
            credentials: services.credentials.clone(),
            region: services.region.clone(),
        },
        allowed_origins: crate::loopback::page_origins(port)
            .into_iter()
            .chain(allowed_origins.iter().cloned())
            .collect(),
    }
}

/// The HTTP APIs' server (the notify endpoint), when the template has one.
pub(super) struct HttpApiServer {
    pub(super) server: tokio::task::JoinHandle<()>,
    /// Its line in the banner.
    pub(super) described: String,
}

pub(super) async fn serve_http_apis(
    app: &LocalApp,
    runtimes: &BTreeMap<String, Arc<FunctionRuntime>>,
    log: &mpsc::UnboundedSender<String>,
    port: u16,
) -> Result<Option<HttpApiServer>, LocalError> {
    if app.http_routes.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(io_error(format!(
            "listening for the notify endpoint on 127.0.0.1:{port} (choose another with --notify-port)"
        )))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the listening address"))?;
    let (credentials, region) = signing_credentials().await;
    let described = banner_line(app, address, credentials.as_ref(), &region);
    let router = http_api::HttpApi {
        routes: app.http_routes.clone(),
        runtimes: runtimes.clone(),
        credentials,
        region,
        domain_name: address.to_string(),
        log: log.clone(),
    }
    .router();
    let router = crate::loopback::own_host_only(router, address.port());
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(Some(HttpApiServer { server, described }))
}

/// The endpoint's line in the banner: its URLs, and whose signatures it
/// takes.
fn banner_line(
    app: &LocalApp,
    address: SocketAddr,
    credentials: Option<&aws_credential_types::Credentials>,
    region: &str,
) -> String {
    let checked_against = match credentials {
        Some(credentials) => format!(
            "requests must be signed with access key {} for {region}",
            credentials.access_key_id()
        ),
        None => "no AWS credentials found to check signatures: every request is refused".to_owned(),
    };
    let urls: Vec<String> = app
        .http_routes
        .keys()
        .map(|key| {
            let path = key.split_once(' ').map_or(key.as_str(), |(_, path)| path);
            format!("http://{address}{path}")
        })
        .collect();
    format!("  Notify URL:      {} ({checked_against})", urls.join(", "))
}

/// The credentials and region the user's AWS configuration resolves to:
/// an `AWS_IAM` route takes requests signed with them for that region (the
/// user calling their own local API, as `chatstack notify --url` signs), as
/// API Gateway takes those of a principal allowed to call it, scoped to the
/// API's region. No region configured: [`LOCAL_REGION`].
async fn signing_credentials() -> (Option<aws_credential_types::Credentials>, String) {
    use aws_credential_types::provider::ProvideCredentials;
    let resolve = async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::aws::https_client())
            .load()
            .await;
        let region = config
            .region()
            .map_or_else(|| LOCAL_REGION.to_owned(), |r| r.to_string());
        let credentials = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.ok(),
            None => None,
        };
        (credentials, region)
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), resolve)
        .await
        .unwrap_or_else(|_| (None, LOCAL_REGION.to_owned()))
}
