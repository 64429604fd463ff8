//! `chatstack logs`: the functions' log events, read from CloudWatch Logs
//! ([`cloudwatch`]) or from a `chatstack local` run ([`local`]), merged in
//! time order and printed by [`render`]. Reading goes through
//! [`LogSource`], so paging, throttling, following and every error are
//! driven by a fake in tests.

pub mod cloudwatch;
pub mod local;
pub mod render;

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Write};
use std::time::Duration;

use crate::aws::CloudError;
use crate::chat::{FUNCTIONS, StageNameError};
use render::{Format, Printer};

/// Where one function's events are: a log group, or a local log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionLog {
    pub function: String,
    pub group: String,
}

/// One log event, as FilterLogEvents returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Unique within the group.
    pub event_id: String,
    pub stream: String,
    /// The line the function wrote (or Lambda's own, for platform events).
    pub message: String,
}

/// One page of events and where the next begins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

/// One FilterLogEvents call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery<'a> {
    pub group: &'a str,
    pub start_ms: i64,
    /// Inclusive; none while following.
    pub end_ms: Option<i64>,
    /// A CloudWatch Logs filter pattern.
    pub filter: Option<&'a str>,
    pub next_token: Option<&'a str>,
}

/// Why one read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Worth retrying after a pause.
    Throttled(String),
    AccessDenied(String),
    /// The group does not exist: nothing was ever written to it.
    NoGroup,
    Failed(CloudError),
}

/// Where `logs` reads from.
// Used only through generics and never sent across tasks (see deploy's
// `Cloud`), so the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait LogSource {
    /// Each function's log, in the order of [`FUNCTIONS`].
    async fn function_logs(&self) -> Result<Vec<FunctionLog>, LogsError>;
    async fn filter_events(&self, query: &EventQuery<'_>) -> Result<EventPage, ReadError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("there is no stack {stack}: deploy the stage first (chatstack deploy --stage {stage})")]
    NoStack { stack: String, stage: String },
    #[error("{place} has no function {name:?}{why}; its functions are: {known}")]
    UnknownFunction {
        name: String,
        place: String,
        /// Why a function of chatstack's is missing here, if it is one.
        why: &'static str,
        known: String,
    },
    #[error(
        "not allowed to read {group} ({message}): your credentials need logs:FilterLogEvents \
         on the stage's log groups (see the README's \"Logs\" section)"
    )]
    AccessDenied { group: String, message: String },
    #[error(
        "CloudWatch Logs kept throttling the reads of {group} ({message}), {tries} tries: \
         wait a minute, or read fewer functions (--function) or a shorter window (--since)"
    )]
    Throttled {
        group: String,
        message: String,
        tries: u32,
    },
    #[error("could not read {group}: {error}")]
    Read { group: String, error: CloudError },
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Stage(#[from] StageNameError),
    #[error(
        "no chatstack local run found at {path}: start one with `chatstack local`, or name a \
         run's log directory (the one its banner shows) with --local DIR"
    )]
    NoLocalRun { path: String },
    #[error(
        "stage {stage} keeps no access log: set `access = true` under [stages.{stage}.logging] \
         in chatstack.toml and deploy it (it needs the account's API Gateway CloudWatch role)"
    )]
    NoAccessLog { stage: String },
    #[error("{0}")]
    LocalFilter(String),
    #[error("could not read {path}: {source}")]
    LocalIo { path: String, source: io::Error },
    #[error("could not write: {0}")]
    Output(#[source] io::Error),
}

/// What to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    /// Function names; empty for all.
    pub functions: Vec<String>,
    pub start_ms: i64,
    /// Inclusive; none for "up to now" (and always while following).
    pub end_ms: Option<i64>,
    pub filter: Option<String>,
    pub follow: bool,
    pub format: Format,
    /// How errors and notes name what is read ("stage dev", ...).
    pub place: String,
}

/// How hard `logs` presses the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Between two rounds of `--follow`.
    pub poll: Duration,
    /// How late an event may reach CloudWatch and still be shown while
    /// following: each round reads again from this long before the newest
    /// event seen, skipping what it already showed.
    pub late: Duration,
    /// The first pause after a throttled read; it doubles up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Reads of one page before giving up on a throttling API.
    pub tries: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            // Every group is one FilterLogEvents call a round, and the API
            // takes 5 a second per account and region.
            poll: Duration::from_secs(2),
            late: Duration::from_secs(30),
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            tries: 6,
        }
    }
}

/// Where the events and the notes about them go.
pub struct Output<'a> {
    /// The events, one line each.
    pub events: &'a mut dyn Write,
    /// What the user should know besides (nothing found, backing off):
    /// standard error, so `--json` output stays clean.
    pub notes: &'a mut dyn Write,
}

/// Shows the events `request` asks for: once, or until `stop` resolves
/// when following (Ctrl-C in the command).
pub async fn show_logs<S: LogSource>(
    source: &S,
    request: &LogsRequest,
    pace: &Pace,
    output: Output<'_>,
    stop: impl Future<Output = ()>,
) -> Result<(), LogsError> {
    let logs = chosen(source.function_logs().await?, request)?;
    let mut printer = Printer::new(output.events, request.format, &logs);
    let mut reader = Reader {
        source,
        pace,
        notes: output.notes,
        throttled: false,
    };
    let work = async {
        if request.follow {
            follow(&mut reader, &logs, request, &mut printer).await
        } else {
            show_window(&mut reader, &logs, request, &mut printer).await
        }
    };
    tokio::select! {
        result = work => result,
        () = stop => Ok(()),
    }
}

