//! `chatstack status` against a scripted account: what a deployed stage
//! shows, what it asks CloudWatch, and each part it may not read said in
//! its place while the others still show. `chatstack cost` reads the same
//! account for a stage's month.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chatstack::aws::CloudError;
use chatstack::chat::StageName;
use chatstack::cost;
use chatstack::logs::FunctionLog;
use chatstack::status::{
    self, AlarmInfo, ErrorLine, MetricQuery, StackInfo, StatusError, StatusSource,
};

const NOW_MS: i64 = 1_796_569_200_000; // 2026-12-06T15:00:00Z

#[derive(Default)]
struct FakeAccount {
    stack: Option<StackInfo>,
    alarms: Option<Result<Vec<AlarmInfo>, CloudError>>,
    metrics: BTreeMap<(String, String), f64>,
    metrics_error: Option<CloudError>,
    queues: BTreeMap<String, u64>,
    errors: Vec<ErrorLine>,
    asked: RefCell<Vec<MetricQuery>>,
    windows: RefCell<Vec<(i64, i64)>>,
}

impl StatusSource for FakeAccount {
    async fn stack(&self, name: &str) -> Result<Option<StackInfo>, CloudError> {
        Ok(self.stack.clone().filter(|stack| stack.name == name))
    }

    async fn alarms(&self, prefix: &str) -> Result<Vec<AlarmInfo>, CloudError> {
        assert_eq!(prefix, "chatstack-prod-");
        self.alarms.clone().unwrap_or(Ok(Vec::new()))
    }

