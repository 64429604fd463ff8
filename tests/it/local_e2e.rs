//! `chatstack local` end to end: the real binary, the real handler binaries,
//! DynamoDB in moto, and real WebSocket clients.

use crate::common;

use crate::common::local::{Local, TABLE, field_after};

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chatstack::chat::FUNCTIONS;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::common::ws::{Client, receive};

/// How many functions a stage without settings has.
fn functions_without_settings() -> usize {
    FUNCTIONS.iter().filter(|f| f.in_every_stage()).count()
}

async fn connect(url: &str) -> Client {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connects")
        .0
}

async fn send(client: &mut Client, text: &str) {
    client
        .send(Message::Text(text.into()))
        .await
        .expect("sends");
}

/// Nothing arrives for a while.
async fn quiet(client: &mut Client) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_millis(800), client.next()).await {
        panic!("expected nothing, got {frame:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_app_works_end_to_end_on_localhost() {
    let local = Local::start();
    assert_eq!(
        local.pids.len(),
        functions_without_settings(),
        "one process per function: {:?}",
        local.lines()
    );
    let mut a = connect(&local.url).await;
    let mut b = connect(&local.url).await;
    let mut c = connect(&local.url).await;
    local.await_ids(3).await;

    // One sendmessage reaches every connected client exactly once, both formats.
    send(
        &mut a,
        r#"{"action":"sendmessage","data":"hello from the blog"}"#,
    )
    .await;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(receive(client).await, "hello from the blog");
    }
    send(
        &mut b,
        r#"{"action":"sendmessage","message":"hello from the tutorial"}"#,
    )
    .await;
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(receive(client).await, "hello from the tutorial");
        quiet(client).await;
    }

    // $default answers the caller alone, for unknown actions and non-JSON.
    for body in [r#"{"action":"nosuchroute"}"#, "just text"] {
        send(&mut c, body).await;
        let reply = receive(&mut c).await;
        assert!(
            reply.starts_with("Use the sendmessage route to send a message. Your info: {"),
            "{reply}"
        );
        quiet(&mut a).await;
        quiet(&mut b).await;
    }

    // A sendmessage without data: an error to the sender only.
    send(&mut a, r#"{"action":"sendmessage"}"#).await;
    assert!(receive(&mut a).await.contains("Your message was not sent"));
    quiet(&mut b).await;
    quiet(&mut c).await;

    // An oversize message is refused (1009) and disturbs nobody.
    let oversize = format!(
        r#"{{"action":"sendmessage","data":"{}"}}"#,
        "x".repeat(130 * 1024)
    );
    send(&mut b, &oversize).await;
    match tokio::time::timeout(Duration::from_secs(10), b.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    quiet(&mut a).await;
    quiet(&mut c).await;
    local.await_ids(2).await;

    // A client that vanishes without a close frame is cleaned up...
    drop(c);
    let remaining = local.await_ids(1).await;
    // ...and a stale id (a client API Gateway forgot) is removed on its 410,
    // without breaking the broadcast.
    let client = local.dynamodb_client().await;
    let stale = "stale-connection=";
    client
        .put_item()
        .table_name(TABLE)
        .item("connectionId", AttributeValue::S(stale.into()))
        .item("rooms", AttributeValue::Ss(vec!["general".into()]))
        .send()
        .await
        .unwrap();
    // ...a member of the default room, as its $connect recorded it.
    let shard = chat_contract::shard_of(stale);
    client
        .put_item()
        .table_name(common::local::MEMBERS_TABLE)
        .item(
            "roomKey",
            AttributeValue::S(chat_contract::room_key("general", shard)),
        )
        .item("connectionId", AttributeValue::S(stale.into()))
        .send()
        .await
        .unwrap();
    send(&mut a, r#"{"action":"sendmessage","data":"still here"}"#).await;
    assert_eq!(receive(&mut a).await, "still here");
    assert_eq!(local.await_ids(1).await, remaining);

    // A clean disconnect removes the id.
    a.close(None).await.unwrap();
    local.await_ids(0).await;

    let lines = local.lines();
    for route in ["$connect", "sendmessage", "$default", "$disconnect"] {
        assert!(
            lines.iter().any(|l| l.starts_with(route)),
            "no {route} line in {lines:?}"
        );
    }
}

/// The close code that ends `client`'s connection, within 10 s.
async fn close_code(client: &mut Client) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return frame.code.into(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Sends `text` as one text message in frames of at most `frame` bytes.
async fn send_in_frames(client: &mut Client, text: &str, frame: usize) {
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(frame).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        let opcode = if n == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let last = n + 1 == chunks.len();
        client
            .send(Message::Frame(Frame::message(chunk.to_vec(), opcode, last)))
            .await
            .expect("sends a frame");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn frames_are_limited_as_api_gateway_limits_them() {
    let local = Local::start();
    let mut listener = connect(&local.url).await;
    let sendmessage = |size: usize| {
        format!(
            r#"{{"action":"sendmessage","data":"{}"}}"#,
            "y".repeat(size)
        )
    };

    // 100 KB in 25 KB frames is one message of 128 KB at most: delivered.
    let mut sender = connect(&local.url).await;
    send_in_frames(&mut sender, &sendmessage(100 * 1024), 25 * 1024).await;
    assert_eq!(receive(&mut listener).await.len(), 100 * 1024);
    assert_eq!(receive(&mut sender).await.len(), 100 * 1024);

    // One frame over 32 KB: closed with 1009, even though the message is small enough.
    let mut big_frame = connect(&local.url).await;
    send(&mut big_frame, &sendmessage(40 * 1024)).await;
    assert_eq!(close_code(&mut big_frame).await, 1009);

    // Frames within the limit adding up to over 128 KB: 1009 too.
    let mut big_message = connect(&local.url).await;
    send_in_frames(&mut big_message, &sendmessage(130 * 1024), 30 * 1024).await;
    assert_eq!(close_code(&mut big_message).await, 1009);

    // A binary frame: closed with 1003, and routed nowhere.
    let mut binary = connect(&local.url).await;
    binary
        .send(Message::Binary(sendmessage(10).into_bytes().into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut binary).await, 1003);

    quiet(&mut listener).await;
    quiet(&mut sender).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_the_stages_route_throttling_gets_429s() {
    let local = Local::start();
    let mut client = connect(&local.url).await;
    // The template's default route limits: a burst of 200, then 100/s.
    // 400 at once: the burst goes through; unless sending them took over
    // 2 s, some of the rest are refused.
    let sent = 400;
    for _ in 0..sent {
        send(&mut client, "just text").await;
    }
    let (mut usage, mut throttled) = (0, 0);
    for _ in 0..sent {
        let reply = receive(&mut client).await;
        if reply.starts_with("Use the sendmessage route") {
            usage += 1;
        } else {
            let error: serde_json::Value = serde_json::from_str(&reply).unwrap();
            assert_eq!(error["message"], "Too Many Requests", "{reply}");
            throttled += 1;
        }
    }
    assert!(usage >= 200, "the burst is served: {usage}");
    assert!(
        throttled > 0,
        "the excess is refused: {throttled} of {sent}"
    );
}

/// A handler speaking the Lambda Runtime API as the real ones do, except
/// that a message whose body says "exit" ends its process and one that
/// says "hang" never gets an answer; a `$connect` with `?hold=S` takes S
/// seconds, and one with `?budget=S` is refused (403) unless its deadline
/// leaves it S seconds. One with `?meet=N&dir=D` leaves its process id in
/// D and is refused unless N processes did so within 10 s: only
/// invocations running side by side in separate processes can meet.
/// While a file `crash-on-start` is beside it, it exits as it starts.
const FAKE_HANDLER: &str = r#"
import json, os, sys, time, urllib.request
if os.path.exists(os.path.join(os.path.dirname(sys.argv[0]), "crash-on-start")):
    sys.exit(4)
# local's Runtime API is a base URL with this environment's key in its path.
api = os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["lambda-runtime-aws-request-id"]
        deadline = int(response.headers["lambda-runtime-deadline-ms"]) / 1000
        event = json.loads(response.read())
    body = event.get("body") or ""
    query = event.get("queryStringParameters") or {}
    if "exit" in body:
        os._exit(3)
    if "hang" in body:
        time.sleep(3600)
    status = 200
    if "meet" in query:
        open(os.path.join(query["dir"], str(os.getpid())), "w").close()
        waited = 0
        while len(os.listdir(query["dir"])) < int(query["meet"]) and waited < 100:
            time.sleep(0.1)
            waited += 1
        if len(os.listdir(query["dir"])) < int(query["meet"]):
            status = 403
    if "hold" in query:
        time.sleep(float(query["hold"]))
    if "budget" in query and deadline - time.time() < float(query["budget"]):
        status = 403
    answer = json.dumps({"statusCode": status}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=answer)).read()
"#;

/// A handlers dir whose every function is [`FAKE_HANDLER`].
fn fake_handlers(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs (the tests need it: see tests/tools.sh)");
    let python = String::from_utf8_lossy(&python.stdout).trim().to_owned();
    let dir = common::scratch_dir(name);
    let binaries = dir.join("target/debug");
    std::fs::create_dir_all(&binaries).unwrap();
    for spec in FUNCTIONS {
        let path = binaries.join(spec.name);
        std::fs::write(&path, format!("#!{python}\n{FAKE_HANDLER}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The next text message within `limit`.
async fn receive_within(client: &mut Client, limit: Duration) -> String {
    match tokio::time::timeout(limit, client.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text.to_string(),
        other => panic!("expected a message within {limit:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invocations_end_as_in_lambda_when_a_process_exits_or_times_out() {
    let local = Local::start_with_fakes(&fake_handlers("local_fake_handlers"), &[]);
    let mut client = connect(&local.url).await;

    // The process dies holding the invocation: it fails at once (not after
    // the function's 29 s timeout), the sender hears of it, and a new
    // process serves the next message.
    send(&mut client, r#"{"action":"sendmessage","data":"exit"}"#).await;
    let error = receive_within(&mut client, Duration::from_secs(5)).await;
    assert!(error.contains("Internal server error"), "{error}");
    let wait_for = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !local.lines().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {:?}",
                local.lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("function sendmessage exited");

    // A timed-out invocation ends its process ($default: 10 s), which is
    // replaced before the next one.
    send(&mut client, "hang").await;
    let error = receive_within(&mut client, Duration::from_secs(20)).await;
    assert!(error.contains("Internal server error"), "{error}");
    wait_for("function default timed out: ended its process");
    send(&mut client, r#"{"action":"sendmessage","data":"fine"}"#).await;
    quiet(&mut client).await;
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.starts_with("sendmessage") && l.contains(" 200 ")),
        "the restarted sendmessage answers: {:?}",
        local.lines()
    );

    // An invocation's time runs from when a process takes it: a $connect
    // arriving while another holds the only process waits for a new one
    // to start, and still gets (almost) its full 10 s.
    let holding = tokio::spawn(connect_result(format!("{}?hold=3", local.url)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued = connect_result(format!("{}?budget=9", local.url)).await;
    assert!(
        queued.is_ok(),
        "the queued $connect had its full time: {queued:?}"
    );
    assert!(holding.await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invocations_run_in_separate_processes_up_to_the_limit() {
    let handlers = fake_handlers("local_concurrency");
    let mut local = Local::start_with_fakes(&handlers, &["--concurrency", "3"]);
    let started_environments = |local: &Local| -> Vec<u32> {
        local
            .lines()
            .iter()
            .filter(|l| l.starts_with("function connect: started environment "))
            .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next()?.parse().ok())
            .collect()
    };
    let meeting = common::scratch_dir("local_concurrency_meeting");
    let meet = format!("{}?meet=2&dir={}", local.url, meeting.display());
    let (first, second) = tokio::join!(connect_result(meet.clone()), connect_result(meet));
    assert!(
        first.is_ok() && second.is_ok(),
        "two $connects ran side by side: {first:?} {second:?} {:?}",
        local.lines()
    );
    assert_eq!(started_environments(&local).len(), 1, "{:?}", local.lines());

    // Both environments busy: the third invocation's new environment dies
    // as it starts, and the invocation fails at once, not after 29 s.
    let hold = |seconds: u32| tokio::spawn(connect_result(format!("{}?hold={seconds}", local.url)));
    let crash_marker = handlers.join("target/debug/crash-on-start");
    std::fs::write(&crash_marker, "").unwrap();
    let holding = [hold(2), hold(2)];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked_at = Instant::now();
    let failed = connect_result(local.url.clone()).await;
    assert!(
        failed.as_ref().is_err_and(|e| e.contains("502")),
        "{failed:?}"
    );
    assert!(
        asked_at.elapsed() < Duration::from_secs(10),
        "failed at once"
    );
    for connect in holding {
        assert!(connect.await.unwrap().is_ok());
    }
    std::fs::remove_file(&crash_marker).unwrap();

    // All three environments busy at the limit: a fourth waits for one of
    // them rather than starting a fourth process.
    let holding = [hold(2), hold(2), hold(2)];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waited = connect_result(local.url.clone()).await;
    assert!(waited.is_ok(), "{waited:?}");
    for connect in holding {
        assert!(connect.await.unwrap().is_ok());
    }
    let started = started_environments(&local);
    assert_eq!(
        started.len(),
        3,
        "environment 2, one that crashed and its replacement: {:?}",
        local.lines()
    );
    local.pids.extend(started);
    assert!(local.interrupt().success());
    std::thread::sleep(Duration::from_millis(300));
    for pid in &local.pids {
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(!alive, "function process {pid} still runs");
    }
}

async fn connect_result(url: String) -> Result<Client, String> {
    tokio_tungstenite::connect_async(url)
        .await
        .map(|(client, _)| client)
        .map_err(|e| e.to_string())
}

/// One HTTP/1.1 request to the management API; returns the response head.
async fn management(local: &Local, method: &str, id: &str) -> String {
    management_with_body(local, method, id, "hi").await
}

async fn management_with_body(local: &Local, method: &str, id: &str, body: &str) -> String {
    // The handlers' credentials (the run's key): what local's management
    // API checks signatures against, as IAM checks the functions' role.
    let (handlers, region) = local.credentials().await;
    management_signed_by(local, method, id, body, Some((&handlers, &region))).await
}

/// A management API request, SigV4-signed by `signer` (credentials,
/// region) or not at all.
async fn management_signed_by(
    local: &Local,
    method: &str,
    id: &str,
    body: &str,
    signer: Option<(&aws_credential_types::Credentials, &str)>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = local
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("/dev/@connections/{id}");
    let signature = match signer {
        Some((credentials, region)) => chatstack::sigv4::sign_request(
            chatstack::sigv4::Request {
                method,
                uri: &format!("http://{address}{path}"),
                headers: &[("host", &address)],
                body: body.as_bytes(),
            },
            credentials,
            region,
            std::time::SystemTime::now(),
        )
        .unwrap(),
        None => Vec::new(),
    };
    let signed: String = signature
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{signed}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn management_api_posts_reads_deletes_and_answers_410_for_gone_ids() {
    let local = Local::start_with(&["--idle-timeout", "5"]);
    let mut client = connect(&local.url).await;
    let id = local.await_ids(1).await.remove(0);

    // As in AWS, only SigV4-signed requests are taken: unsigned, signed
    // with other credentials, or for another region, a 403 and nothing sent.
    let unsigned = management_signed_by(&local, "POST", &id, "sneaky", None).await;
    assert!(
        unsigned.starts_with("HTTP/1.1 403") && unsigned.contains("Missing Authentication Token"),
        "{unsigned}"
    );
    let (handlers, _) = local.credentials().await;
    let stranger = aws_credential_types::Credentials::new(
        handlers.access_key_id(),
        "guessed",
        None,
        None,
        "test",
    );
    let forged = management_signed_by(
        &local,
        "POST",
        &id,
        "sneaky",
        Some((&stranger, "us-east-1")),
    )
    .await;
    assert!(
        forged.starts_with("HTTP/1.1 403") && forged.contains("signature"),
        "{forged}"
    );
    let elsewhere =
        management_signed_by(&local, "GET", &id, "", Some((&handlers, "eu-west-1"))).await;
    assert!(
        elsewhere.starts_with("HTTP/1.1 403") && elsewhere.contains("valid region"),
        "{elsewhere}"
    );

    let post = management(&local, "POST", &id).await;
    assert!(post.starts_with("HTTP/1.1 200"), "{post}");
    assert_eq!(receive(&mut client).await, "hi");
    let get = management(&local, "GET", &id).await;
    assert!(
        get.starts_with("HTTP/1.1 200")
            && get.contains("\"connectedAt\"")
            && get.contains("\"sourceIp\":\"127.0.0.1\""),
        "{get}"
    );
    // Over 128 KB: 413, as API Gateway answers, and nothing is delivered.
    let too_big = management_with_body(&local, "POST", &id, &"x".repeat(128 * 1024 + 1)).await;
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    assert!(
        too_big
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: payloadtoolargeexception"),
        "{too_big}"
    );
    quiet(&mut client).await;
    let gone = management(&local, "POST", "no-such-connection=").await;
    assert!(gone.starts_with("HTTP/1.1 410"), "{gone}");
    assert!(
        gone.to_ascii_lowercase()
            .contains("x-amzn-errortype: goneexception"),
        "{gone}"
    );
    let delete = management(&local, "DELETE", &id).await;
    assert!(delete.starts_with("HTTP/1.1 204"), "{delete}");
    match tokio::time::timeout(Duration::from_secs(10), client.next()).await {
        Ok(Some(Ok(Message::Close(_)))) => {}
        other => panic!("expected the server to close, got {other:?}"),
    }
    local.await_ids(0).await;

    // The idle timeout (5 s here) counts data frames either way: a client
    // that only receives stays; one that only pings goes.
    let mut fed = connect(&local.url).await;
    let fed_id = local.await_ids(1).await.remove(0);
    let mut pinger = connect(&local.url).await;
    let started = Instant::now();
    for _ in 0..4 {
        let post = management(&local, "POST", &fed_id).await;
        assert!(post.starts_with("HTTP/1.1 200"), "{post}");
        assert_eq!(receive(&mut fed).await, "hi");
        let _ = pinger.send(Message::Ping(Vec::new().into())).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(7));
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), pinger.next()).await {
            Ok(Some(Ok(Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(Some(frame))))) => break u16::from(frame.code),
            other => panic!("expected the pinging client's idle close, got {other:?}"),
        }
    };
    assert_eq!(code, 1001, "pings do not keep a connection alive");
    let post = management(&local, "POST", &fed_id).await;
    assert!(
        post.starts_with("HTTP/1.1 200"),
        "data sent to it kept the silent client connected: {post}"
    );
    assert_eq!(receive(&mut fed).await, "hi");

    // With nothing either way, it is closed after the idle timeout.
    match tokio::time::timeout(Duration::from_secs(15), fed.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected an idle close, got {other:?}"),
    }
    local.await_ids(0).await;
}

#[test]
fn two_chat_clients_talk_through_local() {
    use std::io::Write;
    let local = Local::start();
    let chat = || {
        Command::new(env!("CARGO_BIN_EXE_chatstack"))
            .args(["chat", &local.url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("chatstack chat starts")
    };
    let read_lines = |child: &mut Child| {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        lines
    };
    let wait_for = |lines: &Arc<Mutex<Vec<String>>>, text: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !lines.lock().unwrap().iter().any(|l| l == text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} never arrived: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut alice = chat();
    let mut bob = chat();
    let alice_lines = read_lines(&mut alice);
    let bob_lines = read_lines(&mut bob);
    wait_for(
        &alice_lines,
        &format!(
            "Connected to {}. Type a message and press Enter; Ctrl-D quits.",
            local.url
        ),
    );
    wait_for(
        &bob_lines,
        &format!(
            "Connected to {}. Type a message and press Enter; Ctrl-D quits.",
            local.url
        ),
    );
    writeln!(alice.stdin.as_mut().unwrap(), "hi bob").unwrap();
    // Incoming lines are marked apart from what one types...
    wait_for(&bob_lines, "< hi bob");
    // ...and the sender's own message, on screen as typed, is not echoed.
    writeln!(bob.stdin.as_mut().unwrap(), "hi alice").unwrap();
    wait_for(&alice_lines, "< hi alice");
    assert!(
        !alice_lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("hi bob")),
        "{:?}",
        alice_lines.lock().unwrap()
    );

    // A line over API Gateway's 32 KB frame limit still arrives, as one message.
    let long = "z".repeat(60 * 1024);
    writeln!(alice.stdin.as_mut().unwrap(), "{long}").unwrap();
    wait_for(&bob_lines, &format!("< {long}"));
    // One over its 128 KB message limit is refused before sending; the
    // connection stays.
    writeln!(alice.stdin.as_mut().unwrap(), "{}", "z".repeat(130 * 1024)).unwrap();
    wait_for(
        &alice_lines,
        &format!(
            "Not sent: the message is {} bytes; API Gateway takes at most 131072.",
            130 * 1024 + r#"{"action":"sendmessage","room":"general","data":""}"#.len()
        ),
    );
    writeln!(alice.stdin.as_mut().unwrap(), "still here").unwrap();
    wait_for(&bob_lines, "< still here");
    // Escape sequences reach the other terminal as visible text: no
    // clipboard write (OSC 52), no cursor moves, no reordering.
    writeln!(
        alice.stdin.as_mut().unwrap(),
        "\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2Jclean \u{202e}txt.exe"
    )
    .unwrap();
    wait_for(
        &bob_lines,
        "< \\u{1b}]52;c;cm0gLXJmIH4=\\u{7}\\u{1b}[2Jclean \\u{202e}txt.exe",
    );
    assert!(
        !bob_lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains('\u{1b}') || l.contains('\u{202e}')),
        "a raw escape reached the terminal"
    );
    drop(alice.stdin.take());

    // The client says what it is: $default echoes the caller's user agent.
    let mut raw = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["chat", "--raw", &local.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("chatstack chat starts");
    let raw_lines = read_lines(&mut raw);
    writeln!(raw.stdin.as_mut().unwrap(), r#"{{"action":"whoami"}}"#).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let user_agent = format!(r#""userAgent":"chatstack/{}""#, env!("CARGO_PKG_VERSION"));
    while !raw_lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(&user_agent))
    {
        assert!(
            Instant::now() < deadline,
            "no {user_agent} in {:?}",
            raw_lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(raw.stdin.take());
    assert!(raw.wait().unwrap().success());
    drop(bob.stdin.take());
    assert!(alice.wait().unwrap().success());
    assert!(bob.wait().unwrap().success());
}

/// Runs `chatstack chat URL --retries N` with its standard input held
/// open (as a terminal's is) and returns once it exits: its status, stdout
/// and stderr.
fn chat_until_it_exits(
    url: &str,
    retries: u32,
    limit: Duration,
) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["chat", url, "--retries", &retries.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chatstack chat starts");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chatstack chat did not exit within {limit:?} of the server ending the chat");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stdout, stderr)
}

#[test]
fn the_chat_client_exits_at_once_saying_why_when_the_server_closes_and_never_prints_the_token() {
    // The idle timeout closes a silent client: told not to reconnect, it
    // says so and exits 1, without waiting for a line to be typed.
    let local = Local::start_with(&["--idle-timeout", "2"]);
    let url = format!("{}?token=v1.sEcReT.sig", local.url);
    let (status, stdout, stderr) = chat_until_it_exits(&url, 0, Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("the server closed the connection (1001"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("Connected to {}. ", local.url)),
        "{stdout}"
    );
    assert!(
        !format!("{stdout}{stderr}").contains("sEcReT"),
        "{stdout}{stderr}"
    );

    // A refused connection names the URL without its token either.
    let (status, _, stderr) = chat_until_it_exits(
        &format!(
            "ws://127.0.0.1:{}/dev?token=v1.sEcReT.sig",
            chatstack::local::dynamo::free_port().unwrap()
        ),
        8,
        Duration::from_secs(15),
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("nothing listens there: is chatstack local running")
            && !stderr.contains("sEcReT"),
        "{stderr}"
    );
}

#[test]
fn the_chat_client_tries_to_reconnect_then_exits_when_local_stops() {
    let mut local = Local::start();
    let url = local.url.clone();
    let chat = std::thread::spawn(move || chat_until_it_exits(&url, 2, Duration::from_secs(20)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !local.lines().iter().any(|l| l.starts_with("$connect")) {
        assert!(Instant::now() < deadline, "{:?}", local.lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    local.interrupt();
    let (status, stdout, stderr) = chat.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains("! the server closed the connection (1001")
            && stdout.contains("reconnecting in")
            && stdout.contains("(try 2 of 2)"),
        "local says goodbye as API Gateway does, and chat tries again: {stdout}"
    );
    assert!(
        stderr.contains("nothing listens there"),
        "then gives up, saying why: {stderr}"
    );
}

#[test]
fn a_chat_url_without_the_stage_says_what_is_wrong() {
    let local = Local::start();
    let (status, _, stderr) = chat_until_it_exits(
        local.url.trim_end_matches("/dev"),
        8,
        Duration::from_secs(15),
    );
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("is the stage in the URL"), "{stderr}");
    assert!(!stderr.contains("200 OK"), "{stderr}");
}

/// `chatstack local` run as a user would, from `dir`, without moto on PATH
/// and with the test tools looked for in `tools_dir`.
fn local_without_moto_on_path(
    dir: &std::path::Path,
    tools_dir: &std::path::Path,
    args: &[&str],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["local", "--port", "0"])
        .args(args)
        .current_dir(dir)
        .env("PATH", format!("/usr/bin:/bin:{}", cargo_dir()))
        .env("CHATSTACK_TOOLS_DIR", tools_dir)
        .env("HOME", dir)
        .env_remove("XDG_CACHE_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Where cargo is, for a PATH without the test tools.
fn cargo_dir() -> String {
    let output = Command::new("sh")
        .args(["-c", "dirname \"$(command -v cargo)\""])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn without_moto_local_says_how_to_install_it_before_building_anything() {
    let empty = common::scratch_dir("local_no_moto");
    let handlers = format!("{}/handlers", common::ROOT);
    // No --no-build: the check comes before the build.
    let output = local_without_moto_on_path(&empty, &empty, &["--handlers-dir", &handlers])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let venv = empty.join(".cache/chatstack/moto");
    assert!(
        stderr.contains(&format!("python3 -m venv {}", venv.display()))
            && stderr.contains("pip install 'moto[server]'")
            && stderr.contains("--dynamodb-endpoint"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("Building the handlers"),
        "nothing was built first"
    );
}

#[test]
fn local_finds_the_moto_the_test_command_installed() {
    // Built by the other tests' runs or by this one first.
    drop(Local::start());
    let empty = common::scratch_dir("local_tools_moto");
    let moto = common::python_tool("moto_server");
    let tools_dir = moto.parent().unwrap().parent().unwrap().parent().unwrap();
    let handlers = format!("{}/handlers", common::ROOT);
    let mut child = local_without_moto_on_path(
        &empty,
        tools_dir,
        &["--no-build", "--handlers-dir", &handlers],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.starts_with("Press Ctrl-C"));
    // Keep reading: local still prints while it stops.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    rest.join().unwrap();
    assert!(started, "local did not start with {}", moto.display());
    assert!(status.success(), "{status:?}");
}

#[test]
fn outside_the_repository_local_says_it_needs_the_handlers_sources() {
    let empty = common::scratch_dir("local_outside_repo");
    let output = local_without_moto_on_path(&empty, &empty, &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the handlers' sources are not in handlers")
            && stderr.contains("--handlers-dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("No such file or directory"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connect_is_refused_and_ctrl_c_leaves_nothing_running() {
    let mut local = Local::start();

    // A handler that dies is reported with its log and started again, as
    // Lambda starts a new environment: connecting works afterwards.
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.contains("function connect "))
    );
    let connect_pid = local.pids[0];
    Command::new("kill")
        .arg(connect_pid.to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let restarted = loop {
        let found = local.lines().into_iter().find(|l| {
            l.starts_with("function connect exited (")
                && l.contains(".log")
                && l.contains("Restarted it (pid ")
        });
        if let Some(line) = found {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no restart reported: {:?}",
            local.lines()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let new_pid: u32 = restarted
        .rsplit("(pid ")
        .next()
        .and_then(|rest| rest.trim_end_matches(").").parse().ok())
        .unwrap_or_else(|| panic!("no pid in {restarted:?}"));
    local.pids.push(new_pid);
    let mut client = connect(&local.url).await;
    local.await_ids(1).await;
    client.close(None).await.unwrap();
    local.await_ids(0).await;

    // Without its table, $connect's PutItem fails and the handler answers 500.
    let client = local.dynamodb_client().await;
    client
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let refused = tokio_tungstenite::connect_async(&local.url).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 500)
        }
        other => panic!("expected the handshake to be refused, got {other:?}"),
    }

    let port = local.dynamodb.rsplit(':').next().unwrap().to_owned();
    let status = local.interrupt();
    assert!(status.success(), "{status}");
    assert!(local.lines().iter().any(|l| l.starts_with("Stopped")));
    std::thread::sleep(Duration::from_millis(300));
    for pid in &local.pids {
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(!alive, "function process {pid} still runs");
    }
    let moto = Command::new("pgrep")
        .args(["-f", &format!("moto_server -H 127.0.0.1 -p {port}")])
        .output()
        .unwrap();
    assert!(moto.stdout.is_empty(), "moto_server still runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_given_dynamodb_endpoint_is_used_instead_of_starting_moto() {
    let moto = common::moto::Moto::start();
    let mut env: Vec<(&str, String)> = moto
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_ENDPOINT_URL")
        .collect();
    env.push(("CHATSTACK_SHELL_ONLY", "not for the functions".to_owned()));
    let local = Local::start_in_env(&["--dynamodb-endpoint", &moto.endpoint], &env);
    assert_eq!(local.dynamodb, moto.endpoint);
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.contains("(--dynamodb-endpoint)")),
        "{:?}",
        local.lines()
    );
    let mut client = connect(&local.url).await;
    local.await_ids(1).await;
    send(
        &mut client,
        r#"{"action":"sendmessage","data":"via my own DynamoDB"}"#,
    )
    .await;
    assert_eq!(receive(&mut client).await, "via my own DynamoDB");
    let tables =
        moto.boto3("print(sorted(boto3.client('dynamodb', **kw).list_tables()['TableNames']))");
    // The template's tables: connections, the fan-out's finished jobs, and
    // the room members.
    assert_eq!(
        tables,
        "['chatstack-dev-ConnectionsTable', 'chatstack-dev-FanoutJobsTable', 'chatstack-dev-MembersTable']"
    );

    // Each function gets Lambda's environment, not the user's shell: the
    // user's credentials only as resolved and handed over, nothing else.
    assert_eq!(local.pids.len(), functions_without_settings());
    for pid in &local.pids {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let variables: Vec<String> = environ
            .split(|b| *b == 0)
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        let has = |wanted: &str| variables.iter().any(|v| v == wanted);
        assert!(has("AWS_LAMBDA_LOG_FORMAT=JSON"), "{pid}: {variables:?}");
        assert!(has("AWS_ACCESS_KEY_ID=test"), "{pid}: {variables:?}");
        assert!(has("TZ=:UTC"), "{pid}: {variables:?}");
        for leaked in ["CHATSTACK_SHELL_ONLY=", "HOME=", "AWS_ENDPOINT_URL="] {
            assert!(
                !variables.iter().any(|v| v.starts_with(leaked)),
                "{pid} has {leaked}: {variables:?}"
            );
        }
    }
    // The template's JSON log format reaches the functions' logs.
    let log = local
        .lines()
        .iter()
        .find_map(|l| {
            l.contains("function sendmessage")
                .then(|| l.rsplit(" log ").next().map(str::to_owned))
                .flatten()
        })
        .expect("the banner names sendmessage's log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = common::local::logged_json(&log);
        if lines
            .iter()
            .any(|line| line["fields"]["message"] == "broadcast done")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON broadcast line in {log}: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Credentials for the push tests: `local` checks signatures against
/// them, `chatstack notify` signs with them (or with a wrong secret).
fn signing_env(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIDCHATSTACKTEST".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// `chatstack notify --url URL ARGS...` with `secret`.
fn notify(url: &str, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["notify", "--url", url])
        .args(args)
        .envs(signing_env(secret))
        .output()
        .expect("chatstack notify runs")
}

/// A settings file for stage dev with `table`'s keys.
fn settings_file(name: &str, table: &str) -> String {
    let path = common::scratch_dir(name).join("chatstack.toml");
    std::fs::write(&path, table).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A raw POST of `body` to `url` with `headers`; returns the response.
async fn post(url: &str, headers: &[(String, String)], body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// The connection id of `client`, from `$default`'s reply.
async fn own_id(client: &mut Client) -> String {
    send(client, "who am I").await;
    let reply = receive(client).await;
    let info: serde_json::Value =
        serde_json::from_str(reply.split_once("Your info: ").unwrap().1).unwrap();
    info["connectionId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_through_local_reaches_whom_it_names_and_only_signed_requests_pass() {
    let config = settings_file("local_notify", "[stages.dev]\nnotify = true\n");
    let notify_port = chatstack::local::dynamo::free_port().unwrap().to_string();
    let local = Local::start_in_env(
        &["--config", &config, "--notify-port", &notify_port],
        &signing_env("s3cret"),
    );
    let url = local
        .lines()
        .iter()
        .find_map(|l| field_after(l, "Notify URL:"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no notify URL: {:?}", local.lines()));
    assert_eq!(
        url,
        format!("http://127.0.0.1:{notify_port}/notify"),
        "the port asked for"
    );
    let mut a = connect(&local.url).await;
    let mut b = connect(&local.url).await;
    local.await_ids(2).await;

    let everyone = notify(&url, "s3cret", &["to everyone"]);
    assert!(everyone.status.success(), "{everyone:?}");
    let said = String::from_utf8_lossy(&everyone.stdout);
    assert!(said.contains("Sent to 2 connections"), "{said}");
    assert_eq!(receive(&mut a).await, "to everyone");
    assert_eq!(receive(&mut b).await, "to everyone");
    quiet(&mut a).await;
    quiet(&mut b).await;

    let id_a = own_id(&mut a).await;
    let just_a = notify(
        &url,
        "s3cret",
        &["--to", &id_a, "--to", "nobody=", "just a"],
    );
    assert!(just_a.status.success(), "{just_a:?}");
    let said = String::from_utf8_lossy(&just_a.stdout);
    assert!(
        said.contains("Sent to 1 connection ") && said.contains("Unknown connection ids: nobody="),
        "{said}"
    );
    assert_eq!(receive(&mut a).await, "just a");
    quiet(&mut b).await;

    // Unsigned, signed with another secret, or a bad body: refused, and
    // nobody hears anything.
    let json = [("Content-Type".to_owned(), "application/json".to_owned())];
    let unsigned = post(&url, &json, r#"{"text":"sneaky"}"#).await;
    assert!(unsigned.starts_with("HTTP/1.1 403"), "{unsigned}");
    let forged = notify(&url, "guessed", &["forged"]);
    assert!(!forged.status.success());
    let complaint = String::from_utf8_lossy(&forged.stderr);
    assert!(
        complaint.contains("403") && complaint.contains("signature"),
        "{complaint}"
    );

    // Signed with the right key, but for another region: API Gateway's 403.
    let elsewhere = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args([
            "notify",
            "--url",
            &url,
            "--region",
            "eu-west-1",
            "elsewhere",
        ])
        .envs(signing_env("s3cret"))
        .output()
        .unwrap();
    assert!(!elsewhere.status.success());
    let complaint = String::from_utf8_lossy(&elsewhere.stderr);
    assert!(
        complaint.contains("403")
            && complaint.contains("Credential should be scoped to a valid region"),
        "{complaint}"
    );

    let bad_body = "{\"txt\":\"typo\"}";
    let body_headers: Vec<(String, String)> = chatstack::sigv4::sign_request(
        chatstack::sigv4::Request {
            method: "POST",
            uri: &url,
            headers: &[("content-type", "application/json")],
            body: bad_body.as_bytes(),
        },
        &aws_credential_types::Credentials::new("AKIDCHATSTACKTEST", "s3cret", None, None, "test"),
        "us-east-1",
        std::time::SystemTime::now(),
    )
    .unwrap()
    .into_iter()
    .chain(json.iter().cloned())
    .collect();
    let refused = post(&url, &body_headers, bad_body).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    assert!(refused.contains("unknown field `txt`"), "{refused}");
    quiet(&mut a).await;
    quiet(&mut b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_schedule_pushes_its_message_to_connected_clients() {
    let config = settings_file(
        "local_schedule",
        "[stages.dev.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"stand-up time\"\n",
    );
    let local = Local::start_with(&["--config", &config, "--schedule-every", "1"]);
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.contains("Schedule PushSchedule: rate(1 hour), fired every 1 s")),
        "{:?}",
        local.lines()
    );
    let mut client = connect(&local.url).await;
    local.await_ids(1).await;
    assert_eq!(
        receive_within(&mut client, Duration::from_secs(10)).await,
        "stand-up time"
    );
}

/// `chatstack token ARGS...`.
fn mint_token(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .arg("token")
        .args(args)
        .output()
        .expect("chatstack token runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_tokens_only_signed_users_connect_and_messages_carry_their_names() {
    let config = settings_file("local_tokens", "[stages.dev]\nauthorization = true\n");
    let local = Local::start_with(&["--config", &config]);
    let secret_file = local.secret_file();
    let token_for = |user: &str| local.token_for(user);
    let with = |token: &str| format!("{}?token={token}", local.url);

    // The banner's way to connect works as printed: it mints a token.
    let connect_line = local
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Connect with:"))
        .unwrap();
    let minting = connect_line
        .split_once("$(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(command, _)| command.to_owned())
        .unwrap_or_else(|| panic!("no token in {connect_line:?}"));
    let minted = Command::new("sh")
        .args([
            "-c",
            &minting.replacen("chatstack", env!("CARGO_BIN_EXE_chatstack"), 1),
        ])
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let printed = String::from_utf8(minted.stdout).unwrap();
    let mut you = connect(&with(printed.trim())).await;
    local.await_ids(1).await;
    you.close(None).await.unwrap();
    local.await_ids(0).await;

    let mut alice = connect(&with(&token_for("alice"))).await;
    let mut bob = connect(&with(&token_for("bob"))).await;
    local.await_ids(2).await;
    send(
        &mut alice,
        r#"{"action":"sendmessage","data":"hi <b>bob</b>"}"#,
    )
    .await;
    for client in [&mut alice, &mut bob] {
        let received: serde_json::Value = serde_json::from_str(&receive(client).await).unwrap();
        assert_eq!(
            received,
            serde_json::json!({"from": "alice", "text": "hi <b>bob</b>"})
        );
    }

    // No token, a tampered one, one signed with another secret and an
    // expired one: refused at the handshake, nobody else notices.
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let alice_name: chat_token::UserName = "alice".parse().unwrap();
    let expired = chat_token::mint(
        secret.trim().as_bytes(),
        &alice_name,
        Duration::from_secs(60),
        std::time::SystemTime::now() - Duration::from_secs(120),
    )
    .unwrap();
    let foreign = chat_token::mint(
        b"not the secret",
        &alice_name,
        Duration::from_secs(60),
        std::time::SystemTime::now(),
    )
    .unwrap();
    let mut tampered = token_for("alice");
    tampered.insert(3, 'A');
    // A token may also come in Sec-WebSocket-Protocol, beside chatstack.v1
    // or alone, and stays out of the URL; $connect selects what it can.
    let in_header = |token: &str| format!("chatstack.v1, chatstack.token.{token}");
    let (mut carol, selected) =
        crate::common::ws::connect_offering(&local.url, &in_header(&token_for("carol")))
            .await
            .unwrap();
    assert_eq!(selected.as_deref(), Some("chatstack.v1"));
    crate::common::ws::send(
        &mut carol,
        serde_json::json!({"action": "join", "room": "general"}),
    )
    .await;
    let joined = crate::common::ws::frame(&mut carol).await;
    assert_eq!(
        (&joined["type"], &joined["user"]),
        (&"joined".into(), &"carol".into()),
        "{joined}"
    );
    let dave = token_for("dave");
    let alone = format!("chatstack.token.{dave}");
    let (mut dave_client, selected) = crate::common::ws::connect_offering(&local.url, &alone)
        .await
        .unwrap();
    assert_eq!(
        selected.as_deref(),
        Some(alone.as_str()),
        "the only entry offered"
    );
    for client in [&mut carol, &mut dave_client] {
        client.close(None).await.unwrap();
    }
    local.await_ids(2).await;
    let bad = crate::common::ws::connect_offering(&local.url, &in_header("v1.forged.token")).await;
    assert!(bad.is_err_and(|e| e.contains("403")));

    for (what, url, status) in [
        // The authorizer has no identity source (a token may be in either
        // place), so it runs and denies: 403.
        ("no token", local.url.clone(), "403"),
        ("tampered", with(&tampered), "403"),
        ("another secret", with(&foreign), "403"),
        ("expired", with(&expired), "403"),
    ] {
        let refused = connect_result(url).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains(status)),
            "{what}: {refused:?}"
        );
    }
    quiet(&mut alice).await;
    quiet(&mut bob).await;
    assert_eq!(
        local.table_ids().await.len(),
        2,
        "no connection was recorded"
    );

    let bad_user = mint_token(&["--secret-file", &secret_file, "--user", "<script>"]);
    assert!(!bad_user.status.success());
    assert!(
        String::from_utf8_lossy(&bad_user.stderr).contains("invalid user name"),
        "{bad_user:?}"
    );
}

/// One raw HTTP/1.1 request to 127.0.0.1:`port`; what came back within 3 s
/// (a Runtime API that handed out an invocation would answer at once).
async fn raw_http(port: u16, head: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn local_services_take_only_their_own_host_origin_and_key_and_reveal_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let config = settings_file("local_security", "[stages.dev]\nauthorization = true\n");
    let local = Local::start_with(&[
        "--config",
        &config,
        "--allow-origin",
        "http://localhost:3000",
    ]);
    let secret_file = local.secret_file();
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(secret.len(), 64, "a 32-byte secret in hex");

    // The run directory: a random name, only the user's, as are its files.
    let run_dir = std::path::Path::new(&secret_file).parent().unwrap();
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    let random = name.strip_prefix("chatstack-local-").unwrap();
    assert_eq!(random.len(), 16, "{name}");
    assert_ne!(random, local.child.id().to_string());
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(run_dir), 0o700);
    assert_eq!(mode(std::path::Path::new(&secret_file)), 0o600);
    assert_eq!(mode(std::path::Path::new(&local.credentials_file)), 0o600);
    let latest = chatstack::logs::local::latest_run_link();
    assert!(
        !latest.starts_with(std::env::temp_dir()),
        "{}",
        latest.display()
    );

    // The same requests on every port local listens on (gateway, moto's
    // guard, each function's Runtime API), as a hostile page or another
    // local user would send them: a foreign Host, a foreign Origin,
    // unsigned, moto's own API, and a poll of the Runtime API.
    let ports = local.listening_ports();
    let guard: u16 = local.dynamodb.rsplit(':').next().unwrap().parse().unwrap();
    let gateway: u16 = local
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ports.contains(&guard) && ports.contains(&gateway),
        "{ports:?}"
    );
    assert!(ports.len() > functions_without_settings() + 1, "{ports:?}");
    for port in &ports {
        let own = format!("Host: 127.0.0.1:{port}");
        let attempts = [
            (
                "GET /moto-api/data.json HTTP/1.1\r\nHost: evil.example:{port}"
                    .replace("{port}", &port.to_string()),
                "",
            ),
            (
                format!(
                    "GET /moto-api/data.json HTTP/1.1\r\n{own}\r\nOrigin: https://evil.example"
                ),
                "",
            ),
            (
                format!(
                    "OPTIONS / HTTP/1.1\r\n{own}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST"
                ),
                "",
            ),
            (
                format!(
                    "POST / HTTP/1.1\r\n{own}\r\nX-Amz-Target: secretsmanager.GetSecretValue\r\nContent-Type: application/x-amz-json-1.1"
                ),
                r#"{"SecretId":"chatstack-dev-TokenSecret"}"#,
            ),
            (
                format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n{own}"),
                "",
            ),
            (
                format!("POST /dev/@connections/x HTTP/1.1\r\n{own}\r\nContent-Type: text/plain"),
                "hi",
            ),
        ];
        for (head, body) in attempts {
            let answer = raw_http(*port, &head, body).await;
            assert!(
                !answer.contains(secret.trim()),
                "port {port} revealed the secret to {head:?}"
            );
            let lower = answer.to_ascii_lowercase();
            assert!(
                !lower.contains("access-control-allow"),
                "port {port}, {head:?}: {answer}"
            );
            assert!(
                !answer.starts_with("HTTP/1.1 2"),
                "port {port} answered {head:?} with {answer}"
            );
        }
    }
    // The guard refuses a request signed with another key...
    let (credentials, region) = local.credentials().await;
    let secrets = |credentials: aws_credential_types::Credentials| {
        let endpoint = local.dynamodb.clone();
        let region = region.clone();
        async move {
            let config = aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .http_client(chatstack::aws::https_client())
                .endpoint_url(endpoint)
                .region(aws_config::Region::new(region))
                .credentials_provider(credentials)
                .build();
            aws_sdk_secretsmanager::Client::from_conf(config)
                .get_secret_value()
                .secret_id("chatstack-dev-TokenSecret")
                .send()
                .await
        }
    };
    let guessed = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        "guessed",
        None,
        None,
        "test",
    );
    let refused = secrets(guessed).await.unwrap_err();
    assert!(
        format!("{:?}", refused).contains("signature"),
        "{refused:?}"
    );
    // ...and serves the run's key: the secret is there to be found.
    let value = secrets(credentials).await.unwrap();
    assert_eq!(value.secret_string(), Some(secret.trim()));

    // A browser page of another origin cannot open a WebSocket; the
    // gateway's own page can, and so can a client that sends no Origin.
    let token = local.token_for("alice");
    let with_origin = |origin: &str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("{}?token={token}", local.url)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let foreign = with_origin("https://evil.example").await.unwrap_err();
    assert!(foreign.to_string().contains("403"), "{foreign}");
    let own_page = format!("http://127.0.0.1:{gateway}");
    assert!(with_origin(&own_page).await.is_ok());
    assert!(
        with_origin("http://localhost:3000").await.is_ok(),
        "--allow-origin"
    );
    assert!(with_origin("http://localhost:3001").await.is_err());
    assert!(
        tokio_tungstenite::connect_async(format!("{}?token={token}", local.url))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_connection_is_told_to_wait_while_the_others_keep_chatting() {
    let config = settings_file(
        "local_rate",
        "[stages.dev.limits]\nmessages_per_minute = 5\n",
    );
    let local = Local::start_with(&["--config", &config]);
    let mut flooder = connect(&local.url).await;
    let mut other = connect(&local.url).await;
    local.await_ids(2).await;
    // The count is per minute: start well inside one.
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    // One after another, each answered before the next: moto's UpdateItem
    // is not atomic under concurrent requests (a probe of 40 at once with
    // a limit of 5 saw 7 succeed and the count at 5), which DynamoDB's is
    // ("all of these operations are atomic", Working with items and
    // attributes in the DynamoDB developer guide).
    let mut to_flooder = Vec::new();
    for n in 0..8 {
        send(
            &mut flooder,
            &format!(r#"{{"action":"sendmessage","data":"flood {n}"}}"#),
        )
        .await;
        to_flooder.push(receive(&mut flooder).await);
    }
    let refusals: Vec<&String> = to_flooder
        .iter()
        .filter(|text| text.starts_with("Your message was not sent: you are sending too fast"))
        .collect();
    assert_eq!(refusals.len(), 3, "{to_flooder:?}");
    assert_eq!(
        to_flooder[..5],
        ["flood 0", "flood 1", "flood 2", "flood 3", "flood 4"],
        "the first five of the minute go out"
    );
    let mut heard = Vec::new();
    for _ in 0..5 {
        heard.push(receive(&mut other).await);
    }
    assert!(
        heard.iter().all(|text| text.starts_with("flood ")),
        "{heard:?}"
    );
    quiet(&mut other).await;
    // The others are not held up: their messages reach everyone.
    send(
        &mut other,
        r#"{"action":"sendmessage","data":"still chatting"}"#,
    )
    .await;
    assert_eq!(receive(&mut other).await, "still chatting");
    assert_eq!(receive(&mut flooder).await, "still chatting");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_at_the_connection_cap_is_refused_while_others_connect() {
    let config = settings_file(
        "local_user_cap",
        "[stages.dev]\nauthorization = true\n\n[stages.dev.limits]\nconnections_per_user = 2\n",
    );
    let local = Local::start_with(&["--config", &config]);
    let url_for = |user: &str| format!("{}?token={}", local.url, local.token_for(user));
    let alice = url_for("alice");
    let first = connect(&alice).await;
    let _second = connect(&alice).await;
    local.await_ids(2).await;
    let third = connect_result(alice.clone()).await.unwrap_err();
    assert!(third.contains("429"), "{third}");
    // Another user is not held up by alice's cap.
    let _bob = connect(&url_for("bob")).await;
    local.await_ids(3).await;
    // Once one of alice's connections closes, she may open another.
    drop(first);
    local.await_ids(2).await;
    assert!(connect_result(alice).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_local_shows_what_applies_of_a_stage_to_a_local_run() {
    let mut local = Local::start();
    let run = local.run_dir();
    let _a = connect(&local.url).await;
    let _b = connect(&local.url).await;
    local.await_ids(2).await;
    let status = |json: bool| {
        let mut args = vec!["status", "--local", run.as_str()];
        if json {
            args.push("--json");
        }
        Command::new(env!("CARGO_BIN_EXE_chatstack"))
            .args(&args)
            .output()
            .expect("chatstack status runs")
    };
    let shown = status(false);
    assert!(shown.status.success(), "{shown:?}");
    let text = String::from_utf8_lossy(&shown.stdout);
    for expected in [
        format!("Local run of stage dev in {run}: running"),
        "Connections open: 2".to_owned(),
        "Fan-out: 0 jobs waiting, 0 dead letters".to_owned(),
        "Errors logged in the last hour: none".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "no {expected:?} in:\n{text}"
        );
    }
    let report: serde_json::Value = serde_json::from_slice(&status(true).stdout).unwrap();
    assert_eq!(report["connections"], 2);
    assert_eq!(report["running"], true);

    local.interrupt();
    let ended = status(false);
    let text = String::from_utf8_lossy(&ended.stdout);
    assert!(text.contains(": ended"), "{text}");
    assert!(text.contains("(services: the run has ended"), "{text}");
    let nowhere = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["status", "--local", "/nonexistent/run"])
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&nowhere.stderr)
            .contains("no chatstack local run found at /nonexistent/run"),
        "{nowhere:?}"
    );
}
