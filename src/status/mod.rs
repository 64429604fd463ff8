//! `chatstack status`: a stage on one screen. The stack's status and
//! outputs, its alarms and their state, the last hour's connections,
//! messages and errors (CloudWatch metrics), the fan-out backlog and dead
//! letters, and the last errors the functions logged. Each part is read on
//! its own: one the caller may not read (or that fails) is said in its
//! place and the others still show. Reading goes through [`StatusSource`]
//! ([`aws::AwsStatus`] in AWS, a fake in tests); [`local`] is the same for
//! a `chatstack local` run, where it applies.

pub mod aws;
pub mod local;

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::aws::CloudError;
use crate::chat::{
    FANOUT_DEAD_LETTERS_ID, FANOUT_QUEUE_ID, FUNCTIONS, FunctionSpec, LambdaFunction, StageName,
    WEBSOCKET_API_ID, alarm_prefix,
};
use crate::logs::cloudwatch::function_logs_of;
use crate::logs::{EventQuery, FunctionLog, LogSource, ReadError};

/// A stack as `status` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    /// Milliseconds since the epoch: its last update, else its creation.
    pub updated_ms: Option<i64>,
    pub outputs: Vec<(String, String)>,
    /// Logical id, physical id and type of each resource.
    pub resources: Vec<(String, String, String)>,
}

/// An alarm and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmInfo {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    /// When it last changed state (RFC 3339), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// One metric summed (or its maximum taken) over the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuery {
    pub namespace: &'static str,
    pub name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    /// `Sum` or `Maximum`.
    pub stat: &'static str,
}

impl MetricQuery {
    /// `name` of `namespace` for `dimensions`, summed over the window.
    pub fn sum(
        namespace: &'static str,
        name: &'static str,
        dimensions: Vec<(&'static str, String)>,
    ) -> Self {
        MetricQuery {
            namespace,
            name,
            dimensions,
            stat: "Sum",
        }
    }

    /// API Gateway's `name` for the stage `stage` of the API `api`.
    pub fn api(name: &'static str, api: &str, stage: &StageName) -> Self {
        MetricQuery::sum(
            "AWS/ApiGateway",
            name,
            vec![("ApiId", api.to_owned()), ("Stage", stage.to_string())],
        )
    }
}

/// An error a function logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorLine {
    /// RFC 3339.
    pub time: String,
    pub function: String,
    pub text: String,
}

/// Where `status` reads a deployed stage from.
// Used only through generics (see deploy's `Cloud`).
#[allow(async_fn_in_trait)]
pub trait StatusSource {
    /// The stack, or `None` when there is none of that name.
    async fn stack(&self, name: &str) -> Result<Option<StackInfo>, CloudError>;
    /// Every alarm whose name begins with `prefix`.
    async fn alarms(&self, prefix: &str) -> Result<Vec<AlarmInfo>, CloudError>;
    /// Each query's value over the window (`None`: no data points).
    async fn metrics(
        &self,
        queries: &[MetricQuery],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Option<f64>>, CloudError>;
    /// Messages waiting in the queue at `url`.
    async fn queue_messages(&self, url: &str) -> Result<u64, CloudError>;
    /// The newest errors in `logs` since `start_ms`, at most `most`.
    async fn errors(
        &self,
        logs: &[FunctionLog],
        start_ms: i64,
        most: usize,
    ) -> Result<Vec<ErrorLine>, CloudError>;
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("there is no stack {stack}: deploy the stage first (chatstack deploy --stage {stage})")]
    NoStack { stack: String, stage: String },
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Stage(#[from] crate::chat::StageNameError),
    #[error("{0}")]
    Local(String),
    #[error("could not write: {0}")]
    Output(#[source] io::Error),
}

/// The stage on one screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub stage: String,
    pub stack: StackSummary,
    pub outputs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Vec<AlarmInfo>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_hour: Option<Traffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<Fanout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorLine>>,
    /// The parts that could not be read, and why.
    pub unavailable: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSummary {
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// The last hour at the gateway and in the functions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub connections: u64,
    /// To and from clients, as API Gateway counts (and bills) them.
    pub messages: u64,
    pub integration_errors: u64,
    pub client_errors: u64,
    pub execution_errors: u64,
    /// Each function's errors, where it had any.
    pub function_errors: BTreeMap<String, u64>,
    /// Each function's throttled invocations, where it had any.
    pub throttles: BTreeMap<String, u64>,
}

/// The split broadcasts' queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fanout {
    /// Jobs waiting.
    pub backlog: u64,
    /// Jobs set aside after five failures.
    pub dead_letters: u64,
}

const HOUR_MS: i64 = 60 * 60 * 1000;
/// Error lines shown at most.
const MOST_ERRORS: usize = 10;

impl StackInfo {
    /// The physical id of the resource `logical_id`, once it has one.
    pub fn physical(&self, logical_id: &str) -> Option<&str> {
        self.resources
            .iter()
            .find(|(id, _, _)| id == logical_id)
            .map(|(_, physical, _)| physical.as_str())
            .filter(|physical| !physical.is_empty())
    }

