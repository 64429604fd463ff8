//! `chatstack logs` through the real SDK against moto: the stage's log
//! groups found among its stack's resources, FilterLogEvents paged with
//! nextToken, and the errors of a stage or function that does not exist.

use std::path::Path;

use crate::common::moto::Moto;
use crate::common::scratch_dir;

fn deploy(moto: &Moto, dir: &Path) {
    Moto::write_zips(dir, "v1");
    moto.deploy("ci", dir, None);
}

/// Events as Lambda would write them, in two groups, interleaved in time;
/// and more than a page (10,000) of them in a third.
fn write_events(moto: &Moto) {
    moto.boto3(
        r#"import time
logs = boto3.client('logs', **kw)
now = int(time.time() * 1000) - 60_000
def put(function, events):
    group = '/aws/lambda/chatstack-ci-' + function
    logs.create_log_stream(logGroupName=group, logStreamName='s')
    for at in range(0, len(events), 5000):
        logs.put_log_events(logGroupName=group, logStreamName='s', logEvents=[
            {'timestamp': now + offset, 'message': json.dumps(message)} for offset, message in events[at:at + 5000]])
def line(message, **fields):
    return {'level': 'INFO', 'fields': dict(message=message, **fields), 'span': {'requestId': 'r1'}}
put('connect', [(0, line('connected', connection_id='A=')), (20, line('connected', connection_id='B='))])
put('sendmessage', [
    (10, {'time': 'x', 'type': 'platform.start', 'record': {'requestId': 'r2'}}),
    (30, line('broadcast done', connection_id='A=', sent=2, gone=0, failed=0, unreached=0)),
    (40, {'time': 'x', 'type': 'platform.report', 'record': {'requestId': 'r2', 'status': 'success',
          'metrics': {'durationMs': 12.5, 'billedDurationMs': 13, 'memorySizeMB': 512, 'maxMemoryUsedMB': 21}}}),
])
put('fanout', [(100 + n, line('busy', n=n)) for n in range(10_050)])
"#,
    );
}

#[test]
fn logs_reads_the_stacks_log_groups_through_the_sdk() {
    let moto = Moto::start();
    deploy(&moto, &scratch_dir("logs_moto_zips"));
    write_events(&moto);

    let merged = moto.chatstack(&[
        "logs",
        "--stage",
        "ci",
        "--since",
        "1h",
        "--function",
        "connect",
        "--function",
        "sendmessage",
    ]);
    assert!(merged.status.success(), "{merged:?}");
    let text = String::from_utf8_lossy(&merged.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("---")).collect();
    let shape: Vec<String> = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        shape,
        [
            "connect INFO connected",
            "connect INFO connected",
            "sendmessage INFO broadcast",
            "sendmessage REPORT 12.5",
        ],
        "merged by time, start hidden, report folded:\n{text}"
    );
    assert!(
        lines[2].contains("connection_id=A= sent=2 gone=0"),
        "{text}"
    );
    assert!(lines[3].contains("memory 21 of 512 MB"), "{text}");

    // More than one page: every event, through nextToken.
    let paged = moto.chatstack(&[
        "logs",
        "--stage",
        "ci",
        "--since",
        "1h",
        "--function",
        "fanout",
        "--json",
    ]);
    assert!(
        paged.status.success(),
        "{:?}",
        String::from_utf8_lossy(&paged.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&paged.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 10_050);
    let numbers: Vec<u64> = events
        .iter()
        .map(|e| e["message"]["fields"]["n"].as_u64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, each once"
    );

    let filtered = moto.chatstack(&[
        "logs",
        "--stage",
        "ci",
        "--since",
        "1h",
        "--filter",
        "broadcast",
    ]);
    let text = String::from_utf8_lossy(&filtered.stdout);
    assert_eq!(
        text.lines().filter(|l| !l.starts_with("---")).count(),
        1,
        "{text}"
    );

    let wrong = moto.chatstack(&["logs", "--stage", "ci", "--function", "notify"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&wrong.stderr).trim(),
        "error: stage ci has no function \"notify\" (its settings leave that function out); \
         its functions are: connect, disconnect, sendmessage, rooms, default, fanout"
    );

    let quiet = moto.chatstack(&[
        "logs",
        "--stage",
        "ci",
        "--since",
        "1h",
        "--function",
        "disconnect",
    ]);
    assert!(quiet.status.success());
    assert!(quiet.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&quiet.stderr).starts_with("No log events from stage ci"),
        "{quiet:?}"
    );
}

