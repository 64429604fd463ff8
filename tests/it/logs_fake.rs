//! `chatstack logs` driven by a fake CloudWatch Logs: merging, paging,
//! following until Ctrl-C, and each error a user can act on. (moto has no
//! throttling or access control; the SDK path is in `logs_moto.rs`.)

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use chatstack::logs::render::Format;
use chatstack::logs::{
    EventPage, EventQuery, FunctionLog, LogEvent, LogSource, LogsError, LogsRequest, Output, Pace,
    ReadError, show_logs,
};

/// 2026-11-23T21:00:00Z.
const T0: i64 = 1_795_467_600_000;

/// One query: group, start, end, filter, token.
type Call = (String, i64, Option<i64>, Option<String>, Option<String>);

/// A stage's log groups with events the test adds as it goes.
#[derive(Default)]
struct FakeLogs {
    /// None: the stage has no stack.
    functions: Option<Vec<&'static str>>,
    /// Events by group, in time order.
    events: RefCell<BTreeMap<String, Vec<LogEvent>>>,
    /// Errors each group answers with before its events, in turn.
    errors: RefCell<BTreeMap<String, VecDeque<ReadError>>>,
    calls: RefCell<Vec<Call>>,
}

/// Events a page holds: small, so every read pages.
const PAGE: usize = 2;

fn group(function: &str) -> String {
    format!("/aws/lambda/chatstack-dev-{function}")
}

impl FakeLogs {
    fn new(functions: &[&'static str]) -> Rc<Self> {
        Rc::new(FakeLogs {
            functions: Some(functions.to_vec()),
            ..FakeLogs::default()
        })
    }

    fn add(&self, function: &str, offset_ms: i64, message: &str) {
        let mut events = self.events.borrow_mut();
        let list = events.entry(group(function)).or_default();
        let id = format!("{function}-{}", list.len());
        list.push(LogEvent {
            timestamp_ms: T0 + offset_ms,
            event_id: id,
            stream: "2026/11/23/[$LATEST]0123".to_owned(),
            message: message.to_owned(),
        });
        list.sort_by_key(|e| e.timestamp_ms);
    }

    fn fail(&self, function: &str, error: ReadError, times: usize) {
        let mut errors = self.errors.borrow_mut();
        let queue = errors.entry(group(function)).or_default();
        queue.extend(std::iter::repeat_n(error, times));
    }

    fn tokens(&self, function: &str) -> Vec<Option<String>> {
        self.calls
            .borrow()
            .iter()
            .filter(|call| call.0 == group(function))
            .map(|call| call.4.clone())
            .collect()
    }
}

impl LogSource for FakeLogs {
    async fn function_logs(&self) -> Result<Vec<FunctionLog>, LogsError> {
        let Some(functions) = &self.functions else {
            return Err(LogsError::NoStack {
                stack: "chatstack-dev".to_owned(),
                stage: "dev".to_owned(),
            });
        };
        Ok(functions
            .iter()
            .map(|f| FunctionLog {
                function: (*f).to_owned(),
                group: group(f),
            })
            .collect())
    }

