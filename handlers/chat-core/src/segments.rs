//! Broadcasts too large for one invocation. The function that receives one
//! splits the table into segments (a DynamoDB parallel scan) and queues one
//! job per segment on a FIFO queue; `fanout` workers take a job, post one
//! page of their segment and queue the next page as the segment's next job.
//!
//! One page per job keeps the unit of retry small: a worker that fails
//! (crash, timeout, a scan or queue error) leaves its job on the queue, and
//! SQS hands it out again after the visibility timeout, so only that page is
//! posted again. The next job's deduplication id is fixed by the job that
//! queues it, so a retried job queuing its successor again is dropped by SQS
//! and the rest of the segment is never sent twice. Within a segment (one
//! message group) SQS hands out a job only once the one before is done.

use std::future::Future;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::fanout::{Fanout, Summary, latest_post_start, post_all, send_to};
use crate::poster::Poster;
use crate::store::{ConnectionStore, Segment, StoreError};

/// When and how a broadcast is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitConfig {
    /// Broadcasts to more connections than this go through workers.
    pub direct_limit: usize,
    /// Segments of a split broadcast: at most this many workers at once.
    pub segments: u32,
    /// Connections a worker posts to per job.
    pub page_size: u32,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            // One invocation posts 2,000 in about 1.3 s at 32 in flight and
            // 20 ms a post: well inside API Gateway's 29 s.
            direct_limit: 2_000,
            segments: 10,
            page_size: 100,
        }
    }
}

/// Where a segment's scan stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScanPosition {
    Beginning,
    /// After this connection id (DynamoDB's `LastEvaluatedKey`).
    After(String),
    /// Every page of the segment has been read.
    Done,
}

impl ScanPosition {
    /// Where the next page starts (`Some(None)`: at the segment's start);
    /// `None` when there is no next page.
    fn start(&self) -> Option<Option<String>> {
        match self {
            ScanPosition::Beginning => Some(None),
            ScanPosition::After(key) => Some(Some(key.clone())),
            ScanPosition::Done => None,
        }
    }
}

/// Running totals of a segment, carried from job to job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub sent: usize,
    pub gone: usize,
    pub failed: usize,
}

/// One job of a split broadcast: a page of one segment, and the ids the
/// job before could not reach in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentJob {
    pub broadcast_id: String,
    pub segment: u32,
    pub total_segments: u32,
    /// Jobs of this segment before this one.
    pub hop: u32,
    pub scan: ScanPosition,
    /// Read by an earlier job and not reached yet; posted first.
    #[serde(default)]
    pub pending: Vec<String>,
    pub text: String,
    #[serde(default)]
    pub totals: Totals,
}

impl SegmentJob {
    /// The first job of `segment` (of `total_segments`): from the
    /// segment's start, nothing pending, nothing counted yet.
    pub fn first(broadcast_id: &str, segment: u32, total_segments: u32, text: &str) -> Self {
        SegmentJob {
            broadcast_id: broadcast_id.to_owned(),
            segment,
            total_segments,
            hop: 0,
            scan: ScanPosition::Beginning,
            pending: Vec::new(),
            text: text.to_owned(),
            totals: Totals::default(),
        }
    }

    /// The FIFO message group: one per segment, so a segment's jobs run
    /// one after another and segments run side by side.
    pub fn group_id(&self) -> String {
        format!("{}-{}", self.broadcast_id, self.segment)
    }

    /// Equal for every copy of this job, whoever queues it: SQS drops a
    /// copy sent within five minutes of the first.
    pub fn deduplication_id(&self) -> String {
        format!("{}-{}-{}", self.broadcast_id, self.segment, self.hop)
    }

