//! How `logs` prints events: one readable line each, or JSON for piping.
//!
//! The functions log JSON through `tracing` (`level`, `fields.message`,
//! the other fields, `span.requestId`); Lambda adds `platform.*` events in
//! the same format. A readable line is the time (UTC), the function, the
//! level, the message and its fields; `platform.report` becomes one
//! `REPORT` line with the invocation's duration and memory, the other
//! platform events are hidden. The segments of a split broadcast each log
//! their totals; their sum follows the last one as a `TOTAL` line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::{FunctionLog, LogEvent};

/// How each event is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One readable line per event.
    Text,
    /// Each event as JSON: `time`, `function`, `stream` and `message` (the
    /// function's own line, as JSON when it is JSON), Lambda's included.
    Json,
}

/// The fields worth reading first, in this order; the others follow in
/// alphabetical order.
const LEADING_FIELDS: &[&str] = &[
    "connection_id",
    "user",
    "room",
    "rooms",
    "broadcast_id",
    "segment",
    "total_segments",
    "jobs",
    "targeted",
    "sent",
    "gone",
    "failed",
    "missed",
    "unreached",
    "unknown",
    "segments",
    "duration_ms",
    "reason",
    "error",
];

use chat_contract::SEGMENT_DONE_LOG as SEGMENT_DONE;

/// The segments of one split broadcast seen so far.
#[derive(Debug, Default)]
struct Broadcast {
    total_segments: u64,
    segments: BTreeSet<u64>,
    sent: u64,
    gone: u64,
    failed: u64,
    /// Given up on after throttling job after job.
    missed: u64,
    function: String,
    last_ms: i64,
}

/// Prints events as they come.
pub struct Printer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    /// Of the function column: the longest name.
    width: usize,
    /// The day of the last line printed (lines show only the time).
    day: Option<String>,
    /// Split broadcasts whose segments have not all been seen.
    broadcasts: BTreeMap<String, Broadcast>,
}

impl<'a> Printer<'a> {
    pub fn new(out: &'a mut dyn Write, format: Format, logs: &[FunctionLog]) -> Self {
        Printer {
            out,
            format,
            width: logs.iter().map(|log| log.function.len()).max().unwrap_or(0),
            day: None,
            broadcasts: BTreeMap::new(),
        }
    }

    pub fn event(&mut self, function: &str, event: &LogEvent) -> io::Result<()> {
        let json = serde_json::from_str::<Value>(&event.message).ok();
        if self.format == Format::Json {
            let line = serde_json::json!({
                "time": rfc3339(event.timestamp_ms),
                "function": function,
                "stream": event.stream,
                "message": json.unwrap_or_else(|| Value::String(event.message.clone())),
            });
            return writeln!(self.out, "{line}");
        }
        let Some((level, text)) = describe(json.as_ref(), &event.message) else {
            return Ok(());
        };
        self.line(event.timestamp_ms, function, &level, &text)?;
        if let Some(fields) = json.as_ref().and_then(segment_done) {
            self.count_segment(function, event.timestamp_ms, fields)?;
        }
        Ok(())
    }

