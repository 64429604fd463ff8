//! What the user reads first: where everything is, and how to connect.

use std::net::SocketAddr;
use std::path::Path;

use super::app::LocalApp;
use super::process::FunctionPool;
use super::servers::HttpApiServer;
use super::services::{self, LocalServices};
use super::{queues, schedules};

/// What the user reads first: the URLs, DynamoDB, each process and its log.
pub(super) fn banner(
    stage: &str,
    address: SocketAddr,
    services: &LocalServices,
    app: &LocalApp,
    pools: &[FunctionPool],
    push: &[String],
    secret_file: Option<&Path>,
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
    // A stage with tokens refuses a bare connection (401): mint one.
    lines.push(match secret_file {
        Some(file) => format!(
            "Connect with: chatstack chat ws://{address}/{stage} --token \"$(chatstack token --secret-file {} --user you)\"",
            file.display()
        ),
        None => format!("Connect with: chatstack chat ws://{address}/{stage}"),
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
