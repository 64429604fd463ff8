//! A broadcast to thousands of connections through `chatstack local`,
//! split across the real `fanout` worker binary by the real `sendmessage`
//! (the default room's members, while another room's hear nothing),
//! through a FIFO queue in moto, with the management API's rate limit
//! lowered so that workers back off and a worker can be killed mid-page.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::local::{Local, field_after};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Connections: a few thousand, opened at the stage's `$connect` rate
/// (100 a second after a burst of 200).
const CLIENTS: usize = 2_000;
/// Connections in another room than the broadcast's.
const OTHER_ROOM: usize = 20;
/// What each worker job posts at most (the handlers' default page).
const PAGE: usize = 100;

/// What every client heard, by client number.
type Heard = Arc<Mutex<BTreeMap<usize, Vec<String>>>>;

/// Raises this process's open-file limit to its hard limit (inherited by
/// `chatstack local`): two thousand sockets on each side.
fn raise_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= 3 * CLIENTS as u64,
        "the open-file limit ({}) is too low for {CLIENTS} connections on each side",
        limit.rlim_cur
    );
}

type Writer = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Opens `clients` connections, waiting out the stage's throttling (429),
/// each with a reader recording what it hears. Returns their writers (the
/// connections stay open while they live).
async fn connect_all(url: &str, heard: &Heard, clients: usize) -> Vec<Writer> {
    let mut writers = Vec::with_capacity(clients);
    for n in 0..clients {
        let client = loop {
            match tokio_tungstenite::connect_async(url).await {
                Ok((client, _)) => break client,
                Err(tokio_tungstenite::tungstenite::Error::Http(response))
                    if response.status() == 429 =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(error) => panic!("connection {n}: {error}"),
            }
        };
        let (writer, mut reader) = client.split();
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = reader.next().await {
                if let Message::Text(text) = message {
                    heard
                        .lock()
                        .unwrap()
                        .entry(n)
                        .or_default()
                        .push(text.to_string());
                }
            }
        });
        writers.push(writer);
    }
    writers
}

/// How many times each of `clients` heard `text`.
fn times_heard(heard: &Heard, text: &str, clients: usize) -> Vec<usize> {
    let heard = heard.lock().unwrap();
    (0..clients)
        .map(|n| {
            heard
                .get(&n)
                .map_or(0, |texts| texts.iter().filter(|t| *t == text).count())
        })
        .collect()
}

