//! What the user reads first: where everything is, and how to connect.

use std::net::SocketAddr;
use std::path::Path;

use super::app::LocalApp;
use super::process::FunctionPool;
use super::servers::HttpApiServer;
use super::services::{self, LocalServices};
use super::{queues, schedules};

/// How a client gets a token on this run's stage.
pub(super) enum SignIn<'a> {
    /// Open: no token.
    Open,
    /// The run's secret, in this file, signs tokens.
    Secret(&'a Path),
    /// The stage's own user pool, in moto; its file is in this run directory.
    Pool(&'a Path),
    /// An identity provider, this issuer.
    Issuer(&'a str),
}

/// What the user reads first: the URLs, DynamoDB, each process and its log.
pub(super) fn banner(
    stage: &str,
    address: SocketAddr,
    services: &LocalServices,
    app: &LocalApp,
    pools: &[FunctionPool],
    push: &[String],
    sign_in: &SignIn,
) -> String {
    let tables: Vec<&str> = app.tables.iter().map(|t| t.name.as_str()).collect();
    let mut lines = vec![
        format!("chatstack local: stage {stage}"),
        format!("  Chat page:       http://{address}/"),
        format!("  WebSocket URL:   ws://{address}/{stage}"),
        format!("  Management API:  http://{address}/{stage}/@connections/{{connectionId}}"),
    ];
    lines.extend(push.iter().cloned());
    lines.extend([
        format!(
            "  DynamoDB:        {} ({}), tables {}",
            services.endpoint,
            services.describe(),
            tables.join(", ")
        ),
        format!(
            "  Credentials:     {} (the handlers' key; AWS CLI: AWS_SHARED_CREDENTIALS_FILE=<it> aws --profile {} --region {} --endpoint-url {} ...)",
            services.credentials_file.display(),
            services::CREDENTIALS_PROFILE,
            services.region,
            services.moto_endpoint
        ),
    ]);
    for pool in pools {
        lines.push(format!(
            "  function {:<12} pid {:<7} log {}",
            pool.name,
            pool.pids().join(","),
            pool.log.display()
        ));
    }
    if let Some(dir) = pools.first().and_then(|pool| pool.log.parent()) {
        lines.push(format!(
            "Read the logs with: chatstack logs --local {} --follow",
            dir.display()
        ));
    }
    // A stage with tokens refuses a bare connection (403): say how to get one.
    let url = format!("ws://{address}/{stage}");
    lines.extend(match sign_in {
        SignIn::Open => vec![format!("Connect with: chatstack chat {url}")],
        SignIn::Secret(file) => vec![format!(
            "Connect with: chatstack chat {url} --token \"$(chatstack token --secret-file {} --user you)\"",
            file.display()
        )],
        SignIn::Pool(dir) => vec![
            format!(
                "  Users:           the stage's user pool runs in moto: chatstack users add --local {} NAME (asks for a password)",
                dir.display()
            ),
            format!(
                "Connect with: chatstack chat {url} --token \"$(chatstack token --local {} --user NAME)\"",
                dir.display()
            ),
        ],
        SignIn::Issuer(issuer) => vec![format!(
            "Connect with: chatstack chat {url} --token TOKEN (an ID token of {issuer}; the authorizer reads its keys from there)"
        )],
    });
    lines.push("Press Ctrl-C to stop.".to_owned());
    lines.join("\n")
}

/// The banner's lines for what the stage's settings add.
pub(super) fn push_lines(
    notify: Option<&HttpApiServer>,
    schedules: &schedules::Schedules,
    event_sources: &queues::EventSources,
    secret_file: Option<&Path>,
) -> Vec<String> {
    notify
        .map(|n| n.described.clone())
        .into_iter()
        .chain(schedules.described.iter().cloned())
        .chain(event_sources.described.iter().cloned())
        .chain(secret_file.map(|path| {
            format!(
                "  Tokens:          chatstack token --secret-file {} --user NAME (then ?token=...)",
                path.display()
            )
        }))
        .collect()
}