    /// Ends the output: the split broadcasts whose segments were not all
    /// seen, with what they add up to so far.
    pub fn finish(&mut self) -> io::Result<()> {
        for (id, broadcast) in std::mem::take(&mut self.broadcasts) {
            let text = format!(
                "broadcast {id} so far ({} of {} segments logged): {}",
                broadcast.segments.len(),
                broadcast.total_segments,
                totals(&broadcast)
            );
            self.line(broadcast.last_ms, &broadcast.function, "TOTAL", &text)?;
        }
        self.out.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn line(
        &mut self,
        timestamp_ms: i64,
        function: &str,
        level: &str,
        text: &str,
    ) -> io::Result<()> {
        let time = rfc3339(timestamp_ms);
        // `2026-11-23T21:31:48.123Z`: the day, then the time of day.
        let (day, clock) = (&time[..10], &time[11..23]);
        if self.day.as_deref() != Some(day) {
            writeln!(self.out, "--- {day} (times in UTC) ---")?;
            self.day = Some(day.to_owned());
        }
        // The text holds what the functions logged, which can hold what
        // clients sent.
        writeln!(
            self.out,
            "{clock} {function:<width$} {level:<6} {}",
            crate::terminal::visible(text),
            width = self.width
        )
    }

    /// Adds a segment's totals to its broadcast's; after the last segment,
    /// prints the broadcast's.
    fn count_segment(
        &mut self,
        function: &str,
        timestamp_ms: i64,
        fields: &Map<String, Value>,
    ) -> io::Result<()> {
        let number = |name: &str| fields.get(name).and_then(Value::as_u64).unwrap_or(0);
        let Some(id) = fields.get("broadcast_id").and_then(Value::as_str) else {
            return Ok(());
        };
        let broadcast = self.broadcasts.entry(id.to_owned()).or_default();
        // A job SQS handed out twice may log its segment's end twice.
        if broadcast.segments.insert(number("segment")) {
            broadcast.sent += number("sent");
            broadcast.gone += number("gone");
            broadcast.failed += number("failed");
            broadcast.missed += number("missed");
        }
        broadcast.total_segments = number("total_segments");
        broadcast.function = function.to_owned();
        broadcast.last_ms = timestamp_ms;
        if broadcast.segments.len() as u64 >= broadcast.total_segments
            && let Some(done) = self.broadcasts.remove(id)
        {
            let text = format!(
                "broadcast {id} done, {} segments: {}",
                done.total_segments,
                totals(&done)
            );
            self.line(timestamp_ms, function, "TOTAL", &text)?;
        }
        Ok(())
    }
}

fn totals(broadcast: &Broadcast) -> String {
    let mut text = format!(
        "sent={} gone={} failed={}",
        broadcast.sent, broadcast.gone, broadcast.failed
    );
    if broadcast.missed > 0 {
        text.push_str(&format!(" missed={}", broadcast.missed));
    }
    text
}

/// `2026-11-23T21:31:48.123Z`.
fn rfc3339(timestamp_ms: i64) -> String {
    let since_epoch = Duration::from_millis(u64::try_from(timestamp_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(UNIX_EPOCH + since_epoch).to_string()
}

/// The level and text a readable line shows of `message` (a function's
/// JSON line, Lambda's, an access log line or plain text); none for the
/// platform events not worth a line.
pub fn summary(message: &str) -> Option<(String, String)> {
    let json = serde_json::from_str::<Value>(message).ok();
    describe(json.as_ref(), message)
}

/// The level and text of an event's line; none for the platform events
/// not worth a line.
fn describe(json: Option<&Value>, raw: &str) -> Option<(String, String)> {
    let Some(json) = json else {
        return Some(("-".to_owned(), raw.trim_end().to_owned()));
    };
    if let Some(kind) = json.get("type").and_then(Value::as_str)
        && kind.starts_with("platform.")
    {
        return (kind == "platform.report").then(|| ("REPORT".to_owned(), report(&json["record"])));
    }
    if let Some(line) = access_line(json) {
        return Some(line);
    }
    let level = json.get("level").and_then(Value::as_str).unwrap_or("-");
    let Some(fields) = json.get("fields").and_then(Value::as_object) else {
        // JSON, but not the functions' shape: shown as it is.
        return Some((level.to_owned(), raw.trim_end().to_owned()));
    };
    let mut text = fields.get("message").map(plain).unwrap_or_default();
    let rest = fields
        .keys()
        .filter(|key| *key != "message" && !LEADING_FIELDS.contains(&key.as_str()));
    for key in LEADING_FIELDS
        .iter()
        .copied()
        .chain(rest.map(String::as_str))
    {
        if let Some(value) = fields.get(key) {
            text.push_str(&format!(" {key}={}", quoted(value)));
        }
    }
    if let Some(request) = json["span"]["requestId"].as_str() {
        text.push_str(&format!(" request={request}"));
    }
    Some((level.to_owned(), text))
}

/// An API Gateway access log line (the stage's format: see
/// `chat::access_log_format`): the status as its level, then the event and
/// route, the connection and user, how the integration answered and how
/// fast, and the errors; API Gateway's `-` (no value) left out.
fn access_line(json: &Value) -> Option<(String, String)> {
    let fields = json.as_object()?;
    if !(fields.contains_key("eventType") && fields.contains_key("routeKey")) {
        return None;
    }
    let value = |key: &str| {
        fields
            .get(key)
            .map(plain)
            .filter(|text| !text.is_empty() && text != "-")
    };
    let mut text = format!(
        "{} {}",
        value("eventType").unwrap_or_else(|| "-".to_owned()),
        value("routeKey").unwrap_or_else(|| "-".to_owned())
    );
    for (key, name) in [
        ("connectionId", "connection_id"),
        ("user", "user"),
        ("integrationStatus", "integration"),
        ("integrationLatency", "latency_ms"),
        ("integrationError", "integration_error"),
        ("authorizerError", "authorizer_error"),
        ("error", "error"),
        ("sourceIp", "source_ip"),
        ("requestId", "request"),
    ] {
        if let Some(found) = value(key) {
            text.push_str(&format!(" {name}={}", quoted(&Value::String(found))));
        }
    }
    Some((value("status").unwrap_or_else(|| "-".to_owned()), text))
}

/// `platform.report`'s record in a few words: how long the invocation
/// took, what it was billed, the memory it used and, after a cold start,
/// how long the start took.
fn report(record: &Value) -> String {
    let metrics = &record["metrics"];
    let number = |name: &str| metrics[name].as_f64().map(|n| format!("{n}"));
    let mut text = format!(
        "{} ms (billed {} ms), memory {} of {} MB",
        number("durationMs").unwrap_or_else(|| "?".to_owned()),
        number("billedDurationMs").unwrap_or_else(|| "?".to_owned()),
        number("maxMemoryUsedMB").unwrap_or_else(|| "?".to_owned()),
        number("memorySizeMB").unwrap_or_else(|| "?".to_owned()),
    );
    if let Some(init) = number("initDurationMs") {
        text.push_str(&format!(", cold start {init} ms"));
    }
    if let Some(status) = record["status"].as_str().filter(|s| *s != "success") {
        text.push_str(&format!(", status {status}"));
    }
    if let Some(request) = record["requestId"].as_str() {
        text.push_str(&format!(" request={request}"));
    }
    text
}

/// The fields of a segment's last line.
fn segment_done(json: &Value) -> Option<&Map<String, Value>> {
    let fields = json.get("fields")?.as_object()?;
    (fields.get("message")?.as_str()? == SEGMENT_DONE).then_some(fields)
}

/// A value as text: strings without their quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A field's value as `key=value` shows it: quoted when it has spaces.
fn quoted(value: &Value) -> String {
    match value {
        Value::String(text) if text.is_empty() || text.contains([' ', '"']) => {
            format!("{text:?}")
        }
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(events: &[(&str, i64, &str)], format: Format) -> String {
        let logs: Vec<FunctionLog> = ["sendmessage", "fanout"]
            .iter()
            .map(|f| FunctionLog {
                function: (*f).to_owned(),
                group: format!("/aws/lambda/chatstack-dev-{f}"),
            })
            .collect();
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, format, &logs);
        for (at, (function, timestamp_ms, message)) in events.iter().enumerate() {
            let event = LogEvent {
                timestamp_ms: *timestamp_ms,
                event_id: at.to_string(),
                stream: "2026/11/23/[$LATEST]abc".to_owned(),
                message: (*message).to_owned(),
            };
            printer.event(function, &event).unwrap();
        }
        printer.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    /// 2026-11-23T21:31:48.123Z.
    const T: i64 = 1_795_469_508_123;

    #[test]
    fn a_function_line_shows_time_level_message_fields_and_request() {
        let line = r#"{"level":"INFO","fields":{"message":"broadcast done","source":"sendmessage","connection_id":"Bc2d=","sent":2,"gone":0,"failed":0,"unreached":0,"duration_ms":19},"span":{"requestId":"c940e945","name":"Lambda runtime invoke"}}"#;
        assert_eq!(
            printed(&[("sendmessage", T, line)], Format::Text),
            "--- 2026-11-23 (times in UTC) ---\n\
             21:31:48.123 sendmessage INFO   broadcast done connection_id=Bc2d= sent=2 gone=0 \
             failed=0 unreached=0 duration_ms=19 source=sendmessage request=c940e945\n"
        );
    }

    #[test]
    fn an_access_log_line_shows_status_event_route_and_what_went_wrong() {
        let format: Value = serde_json::from_str(&crate::chat::access_log_format(true)).unwrap();
        // API Gateway fills the stage's format in, `-` where it has nothing.
        let mut line = format.clone();
        for (key, value) in [
            ("requestId", "Bc3kQ"),
            ("time", "1795469508123"),
            ("connectionId", "Bc2d="),
            ("eventType", "MESSAGE"),
            ("routeKey", "sendmessage"),
            ("status", "500"),
            ("integrationStatus", "500"),
            ("integrationLatency", "29003"),
            ("integrationError", "Lambda timed out"),
            ("authorizerError", "-"),
            ("error", "Internal server error"),
            ("user", "alice"),
            ("sourceIp", "198.51.100.7"),
        ] {
            assert!(line.get(key).is_some(), "the stage's format has {key}");
            line[key] = value.into();
        }
        assert_eq!(
            printed(&[("access", T, &line.to_string())], Format::Text),
            "--- 2026-11-23 (times in UTC) ---\n\
             21:31:48.123 access      500    MESSAGE sendmessage connection_id=Bc2d= user=alice \
             integration=500 latency_ms=29003 integration_error=\"Lambda timed out\" \
             error=\"Internal server error\" source_ip=198.51.100.7 request=Bc3kQ\n"
        );
        let mut connect = format;
        for key in connect
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
        {
            connect[&key] = "-".into();
        }
        connect["eventType"] = "CONNECT".into();
        connect["routeKey"] = "$connect".into();
        connect["status"] = "403".into();
        connect["connectionId"] = "Bc9x=".into();
        assert!(
            printed(&[("access", T, &connect.to_string())], Format::Text)
                .ends_with("access      403    CONNECT $connect connection_id=Bc9x=\n")
        );
    }

    #[test]
    fn the_room_follows_who_a_line_is_about() {
        let line = r#"{"level":"INFO","fields":{"message":"joined","connection_id":"Bc2d=","room":"ops","action":"join"}}"#;
        assert_eq!(
            printed(&[("rooms", T, line)], Format::Text),
            "--- 2026-11-23 (times in UTC) ---\n\
             21:31:48.123 rooms       INFO   joined connection_id=Bc2d= room=ops action=join\n"
        );
    }

    #[test]
    fn platform_start_is_hidden_and_report_is_one_line() {
        let start = r#"{"time":"2026-11-23T21:31:48.100Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}}"#;
        let report = r#"{"time":"2026-11-23T21:31:48.200Z","type":"platform.report","record":{"requestId":"r1","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":21,"initDurationMs":40.25},"status":"success"}}"#;
        let timeout = r#"{"type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":3000,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":30},"status":"timeout"}}"#;
        let text = printed(
            &[
                ("fanout", T, start),
                ("fanout", T + 100, report),
                ("fanout", T + 5000, timeout),
            ],
            Format::Text,
        );
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "21:31:48.223 fanout      REPORT 12.5 ms (billed 13 ms), memory 21 of 128 MB, cold start 40.25 ms request=r1",
                "21:31:53.123 fanout      REPORT 3000 ms (billed 3000 ms), memory 30 of 128 MB, status timeout request=r2",
            ]
        );
    }

    #[test]
    fn plain_lines_and_other_json_are_shown_as_they_are() {
        let text = printed(
            &[
                ("fanout", T, "thread 'main' panicked at src/main.rs:3:5\n"),
                ("fanout", T, r#"{"level":"WARN","msg":"not tracing"}"#),
            ],
            Format::Text,
        );
        assert!(
            text.contains("fanout      -      thread 'main' panicked at src/main.rs:3:5\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"fanout      WARN   {"level":"WARN","msg":"not tracing"}"#),
            "{text}"
        );
    }

    #[test]
    fn a_split_broadcast_gets_its_total_after_its_last_segment() {
        let segment = |n: u64, sent: u64| {
            format!(
                r#"{{"level":"INFO","fields":{{"message":"broadcast segment done","broadcast_id":"b1","segment":{n},"total_segments":3,"jobs":2,"sent":{sent},"gone":1,"failed":0}}}}"#
            )
        };
        let (s0, s1, s2) = (segment(0, 10), segment(1, 20), segment(2, 30));
        let text = printed(
            &[
                ("fanout", T, &s0),
                ("fanout", T + 1, &s1),
                ("fanout", T + 1, &s1),
                ("fanout", T + 2, &s2),
            ],
            Format::Text,
        );
        let totals: Vec<&str> = text.lines().filter(|l| l.contains("TOTAL")).collect();
        assert_eq!(
            totals,
            [
                "21:31:48.125 fanout      TOTAL  broadcast b1 done, 3 segments: sent=60 gone=3 failed=0"
            ],
            "the repeated segment counts once: {text}"
        );
        let partial = printed(&[("fanout", T, &s0), ("fanout", T + 1, &s1)], Format::Text);
        assert!(
            partial.ends_with("21:31:48.124 fanout      TOTAL  broadcast b1 so far (2 of 3 segments logged): sent=30 gone=2 failed=0\n"),
            "{partial}"
        );
        // Connections a segment gave up on are added up too.
        let missed = s2.replace(r#""failed":0"#, r#""failed":0,"missed":7"#);
        let text = printed(
            &[
                ("fanout", T, &s0),
                ("fanout", T, &s1),
                ("fanout", T, &missed),
            ],
            Format::Text,
        );
        assert!(
            text.contains("TOTAL  broadcast b1 done, 3 segments: sent=60 gone=3 failed=0 missed=7"),
            "{text}"
        );
    }

    #[test]
    fn a_new_day_gets_a_header() {
        let line = r#"{"level":"INFO","fields":{"message":"x"}}"#;
        let text = printed(
            &[("fanout", T, line), ("fanout", T + 86_400_000, line)],
            Format::Text,
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("---"))
                .collect::<Vec<_>>(),
            [
                "--- 2026-11-23 (times in UTC) ---",
                "--- 2026-11-24 (times in UTC) ---"
            ]
        );
    }

    #[test]
    fn json_keeps_every_event_and_its_line() {
        let start = r#"{"type":"platform.start","record":{"requestId":"r1"}}"#;
        let text = printed(
            &[("fanout", T, start), ("fanout", T + 1, "plain\n")],
            Format::Json,
        );
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"]["type"], "platform.start");
        assert_eq!(lines[0]["time"], "2026-11-23T21:31:48.123Z");
        assert_eq!(lines[0]["function"], "fanout");
        assert_eq!(lines[1]["message"], "plain\n");
    }
}
