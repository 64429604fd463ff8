//! The logs of a `chatstack local` run: one file per function in the run's
//! directory, each line one event in the shape FilterLogEvents returns
//! (`timestamp`, `logStreamName`, `eventId`, `message`), written by
//! `local` as the functions print.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{EventPage, EventQuery, FunctionLog, LogEvent, LogSource, LogsError, ReadError};
use crate::aws::CloudError;
use crate::chat::FUNCTIONS;

/// One line of a local log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    pub timestamp: i64,
    pub log_stream_name: String,
    pub event_id: String,
    pub message: String,
}

/// What a run's log files end with.
pub const LOG_EXTENSION: &str = "log";

/// Where the most recent run's directory is linked from: in the user's
/// own runtime directory (`$XDG_RUNTIME_DIR`), else their cache, never in
/// the shared temporary directory, where another user could plant it.
pub fn latest_run_link() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute());
    runtime
        .map_or_else(user_cache_dir, |dir| dir.join("chatstack"))
        .join("local-latest")
}

/// chatstack's directory in the user's cache (`$XDG_CACHE_HOME`, else
/// `~/.cache`).
pub fn user_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("chatstack")
}

/// The log files of one local run.
#[derive(Debug, Clone)]
pub struct LocalLogs {
    dir: PathBuf,
}

impl LocalLogs {
    /// The run whose log directory is `dir`, or the latest run's.
    pub fn find(dir: Option<PathBuf>) -> Result<Self, LogsError> {
        let dir = dir.unwrap_or_else(latest_run_link);
        if !dir.is_dir() {
            return Err(LogsError::NoLocalRun {
                path: dir.display().to_string(),
            });
        }
        Ok(LocalLogs { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LogSource for LocalLogs {
    async fn function_logs(&self) -> Result<Vec<FunctionLog>, LogsError> {
        let io_error = |source| LogsError::LocalIo {
            path: self.dir.display().to_string(),
            source,
        };
        let mut logs = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(LOG_EXTENSION) {
                continue;
            }
            if let Some(function) = path.file_stem().and_then(|s| s.to_str()) {
                logs.push(FunctionLog {
                    function: function.to_owned(),
                    group: path.display().to_string(),
                });
            }
        }
        // Chatstack's functions in their usual order, anything else after.
        let rank = |log: &FunctionLog| {
            FUNCTIONS
                .iter()
                .position(|spec| spec.name == log.function)
                .unwrap_or(usize::MAX)
        };
        logs.sort_by(|a, b| (rank(a), &a.function).cmp(&(rank(b), &b.function)));
        if logs.is_empty() {
            return Err(LogsError::NoLocalRun {
                path: self.dir.display().to_string(),
            });
        }
        Ok(logs)
    }

    async fn filter_events(&self, query: &EventQuery<'_>) -> Result<EventPage, ReadError> {
        let pattern = TermPattern::parse(query.filter.unwrap_or_default())
            .map_err(|e| ReadError::Failed(CloudError::Other(e)))?;
        let text = match std::fs::read_to_string(query.group) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NoGroup),
            Err(e) => {
                return Err(ReadError::Failed(CloudError::Other(e.to_string())));
            }
        };
        // The file is read once: every match is one page.
        let events = text
            .lines()
            // A line being written as we read is not whole yet; the next
            // round reads it.
            .filter_map(|line| serde_json::from_str::<StoredEvent>(line).ok())
            .filter(|stored| {
                stored.timestamp >= query.start_ms
                    && query.end_ms.is_none_or(|end| stored.timestamp <= end)
                    && pattern.matches(&stored.message)
            })
            .map(|stored| LogEvent {
                timestamp_ms: stored.timestamp,
                event_id: stored.event_id,
                stream: stored.log_stream_name,
                message: stored.message,
            })
            .collect();
        Ok(EventPage {
            events,
            next_token: None,
        })
    }
}

/// The filter patterns a local run understands: the term forms of
/// CloudWatch Logs' syntax. Terms and "quoted phrases" must all appear,
/// `-term`s must not, and of `?term`s at least one must; case matters,
/// as in CloudWatch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TermPattern {
    all: Vec<String>,
    none: Vec<String>,
    any: Vec<String>,
}

impl TermPattern {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        if pattern.starts_with(['{', '[', '%']) {
            return Err(format!(
                "--local understands words, \"quoted phrases\", -excluded and ?alternative \
                 terms; {pattern:?} is a JSON, space-delimited or regex pattern, which only \
                 CloudWatch Logs evaluates"
            ));
        }
        let mut parsed = TermPattern::default();
        let mut rest = pattern;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let (list, after_sign) = match rest.as_bytes()[0] {
                b'-' => (&mut parsed.none, &rest[1..]),
                b'?' => (&mut parsed.any, &rest[1..]),
                _ => (&mut parsed.all, rest),
            };
            let (term, remainder) = match after_sign.strip_prefix('"') {
                Some(quoted) => match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => {
                        return Err(format!(
                            "{pattern:?} has a phrase without its closing quote"
                        ));
                    }
                },
                None => {
                    let end = after_sign
                        .find(char::is_whitespace)
                        .unwrap_or(after_sign.len());
                    (&after_sign[..end], &after_sign[end..])
                }
            };
            if !term.is_empty() {
                list.push(term.to_owned());
            }
            rest = remainder;
        }
        Ok(parsed)
    }

    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|term| message.contains(term.as_str()))
            && !self.none.iter().any(|term| message.contains(term.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|term| message.contains(term.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_phrases_exclusions_and_alternatives() {
        let line = r#"{"level":"INFO","fields":{"message":"broadcast done","sent":2}}"#;
        let matches = |pattern: &str| TermPattern::parse(pattern).unwrap().matches(line);
        assert!(matches(""));
        assert!(matches("broadcast"));
        assert!(matches("\"broadcast done\" INFO"));
        assert!(!matches("\"broadcast split\""));
        assert!(!matches("broadcast -INFO"));
        assert!(matches("?ERROR ?INFO"));
        assert!(!matches("?ERROR ?WARN"));
        assert!(!matches("info"), "case matters, as in CloudWatch");
    }

    #[test]
    fn patterns_only_cloudwatch_evaluates_are_refused() {
        for pattern in ["{ $.level = \"ERROR\" }", "[ip, user]", "%err.*%"] {
            let error = TermPattern::parse(pattern).unwrap_err();
            assert!(error.contains("only CloudWatch Logs"), "{error}");
        }
        assert!(
            TermPattern::parse("\"open")
                .unwrap_err()
                .contains("closing quote")
        );
    }
}
