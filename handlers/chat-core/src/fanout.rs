//! Posting one message to every connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use tokio::time::Instant;

use crate::poster::{PostError, Poster};
use crate::store::{ConnectionStore, StoreError};

/// How a broadcast is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// Posts in flight at once.
    pub concurrency: usize,
    /// How long one post may take before it counts as failed.
    pub post_timeout: Duration,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            // Enough to hide the management API's latency, well under
            // its default per-account throttle.
            concurrency: 32,
            post_timeout: Duration::from_secs(3),
        }
    }
}

/// What a broadcast did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub sent: usize,
    /// Connections that answered 410 and were removed from the table.
    pub gone: usize,
    pub failed: usize,
    /// Connections read but not posted to: the invocation's deadline was near.
    pub unreached: usize,
    /// Pages of connections left unread for the same reason.
    pub stopped_early: bool,
    pub duration: Duration,
}

/// Time kept after the last post may end, to log and answer before Lambda
/// ends the invocation.
const FINISH_MARGIN: Duration = Duration::from_secs(1);

enum Outcome {
    Sent,
    Gone,
    Failed,
}

/// Posts `data` to every connection in `store`, page by page, at most
/// `config.concurrency` posts at a time.
///
/// A connection that is gone (410) is deleted from the store; any other
/// failure for one recipient is logged and counted, and never stops the
/// others. Only a failed scan ends the broadcast early, or the `deadline`
/// of the invocation: no post starts that could outlast it, and the
/// summary counts who was not reached.
pub async fn broadcast<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    data: &[u8],
    config: FanoutConfig,
    deadline: Instant,
) -> Result<Summary, StoreError> {
    let started = Instant::now();
    let last_start = latest_post_start(deadline, config, started);
    let mut summary = Summary::default();
    let mut start = None;
    loop {
        let page = store.scan_page(start).await?;
        post_all(
            store,
            poster,
            page.connection_ids,
            data,
            config,
            last_start,
            &mut summary,
        )
        .await;
        start = page.next_start;
        if start.is_none() {
            break;
        }
        if Instant::now() >= last_start {
            summary.stopped_early = true;
            break;
        }
    }
    summary.duration = started.elapsed();
    Ok(summary)
}

/// Posts `data` to exactly `connection_ids` (known to be in the store),
/// as [`broadcast`] posts to each page: bounded, deadline-aware, gone ids
/// deleted.
pub async fn send_to<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    connection_ids: Vec<String>,
    data: &[u8],
    config: FanoutConfig,
    deadline: Instant,
) -> Summary {
    let started = Instant::now();
    let last_start = latest_post_start(deadline, config, started);
    let mut summary = Summary::default();
    post_all(
        store,
        poster,
        connection_ids,
        data,
        config,
        last_start,
        &mut summary,
    )
    .await;
    summary.duration = started.elapsed();
    summary
}

/// The last moment a post may start and still end before `deadline`.
fn latest_post_start(deadline: Instant, config: FanoutConfig, now: Instant) -> Instant {
    deadline
        .checked_sub(config.post_timeout + FINISH_MARGIN)
        .unwrap_or(now)
}

/// Posts to `connection_ids`, at most `config.concurrency` at a time and
/// none starting after `last_start`, adding the outcomes to `summary`.
async fn post_all<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    connection_ids: Vec<String>,
    data: &[u8],
    config: FanoutConfig,
    last_start: Instant,
    summary: &mut Summary,
) {
    let read = connection_ids.len();
    let begun = AtomicUsize::new(0);
    let mut posts = stream::iter(connection_ids)
        // Checked as each post is about to start, not when the ids are read.
        .take_while(|_| std::future::ready(Instant::now() < last_start))
        .inspect(|_| {
            begun.fetch_add(1, Ordering::Relaxed);
        })
        .map(|connection_id| post_one(store, poster, connection_id, data, config.post_timeout))
        .buffer_unordered(config.concurrency.max(1));
    while let Some(outcome) = posts.next().await {
        match outcome {
            Outcome::Sent => summary.sent += 1,
            Outcome::Gone => summary.gone += 1,
            Outcome::Failed => summary.failed += 1,
        }
    }
    drop(posts);
    summary.unreached += read - begun.into_inner();
}

async fn post_one<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    connection_id: String,
    data: &[u8],
    timeout: Duration,
) -> Outcome {
    let result = match tokio::time::timeout(timeout, poster.post(&connection_id, data)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(PostError::TimedOut),
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(PostError::Gone) => {
            // Remove exactly the id that answered 410, never the sender's.
            if let Err(error) = store.delete(&connection_id).await {
                tracing::warn!(%connection_id, %error, "could not delete a gone connection");
            }
            Outcome::Gone
        }
        Err(error) => {
            tracing::warn!(%connection_id, %error, "post failed");
            Outcome::Failed
        }
    }
}
