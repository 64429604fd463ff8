//! The stage's route throttling, as API Gateway applies it: a token bucket
//! per route, filled at the rate limit up to the burst limit; a request
//! that finds it empty is refused (429) and reaches no function.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

/// The stage's `DefaultRouteSettings` throttling, applied to each route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteLimits {
    /// Requests per second, steady state.
    pub rate: f64,
    /// Requests at once, the bucket's size.
    pub burst: u32,
}

struct Bucket {
    tokens: f64,
    filled_at: Instant,
}

pub struct Throttle {
    limits: RouteLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Throttle {
    pub fn new(limits: RouteLimits) -> Self {
        Throttle {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `route`'s bucket; `false` when it is empty.
    pub fn admit(&self, route: &str) -> bool {
        let now = Instant::now();
        let burst = f64::from(self.limits.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(route.to_owned()).or_insert(Bucket {
            tokens: burst,
            filled_at: now,
        });
        let refill = now.duration_since(bucket.filled_at).as_secs_f64() * self.limits.rate;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.filled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_route_gets_its_burst_then_its_rate() {
        let throttle = Throttle::new(RouteLimits {
            rate: 2.0,
            burst: 3,
        });
        let admitted = |n| (0..n).filter(|_| throttle.admit("sendmessage")).count();
        assert_eq!(admitted(5), 3, "the burst, then nothing");
        assert!(throttle.admit("$default"), "each route has its own bucket");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(admitted(5), 1, "two a second");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(admitted(5), 3, "never more than the burst");
    }
}
