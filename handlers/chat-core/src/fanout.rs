//! Posting one message to every connection.

use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream;

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
    pub duration: Duration,
}

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
/// others. Only a failed scan ends the broadcast early.
pub async fn broadcast<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    data: &[u8],
    config: FanoutConfig,
) -> Result<Summary, StoreError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut start = None;
    loop {
        let page = store.scan_page(start).await?;
        let mut posts = stream::iter(page.connection_ids)
            .map(|connection_id| post_one(store, poster, connection_id, data, config.post_timeout))
            .buffer_unordered(config.concurrency.max(1));
        while let Some(outcome) = posts.next().await {
            match outcome {
                Outcome::Sent => summary.sent += 1,
                Outcome::Gone => summary.gone += 1,
                Outcome::Failed => summary.failed += 1,
            }
        }
        start = page.next_start;
        if start.is_none() {
            break;
        }
    }
    summary.duration = started.elapsed();
    Ok(summary)
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
