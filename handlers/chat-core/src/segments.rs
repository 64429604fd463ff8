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
use crate::protocol::{Protocol, Rendered};
use crate::store::{ConnectionStore, Member, ROOM_SHARDS, ScanPage, Segment, StoreError};

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
            page_size: chat_contract::FANOUT_PAGE_SIZE,
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

impl Totals {
    /// These totals with a job's posts added.
    fn plus(self, summary: &Summary) -> Totals {
        Totals {
            sent: self.sent + summary.sent,
            gone: self.gone + summary.gone,
            failed: self.failed + summary.failed,
            missed: self.missed,
        }
    }
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
    /// Read by an earlier job and not reached yet; posted first: plain
    /// clients...
    #[serde(default)]
    pub pending: Vec<String>,
    /// ...and clients of the `chatstack.v1` protocol.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_framed: Vec<String>,
    /// Jobs in a row, before this one, that had pending ids left over.
    #[serde(default)]
    pub retries: u32,
    pub text: String,
    /// The sender's user name, on stages with tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The sending connection; `None`: a push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The room broadcast to, whose shard `segment` is; `None`: a scan of
    /// every connection, in `total_segments` segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// When the message was taken, epoch milliseconds.
    #[serde(default)]
    pub at: u64,
    /// Its number in the room's history, on stages that keep one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default)]
    pub totals: Totals,
}

/// One message to broadcast, and who to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broadcast<'a> {
    /// `None`: every connection of the stage.
    pub room: Option<&'a str>,
    pub text: &'a str,
    pub from: Option<&'a str>,
    /// The sending connection; `None`: a push.
    pub sender: Option<&'a str>,
    pub at_ms: u64,
    /// Its number in the room's history, on stages that keep one.
    pub seq: Option<u64>,
}

impl Broadcast<'_> {
    /// The copies plain and `chatstack.v1` clients get.
    pub fn rendered(&self) -> Rendered {
        Rendered::message(
            self.room,
            self.text,
            self.from,
            self.sender,
            self.at_ms,
            self.seq,
        )
    }
}

impl SegmentJob {
    /// The first job of `segment` (of `total_segments`): from the
    /// segment's start, nothing pending, nothing counted yet.
    pub fn first(
        broadcast_id: &str,
        segment: u32,
        total_segments: u32,
        message: &Broadcast,
    ) -> Self {
        SegmentJob {
            broadcast_id: broadcast_id.to_owned(),
            segment,
            total_segments,
            hop: 0,
            scan: ScanPosition::Beginning,
            pending: Vec::new(),
            pending_framed: Vec::new(),
            retries: 0,
            text: message.text.to_owned(),
            from: message.from.map(str::to_owned),
            sender: message.sender.map(str::to_owned),
            room: message.room.map(str::to_owned),
            at: message.at_ms,
            seq: message.seq,
            totals: Totals::default(),
        }
    }

