//! `chatstack status` through the real SDK against moto: a stage deployed
//! there, alarms in ALARM and OK, dead letters, an error logged, metrics
//! read with GetMetricData. moto's CloudFormation makes no alarms (the
//! test makes them as the template names them) and gives the WebSocket
//! API no id (so the last hour's traffic is said to be unavailable; the
//! fake drives that part whole). `chatstack cost --stage` reads the same
//! metrics.

use std::path::Path;

use chatstack::status::{MetricQuery, StatusSource};

use crate::common::moto::Moto;
use crate::common::scratch_dir;

fn deploy(moto: &Moto, dir: &Path) {
    Moto::write_zips(dir, "v1");
    moto.deploy(
        "ci",
        dir,
        Some("[stages.ci.alarms]\nemail = \"ops@example.com\"\n"),
    );
}

#[test]
fn status_shows_the_stack_alarms_dead_letters_and_errors_through_the_sdk() {
    let moto = Moto::start();
    deploy(&moto, &scratch_dir("status_moto"));
    let sendmessage = moto.boto3(
        r#"import time
cf = boto3.client('cloudformation', **kw)
resources = {r['LogicalResourceId']: r['PhysicalResourceId'] for r in cf.list_stack_resources(StackName='chatstack-ci')['StackResourceSummaries']}
cw = boto3.client('cloudwatch', **kw)
def alarm(name, metric, dimensions):
    cw.put_metric_alarm(AlarmName='chatstack-ci-' + name, Namespace='AWS/Lambda', MetricName=metric,
        Dimensions=dimensions, Statistic='Sum', Period=300, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator='GreaterThanOrEqualToThreshold')
function = resources['SendMessageFunction']
alarm('sendmessage-errors', 'Errors', [{'Name': 'FunctionName', 'Value': function}])
alarm('sendmessage-throttles', 'Throttles', [{'Name': 'FunctionName', 'Value': function}])
cw.set_alarm_state(AlarmName='chatstack-ci-sendmessage-errors', StateValue='ALARM', StateReason='Threshold Crossed: 3 errors')
cw.set_alarm_state(AlarmName='chatstack-ci-sendmessage-throttles', StateValue='OK', StateReason='fine')
cw.put_metric_data(Namespace='AWS/Lambda', MetricData=[{'MetricName': 'Errors',
    'Dimensions': [{'Name': 'FunctionName', 'Value': function}], 'Value': 3}])
sqs = boto3.client('sqs', **kw)
for n in range(2):
    sqs.send_message(QueueUrl=resources['FanoutDeadLetterQueue'], MessageBody='job %d' % n,
        MessageGroupId='g', MessageDeduplicationId='d%d' % n)
logs = boto3.client('logs', **kw)
group = resources['SendMessageLogGroup']
logs.create_log_stream(logGroupName=group, logStreamName='s')
line = {'level': 'ERROR', 'fields': {'message': 'could not keep the message', 'room': 'ops'}}
logs.put_log_events(logGroupName=group, logStreamName='s', logEvents=[
    {'timestamp': int(time.time() * 1000) - 60_000, 'message': json.dumps(line)}])
print(function)"#,
    );

    let output = moto.chatstack(&["status", "--stage", "ci"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Stage ci: stack chatstack-ci CREATE_COMPLETE",
        "Alarms: 1 of 2 not OK",
        "  ALARM             chatstack-ci-sendmessage-errors since ",
        "Fan-out: 0 jobs waiting, 2 dead letters",
        "Last errors logged (the last hour):",
        "(lastHour: the stack names no WebSocket API (WebSocketApi))",
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(expected)),
            "no {expected:?} in:\n{text}"
        );
    }
    assert!(
        text.contains("sendmessage could not keep the message room=ops"),
        "{text}"
    );

    let json = moto.chatstack(&["status", "--stage", "ci", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["fanout"]["deadLetters"], 2);
    assert_eq!(report["alarms"].as_array().unwrap().len(), 2);
    assert_eq!(report["errors"][0]["function"], "sendmessage");

    // GetMetricData through the SDK: the function's errors of the last hour.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let errors = runtime.block_on(async {
        let config = moto.sdk_config().await;
        let source =
            chatstack::status::aws::AwsStatus::new(&config, &"ci".parse().unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let query = |name: &'static str| MetricQuery {
            namespace: "AWS/Lambda",
            name,
            dimensions: vec![("FunctionName", sendmessage.clone())],
            stat: "Sum",
        };
        source
            .metrics(
                &[query("Errors"), query("Throttles")],
                now - 3_600_000,
                now + 60_000,
            )
            .await
            .unwrap()
    });
    assert_eq!(errors, [Some(3.0), None]);

    // cost --stage: a day's invocations and duration, times 30; the API,
    // which moto does not make, said not counted.
    moto.boto3(&format!(
        r#"import datetime
cw = boto3.client('cloudwatch', **kw)
dimensions = [{{'Name': 'FunctionName', 'Value': {sendmessage:?}}}]
# A minute ago: moto counts a point only before the window's end, in whole seconds.
at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
cw.put_metric_data(Namespace='AWS/Lambda', MetricData=[
    {{'MetricName': 'Invocations', 'Dimensions': dimensions, 'Value': 40, 'Timestamp': at}},
    {{'MetricName': 'Duration', 'Dimensions': dimensions, 'Value': 2048000, 'Timestamp': at}}])"#
    ));
    let cost = moto.chatstack(&["cost", "--stage", "ci", "--days", "1", "--json"]);
    assert!(cost.status.success(), "{cost:?}");
    let estimate: serde_json::Value = serde_json::from_slice(&cost.stdout).expect("JSON");
    let line = |item: &str| {
        estimate["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["service"] == "Lambda" && line["item"] == item)
            .cloned()
            .unwrap_or_else(|| panic!("no Lambda {item} in {estimate}"))
    };
    assert_eq!(line("requests")["quantity"], 1200.0, "{estimate}");
    // 2,048 s of a 512 MB function a day.
    assert_eq!(line("arm64 compute (GB-seconds)")["quantity"], 30_720.0);
    assert!(
        estimate["assumptions"]
            .to_string()
            .contains("names no WebSocket API (WebSocketApi): API Gateway not counted"),
        "{estimate}"
    );

    let missing = moto.chatstack(&["status", "--stage", "nowhere"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: there is no stack chatstack-nowhere: deploy the stage first (chatstack deploy --stage nowhere)"
    );
}
