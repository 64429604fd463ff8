//! Each room's messages, numbered and kept for the stage's retention, so a
//! client catches up on what it missed (`history` requests) and orders a
//! room's messages by number (`seq`) instead of by arrival.
//!
//! A room's numbers come from its counter item (one atomic `ADD` per
//! message), so they rise by one per message: a number a client never
//! saw is a message it missed. Messages expire (TTL); counters do not, so
//! numbers are never reused. Stages without history have none of this.

use std::future::Future;
use std::time::Duration;

use crate::store::StoreError;

mod dynamo;

pub use dynamo::DynamoHistory;

/// A message to be numbered and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unnumbered<'a> {
    pub text: &'a str,
    /// The sender's user name, on stages with tokens.
    pub from: Option<&'a str>,
    /// The sending connection; `None`: a push.
    pub sender: Option<&'a str>,
    pub at_ms: u64,
}

/// A message as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub seq: u64,
    pub text: String,
    pub from: Option<String>,
    pub sender: Option<String>,
    pub at_ms: u64,
}

/// Which of a room's messages a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The first ones numbered after this.
    After(u64),
    /// The last ones.
    Latest,
}

/// Messages of one room, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub messages: Vec<StoredMessage>,
    /// Whether messages of the span remain beyond these: newer ones (after
    /// [`HistoryPage::next`]) for [`Span::After`], older ones for
    /// [`Span::Latest`].
    pub more: bool,
    /// With [`Span::After`] and more to read: the number to read after
    /// next (the last message's, or the last expired one's the read passed).
    pub next: Option<u64>,
}

/// Where rooms' messages are kept; DynamoDB in production, fakes in tests.
pub trait HistoryStore: Send + Sync {
    /// Gives `message` the next number of `room` and keeps it until
    /// `expires_at_s` (epoch seconds): its number.
    fn append(
        &self,
        room: &str,
        message: Unnumbered<'_>,
        expires_at_s: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The last number `room` gave (0: none yet).
    fn last_seq(&self, room: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// At most `limit` messages of `room` in `span` that have not expired at
    /// `now_s`, oldest first.
    fn read(
        &self,
        room: &str,
        span: Span,
        limit: u32,
        now_s: u64,
    ) -> impl Future<Output = Result<HistoryPage, StoreError>> + Send;
}

/// The stage's history: where it is kept and its settings.
#[derive(Debug, Clone)]
pub struct RoomHistory<H> {
    pub store: H,
    /// How long a message is kept.
    pub retention: Duration,
    /// The most messages one request is answered with.
    pub max_per_request: u32,
}

impl<H: HistoryStore> RoomHistory<H> {
    /// Numbers and keeps `message` of `room` taken at `now_s`: its number.
    pub async fn append(
        &self,
        room: &str,
        message: Unnumbered<'_>,
        now_s: u64,
    ) -> Result<u64, StoreError> {
        let expires_at_s = now_s.saturating_add(self.retention.as_secs());
        self.store.append(room, message, expires_at_s).await
    }
}
