//! Fakes of the store and the poster, and events of the real shape.

pub mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use chat_core::fanout::{Fanout, FanoutConfig};
use chat_core::history::{HistoryPage, HistoryStore, RoomHistory, Span, StoredMessage, Unnumbered};
use chat_core::poster::{ConnectionInfo, PostError, Poster};
use chat_core::protocol::Protocol;
use chat_core::segments::{
    Broadcast, JobLedger, JobQueue, LedgerError, QueueError, SegmentJob, SplitConfig,
};
use chat_core::store::{
    Connection, ConnectionStore, Joined, Member, ScanPage, Segment, StoreError, shard_of,
};

/// A real API Gateway WebSocket event from `tests/events/<name>.json`.
pub fn event(name: &str) -> ApiGatewayWebsocketProxyRequest {
    let path = format!("{}/tests/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `sendmessage` event from `sender` with `body`.
pub fn message_from(sender: &str, body: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut event = event("sendmessage");
    event.request_context.connection_id = Some(sender.to_owned());
    event.body = body.map(str::to_owned);
    event
}

/// In-memory tables of connections and members, scanned in pages of
/// `page_size` in id order.
#[derive(Debug)]
pub struct FakeStore {
    pub items: Mutex<BTreeMap<String, Connection>>,
    /// Members by (room, shard, connection id), as the members table keys them.
    pub members: Mutex<BTreeMap<(String, u32, String), Member>>,
    pub page_size: usize,
    pub scans: AtomicUsize,
    /// Queries of a room's shard, every page counted.
    pub room_queries: AtomicUsize,
    /// Fail every query of a room's shard.
    pub fail_room_query: bool,
    pub fail_put: bool,
    pub fail_delete: bool,
    /// A connection vanishes as it is read, as when its `$disconnect`
    /// runs beside the route that read it.
    pub forget_on_read: bool,
    /// Fail the scan of this page number (0-based).
    pub fail_scan_page: Option<usize>,
    /// Messages counted, by connection and minute.
    pub message_counts: Mutex<std::collections::HashMap<(String, u64), u32>>,
}

impl FakeStore {
    /// Plain connections with these ids, each in the default room.
    pub fn with_ids(ids: impl IntoIterator<Item = String>) -> Self {
        let store = FakeStore {
            items: Mutex::default(),
            members: Mutex::default(),
            page_size: 100,
            scans: AtomicUsize::new(0),
            room_queries: AtomicUsize::new(0),
            fail_room_query: false,
            fail_put: false,
            fail_delete: false,
            forget_on_read: false,
            fail_scan_page: None,
            message_counts: Mutex::default(),
        };
        for id in ids {
            store.insert(Connection::opened(&id, std::time::UNIX_EPOCH));
        }
        store
    }

    /// Holds `connection` and its memberships, as `put` writes them.
    pub fn insert(&self, connection: Connection) {
        let mut members = self.members.lock().unwrap();
        for room in &connection.rooms {
            members.insert(
                member_key(room, &connection.connection_id),
                connection.member(),
            );
        }
        self.items
            .lock()
            .unwrap()
            .insert(connection.connection_id.clone(), connection);
    }

    pub fn ids(&self) -> BTreeSet<String> {
        self.items.lock().unwrap().keys().cloned().collect()
    }

    /// The ids of `room`'s members.
    pub fn room(&self, room: &str) -> BTreeSet<String> {
        self.members
            .lock()
            .unwrap()
            .keys()
            .filter(|(r, _, _)| r == room)
            .map(|(_, _, id)| id.clone())
            .collect()
    }
}

fn member_key(room: &str, connection_id: &str) -> (String, u32, String) {
    (
        room.to_owned(),
        shard_of(connection_id),
        connection_id.to_owned(),
    )
}

fn page_of(members: Vec<Member>, limit: usize, more: bool) -> ScanPage {
    let members: Vec<Member> = members.into_iter().take(limit).collect();
    // DynamoDB may end a page exactly at the end and still give a
    // LastEvaluatedKey; the fake does the same when the page is full.
    let next_start = (more || members.len() == limit)
        .then(|| members.last().map(|m| m.connection_id.clone()))
        .flatten();
    ScanPage {
        members,
        next_start,
    }
}

fn injected(operation: &'static str) -> StoreError {
    StoreError {
        operation,
        message: "injected failure".into(),
    }
}

impl ConnectionStore for FakeStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        if self.fail_put {
            return Err(injected("PutItem"));
        }
        self.insert(connection.clone());
        Ok(())
    }

    async fn connection(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let mut items = self.items.lock().unwrap();
        if self.forget_on_read {
            return Ok(items.remove(connection_id));
        }
        Ok(items.get(connection_id).cloned())
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        if self.fail_delete {
            return Err(injected("DeleteItem"));
        }
        let gone = self.items.lock().unwrap().remove(connection_id);
        if let Some(connection) = &gone {
            let mut members = self.members.lock().unwrap();
            for room in &connection.rooms {
                members.remove(&member_key(room, connection_id));
            }
        }
        Ok(gone)
    }

    async fn join(&self, connection_id: &str, room: &str) -> Result<Joined, StoreError> {
        let mut items = self.items.lock().unwrap();
        let Some(connection) = items.get_mut(connection_id) else {
            return Ok(Joined::NoConnection);
        };
        if connection.is_in(room) {
            return Ok(Joined::AlreadyIn);
        }
        if connection.rooms.len() >= chat_contract::MAX_ROOMS_PER_CONNECTION {
            return Ok(Joined::TooManyRooms);
        }
        connection.rooms.push(room.to_owned());
        let member = connection.member();
        self.members
            .lock()
            .unwrap()
            .insert(member_key(room, connection_id), member.clone());
        Ok(Joined::Joined(member))
    }

    async fn leave(&self, connection_id: &str, room: &str) -> Result<Option<Member>, StoreError> {
        let mut items = self.items.lock().unwrap();
        let Some(connection) = items.get_mut(connection_id).filter(|c| c.is_in(room)) else {
            return Ok(None);
        };
        connection.rooms.retain(|r| r != room);
        self.members
            .lock()
            .unwrap()
            .remove(&member_key(room, connection_id));
        Ok(Some(connection.member()))
    }

    async fn room_page(
        &self,
        room: &str,
        shard: u32,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        self.room_queries.fetch_add(1, Ordering::SeqCst);
        if self.fail_room_query {
            return Err(injected("Query"));
        }
        let members = self.members.lock().unwrap();
        let after: Vec<Member> = members
            .iter()
            .filter(|((r, s, id), _)| {
                r == room && *s == shard && start.as_ref().is_none_or(|start| id > start)
            })
            .map(|(_, member)| member.clone())
            .collect();
        let more = after.len() > limit as usize;
        Ok(page_of(after, limit as usize, more))
    }

    async fn room_listeners(
        &self,
        room: &str,
        most: u32,
    ) -> Result<Option<Vec<Member>>, StoreError> {
        self.room_queries.fetch_add(1, Ordering::SeqCst);
        let listeners: Vec<Member> = self
            .members
            .lock()
            .unwrap()
            .iter()
            .filter(|((r, _, _), member)| r == room && member.protocol == Protocol::V1)
            .map(|(_, member)| member.clone())
            .collect();
        Ok((listeners.len() <= most as usize).then_some(listeners))
    }

    async fn user_connections(&self, user: &str, now_s: u64) -> Result<usize, StoreError> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.user_name.as_deref() == Some(user) && c.expires_at_s > now_s)
            .count())
    }

    async fn count_message(
        &self,
        connection_id: &str,
        window: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        if !self.items.lock().unwrap().contains_key(connection_id) {
            return Ok(false);
        }
        let mut counts = self.message_counts.lock().unwrap();
        let count = counts
            .entry((connection_id.to_owned(), window))
            .or_insert(0);
        *count += 1;
        Ok(*count <= limit)
    }

    async fn scan_page(&self, start: Option<String>) -> Result<ScanPage, StoreError> {
        let page_number = self.scans.fetch_add(1, Ordering::SeqCst);
        if self.fail_scan_page == Some(page_number) {
            return Err(injected("Scan"));
        }
        let items = self.items.lock().unwrap();
        let after: Vec<Member> = items
            .values()
            .filter(|c| start.as_ref().is_none_or(|s| &c.connection_id > s))
            .map(Connection::member)
            .collect();
        let more = after.len() > self.page_size;
        let page = page_of(after, self.page_size, more);
        Ok(ScanPage {
            next_start: page.next_start.filter(|_| more),
            ..page
        })
    }

    async fn scan_segment(
        &self,
        segment: Segment,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let items = self.items.lock().unwrap();
        let after: Vec<Member> = items
            .values()
            .filter(|c| segment_of(&c.connection_id, segment.total) == segment.index)
            .filter(|c| start.as_ref().is_none_or(|s| &c.connection_id > s))
            .map(Connection::member)
            .collect();
        Ok(page_of(after, limit as usize, false))
    }
}