    fn segment(&self) -> Segment {
        Segment {
            index: self.segment,
            total: self.total_segments,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fan-out queue {operation} failed: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
}

/// Where jobs go; the FIFO queue in production, fakes in tests.
pub trait JobQueue: Send + Sync {
    /// Queues every job, or fails; sending a job again is harmless (see
    /// [`SegmentJob::deduplication_id`]).
    fn send(&self, jobs: &[SegmentJob]) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The fan-out FIFO queue in SQS.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsJobQueue {
    pub fn new(sdk_config: &aws_config::SdkConfig, url: &str) -> Self {
        SqsJobQueue {
            client: aws_sdk_sqs::Client::new(sdk_config),
            url: url.to_owned(),
        }
    }
}

/// SendMessageBatch takes at most ten messages.
const BATCH: usize = 10;
/// Attempts at a batch some of whose messages SQS refused.
const SEND_ATTEMPTS: u32 = 3;

impl JobQueue for SqsJobQueue {
    async fn send(&self, jobs: &[SegmentJob]) -> Result<(), QueueError> {
        for batch in jobs.chunks(BATCH) {
            let entries = batch
                .iter()
                .enumerate()
                .map(|(n, job)| {
                    let body = serde_json::to_string(job).map_err(|e| QueueError {
                        operation: "SendMessageBatch",
                        message: e.to_string(),
                    })?;
                    SendMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .message_body(body)
                        .message_group_id(job.group_id())
                        .message_deduplication_id(job.deduplication_id())
                        .build()
                        .map_err(|e| QueueError {
                            operation: "SendMessageBatch",
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.send_batch(entries).await?;
        }
        Ok(())
    }
}

impl SqsJobQueue {
    /// Sends one batch, again while SQS refuses some of it: the messages
    /// it took are deduplicated, so resending the whole batch is safe.
    async fn send_batch(
        &self,
        entries: Vec<SendMessageBatchRequestEntry>,
    ) -> Result<(), QueueError> {
        let mut attempt = 0;
        loop {
            let refused = match self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
            {
                Ok(output) if output.failed().is_empty() => return Ok(()),
                Ok(output) => output
                    .failed()
                    .iter()
                    .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or("no message")))
                    .collect::<Vec<_>>()
                    .join("; "),
                Err(error) => crate::describe(&error),
            };
            attempt += 1;
            if attempt >= SEND_ATTEMPTS {
                return Err(QueueError {
                    operation: "SendMessageBatch",
                    message: refused,
                });
            }
            tokio::time::sleep(crate::fanout::backoff(attempt)).await;
        }
    }
}

/// A new broadcast's id: unique enough to name its message groups.
pub fn new_broadcast_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("b{nanos:016x}{random:016x}")
}

/// How a broadcast went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Posted by this invocation.
    Direct(Summary),
    /// Handed to workers, one job per segment.
    Split { broadcast_id: String, segments: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Posts `text` to every connection itself when there are at most
/// `split.direct_limit`, or hands the broadcast to workers. Nothing is
/// posted before the choice is made, so no one hears it twice.
pub async fn broadcast_or_split<S: ConnectionStore, P: Poster, Q: JobQueue>(
    store: &S,
    poster: &P,
    fanout: &Fanout<Q>,
    text: &str,
    deadline: Instant,
) -> Result<Delivery, BroadcastError> {
    let (config, split, queue) = (fanout.config, fanout.split, &fanout.queue);
    let started = Instant::now();
    let mut recipients = Vec::new();
    let mut start = None;
    loop {
        let page = store.scan_page(start).await?;
        recipients.extend(page.connection_ids);
        if recipients.len() > split.direct_limit {
            let broadcast_id = new_broadcast_id();
            let segments = split.segments.max(1);
            let jobs: Vec<SegmentJob> = (0..segments)
                .map(|segment| SegmentJob::first(&broadcast_id, segment, segments, text))
                .collect();
            queue.send(&jobs).await?;
            return Ok(Delivery::Split {
                broadcast_id,
                segments,
            });
        }
        start = page.next_start;
        if start.is_none() {
            break;
        }
    }
    let mut summary = send_to(store, poster, recipients, text.as_bytes(), config, deadline).await;
    // The broadcast's time includes reading the ids.
    summary.duration = started.elapsed();
    Ok(Delivery::Direct(summary))
}

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    /// This job's posts.
    pub summary: Summary,
    /// The segment's next job, queued; `None` when the segment is done.
    pub next: Option<SegmentJob>,
}

/// Runs one job: posts its pending ids if it has any, or else the next page
/// of its segment; then queues what is left as the segment's next job. A
/// job posts to at most `page_size` connections (pending ids are what is
/// left of one page), which bounds what a retry repeats. An `Err` leaves
/// the job to be retried.
pub async fn run_job<S: ConnectionStore, P: Poster, Q: JobQueue>(
    store: &S,
    poster: &P,
    fanout: &Fanout<Q>,
    job: SegmentJob,
    deadline: Instant,
) -> Result<JobOutcome, BroadcastError> {
    let (config, page_size, queue) = (fanout.config, fanout.split.page_size, &fanout.queue);
    let started = Instant::now();
    let last_start = latest_post_start(deadline, config, started);
    let data = job.text.as_bytes();
    let mut summary = Summary::default();
    let mut unreached = post_all(
        store,
        poster,
        job.pending.clone(),
        data,
        config,
        last_start,
        &mut summary,
    )
    .await;
    let mut scan = job.scan.clone();
    // A job with pending ids posts only those: at most one page per job.
    if let Some(start) = scan
        .start()
        .filter(|_| job.pending.is_empty() && Instant::now() < last_start)
    {
        let page = store.scan_segment(job.segment(), start, page_size).await?;
        scan = match page.next_start {
            Some(key) => ScanPosition::After(key),
            None => ScanPosition::Done,
        };
        unreached = post_all(
            store,
            poster,
            page.connection_ids,
            data,
            config,
            last_start,
            &mut summary,
        )
        .await;
    }
    summary.duration = started.elapsed();
    let totals = Totals {
        sent: job.totals.sent + summary.sent,
        gone: job.totals.gone + summary.gone,
        failed: job.totals.failed + summary.failed,
    };
    if scan == ScanPosition::Done && unreached.is_empty() {
        log_segment_done(&job, totals);
        return Ok(JobOutcome {
            summary,
            next: None,
        });
    }
    let next = SegmentJob {
        hop: job.hop + 1,
        scan,
        pending: unreached,
        totals,
        ..job
    };
    queue.send(std::slice::from_ref(&next)).await?;
    Ok(JobOutcome {
        summary,
        next: Some(next),
    })
}

/// The line each segment ends with: its totals, under the broadcast's id.
fn log_segment_done(job: &SegmentJob, totals: Totals) {
    tracing::info!(
        broadcast_id = %job.broadcast_id,
        segment = job.segment,
        total_segments = job.total_segments,
        jobs = job.hop + 1,
        sent = totals.sent,
        gone = totals.gone,
        failed = totals.failed,
        "broadcast segment done"
    );
}