    /// The message this job carries.
    pub fn broadcast(&self) -> Broadcast<'_> {
        Broadcast {
            room: self.room.as_deref(),
            text: &self.text,
            from: self.from.as_deref(),
            sender: self.sender.as_deref(),
            at_ms: self.at,
            seq: self.seq,
        }
    }

    /// The next page of this job's segment: of its room's shard, or of
    /// the table's scan segment.
    async fn read_page<S: ConnectionStore>(
        &self,
        store: &S,
        start: Option<String>,
        page_size: u32,
    ) -> Result<ScanPage, StoreError> {
        match &self.room {
            Some(room) => store.room_page(room, self.segment, start, page_size).await,
            None => store.scan_segment(self.segment(), start, page_size).await,
        }
    }

    /// The segment's job after this one: from `scan`, with what this one
    /// left `unreached` first.
    fn next(
        self,
        scan: ScanPosition,
        unreached: Vec<Member>,
        retries: u32,
        totals: Totals,
    ) -> SegmentJob {
        let (framed, plain): (Vec<Member>, Vec<Member>) = unreached
            .into_iter()
            .partition(|member| member.protocol == Protocol::V1);
        let ids = |members: Vec<Member>| members.into_iter().map(|m| m.connection_id).collect();
        SegmentJob {
            hop: self.hop + 1,
            scan,
            pending: ids(plain),
            pending_framed: ids(framed),
            retries,
            totals,
            ..self
        }
    }

    /// The members an earlier job could not reach, each in its protocol.
    fn pending_members(&self) -> Vec<Member> {
        let plain = self.pending.iter().map(|id| Member::plain(id));
        let framed = self.pending_framed.iter().map(|id| Member {
            protocol: Protocol::V1,
            ..Member::plain(id)
        });
        plain.chain(framed).collect()
    }

    fn has_pending(&self) -> bool {
        !(self.pending.is_empty() && self.pending_framed.is_empty())
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
    /// A room's message could not be numbered and kept: not sent.
    #[error("the message could not be kept in the room's history: {0}")]
    History(StoreError),
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

/// Posts `message` to every recipient itself when there are at most
/// `split.direct_limit`, or hands the broadcast to workers: a room's in
/// one job per shard, everyone's in `split.segments` scan segments.
/// Nothing is posted before the choice is made, so no one hears it twice.
pub async fn broadcast_or_split<S: ConnectionStore, P: Poster, Q: JobQueue>(
    store: &S,
    poster: &P,
    fanout: &Fanout<Q>,
    message: &Broadcast<'_>,
    deadline: Instant,
) -> Result<Delivery, BroadcastError> {
    let (config, split, queue) = (fanout.config, fanout.split, &fanout.queue);
    let started = Instant::now();
    let recipients = match message.room {
        Some(room) => room_members(store, room, split.direct_limit).await?,
        None => every_connection(store, split.direct_limit).await?,
    };
    let Some(recipients) = recipients else {
        let broadcast_id = new_broadcast_id();
        let segments = match message.room {
            Some(_) => ROOM_SHARDS,
            None => split.segments.max(1),
        };
        let jobs: Vec<SegmentJob> = (0..segments)
            .map(|segment| SegmentJob::first(&broadcast_id, segment, segments, message))
            .collect();
        queue.send(&jobs).await?;
        return Ok(Delivery::Split {
            broadcast_id,
            segments,
        });
    };
    let rendered = message.rendered();
    let mut summary = send_to(store, poster, recipients, &rendered, config, deadline).await;
    // The broadcast's time includes reading the recipients.
    summary.duration = started.elapsed();
    Ok(Delivery::Direct(summary))
}

/// Every connection, or `None` once there are more than `most`.
async fn every_connection<S: ConnectionStore>(
    store: &S,
    most: usize,
) -> Result<Option<Vec<Member>>, StoreError> {
    let mut recipients = Vec::new();
    let mut start = None;
    loop {
        let page = store.scan_page(start).await?;
        recipients.extend(page.members);
        if recipients.len() > most {
            return Ok(None);
        }
        start = page.next_start;
        if start.is_none() {
            return Ok(Some(recipients));
        }
    }
}

/// Every member of `room`, or `None` once there are more than `most`:
/// its shards read side by side, each in pages of about its share of
/// `most`, so a small room costs one query a shard and a large one about
/// `most` items before it is split.
pub async fn room_members<S: ConnectionStore>(
    store: &S,
    room: &str,
    most: usize,
) -> Result<Option<Vec<Member>>, StoreError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let read = AtomicUsize::new(0);
    let page_limit = u32::try_from(most / ROOM_SHARDS as usize + 1).unwrap_or(u32::MAX);
    let read_shard = |shard: u32| {
        let read = &read;
        async move {
            let mut members = Vec::new();
            let mut start = None;
            loop {
                let page = store.room_page(room, shard, start, page_limit).await?;
                read.fetch_add(page.members.len(), Ordering::Relaxed);
                members.extend(page.members);
                start = page.next_start;
                if start.is_none() || read.load(Ordering::Relaxed) > most {
                    return Ok::<_, StoreError>(members);
                }
            }
        }
    };
    let shards = futures::future::try_join_all((0..ROOM_SHARDS).map(read_shard)).await?;
    if read.load(Ordering::Relaxed) > most {
        return Ok(None);
    }
    Ok(Some(shards.into_iter().flatten().collect()))
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
    let rendered = job.broadcast().rendered();
    let mut summary = Summary::default();
    let mut unreached = post_all(
        store,
        poster,
        job.pending_members(),
        &rendered,
        config,
        last_start,
        &mut summary,
    )
    .await;
    let mut scan = job.scan.clone();
    // A job with pending ids posts only those: at most one page per job.
    if let Some(start) = scan
        .start()
        .filter(|_| !job.has_pending() && Instant::now() < last_start)
    {
        let page = job.read_page(store, start, page_size).await?;
        scan = match page.next_start {
            Some(key) => ScanPosition::After(key),
            None => ScanPosition::Done,
        };
        unreached = post_all(
            store,
            poster,
            page.members,
            &rendered,
            config,
            last_start,
            &mut summary,
        )
        .await;
    }
    summary.duration = started.elapsed();
    let mut totals = job.totals.plus(&summary);
    let retries = give_up_if_retried_too_often(&job, &mut unreached, &mut totals);
    let next = if scan == ScanPosition::Done && unreached.is_empty() {
        log_segment_done(&job, totals);
        None
    } else {
        let next = job.next(scan, unreached, retries, totals);
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
    unreached: &mut Vec<Member>,
    totals: &mut Totals,
) -> u32 {
    if !job.has_pending() || unreached.is_empty() {
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
fn log_missed(job: &SegmentJob, missed: &[Member]) {
    let ids: Vec<&str> = missed.iter().map(|m| m.connection_id.as_str()).collect();
    tracing::warn!(
        broadcast_id = %job.broadcast_id,
        segment = job.segment,
        room = job.room.as_deref(),
        missed = missed.len(),
        connection_ids = %ids.join(","),
        "broadcast gave up on connections throttled {FANOUT_MAX_RETRY_HOPS} jobs in a row"
    );
}

/// The line each segment ends with: its totals, under the broadcast's id.
fn log_segment_done(job: &SegmentJob, totals: Totals) {
    tracing::info!(
        broadcast_id = %job.broadcast_id,
        room = job.room.as_deref(),
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
