//! A function's log in a local run, kept as CloudWatch Logs keeps it: each
//! line the function prints becomes an event (time, stream, id, message)
//! and the runtime adds Lambda's `platform.start` and `platform.report`,
//! so `chatstack logs --local` reads what `chatstack logs` reads in AWS.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::LocalError;
use crate::logs::local::StoredEvent;

pub struct FunctionLogFile {
    file: Mutex<File>,
    next_event: AtomicU64,
    /// The function's configured memory, for the reports.
    memory_mb: u32,
}

/// One invocation as its report tells it.
#[derive(Debug, Clone)]
pub struct InvocationReport {
    pub request_id: String,
    pub stream: String,
    pub pid: Option<u32>,
    pub started: Instant,
    /// How long the environment took to start, on its first invocation.
    pub init_ms: Option<f64>,
}

fn epoch_ms(time: SystemTime) -> i64 {
    i64::try_from(
        time.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(0)
}

impl FunctionLogFile {
    pub fn create(path: &Path, memory_mb: u32) -> Result<Self, LocalError> {
        let file = super::run_dir::create_private(path, true)?;
        Ok(FunctionLogFile {
            file: Mutex::new(file),
            next_event: AtomicU64::new(0),
            memory_mb,
        })
    }

    /// A new execution environment's stream name, as Lambda names them.
    pub fn new_stream() -> String {
        let day = humantime::format_rfc3339(SystemTime::now()).to_string();
        format!(
            "{}/[$LATEST]{}",
            day[..10].replace('-', "/"),
            super::ids::unique_hex()
        )
    }

    /// Appends one event, timed now.
    pub fn write(&self, stream: &str, message: &str) {
        let event = StoredEvent {
            timestamp: epoch_ms(SystemTime::now()),
            log_stream_name: stream.to_owned(),
            event_id: self.next_event.fetch_add(1, Ordering::Relaxed).to_string(),
            message: message.to_owned(),
        };
        if let Ok(mut line) = serde_json::to_string(&event) {
            line.push('\n');
            let mut file = self
                .file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A log that cannot be written must not stop the function.
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// Makes an event of each line `output` prints, until it closes.
    pub fn pump(
        self: std::sync::Arc<Self>,
        stream: String,
        output: impl AsyncRead + Unpin + Send + 'static,
    ) {
        tokio::spawn(async move {
            let mut lines = BufReader::new(output);
            let mut line = Vec::new();
            while lines
                .read_until(b'\n', &mut line)
                .await
                .is_ok_and(|read| read > 0)
            {
                let text = String::from_utf8_lossy(&line);
                self.write(&stream, text.trim_end_matches(['\n', '\r']));
                line.clear();
            }
        });
    }

    /// Lambda's event as an invocation starts.
    pub fn platform_start(&self, stream: &str, request_id: &str) {
        let event = json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "type": "platform.start",
            "record": {"requestId": request_id, "version": "$LATEST"},
        });
        self.write(stream, &event.to_string());
    }

    /// Lambda's event as an invocation ends (`status`: success, error,
    /// timeout): its duration, and the process's peak memory.
    pub fn platform_report(&self, report: &InvocationReport, status: &str) {
        let duration_ms = (report.started.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
        let mut metrics = json!({
            "durationMs": duration_ms,
            "billedDurationMs": duration_ms.ceil() as u64,
            "memorySizeMB": self.memory_mb,
        });
        if let Some(peak) = report.pid.and_then(peak_memory_mb) {
            metrics["maxMemoryUsedMB"] = json!(peak);
        }
        if let Some(init_ms) = report.init_ms {
            metrics["initDurationMs"] = json!((init_ms * 100.0).round() / 100.0);
        }
        let event = json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "type": "platform.report",
            "record": {"requestId": report.request_id, "metrics": metrics, "status": status},
        });
        self.write(&report.stream, &event.to_string());
    }
}

/// A process's peak resident memory in MB (Linux's `VmHWM`), rounded up
/// as Lambda reports it.
fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes.div_ceil(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_become_events_and_reports_carry_duration_and_memory() {
        let path = std::env::temp_dir().join(format!("function-log-test-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = std::sync::Arc::new(FunctionLogFile::create(&path, 128).unwrap());
        let stream = FunctionLogFile::new_stream();
        let (mut writer, reader) = tokio::io::duplex(64);
        log.clone().pump(stream.clone(), reader);
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"{\"level\":\"INFO\"}\nplain line\n")
            .await
            .unwrap();
        drop(writer);
        log.platform_start(&stream, "r1");
        let report = InvocationReport {
            request_id: "r1".to_owned(),
            stream: stream.clone(),
            pid: Some(std::process::id()),
            started: Instant::now(),
            init_ms: Some(12.345),
        };
        log.platform_report(&report, "success");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        let events: Vec<StoredEvent> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert!(messages.contains(&"{\"level\":\"INFO\"}"), "{messages:?}");
        assert!(messages.contains(&"plain line"), "{messages:?}");
        let report: serde_json::Value = serde_json::from_str(
            messages
                .iter()
                .find(|m| m.contains("platform.report"))
                .unwrap(),
        )
        .unwrap();
        let metrics = &report["record"]["metrics"];
        assert_eq!(metrics["memorySizeMB"], 128);
        assert_eq!(metrics["initDurationMs"], 12.35);
        assert!(metrics["maxMemoryUsedMB"].as_u64().unwrap() > 0, "{report}");
        assert!(events.iter().all(|e| e.log_stream_name == stream));
        let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 4, "each event its own id");
        std::fs::remove_file(&path).unwrap();
    }
}
