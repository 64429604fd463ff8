//! The broadcast's fan-out, measured, against a management-API stub that
//! takes a set latency per post, over a store of N connections:
//!
//! - the direct path (one invocation posts to everyone) at several
//!   concurrencies, beside the ideal (N x latency / concurrency) and the
//!   guides' sequential loop (N x latency);
//! - the split path: S workers taking page-sized jobs from an in-memory
//!   FIFO queue (one group per segment, with a hand-off delay standing in
//!   for SQS and the event source), against a stub that also enforces the
//!   management API's account rate limit (429 past it), beside the bound
//!   N / rate;
//! - rooms: a message to a room of R in a table of N reads the room's R
//!   members (a query a shard), beside a broadcast to everyone (a scan of
//!   N); and a room of 100,000 through the split path, one worker chain
//!   per shard.
//!
//! Each case runs in a child process of this binary, so its peak RSS is
//! its own. `cargo bench --bench fanout` (in handlers/); `-- --quick` for
//! the small cases only.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_core::fanout::{Fanout, FanoutConfig};
use chat_core::poster::{ConnectionInfo, PostError, Poster};
use chat_core::segments::{
    Broadcast, Delivery, JobLedger, JobQueue, LedgerError, QueueError, SegmentJob, SplitConfig,
    broadcast_or_split, run_job,
};
use chat_core::store::{
    Connection, ConnectionStore, Joined, Member, ROOM_SHARDS, ScanPage, Segment, StoreError,
    shard_of,
};
use tokio::time::Instant;

/// DynamoDB returns at most 1 MB a page: about 10,000 ids of this size.
const PAGE: usize = 10_000;
const LATENCY: Duration = Duration::from_millis(20);

/// N ids in memory, scanned in pages, and one room's members by shard
/// (as the members table keys them), each shard in id order.
struct MemoryStore {
    ids: Vec<String>,
    room: Vec<Vec<String>>,
    /// Items read, by scans and queries: what DynamoDB would bill.
    read: AtomicUsize,
}

impl MemoryStore {
    /// A table of `ids`, the first `room_size` of them in the room.
    fn new(ids: Vec<String>, room_size: usize) -> Self {
        let mut room = vec![Vec::new(); ROOM_SHARDS as usize];
        for id in &ids[..room_size] {
            room[shard_of(id) as usize].push(id.clone());
        }
        room.iter_mut().for_each(|shard| shard.sort());
        MemoryStore {
            ids,
            room,
            read: AtomicUsize::new(0),
        }
    }

    fn page(&self, ids: Vec<String>, next_start: Option<String>) -> ScanPage {
        self.read.fetch_add(ids.len(), Ordering::Relaxed);
        ScanPage {
            members: ids.iter().map(|id| Member::plain(id)).collect(),
            next_start,
        }
    }
}

impl ConnectionStore for MemoryStore {
    async fn put(&self, _: &Connection) -> Result<(), StoreError> {
        Ok(())
    }
    async fn connection(&self, _: &str) -> Result<Option<Connection>, StoreError> {
        Ok(None)
    }
    async fn delete(&self, _: &str) -> Result<Option<Connection>, StoreError> {
        Ok(None)
    }
    async fn join(&self, _: &str, _: &str) -> Result<Joined, StoreError> {
        Ok(Joined::NoConnection)
    }
    async fn leave(&self, _: &str, _: &str) -> Result<Option<Member>, StoreError> {
        Ok(None)
    }
    async fn room_page(
        &self,
        _: &str,
        shard: u32,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let members = &self.room[shard as usize];
        let from = start.map_or(0, |last| members.partition_point(|id| *id <= last));
        let to = (from + (limit as usize).min(PAGE)).min(members.len());
        let next_start = (to < members.len()).then(|| members[to - 1].clone());
        Ok(self.page(members[from..to].to_vec(), next_start))
    }
    async fn room_listeners(&self, _: &str, _: u32) -> Result<Option<Vec<Member>>, StoreError> {
        Ok(Some(Vec::new()))
    }
    async fn user_connections(&self, _: &str, _: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
    async fn count_message(&self, _: &str, _: u64, _: u32) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn scan_page(&self, start: Option<String>) -> Result<ScanPage, StoreError> {
        let from = start.and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
        let to = (from + PAGE).min(self.ids.len());
        let next_start = (to < self.ids.len()).then(|| to.to_string());
        Ok(self.page(self.ids[from..to].to_vec(), next_start))
    }
    /// Segment `index` holds every id whose position is `index` modulo the
    /// total; the start key is the last id's position.
    async fn scan_segment(
        &self,
        segment: Segment,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let total = segment.total as usize;
        let first = match start.and_then(|s| s.parse::<usize>().ok()) {
            Some(last) => last + total,
            None => segment.index as usize,
        };
        let positions: Vec<usize> = (first..self.ids.len())
            .step_by(total)
            .take(limit as usize)
            .collect();
        let next_start = positions
            .last()
            .filter(|last| *last + total < self.ids.len())
            .map(|last| last.to_string());
        Ok(self.page(
            positions.iter().map(|&i| self.ids[i].clone()).collect(),
            next_start,
        ))
    }
}

/// A message of `text` to `room` (`None`: everyone).
fn message<'a>(room: Option<&'a str>, text: &'a str) -> Broadcast<'a> {
    Broadcast {
        room,
        text,
        from: None,
        sender: None,
        at_ms: 0,
        seq: None,
    }
}

/// The fan-out jobs table in memory.
#[derive(Default)]
struct MemoryLedger(Mutex<HashSet<String>>);

impl JobLedger for MemoryLedger {
    async fn is_done(&self, job_id: &str) -> Result<bool, LedgerError> {
        Ok(self.0.lock().unwrap().contains(job_id))
    }