    async fn metrics(
        &self,
        queries: &[MetricQuery],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Option<f64>>, CloudError> {
        self.asked.borrow_mut().extend(queries.iter().cloned());
        self.windows.borrow_mut().push((start_ms, end_ms));
        if let Some(error) = &self.metrics_error {
            return Err(error.clone());
        }
        Ok(queries
            .iter()
            .map(|q| {
                let who = q
                    .dimensions
                    .first()
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                self.metrics.get(&(q.name.to_owned(), who)).copied()
            })
            .collect())
    }

    async fn queue_messages(&self, url: &str) -> Result<u64, CloudError> {
        self.queues
            .get(url)
            .copied()
            .ok_or_else(|| CloudError::Other(format!("no queue {url}")))
    }

    async fn errors(
        &self,
        logs: &[FunctionLog],
        start_ms: i64,
        most: usize,
    ) -> Result<Vec<ErrorLine>, CloudError> {
        assert_eq!(start_ms, NOW_MS - 3_600_000, "the last hour");
        assert!(logs.iter().any(|log| log.function == "sendmessage"));
        Ok(self.errors.iter().take(most).cloned().collect())
    }
}

fn resource(logical: &str, physical: &str, kind: &str) -> (String, String, String) {
    (logical.to_owned(), physical.to_owned(), kind.to_owned())
}

const QUEUE: &str = "https://sqs.eu-west-1.amazonaws.com/1/chatstack-prod-fanout.fifo";
const DEAD_LETTERS: &str = "https://sqs.eu-west-1.amazonaws.com/1/chatstack-prod-fanout-dlq.fifo";

fn account() -> FakeAccount {
    let stack = StackInfo {
        name: "chatstack-prod".to_owned(),
        status: "UPDATE_COMPLETE".to_owned(),
        reason: None,
        updated_ms: Some(NOW_MS - 3 * 3_600_000),
        outputs: [
            (
                "CallbackUrl",
                "https://a1.execute-api.eu-west-1.amazonaws.com/prod",
            ),
            (
                "WebSocketUrl",
                "wss://a1.execute-api.eu-west-1.amazonaws.com/prod",
            ),
            ("DomainWebSocketUrl", "wss://chat.example.com"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
        resources: vec![
            resource("WebSocketApi", "a1", "AWS::ApiGatewayV2::Api"),
            resource(
                "SendMessageFunction",
                "chatstack-prod-SendMessage-X1",
                "AWS::Lambda::Function",
            ),
            resource(
                "FanoutFunction",
                "chatstack-prod-Fanout-X2",
                "AWS::Lambda::Function",
            ),
            resource(
                "SendMessageLogGroup",
                "/aws/lambda/chatstack-prod-sendmessage",
                "AWS::Logs::LogGroup",
            ),
            resource("FanoutQueue", QUEUE, "AWS::SQS::Queue"),
            resource(
                "ConnectionsTable",
                "chatstack-prod-Connections-T1",
                "AWS::DynamoDB::Table",
            ),
            resource("FanoutDeadLetterQueue", DEAD_LETTERS, "AWS::SQS::Queue"),
        ],
    };
    let alarm = |name: &str, state: &str| AlarmInfo {
        name: format!("chatstack-prod-{name}"),
        state: state.to_owned(),
        reason: format!("Threshold Crossed: {name}"),
        since: Some("2026-12-06T14:05:00Z".to_owned()),
    };
    FakeAccount {
        stack: Some(stack),
        alarms: Some(Ok(vec![
            alarm("sendmessage-errors", "ALARM"),
            alarm("fanout-dead-letters", "ALARM"),
            alarm("connect-errors", "OK"),
            alarm("api-integration-errors", "INSUFFICIENT_DATA"),
            alarm("api-execution-errors", "OK"),
        ])),
        metrics: [
            (("ConnectCount", "a1"), 1204.0),
            (("MessageCount", "a1"), 58311.0),
            (("IntegrationError", "a1"), 3.0),
            (("ClientError", "a1"), 12.0),
            (("Errors", "chatstack-prod-SendMessage-X1"), 4.0),
            (("Throttles", "chatstack-prod-Fanout-X2"), 2.0),
        ]
        .into_iter()
        .map(|((name, who), value)| ((name.to_owned(), who.to_owned()), value))
        .collect(),
        queues: [(QUEUE.to_owned(), 7), (DEAD_LETTERS.to_owned(), 2)].into(),
        errors: vec![ErrorLine {
            time: "2026-12-06T14:10:02Z".to_owned(),
            function: "sendmessage".to_owned(),
            text: "could not keep the message \u{1b}[2J room=ops".to_owned(),
        }],
        ..FakeAccount::default()
    }
}

fn prod() -> StageName {
    "prod".parse().unwrap()
}

#[tokio::test]
async fn a_stage_on_one_screen() {
    let account = account();
    let report = status::gather(&account, &prod(), NOW_MS).await.unwrap();
    let mut out = Vec::new();
    status::write_text(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Stage prod: stack chatstack-prod UPDATE_COMPLETE, last changed 2026-12-06T12:00:00Z"
    );
    assert!(
        lines[1].contains("DomainWebSocketUrl") && lines[1].ends_with("wss://chat.example.com"),
        "{text}"
    );
    assert!(lines[2].contains("WebSocketUrl"), "the URLs first: {text}");
    for expected in [
        "Alarms: 3 of 5 not OK",
        "  ALARM             chatstack-prod-sendmessage-errors since 2026-12-06T14:05:00Z: Threshold Crossed: sendmessage-errors",
        "  INSUFFICIENT_DATA chatstack-prod-api-integration-errors",
        "Last hour: 1204 connections, 58311 messages; errors: 3 integration, 12 client, 0 execution",
        "  function errors: sendmessage 4",
        "  throttled: fanout 2",
        "Fan-out: 7 jobs waiting, 2 dead letters (kept 14 days; why: chatstack logs --stage prod --function fanout --filter ERROR --since 1h)",
        "Last errors logged (the last hour):",
        "  2026-12-06T14:10:02Z sendmessage could not keep the message \\u{1b}[2J room=ops",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(expected)),
            "no {expected:?} in:\n{text}"
        );
    }
    assert!(
        !text.contains("connect-errors"),
        "OK alarms are counted, not listed"
    );
    assert!(
        !text.contains('\u{1b}'),
        "logged text is made visible, not run"
    );

    // The API's metrics by API and stage, each function's by its name, over the last hour.
    let asked = account.asked.borrow();
    let connects = asked.iter().find(|q| q.name == "ConnectCount").unwrap();
    assert_eq!(connects.namespace, "AWS/ApiGateway");
    assert_eq!(
        connects.dimensions,
        [("ApiId", "a1".to_owned()), ("Stage", "prod".to_owned())]
    );
    assert!(asked.iter().any(|q| q.name == "Errors"
        && q.dimensions == [("FunctionName", "chatstack-prod-SendMessage-X1".to_owned())]));
    assert_eq!(account.windows.borrow()[0], (NOW_MS - 3_600_000, NOW_MS));

    // --json: the same, for scripts.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["stack"]["status"], "UPDATE_COMPLETE");
    assert_eq!(json["lastHour"]["connections"], 1204);
    assert_eq!(json["lastHour"]["functionErrors"]["sendmessage"], 4);
    assert_eq!(json["fanout"]["deadLetters"], 2);
    assert_eq!(json["alarms"][0]["state"], "ALARM");
    assert_eq!(json["unavailable"], serde_json::json!({}));
}

#[tokio::test]
async fn what_may_not_be_read_is_said_in_its_place_and_the_rest_shows() {
    let mut account = account();
    let denied = CloudError::Other(
        "AccessDeniedException: User is not authorized to perform: cloudwatch:DescribeAlarms"
            .to_owned(),
    );
    account.alarms = Some(Err(denied.clone()));
    account.metrics_error = Some(CloudError::Other(
        "AccessDeniedException: not authorized to perform: cloudwatch:GetMetricData".to_owned(),
    ));
    account.queues.remove(DEAD_LETTERS);
    let report = status::gather(&account, &prod(), NOW_MS).await.unwrap();
    assert!(report.alarms.is_none() && report.last_hour.is_none() && report.fanout.is_none());
    assert!(
        report.unavailable["alarms"].starts_with("not allowed (AccessDeniedException")
            && report.unavailable["alarms"].contains("cloudwatch:DescribeAlarms"),
        "{:?}",
        report.unavailable
    );
    assert!(report.unavailable["lastHour"].contains("cloudwatch:GetMetricData"));
    assert!(report.unavailable["fanout"].contains("no queue"));
    // The stack and the errors still show.
    assert_eq!(report.stack.status, "UPDATE_COMPLETE");
    assert_eq!(report.errors.as_ref().unwrap().len(), 1);
    let mut out = Vec::new();
    status::write_text(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("(alarms: not allowed"), "{text}");
}

#[tokio::test]
async fn a_stage_without_a_stack_says_to_deploy_it_and_one_without_alarms_how_to_have_them() {
    let empty = FakeAccount::default();
    let error = status::gather(&empty, &prod(), NOW_MS).await.unwrap_err();
    assert!(matches!(error, StatusError::NoStack { .. }));
    assert_eq!(
        error.to_string(),
        "there is no stack chatstack-prod: deploy the stage first (chatstack deploy --stage prod)"
    );
    let mut quiet = account();
    quiet.alarms = Some(Ok(Vec::new()));
    let report = status::gather(&quiet, &prod(), NOW_MS).await.unwrap();
    let mut out = Vec::new();
    status::write_text(&mut out, &report).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Alarms: none (set [stages.prod.alarms] to be told when it breaks)")
    );
}

