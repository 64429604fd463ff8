//! The broadcast's fan-out, measured: `broadcast` against a management-API
//! stub that takes a set latency per post, over a store of N connections,
//! at several concurrencies, beside the ideal (N x latency / concurrency)
//! and the guides' sequential loop (N x latency). Each case runs in a child
//! process of this binary, so its peak RSS is its own.
//!
//! `cargo bench --bench fanout` (in handlers/); `-- --quick` for the small
//! cases only.

use std::collections::HashSet;
use std::time::Duration;

use chat_core::fanout::{FanoutConfig, broadcast};
use chat_core::poster::{ConnectionInfo, PostError, Poster};
use chat_core::store::{Connection, ConnectionStore, ScanPage, StoreError};
use tokio::time::Instant;

/// DynamoDB returns at most 1 MB a page: about 10,000 ids of this size.
const PAGE: usize = 10_000;
const LATENCY: Duration = Duration::from_millis(20);

/// N ids in memory, scanned in pages.
struct MemoryStore {
    ids: Vec<String>,
}

impl ConnectionStore for MemoryStore {
    async fn put(&self, _: &Connection) -> Result<(), StoreError> {
        Ok(())
    }
    async fn contains(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.ids.iter().any(|known| known == id))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn scan_page(&self, start: Option<String>) -> Result<ScanPage, StoreError> {
        let from = start.and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
        let to = (from + PAGE).min(self.ids.len());
        Ok(ScanPage {
            connection_ids: self.ids[from..to].to_vec(),
            next_start: (to < self.ids.len()).then(|| to.to_string()),
        })
    }
}

/// Answers every post after `LATENCY`; the `gone` ids with 410, the
/// `slow` ones only after the post timeout.
struct StubApi {
    gone: HashSet<String>,
    slow: HashSet<String>,
}

impl Poster for StubApi {
    async fn post(&self, id: &str, _: &[u8]) -> Result<(), PostError> {
        if self.slow.contains(id) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        tokio::time::sleep(LATENCY).await;
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
    };
    let store = MemoryStore { ids: ids.clone() };
    let config = FanoutConfig {
        concurrency,
        post_timeout: Duration::from_secs(3),
    };
    let summary = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(3600);
        broadcast(&store, &api, b"a message of some length", config, deadline).await
    });
    let summary = summary.expect("the memory store never fails");
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, n, c, gone, slow, ..] = args.as_slice()
        && flag == "--case"
    {
        let parse = |s: &String| s.parse::<usize>().expect("a number");
        run_case(parse(n), parse(c), parse(gone), parse(slow));
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
}