    async fn mark_done(&self, job_id: &str) -> Result<(), LedgerError> {
        self.0.lock().unwrap().insert(job_id.to_owned());
        Ok(())
    }
}

/// Never used by the direct path, which a limit of N keeps from splitting.
struct NoQueue;

impl JobQueue for NoQueue {
    async fn send(&self, _: &[SegmentJob]) -> Result<(), QueueError> {
        Err(QueueError {
            operation: "SendMessageBatch",
            message: "the direct path queues nothing".into(),
        })
    }
}

/// A FIFO queue in memory: a job is handed out only when no other job of
/// its group (segment) is out, as SQS FIFO does; copies are dropped by
/// deduplication id.
#[derive(Default)]
struct MemoryQueue {
    jobs: Mutex<VecDeque<SegmentJob>>,
    out: Mutex<HashSet<String>>,
    seen: Mutex<HashSet<String>>,
}

impl JobQueue for MemoryQueue {
    async fn send(&self, jobs: &[SegmentJob]) -> Result<(), QueueError> {
        for job in jobs {
            if self.seen.lock().unwrap().insert(job.deduplication_id()) {
                self.jobs.lock().unwrap().push_back(job.clone());
            }
        }
        Ok(())
    }
}

impl MemoryQueue {
    fn take(&self) -> Option<SegmentJob> {
        let mut jobs = self.jobs.lock().unwrap();
        let mut out = self.out.lock().unwrap();
        let position = jobs.iter().position(|job| !out.contains(&job.group_id()))?;
        let job = jobs.remove(position)?;
        out.insert(job.group_id());
        Some(job)
    }

    fn done(&self, job: &SegmentJob) {
        self.out.lock().unwrap().remove(&job.group_id());
    }
}

/// The management API's account-wide rate limit: a token bucket.
struct RateLimit {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    fn new(per_second: f64, burst: f64) -> Self {
        RateLimit {
            per_second,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    fn admit(&self) -> bool {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        let (tokens, at) = *state;
        let tokens =
            (tokens + now.duration_since(at).as_secs_f64() * self.per_second).min(self.burst);
        let admitted = tokens >= 1.0;
        *state = (if admitted { tokens - 1.0 } else { tokens }, now);
        admitted
    }
}

/// Answers every post after `LATENCY`; the `gone` ids with 410, the
/// `slow` ones only after the post timeout.
struct StubApi {
    gone: HashSet<String>,
    slow: HashSet<String>,
    rate_limit: Option<RateLimit>,
    throttled: AtomicUsize,
}

impl Poster for StubApi {
    async fn post(&self, id: &str, _: &[u8]) -> Result<(), PostError> {
        if self.slow.contains(id) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        tokio::time::sleep(LATENCY).await;
        if self.rate_limit.as_ref().is_some_and(|limit| !limit.admit()) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(PostError::Throttled);
        }
        if self.gone.contains(id) {
            return Err(PostError::Gone);
        }
        Ok(())
    }
    async fn get_connection(&self, id: &str) -> Result<ConnectionInfo, PostError> {
        Ok(ConnectionInfo {
            connection_id: id.to_owned(),
            ..ConnectionInfo::default()
        })
    }
}

/// The peak resident set of this process, in MB (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One case, in this process: prints a table row.
fn run_case(n: usize, concurrency: usize, gone_pct: usize, slow_pct: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let ids: Vec<String> = (0..n).map(|i| format!("conn-{i:08}=")).collect();
    let every = |pct: usize| -> HashSet<String> {
        if pct == 0 {
            return HashSet::new();
        }
        ids.iter().step_by(100 / pct).cloned().collect()
    };
    let api = StubApi {
        gone: every(gone_pct),
        slow: every(slow_pct),
        rate_limit: None,
        throttled: AtomicUsize::new(0),
    };
    let store = MemoryStore::new(ids.clone(), 0);
    let fanout = Fanout {
        config: FanoutConfig {
            concurrency,
            post_timeout: Duration::from_secs(3),
        },
        split: SplitConfig {
            direct_limit: n,
            ..SplitConfig::default()
        },
        queue: NoQueue,
    };
    let delivery = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(3600);
        let text = message(None, "a message of some length");
        broadcast_or_split(&store, &api, &fanout, &text, deadline).await
    });
    let Ok(Delivery::Direct(summary)) = delivery else {
        panic!("the direct path: {delivery:?}")
    };
    let wall = summary.duration.as_secs_f64();
    let ideal = n as f64 * LATENCY.as_secs_f64() / concurrency as f64;
    let sequential = n as f64 * LATENCY.as_secs_f64();
    println!(
        "| {n:>7} | {concurrency:>4} | {gone_pct:>2}% / {slow_pct:>2}% | {wall:>8.2} s | {ideal:>8.2} s | {:>5.2}x | {sequential:>8.0} s | {:>8.0} | {:>6.1} MB | sent {} gone {} failed {} |",
        wall / ideal,
        n as f64 / wall,
        peak_rss_mb(),
        summary.sent,
        summary.gone,
        summary.failed,
    );
}

