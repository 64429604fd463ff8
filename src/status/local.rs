//! `chatstack status --local`: what applies of a stage's status to a
//! `chatstack local` run (it has no stack, alarms or metrics): whether it
//! runs, the connections open, the fan-out backlog and dead letters, and
//! the last errors the functions logged. The run writes where its services
//! are to [`RUN_FILE`] in its directory.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{ErrorLine, Fanout, HOUR_MS, MOST_ERRORS, StatusError};
use crate::local::services::{RUN_FILE, RunFile};
use crate::logs::LogSource;
use crate::logs::local::LocalLogs;

/// A local run's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalReport {
    pub run_dir: PathBuf,
    pub stage: String,
    /// Whether the run still answers.
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<Fanout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorLine>>,
    pub unavailable: BTreeMap<String, String>,
}

/// Whether something listens at `url`'s host and port (a second at most).
async fn answers(url: &str) -> bool {
    let address = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/');
    tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(address),
    )
    .await
    .is_ok_and(|connected| connected.is_ok())
}

/// Reads the run in `dir`.
pub async fn gather_local(dir: &Path, now_ms: i64) -> Result<LocalReport, StatusError> {
    let path = dir.join(RUN_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        StatusError::Local(format!(
            "no chatstack local run found at {} ({e}): start one with `chatstack local`, or name \
             a run's directory (the one its banner shows) with --local DIR",
            dir.display()
        ))
    })?;
    let run: RunFile = serde_json::from_str(&text)
        .map_err(|e| StatusError::Local(format!("{}: {e}", path.display())))?;
    let mut unavailable = BTreeMap::new();
    let running = answers(&run.moto_endpoint).await;
    let (mut connections, mut fanout) = (None, None);
    if running {
        match services(dir, &run).await {
            Ok((count, queues)) => {
                connections = Some(count);
                fanout = queues;
            }
            Err(reason) => {
                unavailable.insert("services".to_owned(), reason);
            }
        }
    } else {
        unavailable.insert(
            "services".to_owned(),
            "the run has ended: its tables and queues went with it".to_owned(),
        );
    }
    let logs =
        LocalLogs::find(Some(dir.to_owned())).map_err(|e| StatusError::Local(e.to_string()))?;
    let errors = match logs.function_logs().await {
        Ok(functions) => super::recent_errors(&logs, &functions, now_ms - HOUR_MS, MOST_ERRORS)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    let errors = match errors {
        Ok(errors) => Some(errors),
        Err(reason) => {
            unavailable.insert("errors".to_owned(), reason);
            None
        }
    };
    Ok(LocalReport {
        run_dir: dir.to_owned(),
        stage: run.stage,
        running,
        connections,
        fanout,
        errors,
        unavailable,
    })
}

/// The connections table's count and the fan-out queues' depths, read
/// with the run's key.
async fn services(dir: &Path, run: &RunFile) -> Result<(u64, Option<Fanout>), String> {
    let credentials_file = dir.join(crate::local::services::CREDENTIALS_FILE);
    let credentials = crate::local::services::read_credentials_file(&credentials_file).await?;
    let dynamodb =
        crate::local::dynamo::client(&run.dynamodb_endpoint, credentials.clone(), &run.region);
    let mut count = 0;
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(&run.connections_table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("counting the connections: {}", crate::aws::error_chain(&e)))?;
        count += u64::try_from(page.count()).unwrap_or(0);
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }
    let (Some(queue), Some(dead_letters)) = (&run.fanout_queue, &run.dead_letter_queue) else {
        return Ok((count, None));
    };
    let config =
        crate::local::dynamo::moto_config(&run.moto_endpoint, &run.region, &credentials).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let depth = async |url: &str| {
        super::aws::approximate_messages(&sqs, url)
            .await
            .map_err(|e| {
                format!(
                    "reading the fan-out queues: {}",
                    crate::aws::error_chain(&e)
                )
            })
    };
    let fanout = Fanout {
        backlog: depth(queue).await?,
        dead_letters: depth(dead_letters).await?,
    };
    Ok((count, Some(fanout)))
}

/// The local report as text.
pub fn write_local_text(out: &mut dyn Write, report: &LocalReport) -> io::Result<()> {
    writeln!(
        out,
        "Local run of stage {} in {}: {}",
        report.stage,
        report.run_dir.display(),
        if report.running { "running" } else { "ended" }
    )?;
    if let Some(connections) = report.connections {
        writeln!(out, "Connections open: {connections}")?;
    }
    if let Some(fanout) = &report.fanout {
        writeln!(
            out,
            "Fan-out: {} jobs waiting, {} dead letters",
            fanout.backlog, fanout.dead_letters
        )?;
    }
    if let Some(errors) = &report.errors {
        super::write_errors(out, errors)?;
    }
    for (part, reason) in &report.unavailable {
        writeln!(out, "({part}: {})", crate::terminal::visible(reason))?;
    }
    Ok(())
}