/// The logs of the functions the request names (all when it names none),
/// or which names are wrong.
fn chosen(logs: Vec<FunctionLog>, request: &LogsRequest) -> Result<Vec<FunctionLog>, LogsError> {
    if let Some(unknown) = request
        .functions
        .iter()
        .find(|name| !logs.iter().any(|log| &log.function == *name))
    {
        let ours = FUNCTIONS.iter().any(|spec| spec.name == unknown.as_str());
        return Err(LogsError::UnknownFunction {
            name: unknown.clone(),
            place: request.place.clone(),
            why: if ours {
                " (its settings leave that function out)"
            } else {
                ""
            },
            known: logs
                .iter()
                .map(|log| log.function.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(logs
        .into_iter()
        .filter(|log| request.functions.is_empty() || request.functions.contains(&log.function))
        .collect())
}

/// The window's events, in time order, then the broadcasts it left
/// unfinished; or a note that there were none.
async fn show_window<S: LogSource>(
    reader: &mut Reader<'_, S>,
    logs: &[FunctionLog],
    request: &LogsRequest,
    printer: &mut Printer<'_>,
) -> Result<(), LogsError> {
    let events = reader
        .read_all(logs, request, request.start_ms, request.end_ms)
        .await?;
    for (at, event) in &events {
        printer
            .event(&logs[*at].function, event)
            .map_err(LogsError::Output)?;
    }
    printer.finish().map_err(LogsError::Output)?;
    if events.is_empty() {
        writeln!(
            reader.notes,
            "No log events from {} in that window{}. Functions log when they run: connect a \
             client or send a message, or look further back (--since 1h).",
            request.place,
            request
                .filter
                .as_deref()
                .map(|f| format!(" matching {f:?}"))
                .unwrap_or_default()
        )
        .map_err(LogsError::Output)?;
    }
    Ok(())
}

/// Round after round: the events not shown yet, from a little before the
/// newest one seen (see [`Pace::late`]).
async fn follow<S: LogSource>(
    reader: &mut Reader<'_, S>,
    logs: &[FunctionLog],
    request: &LogsRequest,
    printer: &mut Printer<'_>,
) -> Result<(), LogsError> {
    let late_ms = i64::try_from(reader.pace.late.as_millis()).unwrap_or(i64::MAX);
    let mut start_ms = request.start_ms;
    // The events shown that a later round may return again.
    let mut shown: HashMap<(usize, String), i64> = HashMap::new();
    loop {
        let events = reader.read_all(logs, request, start_ms, None).await?;
        for (at, event) in events {
            if shown
                .insert((at, event.event_id.clone()), event.timestamp_ms)
                .is_none()
            {
                printer
                    .event(&logs[at].function, &event)
                    .map_err(LogsError::Output)?;
            }
        }
        printer.flush().map_err(LogsError::Output)?;
        if let Some(newest) = shown.values().max() {
            start_ms = start_ms.max(newest.saturating_sub(late_ms));
        }
        shown.retain(|_, timestamp| *timestamp >= start_ms);
        tokio::time::sleep(reader.pace.poll).await;
    }
}

/// Reads through a [`LogSource`], backing off while it throttles.
struct Reader<'a, S> {
    source: &'a S,
    pace: &'a Pace,
    notes: &'a mut dyn Write,
    /// Whether the user was told the reads are throttled.
    throttled: bool,
}

impl<S: LogSource> Reader<'_, S> {
    /// Every page of every log in the window, merged in time order (the
    /// order of `logs` between equal times), each with its log's index.
    async fn read_all(
        &mut self,
        logs: &[FunctionLog],
        request: &LogsRequest,
        start_ms: i64,
        end_ms: Option<i64>,
    ) -> Result<Vec<(usize, LogEvent)>, LogsError> {
        let mut merged = Vec::new();
        for (at, log) in logs.iter().enumerate() {
            let mut next_token = None;
            loop {
                let query = EventQuery {
                    group: &log.group,
                    start_ms,
                    end_ms,
                    filter: request.filter.as_deref(),
                    next_token: next_token.as_deref(),
                };
                let page = self.read_page(&query).await?;
                merged.extend(page.events.into_iter().map(|event| (at, event)));
                match page.next_token {
                    Some(token) => next_token = Some(token),
                    None => break,
                }
            }
        }
        merged.sort_by_key(|(at, event)| (event.timestamp_ms, *at));
        Ok(merged)
    }

    /// One page; a throttled read is tried again after a pause that
    /// doubles, up to [`Pace::tries`] reads.
    async fn read_page(&mut self, query: &EventQuery<'_>) -> Result<EventPage, LogsError> {
        let group = || query.group.to_owned();
        let mut pause = self.pace.first_backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let message = match self.source.filter_events(query).await {
                Ok(page) => return Ok(page),
                Err(ReadError::Throttled(message)) => message,
                // Lambda creates a function's group on its first line,
                // and someone may have deleted it: nothing logged.
                Err(ReadError::NoGroup) => return Ok(EventPage::default()),
                Err(ReadError::AccessDenied(message)) => {
                    return Err(LogsError::AccessDenied {
                        group: group(),
                        message,
                    });
                }
                Err(ReadError::Failed(error)) => {
                    return Err(LogsError::Read {
                        group: group(),
                        error,
                    });
                }
            };
            if tries >= self.pace.tries {
                return Err(LogsError::Throttled {
                    group: group(),
                    message,
                    tries,
                });
            }
            if !self.throttled {
                self.throttled = true;
                writeln!(
                    self.notes,
                    "CloudWatch Logs is throttling the reads ({message}); backing off."
                )
                .map_err(LogsError::Output)?;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.pace.max_backoff);
        }
    }
}
