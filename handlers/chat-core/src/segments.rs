//! Broadcasts too large for one invocation. The function that receives one
//! splits the table into segments (a DynamoDB parallel scan) and queues one
//! job per segment on a FIFO queue; `fanout` workers take a job, post one
//! page of their segment and queue the next page as the segment's next job.
//!
//! One page per job keeps the unit of retry small: a worker that fails
//! (crash, timeout, a scan or queue error) leaves its job on the queue, and
//! SQS hands it out again after the visibility timeout, so only that page is
//! posted again. A job's id is fixed by the job that queues it (broadcast,
//! segment, hop): SQS drops a copy queued again within its five-minute
//! deduplication window, and the [`JobLedger`] records each job that ran to
//! the end, so a copy queued later still (a retry after the window) is
//! dropped by the worker: the rest of a segment is never sent twice, however
//! late a retry comes. Within a segment (one message group) SQS hands out a
//! job only once the one before is done.

use std::future::Future;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use chat_contract::{EXPIRES_AT, FANOUT_BATCH_BYTES, FANOUT_MAX_RETRY_HOPS, JOB_ID};

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
            direct_limit: chat_contract::DEFAULT_DIRECT_LIMIT as usize,
            segments: chat_contract::DEFAULT_WORKERS,
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
    /// Given up on after [`FANOUT_MAX_RETRY_HOPS`] jobs in a row could not
    /// reach them (throttled until each job's deadline).
    #[serde(default)]
    pub missed: usize,
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
    /// Jobs in a row, before this one, that had pending ids left over.
    #[serde(default)]
    pub retries: u32,
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
            retries: 0,
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
    /// copy sent within five minutes of the first, and the [`JobLedger`]
    /// knows it once it ran to the end.
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

/// The jobs as SQS message bodies, in batches of at most [`BATCH`] messages
/// and [`FANOUT_BATCH_BYTES`] in all. Every body is measured as sent (JSON,
/// escapes included); one that alone exceeds the limit is refused before
/// anything is sent, so size never leaves a broadcast partly queued.
pub fn batches(jobs: &[SegmentJob]) -> Result<Vec<Vec<(&SegmentJob, String)>>, QueueError> {
    let refuse = |message: String| QueueError {
        operation: "SendMessageBatch",
        message,
    };
    let mut batches: Vec<Vec<(&SegmentJob, String)>> = Vec::new();
    let mut bytes = 0;
    for job in jobs {
        let body = serde_json::to_string(job).map_err(|e| refuse(e.to_string()))?;
        if body.len() > FANOUT_BATCH_BYTES {
            return Err(refuse(format!(
                "a job of {} bytes is over SQS's {FANOUT_BATCH_BYTES}-byte limit",
                body.len()
            )));
        }
        match batches.last_mut() {
            Some(batch) if batch.len() < BATCH && bytes + body.len() <= FANOUT_BATCH_BYTES => {
                bytes += body.len();
                batch.push((job, body));
            }
            _ => {
                bytes = body.len();
                batches.push(vec![(job, body)]);
            }
        }
    }
    Ok(batches)
}

