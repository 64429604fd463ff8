//! Cold start of each function, measured as Lambda's own metric would see
//! it: from exec to the binary's first `invocation/next` poll of a Runtime
//! API stub (optimized host builds; the arm64 zips run the same code).
//! The authorizer reads its secret before polling, so it needs Secrets
//! Manager and is left out. `cargo bench --bench cold_start` (in handlers/).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

/// Starts `binary` against a fresh Runtime API stub and returns the time
/// until it asks for its first invocation.
fn exec_to_first_poll(binary: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("TABLE_NAME", "bench")
        .env("CHATSTACK_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9/dev")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function starts");
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

fn main() {
    let functions = [
        ("connect", env!("CARGO_BIN_EXE_connect")),
        ("disconnect", env!("CARGO_BIN_EXE_disconnect")),
        ("sendmessage", env!("CARGO_BIN_EXE_sendmessage")),
        ("default", env!("CARGO_BIN_EXE_default")),
        ("notify", env!("CARGO_BIN_EXE_notify")),
    ];
    println!(
        "cold start: exec to the first invocation/next poll, {RUNS} runs each, optimized host build"
    );
    println!("| function | median | max |");
    println!("|---|---|---|");
    for (name, binary) in functions {
        let mut times: Vec<Duration> = (0..RUNS).map(|_| exec_to_first_poll(binary)).collect();
        times.sort();
        println!(
            "| {name} | {:.1} ms | {:.1} ms |",
            times[RUNS / 2].as_secs_f64() * 1e3,
            times[RUNS - 1].as_secs_f64() * 1e3
        );
    }
}
