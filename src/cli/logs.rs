//! `chatstack logs`: a stage's (or a local run's) function logs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args};

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on};
use crate::chat::StageName;
use crate::logs::cloudwatch::StackLogs;
use crate::logs::local::{LocalLogs, TermPattern};
use crate::logs::render::Format;
use crate::logs::{LogsError, LogsRequest, Output, Pace, show_logs};

/// A point in time on the command line: a UTC time, or how long ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    At(SystemTime),
    Ago(Duration),
}

impl Moment {
    fn epoch_ms(self, now: SystemTime) -> i64 {
        let at = match self {
            Moment::At(at) => at,
            Moment::Ago(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH),
        };
        let ms = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

fn parse_moment(text: &str) -> Result<Moment, String> {
    humantime::parse_duration(text)
        .map(Moment::Ago)
        .or_else(|_| humantime::parse_rfc3339_weak(text).map(Moment::At))
        .map_err(|_| {
            "expected a UTC time such as 2026-11-23T21:00:00Z, or how long ago, such as 2h"
                .to_owned()
        })
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["stage", "local"])))]
pub struct LogsArgs {
    /// Stage whose logs to read: the log groups of its stack, chatstack-<stage>.
    #[arg(long)]
    pub stage: Option<StageName>,
    /// Read a `chatstack local` run's logs instead: the latest run's, or
    /// those in DIR (the directory local's banner shows).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub local: Option<Option<PathBuf>>,
    /// Only this function's events; repeat for more (default: every
    /// function). A wrong name lists the stage's functions.
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// API Gateway's access log of the stage instead (one line per
    /// connection, message and disconnection: status, route, connection,
    /// user, the integration's answer and latency, errors). The stage needs
    /// `[stages.S.logging] access = true`.
    #[arg(long, conflicts_with_all = ["functions", "local"])]
    pub access: bool,
    /// Start this long ago: 30s, 10m, 2h, 1d [default: 10m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, conflicts_with_all = ["start", "end"])]
    pub since: Option<Duration>,
    /// Start of the window: a UTC time (2026-11-23T21:00:00Z) or how long ago (2h).
    #[arg(long, value_parser = parse_moment, value_name = "TIME")]
    pub start: Option<Moment>,
    /// End of the window, as --start (default: now).
    #[arg(long, value_parser = parse_moment, value_name = "TIME", conflicts_with = "follow")]
    pub end: Option<Moment>,
    /// Only events matching this CloudWatch Logs filter pattern: a word,
    /// a "quoted phrase", -excluded or ?alternative terms, or (not with
    /// --local) a JSON pattern such as '{ $.level = "ERROR" }'.
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Keep printing events as they arrive, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Print every event as one JSON object (time, function, stream and
    /// the function's own JSON line as message), Lambda's own included.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The window when none is given.
const DEFAULT_SINCE: Duration = Duration::from_secs(10 * 60);

impl LogsArgs {
    fn request(&self, place: String) -> Result<LogsRequest, CliError> {
        let now = SystemTime::now();
        let start_ms = match (self.since, self.start) {
            (_, Some(start)) => start.epoch_ms(now),
            (since, None) => Moment::Ago(since.unwrap_or(DEFAULT_SINCE)).epoch_ms(now),
        };
        let end_ms = self.end.map(|end| end.epoch_ms(now));
        if end_ms.is_some_and(|end| end < start_ms) {
            return Err(CliError::Usage(
                "--end is before --start: the window would be empty".to_owned(),
            ));
        }
        Ok(LogsRequest {
            functions: self.functions.clone(),
            start_ms,
            end_ms,
            filter: self.filter.clone(),
            follow: self.follow,
            format: if self.json {
                Format::Json
            } else {
                Format::Text
            },
            place,
        })
    }
}

impl Execute for LogsArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let output = Output {
                events: out,
                notes: &mut io::stderr(),
            };
            let pace = Pace::default();
            match (&self.local, &self.stage) {
                (Some(dir), _) => {
                    let source = LocalLogs::find(dir.clone())?;
                    if let Some(filter) = &self.filter {
                        TermPattern::parse(filter).map_err(LogsError::LocalFilter)?;
                    }
                    let request =
                        self.request(format!("the local run in {}", source.dir().display()))?;
                    show_logs(&source, &request, &pace, output, stop).await?;
                }
                (None, Some(stage)) => {
                    let mut source = StackLogs::new(&self.aws.config().await?, stage)?;
                    let mut place = format!("stage {stage}");
                    if self.access {
                        source = source.access_log();
                        place = format!("the access log of stage {stage}");
                    }
                    let request = self.request(place)?;
                    show_logs(&source, &request, &pace, output, stop).await?;
                }
                // clap requires one of the two.
                (None, None) => {
                    return Err(CliError::Usage("pass --stage NAME or --local".to_owned()));
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_utc_times_or_durations_ago() {
        assert_eq!(
            parse_moment("2h"),
            Ok(Moment::Ago(Duration::from_secs(7200)))
        );
        let at = parse_moment("2026-11-23T21:00:00Z").unwrap();
        assert_eq!(at.epoch_ms(SystemTime::now()), 1_795_467_600_000);
        let now = UNIX_EPOCH + Duration::from_secs(100);
        assert_eq!(Moment::Ago(Duration::from_secs(40)).epoch_ms(now), 60_000);
        assert!(
            parse_moment("yesterday")
                .unwrap_err()
                .contains("such as 2h")
        );
    }
}
