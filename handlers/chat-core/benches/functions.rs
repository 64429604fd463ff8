//! Each function's cold start, measured as Lambda's own metric would see
//! it: from exec to the binary's first `invocation/next` poll of a Runtime
//! API stub; and its warm invocation latency: from handing out an event to
//! receiving the response, with DynamoDB and the management API stubbed
//! by a server that answers every call at once (so the figure is the
//! runtime's and the handler's own time). Optimized host builds; the arm64
//! zips run the same code. The authorizer reads its secret before polling,
//! so it needs Secrets Manager and is left out. `cargo bench --bench
//! functions` (in handlers/).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RUNS: usize = 20;
const WARM_INVOCATIONS: usize = 200;

/// Starts `binary` against a fresh Runtime API stub and returns the time
/// until it asks for its first invocation.
fn exec_to_first_poll(binary: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    let started = Instant::now();
    // Nothing answers at port 9: no AWS call happens before the first poll.
    let mut child = start(binary, &address.to_string(), "127.0.0.1:9");
    let (mut stream, _) = listener.accept().expect("the function polls");
    let mut request_line = String::new();
    BufReader::new(&stream)
        .read_line(&mut request_line)
        .expect("a request");
    let elapsed = started.elapsed();
    assert!(request_line.contains("/invocation/next"), "{request_line}");
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

/// One HTTP/1.1 request: its request line and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((request_line, body))
}

/// Writes the whole response at once: several small writes would meet
/// Nagle's algorithm and delayed ACKs, and time those instead.
fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// Answers every AWS call with `{}` at once: DynamoDB's PutItem, DeleteItem
/// and Scan (no items) and the management API read that as success.
fn serve_aws_stub(listener: TcpListener) {
    for stream in listener.incoming().map_while(Result::ok) {
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut writer = stream.try_clone().expect("a stream");
            let mut reader = BufReader::new(stream);
            while read_request(&mut reader).is_some() {
                respond(
                    &mut writer,
                    "200 OK",
                    "content-type: application/x-amz-json-1.0\r\n",
                    "{}",
                );
            }
        });
    }
}

/// A Runtime API stub: each `next` poll gets the event sent on `events`;
/// each response is reported on `responses`.
fn serve_runtime(
    listener: TcpListener,
    events: mpsc::Receiver<String>,
    responses: mpsc::Sender<()>,
) {
    let events = std::sync::Arc::new(std::sync::Mutex::new(events));
    for stream in listener.incoming().map_while(Result::ok) {
        let (events, responses) = (events.clone(), responses.clone());
        std::thread::spawn(move || {
            let _ = stream.set_nodelay(true);
            let mut writer = stream.try_clone().expect("a stream");
            let mut reader = BufReader::new(stream);
            let mut request = 0u64;
            while let Some((line, _)) = read_request(&mut reader) {
                if line.contains("/invocation/next") {
                    let Ok(event) = events.lock().expect("a lock").recv() else {
                        return;
                    };
                    request += 1;
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis()
                        + 30_000;
                    let headers = format!(
                        "lambda-runtime-aws-request-id: r{request}\r\nlambda-runtime-deadline-ms: {deadline}\r\n\
                         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:0:function:bench\r\n\
                         content-type: application/json\r\n"
                    );
                    respond(&mut writer, "200 OK", &headers, &event);
                } else {
                    let _ = responses.send(());
                    respond(&mut writer, "202 Accepted", "", "");
                }
            }
        });
    }
}

/// Starts `binary` with the stubs' addresses.
fn start(binary: &str, runtime_api: &str, aws: &str) -> Child {
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL_DYNAMODB", format!("http://{aws}"))
        .env("TABLE_NAME", "bench")
        .env("CHATSTACK_MANAGEMENT_ENDPOINT", format!("http://{aws}/dev"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function starts")
}

/// Warm invocations of `binary` with `event`: the median and p99 from
/// handing out the event to receiving the response.
fn warm_latency(binary: &str, event: &str, aws: &str) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address").to_string();
    let (events, events_out) = mpsc::channel();
    let (responses_in, responses) = mpsc::channel();
    std::thread::spawn(move || serve_runtime(listener, events_out, responses_in));
    let mut child = start(binary, &address, aws);
    let mut times = Vec::new();
    // The first invocation opens the connections; it is not counted.
    for n in 0..=WARM_INVOCATIONS {
        let handed_out = Instant::now();
        events.send(event.to_owned()).expect("the stub runs");
        responses
            .recv_timeout(Duration::from_secs(30))
            .expect("the function answers");
        if n > 0 {
            times.push(handed_out.elapsed());
        }
    }
    drop(events);
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    let functions = [
        (
            "connect",
            env!("CARGO_BIN_EXE_connect"),
            include_str!("../tests/events/connect.json"),
        ),
        (
            "disconnect",
            env!("CARGO_BIN_EXE_disconnect"),
            include_str!("../tests/events/disconnect.json"),
        ),
        (
            "sendmessage",
            env!("CARGO_BIN_EXE_sendmessage"),
            include_str!("../tests/events/sendmessage.json"),
        ),
        (
            "default",
            env!("CARGO_BIN_EXE_default"),
            include_str!("../tests/events/sendmessage.json"),
        ),
        (
            "notify",
            env!("CARGO_BIN_EXE_notify"),
            include_str!("../tests/events/notify.json"),
        ),
    ];
    let aws = TcpListener::bind("127.0.0.1:0").expect("a port");
    let aws_address = aws.local_addr().expect("an address").to_string();
    std::thread::spawn(move || serve_aws_stub(aws));
    let event = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .expect("JSON")
            .to_string()
    };
    println!(
        "functions: cold start = exec to the first invocation/next poll ({RUNS} runs); warm = event \
         handed out to response received ({WARM_INVOCATIONS} invocations, AWS calls answered at once); \
         optimized host build"
    );
    println!("| function | cold start median | cold start max | warm p50 | warm p99 |");
    println!("|---|---|---|---|---|");
    for (name, binary, sample) in functions {
        let mut times: Vec<Duration> = (0..RUNS).map(|_| exec_to_first_poll(binary)).collect();
        times.sort();
        let (p50, p99) = warm_latency(binary, &event(sample), &aws_address);
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.2} ms | {:.2} ms |",
            times[RUNS / 2].as_secs_f64() * 1e3,
            times[RUNS - 1].as_secs_f64() * 1e3,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
        );
    }
}