/// Between one job's end and the next job of its segment starting: SQS
/// and the event source's polling, a guess from their documented latency.
const HANDOFF: Duration = Duration::from_millis(20);
/// The management API's default account limits: 10,000 a second, bursts
/// of 5,000.
const ACCOUNT_RATE: f64 = 10_000.0;
const ACCOUNT_BURST: f64 = 5_000.0;

/// One split broadcast to `n` through `workers` workers (to a room of
/// all `n`, in one chain a shard, when `room`): prints a row.
fn run_split_case(n: usize, workers: u32, room: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let ids = (0..n).map(|i| format!("conn-{i:08}=")).collect();
    let store = MemoryStore::new(ids, if room { n } else { 0 });
    let segments = if room { ROOM_SHARDS } else { workers };
    let api = StubApi {
        gone: HashSet::new(),
        slow: HashSet::new(),
        rate_limit: Some(RateLimit::new(ACCOUNT_RATE, ACCOUNT_BURST)),
        throttled: AtomicUsize::new(0),
    };
    let fanout = Fanout {
        config: FanoutConfig::default(),
        split: SplitConfig {
            segments: workers,
            ..SplitConfig::default()
        },
        queue: MemoryQueue::default(),
    };
    let (wall, jobs, sent) = runtime.block_on(async {
        let started = Instant::now();
        let delivery = broadcast_or_split(
            &store,
            &api,
            &fanout,
            &message(room.then_some("big"), "a message"),
            started + Duration::from_secs(29),
        )
        .await
        .expect("the split is queued");
        assert!(matches!(delivery, Delivery::Split { .. }), "{delivery:?}");
        let (jobs, sent, segments_done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let ledger = MemoryLedger::default();
        let worker = || async {
            while segments_done.load(Ordering::Relaxed) < segments as usize {
                let Some(job) = fanout.queue.take() else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let deadline = Instant::now() + Duration::from_secs(20);
                let outcome = run_job(&store, &api, &fanout, &ledger, job.clone(), deadline)
                    .await
                    .expect("the memory store and queue never fail");
                jobs.fetch_add(1, Ordering::Relaxed);
                sent.fetch_add(outcome.summary.sent, Ordering::Relaxed);
                if outcome.next.is_none() {
                    segments_done.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(HANDOFF).await;
                fanout.queue.done(&job);
            }
        };
        futures::future::join_all((0..segments).map(|_| worker())).await;
        (
            started.elapsed().as_secs_f64(),
            jobs.into_inner(),
            sent.into_inner(),
        )
    });
    let bound = n as f64 / ACCOUNT_RATE;
    let audience = if room { "room" } else { "all" };
    println!(
        "| {audience:>4} | {n:>7} | {segments:>3} | {jobs:>5} | {wall:>7.2} s | {bound:>6.2} s | {:>5.2}x | {:>8} | {:>6.1} MB | sent {sent} |",
        wall / bound,
        api.throttled.load(Ordering::Relaxed),
        peak_rss_mb(),
    );
}

/// A direct message to a room of `room_size` in a table of `n`, beside a
/// broadcast to everyone: items read and time. Prints two rows.
fn run_room_case(n: usize, room_size: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let ids = (0..n).map(|i| format!("conn-{i:08}=")).collect();
    let store = MemoryStore::new(ids, room_size);
    let api = StubApi {
        gone: HashSet::new(),
        slow: HashSet::new(),
        rate_limit: None,
        throttled: AtomicUsize::new(0),
    };
    let fanout = Fanout {
        config: FanoutConfig::default(),
        split: SplitConfig {
            direct_limit: n,
            ..SplitConfig::default()
        },
        queue: NoQueue,
    };
    for (audience, room) in [("room", Some("small")), ("all", None)] {
        store.read.store(0, Ordering::Relaxed);
        let delivery = runtime.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(3600);
            broadcast_or_split(&store, &api, &fanout, &message(room, "hi"), deadline).await
        });
        let Ok(Delivery::Direct(summary)) = delivery else {
            panic!("the direct path: {delivery:?}")
        };
        println!(
            "| {audience:>4} | {n:>7} | {room_size:>5} | {:>7} | {:>8.3} s | sent {} |",
            store.read.load(Ordering::Relaxed),
            summary.duration.as_secs_f64(),
            summary.sent,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, n, room_size, ..] = args.as_slice()
        && flag == "--room-case"
    {
        run_room_case(
            n.parse().expect("a number"),
            room_size.parse().expect("a number"),
        );
        return;
    }
    if let [_, flag, n, c, gone, slow, ..] = args.as_slice()
        && flag == "--case"
    {
        let parse = |s: &String| s.parse::<usize>().expect("a number");
        run_case(parse(n), parse(c), parse(gone), parse(slow));
        return;
    }
    if let [_, flag, n, workers, room, ..] = args.as_slice()
        && flag == "--split-case"
    {
        run_split_case(
            n.parse().expect("a number"),
            workers.parse().expect("a number"),
            room == "room",
        );
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let default = FanoutConfig::default().concurrency;
    let mut cases = vec![
        (1_000, default, 0, 0),
        (10_000, default, 0, 0),
        (10_000, 8, 0, 0),
        (10_000, 128, 0, 0),
        (10_000, default, 10, 1),
    ];
    if !quick {
        cases.extend([(100_000, default, 0, 0), (100_000, 128, 0, 0)]);
    }
    println!(
        "fan-out: broadcast to N connections, {} ms per post (stub), pages of {PAGE} ids, \
         post timeout 3 s; ideal = N x latency / concurrency; sequential = the guides' loop",
        LATENCY.as_millis()
    );
    println!(
        "|       N | conc | gone/slow | wall       | ideal      | ratio  | sequential | posts/s  | peak RSS  | outcome |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let me = std::env::current_exe().expect("the bench's own path");
    for (n, concurrency, gone, slow) in cases {
        let status = std::process::Command::new(&me)
            .args([
                "--case",
                &n.to_string(),
                &concurrency.to_string(),
                &gone.to_string(),
                &slow.to_string(),
            ])
            .status()
            .expect("the case runs");
        assert!(status.success(), "case {n} x {concurrency} failed");
    }
    println!(
        "\nsplit path: N connections through S workers, jobs of {} posts, {} ms hand-off between a segment's jobs, \
         the stub limited to {ACCOUNT_RATE} posts/s (bursts of {ACCOUNT_BURST}) with 429 past it; bound = N / rate",
        SplitConfig::default().page_size,
        HANDOFF.as_millis()
    );
    println!(
        "| to   |       N |   S |  jobs | wall      | bound    | ratio  | 429s     | peak RSS  | outcome |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let split_cases: &[(usize, u32, &str)] = if quick {
        &[(20_000, 10, "all"), (20_000, 10, "room")]
    } else {
        &[
            (100_000, 10, "all"),
            (100_000, 20, "all"),
            (100_000, 40, "all"),
            (100_000, ROOM_SHARDS, "room"),
        ]
    };
    for (n, workers, audience) in split_cases {
        let status = std::process::Command::new(&me)
            .args([
                "--split-case",
                &n.to_string(),
                &workers.to_string(),
                audience,
            ])
            .status()
            .expect("the case runs");
        assert!(
            status.success(),
            "split case {n} x {workers} ({audience}) failed"
        );
    }
    println!(
        "\nrooms: a message to a room of R in a table of N (a query on each of the room's {ROOM_SHARDS} shards) \
         beside one to everyone (a scan); items read, and the broadcast's time"
    );
    println!("| to   |       N |     R |    read | time       | outcome |");
    println!("|---|---|---|---|---|---|");
    let room_cases: &[(usize, usize)] = if quick {
        &[(10_000, 100)]
    } else {
        &[(100_000, 100), (100_000, 2_000)]
    };
    for (n, room_size) in room_cases {
        let status = std::process::Command::new(&me)
            .args(["--room-case", &n.to_string(), &room_size.to_string()])
            .status()
            .expect("the case runs");
        assert!(status.success(), "room case {n} / {room_size} failed");
    }
}