    /// The stage's functions: each one's spec and its physical name.
    pub fn functions(&self) -> Vec<(&'static FunctionSpec, String)> {
        FUNCTIONS
            .iter()
            .filter_map(|spec| {
                self.physical(&LambdaFunction::logical_id(spec.logical_prefix))
                    .map(|name| (spec, name.to_owned()))
            })
            .collect()
    }
}

/// `stage`'s stack, or the error that says to deploy it.
pub async fn deployed_stack<S: StatusSource>(
    source: &S,
    stage: &StageName,
) -> Result<StackInfo, StatusError> {
    let name = stage.stack_name()?;
    source
        .stack(&name)
        .await?
        .ok_or_else(|| StatusError::NoStack {
            stack: name.clone(),
            stage: stage.to_string(),
        })
}

fn epoch_rfc3339(ms: i64) -> String {
    let since = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + since).to_string()
}

/// Why a part could not be read, in the user's words.
fn unreadable(what: &str, error: &CloudError) -> String {
    let text = error.to_string();
    if text.contains("AccessDenied") || text.contains("not authorized") {
        format!(
            "not allowed ({text}): see the README's \"The IAM each command needs\" (it lacks {what})"
        )
    } else {
        text
    }
}

/// The last errors logged, each made safe to print.
fn write_errors(out: &mut dyn Write, errors: &[ErrorLine]) -> io::Result<()> {
    if errors.is_empty() {
        return writeln!(out, "Errors logged in the last hour: none");
    }
    writeln!(out, "Last errors logged (the last hour):")?;
    for error in errors {
        writeln!(
            out,
            "  {} {:<11} {}",
            error.time,
            error.function,
            crate::terminal::visible(&error.text)
        )?;
    }
    Ok(())
}

/// Reads every part of `stage`'s status.
pub async fn gather<S: StatusSource>(
    source: &S,
    stage: &StageName,
    now_ms: i64,
) -> Result<Report, StatusError> {
    let stack = deployed_stack(source, stage).await?;
    let mut unavailable = BTreeMap::new();
    let alarms = match source.alarms(&alarm_prefix(stage)).await {
        Ok(alarms) => Some(alarms),
        Err(error) => {
            unavailable.insert(
                "alarms".to_owned(),
                unreadable("cloudwatch:DescribeAlarms", &error),
            );
            None
        }
    };
    let last_hour = match traffic(source, stage, &stack, now_ms).await {
        Ok(traffic) => Some(traffic),
        Err(reason) => {
            unavailable.insert("lastHour".to_owned(), reason);
            None
        }
    };
    let fanout = match fanout(source, &stack).await {
        Ok(fanout) => Some(fanout),
        Err(reason) => {
            unavailable.insert("fanout".to_owned(), reason);
            None
        }
    };
    let logs = function_logs_of(&stack.resources);
    let errors = match source.errors(&logs, now_ms - HOUR_MS, MOST_ERRORS).await {
        Ok(errors) => Some(errors),
        Err(error) => {
            unavailable.insert(
                "errors".to_owned(),
                unreadable("logs:FilterLogEvents", &error),
            );
            None
        }
    };
    Ok(Report {
        stage: stage.to_string(),
        stack: StackSummary {
            name: stack.name.clone(),
            status: stack.status.clone(),
            reason: stack.reason.clone(),
            updated: stack.updated_ms.map(epoch_rfc3339),
        },
        outputs: stack.outputs.iter().cloned().collect(),
        alarms,
        last_hour,
        fanout,
        errors,
        unavailable,
    })
}

