//! `chatstack local` end to end: one sender, K receivers, each message
//! timed from send to its arrival at every receiver (p50, p99), and the
//! deliveries per second that makes. `cargo bench --bench local` (needs
//! moto_server: tests/tools.sh installs it).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const MESSAGES: usize = 200;

/// Starts `chatstack local` (this package's optimized build) on a free
/// port; returns the process and its WebSocket URL.
fn start_local() -> (std::process::Child, String) {
    let root = env!("CARGO_MANIFEST_DIR");
    let tools = Command::new("bash")
        .arg(format!("{root}/tests/tools.sh"))
        .output()
        .expect("tests/tools.sh runs");
    assert!(
        tools.status.success(),
        "tests/tools.sh failed: install moto[server]"
    );
    let tools = String::from_utf8_lossy(&tools.stdout).trim().to_owned();
    let path = format!("{tools}:{}", std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["local", "--port", "0", "--handlers-dir"])
        .arg(format!("{root}/handlers"))
        .env("PATH", path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("chatstack local starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let mut url = None;
    for line in lines.by_ref() {
        if let Some(rest) = line.split_once("WebSocket URL:") {
            url = Some(rest.1.trim().to_owned());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    // Keep reading its log lines: a closed pipe would stop it.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url.expect("local printed its URL"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(url: &str, receivers: usize) {
    let mut clients = Vec::new();
    for _ in 0..receivers {
        let (client, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connects");
        clients.push(client);
    }
    let (mut sender, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let (mut sinks, mut streams): (Vec<_>, Vec<_>) =
        clients.into_iter().map(StreamExt::split).unzip();
    drop(sinks.drain(..));
    let mut latencies = Vec::with_capacity(MESSAGES * receivers);
    let started = Instant::now();
    for n in 0..MESSAGES {
        let text = format!("message {n}");
        let sent = Instant::now();
        let frame = serde_json::json!({"action": "sendmessage", "data": text}).to_string();
        sender
            .send(Message::Text(frame.into()))
            .await
            .expect("sends");
        for stream in &mut streams {
            loop {
                match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                    Ok(Some(Ok(Message::Text(got)))) if got.as_str() == text => break,
                    Ok(Some(Ok(_))) => continue,
                    other => panic!("no message {n}: {other:?}"),
                }
            }
            latencies.push(sent.elapsed());
        }
        // The sender gets its own broadcast too.
        while let Ok(Some(Ok(Message::Text(got)))) =
            tokio::time::timeout(Duration::from_millis(1), sender.next()).await
        {
            if got.as_str() == text {
                break;
            }
        }
        // Stay under the stage's route throttle (100/s, burst 200).
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "| {receivers:>3} | {MESSAGES} | {:>6.1} ms | {:>6.1} ms | {:>7.0} |",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        (MESSAGES * (receivers + 1)) as f64 / elapsed.as_secs_f64(),
    );
}

fn main() {
    let (mut local, url) = start_local();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    println!(
        "local: one sender, K receivers, {MESSAGES} messages sent one after another (10 ms apart, \
         under the stage's throttle); latency from send to arrival at each receiver"
    );
    println!("|   K | messages | p50 | p99 | deliveries/s |");
    println!("|---|---|---|---|---|");
    for receivers in [10, 100] {
        runtime.block_on(run(&url, receivers));
    }
    let _ = Command::new("kill")
        .args(["-INT", &local.id().to_string()])
        .status();
    let _ = local.wait();
}