impl JobQueue for SqsJobQueue {
    async fn send(&self, jobs: &[SegmentJob]) -> Result<(), QueueError> {
        for batch in batches(jobs)? {
            let entries = batch
                .into_iter()
                .enumerate()
                .map(|(n, (job, body))| {
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

/// Which jobs ran to the end (posted, and queued their successor or ended
/// their segment), by [`SegmentJob::deduplication_id`].
pub trait JobLedger: Send + Sync {
    fn is_done(&self, job_id: &str) -> impl Future<Output = Result<bool, LedgerError>> + Send;
    fn mark_done(&self, job_id: &str) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("fan-out jobs table {operation} failed: {message}")]
pub struct LedgerError {
    pub operation: &'static str,
    pub message: String,
}

/// How long a job's record is kept: past the fan-out queue's retention
/// (an hour), no copy of the job can still arrive.
const JOB_RECORD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

/// The fan-out jobs table in DynamoDB: one small item per finished job,
/// removed by TTL.
#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        DynamoLedger {
            client,
            table: table.to_owned(),
        }
    }
}

fn ledger_error(operation: &'static str, error: impl std::error::Error + 'static) -> LedgerError {
    LedgerError {
        operation,
        message: crate::describe(&error),
    }
}

impl JobLedger for DynamoLedger {
    async fn is_done(&self, job_id: &str) -> Result<bool, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(JOB_ID, AttributeValue::S(job_id.to_owned()))
            // A copy arrives at least seconds after the record was written.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ledger_error("GetItem", e))?;
        Ok(output.item().is_some())
    }

    async fn mark_done(&self, job_id: &str) -> Result<(), LedgerError> {
        let expires = std::time::SystemTime::now() + JOB_RECORD_LIFETIME;
        let expires_s = expires
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.client
            .put_item()
            .table_name(&self.table)
            .item(JOB_ID, AttributeValue::S(job_id.to_owned()))
            .item(EXPIRES_AT, AttributeValue::N(expires_s.to_string()))
            .send()
            .await
            .map_err(|e| ledger_error("PutItem", e))?;
        Ok(())
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

/// Why a worker's job failed (SQS hands it out again).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
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
    /// The segment's next job, queued; `None` when the segment is done (or
    /// this job was a copy of one that already ran).
    pub next: Option<SegmentJob>,
}

/// Runs one job: posts its pending ids if it has any, or else the next page
/// of its segment; then queues what is left as the segment's next job. A
/// job posts to at most `page_size` connections (pending ids are what is
/// left of one page), which bounds what a retry repeats. A copy of a job
/// the `ledger` says ran to the end does nothing. An `Err` leaves the job
/// to be retried.
pub async fn run_job<S: ConnectionStore, P: Poster, Q: JobQueue, L: JobLedger>(
    store: &S,
    poster: &P,
    fanout: &Fanout<Q>,
    ledger: &L,
    job: SegmentJob,
    deadline: Instant,
) -> Result<JobOutcome, JobError> {
    let job_id = job.deduplication_id();
    if ledger.is_done(&job_id).await? {
        tracing::warn!(broadcast_id = %job.broadcast_id, segment = job.segment, hop = job.hop, "fan-out job already done: this copy is dropped");
        return Ok(JobOutcome {
            summary: Summary::default(),
            next: None,
        });
    }
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
    let mut totals = Totals {
        sent: job.totals.sent + summary.sent,
        gone: job.totals.gone + summary.gone,
        failed: job.totals.failed + summary.failed,
        missed: job.totals.missed,
    };
    let retries = give_up_if_retried_too_often(&job, &mut unreached, &mut totals);
    let next = if scan == ScanPosition::Done && unreached.is_empty() {
        log_segment_done(&job, totals);
        None
    } else {
        let next = SegmentJob {
            hop: job.hop + 1,
            scan,
            pending: unreached,
            retries,
            totals,
            ..job
        };
        queue.send(std::slice::from_ref(&next)).await?;
        Some(next)
    };
    // Not recorded, the job stays correct: SQS deletes it now, and only a
    // copy queued by a retry could come back, which needs a failed run.
    if let Err(error) = ledger.mark_done(&job_id).await {
        tracing::warn!(%error, job_id, "could not record the fan-out job as done");
    }
    Ok(JobOutcome { summary, next })
}

/// Ids carried over from job to job make a retry hop. After
/// [`FANOUT_MAX_RETRY_HOPS`] in a row they are given up on (logged, counted
/// as missed) so the chain ends. Returns the next job's count of retries.
fn give_up_if_retried_too_often(
    job: &SegmentJob,
    unreached: &mut Vec<String>,
    totals: &mut Totals,
) -> u32 {
    if job.pending.is_empty() || unreached.is_empty() {
        return 0;
    }
    let retries = job.retries + 1;
    if retries < FANOUT_MAX_RETRY_HOPS {
        return retries;
    }
    log_missed(job, unreached);
    totals.missed += unreached.len();
    unreached.clear();
    0
}

/// The ids a segment gave up on, with why.
fn log_missed(job: &SegmentJob, missed: &[String]) {
    tracing::warn!(
        broadcast_id = %job.broadcast_id,
        segment = job.segment,
        missed = missed.len(),
        connection_ids = %missed.join(","),
        "broadcast gave up on connections throttled {FANOUT_MAX_RETRY_HOPS} jobs in a row"
    );
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
        missed = totals.missed,
        "{}",
        chat_contract::SEGMENT_DONE_LOG
    );
}