/// Waits until every client heard `text` at least once, then a little
/// longer for any repeat.
async fn await_everyone(heard: &Heard, text: &str, local: &Local, clients: usize) -> Vec<usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counts = times_heard(heard, text, clients);
        if counts.iter().all(|n| *n >= 1) {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return times_heard(heard, text, clients);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {clients} never heard {:?}; local said {:?}",
            counts.iter().filter(|n| **n == 0).count(),
            text.chars().take(40).collect::<String>(),
            local.lines().iter().rev().take(20).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `fanout` function's log file, as the banner names it.
fn fanout_log(local: &Local) -> String {
    local
        .lines()
        .iter()
        .find(|l| l.contains("function fanout "))
        .and_then(|l| field_after(l, " log "))
        .expect("the banner names the fanout log")
        .to_owned()
}

/// The pids of the running `fanout` worker processes.
/// The `fanout` worker processes of this `local` (its children: other
/// tests run their own).
fn worker_pids(local: &Local) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &local.child.id().to_string(), "-f", "/fanout$"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Failed worker invocations local reported.
fn failed_jobs(local: &Local) -> usize {
    local
        .lines()
        .iter()
        .filter(|l| l.contains("FanoutFunction failed ("))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadcast_to_thousands_goes_through_the_workers_and_survives_a_killed_one() {
    raise_file_limit();
    let dir = std::env::temp_dir().join(format!("chatstack-broadcast-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("chatstack.toml");
    std::fs::write(
        &settings,
        "[stages.dev.broadcast]\ndirect_limit = 100\nworkers = 4\n",
    )
    .unwrap();
    let local = Local::start_with(&[
        "--config",
        settings.to_str().unwrap(),
        // 2,000 posts take at least 4 s: workers meet 429s, back off, and
        // stay busy long enough to be killed mid-page.
        "--management-rate",
        "500",
        "--queue-retry-after",
        "1",
    ]);
    let fanout_log = fanout_log(&local);

    let heard: Heard = Arc::default();
    let mut writers = connect_all(&local.url, &heard, CLIENTS).await;
    // Members of another room, who must hear none of it.
    let heard_elsewhere: Heard = Arc::default();
    let _elsewhere = connect_all(
        &format!("{}?room=elsewhere", local.url),
        &heard_elsewhere,
        OTHER_ROOM,
    )
    .await;
    let sender = &mut writers[0];
    assert_eq!(local.table_ids().await.len(), CLIENTS + OTHER_ROOM);

    // Over the direct limit: sendmessage splits the room, one segment a
    // shard, four workers at a time post.
    let body = r#"{"action":"sendmessage","data":"to everyone"}"#;
    sender.send(Message::Text(body.into())).await.unwrap();
    let counts = await_everyone(&heard, "to everyone", &local, CLIENTS).await;
    let log = common::local::logged_json(&fanout_log);
    assert!(
        counts.iter().all(|n| *n == 1),
        "{} heard it twice; local: {:?}; fanout log: {log:?}",
        counts.iter().filter(|n| **n > 1).count(),
        local
            .lines()
            .iter()
            .filter(|l| l.contains("queue") || l.contains("fanout"))
            .collect::<Vec<_>>()
    );
    assert!(
        heard_elsewhere.lock().unwrap().is_empty(),
        "another room heard: {:?}",
        heard_elsewhere.lock().unwrap()
    );
    let segments: Vec<&serde_json::Value> = log
        .iter()
        .filter(|l| l["fields"]["message"] == "broadcast segment done")
        .collect();
    let shards = chat_contract::ROOM_SHARDS as usize;
    assert_eq!(segments.len(), shards, "one line per segment: {segments:?}");
    let sent: u64 = segments
        .iter()
        .map(|l| l["fields"]["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, CLIENTS as u64, "the segments' totals add up");
    let sendmessage_log =
        common::local::logged_json(&fanout_log.replace("fanout.log", "sendmessage.log"));
    assert!(
        sendmessage_log.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("broadcast split"))),
        "{sendmessage_log:?}"
    );

    // `chatstack logs` adds the segments up.
    let run_dir = std::path::Path::new(&fanout_log).parent().unwrap();
    let logs = Command::new(env!("CARGO_BIN_EXE_chatstack"))
        .args(["logs", "--local"])
        .arg(run_dir)
        .args([
            "--since",
            "5m",
            "--function",
            "sendmessage",
            "--function",
            "fanout",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&logs.stdout);
    let split = text
        .lines()
        .find(|l| l.contains("broadcast split"))
        .unwrap_or_else(|| panic!("no split line:\n{text}"));
    let id = field_after(split, "broadcast_id=").unwrap();
    let total =
        format!("TOTAL  broadcast {id} done, {shards} segments: sent={CLIENTS} gone=0 failed=0");
    assert!(
        text.lines().any(|l| l.ends_with(&total)),
        "no {total:?} in:\n{text}"
    );

    // Again, killing a worker in the middle of its page: SQS hands the job
    // out again, and only what that page had reached hears it twice.
    let body = r#"{"action":"sendmessage","data":"once more"}"#;
    sender.send(Message::Text(body.into())).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while failed_jobs(&local) == 0 {
        assert!(Instant::now() < deadline, "no busy worker was killed");
        let started = times_heard(&heard, "once more", CLIENTS)
            .iter()
            .filter(|n| **n > 0)
            .count();
        if started > 0
            && let Some(pid) = worker_pids(&local).first()
        {
            Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let counts = await_everyone(&heard, "once more", &local, CLIENTS).await;
    assert!(heard_elsewhere.lock().unwrap().is_empty());
    let failed = failed_jobs(&local);
    let twice = counts.iter().filter(|n| **n == 2).count();
    assert!(
        counts.iter().all(|n| *n <= 2),
        "nobody hears it three times"
    );
    assert!(
        twice <= failed * PAGE,
        "{twice} heard it twice after {failed} failed jobs of at most {PAGE}: {:?}",
        local
            .lines()
            .iter()
            .filter(|l| l.contains("queue"))
            .collect::<Vec<_>>()
    );
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.contains("its batch goes back to the queue")),
        "{:?}",
        local.lines()
    );
}

/// A message near API Gateway's 128 KB limit, split into a room's shards:
/// ten jobs of over 120 KB each go out in batches that fit SQS's limit on a
/// batch's total size (moto enforces it), and every connection gets the
/// text once.
#[tokio::test(flavor = "multi_thread")]
async fn a_120_kb_broadcast_through_every_shard_of_a_room_reaches_everyone_once() {
    const LISTENERS: usize = 150;
    const SEGMENTS: usize = chat_contract::ROOM_SHARDS as usize;
    raise_file_limit();
    let dir =
        std::env::temp_dir().join(format!("chatstack-broadcast-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("chatstack.toml");
    std::fs::write(
        &settings,
        format!("[stages.dev.broadcast]\ndirect_limit = 20\nworkers = {SEGMENTS}\n"),
    )
    .unwrap();
    let local = Local::start_with(&["--config", settings.to_str().unwrap()]);
    let fanout_log = fanout_log(&local);
    let heard: Heard = Arc::default();
    let mut writers = connect_all(&local.url, &heard, LISTENERS).await;

    let text: String = (0..120 * 1024)
        .map(|n| char::from(b'a' + (n % 26) as u8))
        .collect();
    let body = serde_json::json!({"action": "sendmessage", "data": text}).to_string();
    for frame in chatstack::client::frames(&body).expect("under 128 KB") {
        writers[0].send(frame).await.unwrap();
    }
    let counts = await_everyone(&heard, &text, &local, LISTENERS).await;
    assert!(
        counts.iter().all(|n| *n == 1),
        "{} heard it more than once",
        counts.iter().filter(|n| **n > 1).count()
    );
    let log = common::local::logged_json(&fanout_log);
    let segments: Vec<&serde_json::Value> = log
        .iter()
        .filter(|l| l["fields"]["message"] == "broadcast segment done")
        .collect();
    assert_eq!(segments.len(), SEGMENTS, "{segments:?}");
    let sent: u64 = segments
        .iter()
        .map(|l| l["fields"]["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(sent, LISTENERS as u64);
}