    async fn filter_events(&self, query: &EventQuery<'_>) -> Result<EventPage, ReadError> {
        self.calls.borrow_mut().push((
            query.group.to_owned(),
            query.start_ms,
            query.end_ms,
            query.filter.map(str::to_owned),
            query.next_token.map(str::to_owned),
        ));
        if let Some(error) = self
            .errors
            .borrow_mut()
            .get_mut(query.group)
            .and_then(VecDeque::pop_front)
        {
            return Err(error);
        }
        let events = self.events.borrow();
        let matching: Vec<LogEvent> = events
            .get(query.group)
            .into_iter()
            .flatten()
            .filter(|e| e.timestamp_ms >= query.start_ms)
            .filter(|e| query.end_ms.is_none_or(|end| e.timestamp_ms <= end))
            .filter(|e| query.filter.is_none_or(|f| e.message.contains(f)))
            .cloned()
            .collect();
        let from: usize = query.next_token.map_or(0, |t| t.parse().unwrap());
        let to = (from + PAGE).min(matching.len());
        Ok(EventPage {
            events: matching[from..to].to_vec(),
            next_token: (to < matching.len()).then(|| to.to_string()),
        })
    }
}

fn line(message: &str) -> String {
    format!(r#"{{"level":"INFO","fields":{{"message":"{message}"}}}}"#)
}

fn request(functions: &[&str]) -> LogsRequest {
    LogsRequest {
        functions: functions.iter().map(|f| (*f).to_owned()).collect(),
        start_ms: T0,
        end_ms: Some(T0 + 60_000),
        filter: None,
        follow: false,
        format: Format::Text,
        place: "stage dev".to_owned(),
    }
}

struct Shown {
    result: Result<(), LogsError>,
    events: String,
    notes: String,
}

async fn show(source: &FakeLogs, request: &LogsRequest) -> Shown {
    show_until(source, request, std::future::pending()).await
}

async fn show_until(
    source: &FakeLogs,
    request: &LogsRequest,
    stop: impl std::future::Future<Output = ()>,
) -> Shown {
    let (mut events, mut notes) = (Vec::new(), Vec::new());
    let output = Output {
        events: &mut events,
        notes: &mut notes,
    };
    let result = show_logs(source, request, &Pace::default(), output, stop).await;
    Shown {
        result,
        events: String::from_utf8(events).unwrap(),
        notes: String::from_utf8(notes).unwrap(),
    }
}

/// The messages of the event lines, in the order printed.
fn messages(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("---"))
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn events_of_every_function_are_merged_in_time_order_across_pages() {
    let logs = FakeLogs::new(&["connect", "sendmessage", "fanout"]);
    for (function, at, message) in [
        ("connect", 0, "c1"),
        ("connect", 400, "c2"),
        ("connect", 900, "c3"),
        ("sendmessage", 100, "s1"),
        ("sendmessage", 400, "s2"),
        ("sendmessage", 500, "s3"),
        ("sendmessage", 800, "s4"),
        ("sendmessage", 1000, "s5"),
        ("fanout", 200, "f1"),
    ] {
        logs.add(function, at, &line(message));
    }
    let shown = show(&logs, &request(&[])).await;
    shown.result.unwrap();
    assert_eq!(
        messages(&shown.events),
        ["c1", "s1", "f1", "c2", "s2", "s3", "s4", "c3", "s5"],
        "by time; equal times in the functions' order:\n{}",
        shown.events
    );
    assert!(
        shown.events.contains("21:00:00.100 sendmessage INFO   s1"),
        "{}",
        shown.events
    );
    // Each page's token asks for the next; the last page has none.
    assert_eq!(
        logs.tokens("sendmessage"),
        [None, Some("2".to_owned()), Some("4".to_owned())]
    );
    assert_eq!(logs.tokens("fanout"), [None]);
    assert!(shown.notes.is_empty(), "{}", shown.notes);
}

#[tokio::test]
async fn the_window_filter_and_functions_reach_every_call() {
    let logs = FakeLogs::new(&["connect", "sendmessage", "fanout"]);
    logs.add("sendmessage", 10, &line("broadcast done"));
    logs.add("sendmessage", 20, &line("message refused"));
    logs.add("sendmessage", 120_000, &line("broadcast done later"));
    logs.add("connect", 10, &line("broadcast done elsewhere"));
    let mut request = request(&["sendmessage"]);
    request.filter = Some("broadcast".to_owned());
    let shown = show(&logs, &request).await;
    shown.result.unwrap();
    assert_eq!(messages(&shown.events), ["broadcast done"]);
    let calls = logs.calls.borrow();
    assert_eq!(calls.len(), 1, "only the function asked for: {calls:?}");
    assert_eq!(
        calls[0],
        (
            group("sendmessage"),
            T0,
            Some(T0 + 60_000),
            Some("broadcast".to_owned()),
            None
        )
    );
}

#[tokio::test]
async fn a_wrong_function_name_lists_the_real_ones() {
    let logs = FakeLogs::new(&["connect", "disconnect", "sendmessage"]);
    let shown = show(&logs, &request(&["sendmesage"])).await;
    let error = shown.result.unwrap_err().to_string();
    assert_eq!(
        error,
        "stage dev has no function \"sendmesage\"; its functions are: connect, disconnect, sendmessage"
    );
    let shown = show(&logs, &request(&["notify"])).await;
    let error = shown.result.unwrap_err().to_string();
    assert!(
        error.contains("its settings leave that function out"),
        "{error}"
    );
    assert!(logs.calls.borrow().is_empty(), "nothing read");
}

#[tokio::test]
async fn a_stage_without_a_stack_says_to_deploy_it_and_reads_nothing() {
    let logs = Rc::new(FakeLogs::default());
    let mut request = request(&[]);
    request.follow = true;
    let shown = show(&logs, &request).await;
    assert_eq!(
        shown.result.unwrap_err().to_string(),
        "there is no stack chatstack-dev: deploy the stage first (chatstack deploy --stage dev)"
    );
    assert!(logs.calls.borrow().is_empty());
    assert_eq!(shown.events, "");
}

#[tokio::test]
async fn nothing_logged_yet_says_what_to_do() {
    let logs = FakeLogs::new(&["connect", "sendmessage"]);
    // A group nobody wrote to may not exist at all.
    logs.fail("connect", ReadError::NoGroup, 1);
    let shown = show(&logs, &request(&[])).await;
    shown.result.unwrap();
    assert_eq!(shown.events, "");
    assert!(
        shown
            .notes
            .starts_with("No log events from stage dev in that window."),
        "{}",
        shown.notes
    );
    assert!(shown.notes.contains("--since 1h"), "{}", shown.notes);
}

#[tokio::test]
async fn a_missing_group_does_not_hide_the_others() {
    let logs = FakeLogs::new(&["connect", "sendmessage"]);
    logs.fail("connect", ReadError::NoGroup, 1);
    logs.add("sendmessage", 5, &line("s1"));
    let shown = show(&logs, &request(&[])).await;
    shown.result.unwrap();
    assert_eq!(messages(&shown.events), ["s1"]);
}

#[tokio::test]
async fn no_permission_names_the_action_and_the_group() {
    let logs = FakeLogs::new(&["connect", "sendmessage"]);
    logs.add("connect", 5, &line("c1"));
    logs.fail(
        "sendmessage",
        ReadError::AccessDenied("User: arn:aws:iam::1:user/x is not authorized".to_owned()),
        1,
    );
    let shown = show(&logs, &request(&[])).await;
    let error = shown.result.unwrap_err().to_string();
    assert!(
        error.starts_with("not allowed to read /aws/lambda/chatstack-dev-sendmessage"),
        "{error}"
    );
    assert!(error.contains("logs:FilterLogEvents"), "{error}");
    assert!(error.contains("is not authorized"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn throttled_reads_back_off_and_then_succeed() {
    let logs = FakeLogs::new(&["sendmessage"]);
    logs.add("sendmessage", 5, &line("s1"));
    logs.fail(
        "sendmessage",
        ReadError::Throttled("Rate exceeded".to_owned()),
        3,
    );
    let started = tokio::time::Instant::now();
    let shown = show(&logs, &request(&[])).await;
    shown.result.unwrap();
    assert_eq!(messages(&shown.events), ["s1"]);
    // 0.5 + 1 + 2 seconds of pauses, doubling.
    assert_eq!(started.elapsed(), Duration::from_millis(3_500));
    assert_eq!(
        shown.notes,
        "CloudWatch Logs is throttling the reads (Rate exceeded); backing off.\n"
    );
}

#[tokio::test(start_paused = true)]
async fn reads_throttled_for_good_give_up_with_advice() {
    let logs = FakeLogs::new(&["sendmessage"]);
    logs.fail(
        "sendmessage",
        ReadError::Throttled("Rate exceeded".to_owned()),
        100,
    );
    let shown = show(&logs, &request(&[])).await;
    let error = shown.result.unwrap_err().to_string();
    assert!(error.contains("kept throttling"), "{error}");
    assert!(error.contains("6 tries"), "{error}");
    assert_eq!(logs.calls.borrow().len(), 6);
}

#[tokio::test(start_paused = true)]
async fn follow_prints_each_event_once_as_it_arrives_until_ctrl_c() {
    let logs = FakeLogs::new(&["connect", "sendmessage"]);
    logs.add("connect", 0, &line("first"));
    let mut request = request(&[]);
    request.follow = true;
    request.end_ms = None;
    let feeder = logs.clone();
    let stop = async move {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        feeder.add("sendmessage", 40_000, &line("second"));
        feeder.add("connect", 41_000, &line("third"));
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        // Reached CloudWatch late, with an earlier time than the newest
        // event shown: still within the lookback, so still shown.
        feeder.add("sendmessage", 20_000, &line("late"));
        // Older than the lookback allows: never asked for again.
        feeder.add("sendmessage", 5_000, &line("too late"));
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        // Ctrl-C.
    };
    let shown = show_until(&logs, &request, stop).await;
    shown.result.unwrap();
    assert_eq!(
        messages(&shown.events),
        ["first", "second", "third", "late"],
        "{}",
        shown.events
    );
    // Later rounds start a lookback (30 s) before the newest event seen.
    let starts: Vec<i64> = logs.calls.borrow().iter().map(|c| c.1 - T0).collect();
    assert_eq!(starts.first(), Some(&0));
    assert_eq!(starts.last(), Some(&(41_000 - 30_000)));
    assert!(
        logs.calls.borrow().iter().all(|c| c.2.is_none()),
        "no end while following"
    );
}

/// An access log line as API Gateway writes it in the stage's format:
/// `-` where it has no value.
fn access_line(event: &str, route: &str, status: &str, connection: &str) -> String {
    let mut line: serde_json::Value =
        serde_json::from_str(&chatstack::chat::access_log_format(false)).unwrap();
    for value in line.as_object_mut().unwrap().values_mut() {
        *value = "-".into();
    }
    line["eventType"] = event.into();
    line["routeKey"] = route.into();
    line["status"] = status.into();
    line["connectionId"] = connection.into();
    line.to_string()
}

#[tokio::test]
async fn the_access_log_takes_the_same_window_filter_and_follow_and_reads_as_lines() {
    // `--access`: the stage's access log group is the one log read.
    let logs = FakeLogs::new(&["access"]);
    logs.add(
        "access",
        0,
        &access_line("MESSAGE", "sendmessage", "500", "A="),
    );
    logs.add(
        "access",
        10,
        &access_line("CONNECT", "$connect", "200", "B="),
    );
    let mut request = request(&[]);
    request.follow = true;
    request.end_ms = None;
    request.filter = Some("sendmessage".to_owned());
    let feeder = logs.clone();
    let stop = async move {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        feeder.add(
            "access",
            30_000,
            &access_line("MESSAGE", "sendmessage", "200", "C="),
        );
        tokio::time::sleep(Duration::from_millis(2_000)).await;
    };
    let shown = show_until(&logs, &request, stop).await;
    shown.result.unwrap();
    let lines: Vec<&str> = shown
        .events
        .lines()
        .filter(|l| !l.starts_with("---"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", shown.events);
    assert!(
        lines[0].ends_with(" access 500    MESSAGE sendmessage connection_id=A="),
        "{}",
        shown.events
    );
    assert!(
        lines[1].ends_with(" access 200    MESSAGE sendmessage connection_id=C="),
        "{}",
        shown.events
    );
    let calls = logs.calls.borrow();
    assert!(calls.len() > 1, "followed: {calls:?}");
    assert!(
        calls
            .iter()
            .all(|call| call.3.as_deref() == Some("sendmessage") && call.2.is_none()),
        "{calls:?}"
    );
}
