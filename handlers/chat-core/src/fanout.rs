//! Posting one message to every connection.

use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use tokio::time::Instant;

use crate::poster::{PostError, Poster};
use crate::protocol::Rendered;
use crate::store::{ConnectionStore, Member};

/// Everything a function that broadcasts needs besides the store and the
/// poster: the pacing, when to split, and the queue split broadcasts go to.
#[derive(Debug, Clone)]
pub struct Fanout<Q> {
    pub config: FanoutConfig,
    pub split: crate::segments::SplitConfig,
    pub queue: Q,
}

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
    /// Connections read but not posted to: the invocation's deadline was
    /// near, or the management API throttled them until then.
    pub unreached: usize,
    pub duration: Duration,
}

/// Time kept after the last post may end, to log and answer before Lambda
/// ends the invocation.
const FINISH_MARGIN: Duration = Duration::from_secs(1);

enum Outcome {
    Sent,
    Gone,
    Failed,
    Unreached,
}

/// Posts `message` to exactly `members` (known to be in the store), each
/// in its own protocol: at most `config.concurrency` at a time, no post starting that could
/// outlast the `deadline`, gone (410) ids deleted, any other failure for
/// one recipient logged and counted, never stopping the others.
pub async fn send_to<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    members: Vec<Member>,
    message: &Rendered,
    config: FanoutConfig,
    deadline: Instant,
) -> Summary {
    let started = Instant::now();
    let last_start = latest_post_start(deadline, config, started);
    let mut summary = Summary::default();
    let _unreached = post_all(
        store,
        poster,
        members,
        message,
        config,
        last_start,
        &mut summary,
    )
    .await;
    summary.duration = started.elapsed();
    summary
}

/// The last moment a post may start and still end before `deadline`.
pub(crate) fn latest_post_start(deadline: Instant, config: FanoutConfig, now: Instant) -> Instant {
    deadline
        .checked_sub(config.post_timeout + FINISH_MARGIN)
        .unwrap_or(now)
}

/// Posts to `members`, at most `config.concurrency` at a time and none
/// starting after `last_start`, adding the outcomes to `summary`. Returns
/// the members not reached: their post would have started too late, or
/// the management API kept throttling until then.
pub(crate) async fn post_all<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    members: Vec<Member>,
    message: &Rendered,
    config: FanoutConfig,
    last_start: Instant,
    summary: &mut Summary,
) -> Vec<Member> {
    let mut posts = stream::iter(members)
        // A post's future first runs as it takes a slot, so the deadline is
        // checked as each post is about to start, not when the ids are read.
        .map(|member| async move {
            let data = message.for_protocol(member.protocol);
            let outcome = if Instant::now() < last_start {
                post_one(
                    store,
                    poster,
                    &member.connection_id,
                    data,
                    config,
                    last_start,
                )
                .await
            } else {
                Outcome::Unreached
            };
            (member, outcome)
        })
        .buffer_unordered(config.concurrency.max(1));
    let mut unreached = Vec::new();
    while let Some((member, outcome)) = posts.next().await {
        match outcome {
            Outcome::Sent => summary.sent += 1,
            Outcome::Gone => summary.gone += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::Unreached => unreached.push(member),
        }
    }
    summary.unreached += unreached.len();
    unreached
}

/// First pause after a 429; each further one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How long to wait before retry number `attempt` (0-based) of a throttled
/// post: exponential, capped, with full jitter so that posts throttled
/// together do not all come back together.
pub fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1 << attempt.min(16))
        .min(MAX_BACKOFF);
    // RandomState is seeded randomly per instance: jitter without a crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let fraction = (random % 1_000) as u32 + 1;
    ceiling * fraction / 1_000
}

/// Posts once, retrying 429s with [`backoff`] while a retry could still
/// start by `last_start`; a post still throttled then is unreached, not
/// failed, so a worker passes it on.
async fn post_one<S: ConnectionStore, P: Poster>(
    store: &S,
    poster: &P,
    connection_id: &str,
    data: &[u8],
    config: FanoutConfig,
    last_start: Instant,
) -> Outcome {
    let mut attempt = 0;
    let result = loop {
        let result =
            match tokio::time::timeout(config.post_timeout, poster.post(connection_id, data)).await
            {
                Ok(result) => result,
                Err(_elapsed) => Err(PostError::TimedOut),
            };
        if result != Err(PostError::Throttled) {
            break result;
        }
        let pause = backoff(attempt);
        if Instant::now() + pause >= last_start {
            return Outcome::Unreached;
        }
        tokio::time::sleep(pause).await;
        attempt += 1;
    };
    match result {
        Ok(()) => Outcome::Sent,
        Err(PostError::Gone) => {
            // Remove exactly the id that answered 410, never the sender's.
            if let Err(error) = store.delete(connection_id).await {
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