/// The last hour's metrics: the API's by API and stage, each function's.
async fn traffic<S: StatusSource>(
    source: &S,
    stage: &StageName,
    stack: &StackInfo,
    now_ms: i64,
) -> Result<Traffic, String> {
    let api = stack
        .physical(WEBSOCKET_API_ID)
        .ok_or("the stack names no WebSocket API (WebSocketApi)")?
        .to_owned();
    let api_metric = |name: &'static str| MetricQuery::api(name, &api, stage);
    let mut queries: Vec<MetricQuery> = [
        "ConnectCount",
        "MessageCount",
        "IntegrationError",
        "ClientError",
        "ExecutionError",
    ]
    .into_iter()
    .map(api_metric)
    .collect();
    let functions = stack.functions();
    for (_, physical) in &functions {
        for name in ["Errors", "Throttles"] {
            queries.push(MetricQuery::sum(
                "AWS/Lambda",
                name,
                vec![("FunctionName", physical.clone())],
            ));
        }
    }
    let values = source
        .metrics(&queries, now_ms - HOUR_MS, now_ms)
        .await
        .map_err(|error| unreadable("cloudwatch:GetMetricData", &error))?;
    let count = |n: usize| values.get(n).copied().flatten().unwrap_or(0.0).round() as u64;
    let mut traffic = Traffic {
        connections: count(0),
        messages: count(1),
        integration_errors: count(2),
        client_errors: count(3),
        execution_errors: count(4),
        ..Traffic::default()
    };
    for (n, (spec, _)) in functions.iter().enumerate() {
        let (errors, throttles) = (count(5 + 2 * n), count(6 + 2 * n));
        if errors > 0 {
            traffic.function_errors.insert(spec.name.to_owned(), errors);
        }
        if throttles > 0 {
            traffic.throttles.insert(spec.name.to_owned(), throttles);
        }
    }
    Ok(traffic)
}

/// The fan-out queue's backlog and dead letters (each queue's physical id
/// is its URL).
async fn fanout<S: StatusSource>(source: &S, stack: &StackInfo) -> Result<Fanout, String> {
    let queue = |id: &str| {
        stack
            .physical(id)
            .ok_or_else(|| format!("the stack has no {id}"))
    };
    let read = |error: CloudError| unreadable("sqs:GetQueueAttributes", &error);
    Ok(Fanout {
        backlog: source
            .queue_messages(queue(FANOUT_QUEUE_ID)?)
            .await
            .map_err(read)?,
        dead_letters: source
            .queue_messages(queue(FANOUT_DEAD_LETTERS_ID)?)
            .await
            .map_err(read)?,
    })
}

/// Pages of error events read per log at most (FilterLogEvents answers
/// oldest first; an hour of a failing function can be many).
const MOST_PAGES: usize = 5;