/// Which of `total` segments an id falls in (DynamoDB hashes the key).
pub fn segment_of(id: &str, total: u32) -> u32 {
    id.bytes().map(u32::from).sum::<u32>() % total.max(1)
}

/// The fan-out queue: what was sent, deduplicated by id as SQS FIFO does.
#[derive(Debug, Default)]
pub struct FakeQueue {
    pub sent: Mutex<Vec<SegmentJob>>,
    pub seen_ids: Mutex<BTreeSet<String>>,
    /// Copies SQS dropped as duplicates.
    pub deduplicated: AtomicUsize,
    pub fail: bool,
}

impl FakeQueue {
    /// Takes the oldest job, as a worker would receive it.
    pub fn take(&self) -> Option<SegmentJob> {
        let mut sent = self.sent.lock().unwrap();
        (!sent.is_empty()).then(|| sent.remove(0))
    }
}

impl JobQueue for FakeQueue {
    async fn send(&self, jobs: &[SegmentJob]) -> Result<(), QueueError> {
        if self.fail {
            return Err(QueueError {
                operation: "SendMessageBatch",
                message: "injected failure".into(),
            });
        }
        for job in jobs {
            if self.seen_ids.lock().unwrap().insert(job.deduplication_id()) {
                self.sent.lock().unwrap().push(job.clone());
            } else {
                self.deduplicated.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// Records finished jobs, as the fan-out jobs table does.
#[derive(Debug, Default)]
pub struct FakeLedger {
    pub done: Mutex<BTreeSet<String>>,
}

impl JobLedger for FakeLedger {
    async fn is_done(&self, job_id: &str) -> Result<bool, LedgerError> {
        Ok(self.done.lock().unwrap().contains(job_id))
    }

    async fn mark_done(&self, job_id: &str) -> Result<(), LedgerError> {
        self.done.lock().unwrap().insert(job_id.to_owned());
        Ok(())
    }
}

/// The fan-out settings of most tests: `config`, the default split rule,
/// a fake queue.
pub fn fanout(config: FanoutConfig) -> Fanout<FakeQueue> {
    Fanout {
        config,
        split: SplitConfig::default(),
        queue: FakeQueue::default(),
    }
}

/// Records what is posted; some recipients are gone, failing or slow.
#[derive(Debug, Default)]
pub struct FakePoster {
    pub gone: BTreeSet<String>,
    pub failing: BTreeSet<String>,
    pub slow: BTreeMap<String, Duration>,
    /// How long every post takes (to observe concurrency).
    pub latency: Duration,
    pub fail_info: bool,
    /// Answer 429 to this many posts to each id before taking one.
    pub throttle_first: usize,
    pub throttled: Mutex<BTreeMap<String, usize>>,
    pub delivered: Mutex<Vec<(String, String)>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl FakePoster {
    /// What each connection received, in order.
    pub fn received(&self) -> BTreeMap<String, Vec<String>> {
        let mut received: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, text) in self.delivered.lock().unwrap().iter() {
            received.entry(id.clone()).or_default().push(text.clone());
        }
        received
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Poster for FakePoster {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PostError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        // Decrements on return and when the post is dropped by a timeout.
        let _in_flight = InFlight(&self.in_flight);
        let delay = self
            .slow
            .get(connection_id)
            .copied()
            .unwrap_or(self.latency);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if self.gone.contains(connection_id) {
            return Err(PostError::Gone);
        }
        {
            let mut throttled = self.throttled.lock().unwrap();
            let count = throttled.entry(connection_id.to_owned()).or_default();
            if *count < self.throttle_first {
                *count += 1;
                return Err(PostError::Throttled);
            }
        }
        if self.failing.contains(connection_id) {
            return Err(PostError::Failed("injected failure".into()));
        }
        self.delivered.lock().unwrap().push((
            connection_id.to_owned(),
            String::from_utf8(data.to_vec()).unwrap(),
        ));
        Ok(())
    }

    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, PostError> {
        if self.fail_info {
            return Err(PostError::Failed("injected failure".into()));
        }
        Ok(ConnectionInfo {
            connection_id: connection_id.to_owned(),
            connected_at: Some("2026-11-22T04:50:00Z".into()),
            source_ip: Some("198.51.100.23".into()),
            ..Default::default()
        })
    }
}

/// A broadcast of `text` to every connection, as a push without a room.
pub fn everyone(text: &str) -> Broadcast<'_> {
    Broadcast {
        room: None,
        text,
        from: None,
        sender: None,
        at_ms: 0,
        seq: None,
    }
}

/// `count` connection ids, `c000`, `c001`, ...
pub fn ids(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("c{n:03}")).collect()
}

/// A room's last number and its messages, each with its expiry.
pub type KeptRoom = (u64, Vec<(StoredMessage, u64)>);

/// Rooms' messages in memory, numbered as DynamoDB's counter numbers them.
#[derive(Debug, Default)]
pub struct FakeHistory {
    pub rooms: Mutex<BTreeMap<String, KeptRoom>>,
    /// Fail every append.
    pub fail_append: bool,
}

/// No history: the stage keeps none.
pub const NO_HISTORY: Option<&RoomHistory<FakeHistory>> = None;

impl FakeHistory {
    /// The stage's history kept here, for `retention` and at most `most`
    /// messages a request.
    pub fn kept(self, retention: Duration, most: u32) -> RoomHistory<FakeHistory> {
        RoomHistory {
            store: self,
            retention,
            max_per_request: most,
        }
    }

    /// The numbers `room` holds, in order.
    pub fn seqs(&self, room: &str) -> Vec<u64> {
        let rooms = self.rooms.lock().unwrap();
        rooms
            .get(room)
            .map(|(_, kept)| kept.iter().map(|(m, _)| m.seq).collect())
            .unwrap_or_default()
    }
}

impl HistoryStore for FakeHistory {
    async fn append(
        &self,
        room: &str,
        message: Unnumbered<'_>,
        expires_at_s: u64,
    ) -> Result<u64, StoreError> {
        if self.fail_append {
            return Err(StoreError {
                operation: "UpdateItem",
                message: "the fake history fails".into(),
            });
        }
        let mut rooms = self.rooms.lock().unwrap();
        let (last, kept) = rooms.entry(room.to_owned()).or_default();
        *last += 1;
        let stored = StoredMessage {
            seq: *last,
            text: message.text.to_owned(),
            from: message.from.map(str::to_owned),
            sender: message.sender.map(str::to_owned),
            at_ms: message.at_ms,
        };
        kept.push((stored, expires_at_s));
        Ok(*last)
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        Ok(self
            .rooms
            .lock()
            .unwrap()
            .get(room)
            .map_or(0, |(last, _)| *last))
    }

    async fn read(
        &self,
        room: &str,
        span: Span,
        limit: u32,
        now_s: u64,
    ) -> Result<HistoryPage, StoreError> {
        let rooms = self.rooms.lock().unwrap();
        let live = rooms
            .get(room)
            .into_iter()
            .flat_map(|(_, kept)| kept.iter())
            .filter(|(_, expires)| *expires > now_s)
            .map(|(message, _)| message.clone());
        let limit = limit as usize;
        let (messages, more) = match span {
            Span::After(after) => {
                let newer: Vec<_> = live.filter(|m| m.seq > after).collect();
                let more = newer.len() > limit;
                (newer.into_iter().take(limit).collect::<Vec<_>>(), more)
            }
            Span::Latest => {
                let all: Vec<_> = live.collect();
                let skip = all.len().saturating_sub(limit);
                (all[skip..].to_vec(), skip > 0)
            }
        };
        let next = match span {
            Span::After(_) if more => messages.last().map(|m| m.seq),
            _ => None,
        };
        Ok(HistoryPage {
            messages,
            more,
            next,
        })
    }
}

/// A room route's event from `id` with `body`.
pub fn action(id: &str, route: &str, body: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = message_from(id, Some(body));
    event.request_context.route_key = Some(route.to_owned());
    event
}

/// A store holding `framed` (chatstack.v1) and `plain` connections, each in
/// the rooms named.
pub fn store_with(framed: &[(&str, &[&str])], plain: &[(&str, &[&str])]) -> FakeStore {
    let store = FakeStore::with_ids([]);
    for (connections, protocol) in [(framed, Protocol::V1), (plain, Protocol::Plain)] {
        for (id, rooms) in connections {
            let mut connection = Connection::opened(id, SystemTime::now())
                .speaking(protocol)
                .in_room(rooms[0]);
            connection.rooms = rooms.iter().map(|r| r.to_string()).collect();
            store.insert(connection);
        }
    }
    store
}

/// Each connection's frames, parsed.
pub fn frames(poster: &FakePoster) -> BTreeMap<String, Vec<Value>> {
    poster
        .received()
        .into_iter()
        .map(|(id, texts)| {
            let parsed = texts
                .iter()
                .map(|t| {
                    serde_json::from_str(t).unwrap_or_else(|_| panic!("{id} got non-JSON {t:?}"))
                })
                .collect();
            (id, parsed)
        })
        .collect()
}