#[tokio::test]
async fn a_month_from_a_stage_s_metrics_is_the_last_days_scaled_to_thirty() {
    let mut account = account();
    if let Some(stack) = account.stack.as_mut() {
        stack.resources.push(resource(
            "ConnectFunction",
            "chatstack-prod-Connect-X3",
            "AWS::Lambda::Function",
        ));
    }
    account.metrics.extend(
        [
            ("Invocations", "chatstack-prod-SendMessage-X1", 1000.0),
            ("Invocations", "chatstack-prod-Fanout-X2", 200.0),
            // Milliseconds, summed, of 512 MB functions and a 128 MB one.
            ("Duration", "chatstack-prod-SendMessage-X1", 50_000.0),
            ("Duration", "chatstack-prod-Fanout-X2", 20_000.0),
            ("Duration", "chatstack-prod-Connect-X3", 40_000.0),
            (
                "ConsumedWriteCapacityUnits",
                "chatstack-prod-Connections-T1",
                300.0,
            ),
            (
                "ConsumedReadCapacityUnits",
                "chatstack-prod-Connections-T1",
                700.0,
            ),
            ("NumberOfMessagesSent", "chatstack-prod-fanout.fifo", 50.0),
            (
                "NumberOfMessagesReceived",
                "chatstack-prod-fanout.fifo",
                60.0,
            ),
            (
                "NumberOfMessagesDeleted",
                "chatstack-prod-fanout.fifo",
                50.0,
            ),
        ]
        .map(|(name, who, value)| ((name.to_owned(), who.to_owned()), value)),
    );
    let usage = cost::usage_from_metrics(&account, &prod(), NOW_MS, 3, 20.0)
        .await
        .unwrap();
    assert_eq!(
        account.windows.borrow()[0],
        (NOW_MS - 3 * 86_400_000, NOW_MS)
    );
    let close = |actual: f64, expected: f64| (actual - expected).abs() < 1e-6;
    // Three days, times ten.
    assert!(close(usage.api_messages, 583_110.0), "{usage:?}");
    assert!(
        close(usage.connection_minutes, 12_040.0 * 20.0),
        "{usage:?}"
    );
    assert!(close(usage.lambda_requests, 12_000.0), "{usage:?}");
    assert!(
        close(
            usage.lambda_gb_seconds,
            10.0 * (50.0 * 0.5 + 20.0 * 0.5 + 40.0 * 0.125)
        ),
        "{usage:?}"
    );
    assert!(close(usage.write_units, 3000.0) && close(usage.read_units, 7000.0));
    assert!(close(usage.sqs_requests, 1600.0), "{usage:?}");
    let asked = account.asked.borrow();
    let messages = asked.iter().find(|q| q.name == "MessageCount").unwrap();
    assert_eq!(
        messages.dimensions,
        [("ApiId", "a1".to_owned()), ("Stage", "prod".to_owned())]
    );
    assert!(asked.iter().all(|q| q.stat == "Sum"));
    assert!(
        usage
            .assumptions
            .iter()
            .any(|a| a.contains("20 minutes a connection")),
        "{:?}",
        usage.assumptions
    );

    let estimate = cost::estimate(&usage);
    assert!(
        estimate.total_usd > 0.58 && estimate.total_usd < 0.7,
        "{estimate:?}"
    );
}

#[tokio::test]
async fn a_month_of_a_stage_without_a_stack_says_to_deploy_it() {
    let error = cost::usage_from_metrics(&FakeAccount::default(), &prod(), NOW_MS, 7, 30.0)
        .await
        .unwrap_err();
    assert!(matches!(error, StatusError::NoStack { .. }), "{error}");
}