#[test]
fn logs_of_a_stage_never_deployed_says_to_deploy_it() {
    let moto = Moto::start();
    let output = moto.chatstack(&["logs", "--stage", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: there is no stack chatstack-nope: deploy the stage first (chatstack deploy --stage nope)"
    );
}

/// `--access`: the stage's access log group (found among its stack's
/// resources), API Gateway's JSON lines shown one readable line each, with
/// the filter; a stage without access logs says which setting it lacks.
#[test]
fn logs_access_reads_the_stages_access_log() {
    let moto = Moto::start();
    // deploy checks the account's API Gateway CloudWatch role first.
    moto.boto3(
        "boto3.client('apigateway', **kw).update_account(patchOperations=[{'op': 'replace', \
         'path': '/cloudwatchRoleArn', 'value': 'arn:aws:iam::123456789012:role/apigw-logs'}])",
    );
    let dir = scratch_dir("logs_moto_access");
    Moto::write_zips(&dir, "v1");
    moto.deploy("ci", &dir, Some("[stages.ci.logging]\naccess = true\n"));
    moto.deploy("plain", &dir, None);

    let format = chatstack::chat::access_log_format(false);
    moto.boto3(&format!(
        r#"import time
logs = boto3.client('logs', **kw)
group = '/aws/apigateway/chatstack-ci/access'
logs.create_log_stream(logGroupName=group, logStreamName='s')
now = int(time.time() * 1000) - 60_000
blank = {{key: '-' for key in json.loads({format:?})}}
def line(**fields):
    return json.dumps(dict(blank, **fields))
logs.put_log_events(logGroupName=group, logStreamName='s', logEvents=[
    {{'timestamp': now, 'message': line(eventType='CONNECT', routeKey='$connect', status='200', connectionId='A=', integrationStatus='200', integrationLatency='31')}},
    {{'timestamp': now + 10, 'message': line(eventType='MESSAGE', routeKey='sendmessage', status='500', connectionId='A=', integrationStatus='500', integrationLatency='29001', integrationError='Lambda timed out')}},
    {{'timestamp': now + 20, 'message': line(eventType='CONNECT', routeKey='$connect', status='403', connectionId='B=', authorizerError='Unauthorized')}},
])"#
    ));
    let access = moto.chatstack(&["logs", "--stage", "ci", "--access", "--since", "1h"]);
    assert!(access.status.success(), "{access:?}");
    let text = String::from_utf8_lossy(&access.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("---")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains(
            "access 200    CONNECT $connect connection_id=A= integration=200 latency_ms=31"
        ),
        "{text}"
    );
    assert!(
        lines[1].contains("500    MESSAGE sendmessage")
            && lines[1].contains("integration_error=\"Lambda timed out\""),
        "{text}"
    );
    assert!(
        lines[2].contains("403    CONNECT $connect connection_id=B= authorizer_error=Unauthorized"),
        "{text}"
    );
    let filtered = moto.chatstack(&[
        "logs", "--stage", "ci", "--access", "--since", "1h", "--filter", "MESSAGE",
    ]);
    let text = String::from_utf8_lossy(&filtered.stdout);
    assert_eq!(
        text.lines().filter(|l| !l.starts_with("---")).count(),
        1,
        "{text}"
    );

    // A stage deployed without access logs has none to read.
    let none = moto.chatstack(&["logs", "--stage", "plain", "--access"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains(
            "stage plain keeps no access log: set `access = true` under [stages.plain.logging]"
        ),
        "{none:?}"
    );
}