/// The newest `most` lines with `ERROR` in `logs` since `start_ms`, read
/// through `source` (a stage's CloudWatch Logs, or a local run's files).
pub async fn recent_errors<L: LogSource>(
    source: &L,
    logs: &[FunctionLog],
    start_ms: i64,
    most: usize,
) -> Result<Vec<ErrorLine>, CloudError> {
    let mut found: Vec<(i64, ErrorLine)> = Vec::new();
    for log in logs {
        let mut token: Option<String> = None;
        for _ in 0..MOST_PAGES {
            let query = EventQuery {
                group: &log.group,
                start_ms,
                end_ms: None,
                filter: Some("ERROR"),
                next_token: token.as_deref(),
            };
            let page = match source.filter_events(&query).await {
                Ok(page) => page,
                Err(ReadError::NoGroup) => break,
                Err(ReadError::AccessDenied(message)) => {
                    return Err(CloudError::Other(format!(
                        "AccessDeniedException: {message}"
                    )));
                }
                Err(ReadError::Throttled(message)) => return Err(CloudError::Throttled(message)),
                Err(ReadError::Failed(error)) => return Err(error),
            };
            for event in page.events {
                if let Some((_, text)) = crate::logs::render::summary(&event.message) {
                    found.push((
                        event.timestamp_ms,
                        ErrorLine {
                            time: epoch_rfc3339(event.timestamp_ms),
                            function: log.function.clone(),
                            text,
                        },
                    ));
                }
            }
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    let skip = found.len().saturating_sub(most);
    Ok(found.into_iter().skip(skip).map(|(_, line)| line).collect())
}

/// The report as one screen of text.
pub fn write_text(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    write_stack(out, report)?;
    if let Some(alarms) = &report.alarms {
        write_alarms(out, &report.stage, alarms)?;
    }
    if let Some(traffic) = &report.last_hour {
        write_traffic(out, traffic)?;
    }
    if let Some(fanout) = &report.fanout {
        write_fanout(out, &report.stage, fanout)?;
    }
    if let Some(errors) = &report.errors {
        write_errors(out, errors)?;
    }
    for (part, reason) in &report.unavailable {
        writeln!(out, "({part}: {})", crate::terminal::visible(reason))?;
    }
    Ok(())
}

/// The stack's status, when it last changed, why it failed, its outputs.
fn write_stack(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let stack = &report.stack;
    writeln!(
        out,
        "Stage {}: stack {} {}{}",
        report.stage,
        stack.name,
        stack.status,
        stack
            .updated
            .as_deref()
            .map(|at| format!(", last changed {at}"))
            .unwrap_or_default()
    )?;
    if let Some(reason) = &stack.reason {
        writeln!(out, "  {}", crate::terminal::visible(reason))?;
    }
    for (key, value) in crate::chat::outputs_in_reading_order(&report.outputs) {
        writeln!(out, "  {key:<26} {value}")?;
    }
    Ok(())
}

/// The alarms not OK, with why and since when; OK ones counted.
fn write_alarms(out: &mut dyn Write, stage: &str, alarms: &[AlarmInfo]) -> io::Result<()> {
    if alarms.is_empty() {
        return writeln!(
            out,
            "Alarms: none (set [stages.{stage}.alarms] to be told when it breaks)"
        );
    }
    let raised: Vec<&AlarmInfo> = alarms.iter().filter(|a| a.state != "OK").collect();
    writeln!(out, "Alarms: {} of {} not OK", raised.len(), alarms.len())?;
    for alarm in raised {
        writeln!(
            out,
            "  {:<17} {}{}: {}",
            alarm.state,
            alarm.name,
            alarm
                .since
                .as_deref()
                .map(|since| format!(" since {since}"))
                .unwrap_or_default(),
            crate::terminal::visible(&alarm.reason)
        )?;
    }
    Ok(())
}

/// The last hour's connections, messages and errors.
fn write_traffic(out: &mut dyn Write, traffic: &Traffic) -> io::Result<()> {
    writeln!(
        out,
        "Last hour: {} connections, {} messages; errors: {} integration, {} client, {} execution",
        traffic.connections,
        traffic.messages,
        traffic.integration_errors,
        traffic.client_errors,
        traffic.execution_errors
    )?;
    for (what, counts) in [
        ("function errors", &traffic.function_errors),
        ("throttled", &traffic.throttles),
    ] {
        if !counts.is_empty() {
            let list: Vec<String> = counts.iter().map(|(f, n)| format!("{f} {n}")).collect();
            writeln!(out, "  {what}: {}", list.join(", "))?;
        }
    }
    Ok(())
}

/// The fan-out backlog and dead letters, and where to look when there are.
fn write_fanout(out: &mut dyn Write, stage: &str, fanout: &Fanout) -> io::Result<()> {
    let why = if fanout.dead_letters > 0 {
        format!(
            " (kept 14 days; why: chatstack logs --stage {stage} --function fanout --filter ERROR --since 1h)"
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "Fan-out: {} jobs waiting, {} dead letters{why}",
        fanout.backlog, fanout.dead_letters
    )
}
