//! The stage's tables of connections and room members.
//!
//! The connections table holds one item per open connection (its id, who
//! opened it, its protocol, the rooms it is in). The members table holds
//! one item per membership, under `<room>#<shard>`: a room's broadcast
//! queries its shards instead of scanning every connection, and a large
//! room is spread over [`ROOM_SHARDS`] partitions, each read by its own
//! worker (see the README's "Rooms").

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use chat_contract::{ROOM_SHARDS, listeners_key, room_key, shard_of};

use crate::protocol::Protocol;

mod dynamo;

pub use dynamo::DynamoStore;

/// When the connection was opened, epoch milliseconds. Only the functions
/// read it, so it is not part of the contract with the template.
pub const CONNECTED_AT: &str = "connectedAt";
/// The minute (epoch minutes) a connection's message count is for.
pub const MESSAGE_WINDOW: &str = "messageWindow";
/// Messages the connection sent in that minute.
pub const MESSAGE_COUNT: &str = "messageCount";

/// API Gateway closes every WebSocket connection after two hours, so an id
/// whose `$disconnect` never ran is dead by then and TTL may remove it.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// One open connection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: String,
    pub connected_at_ms: u128,
    pub expires_at_s: u64,
    /// Who connected, on stages that require tokens.
    pub user_name: Option<String>,
    pub protocol: Protocol,
    /// The room it connected to: where a `sendmessage` naming no room goes.
    pub room: String,
    /// Every room it is in (the first one included, unless it left it).
    pub rooms: Vec<String>,
}

impl Connection {
    /// A plain connection opened at `now` in the default room, expiring
    /// after [`CONNECTION_LIFETIME`].
    pub fn opened(connection_id: &str, now: SystemTime) -> Self {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        Connection {
            connection_id: connection_id.to_owned(),
            connected_at_ms: since_epoch.as_millis(),
            expires_at_s: (since_epoch + CONNECTION_LIFETIME).as_secs(),
            user_name: None,
            protocol: Protocol::Plain,
            room: chat_contract::DEFAULT_ROOM.to_owned(),
            rooms: vec![chat_contract::DEFAULT_ROOM.to_owned()],
        }
    }

    /// The same connection, closed by API Gateway `lifetime` after it
    /// opened (instead of [`CONNECTION_LIFETIME`]).
    pub fn lasting(mut self, lifetime: Duration) -> Self {
        let opened = Duration::from_millis(u64::try_from(self.connected_at_ms).unwrap_or(u64::MAX));
        self.expires_at_s = (opened + lifetime).as_secs();
        self
    }

    /// When API Gateway closes it, epoch milliseconds (to the second).
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_s.saturating_mul(1000)
    }

    /// The same connection, made by `user`.
    pub fn by(mut self, user: Option<&str>) -> Self {
        self.user_name = user.map(str::to_owned);
        self
    }

    /// The same connection, speaking `protocol`.
    pub fn speaking(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The same connection, first in `room` (a name already checked).
    pub fn in_room(mut self, room: &str) -> Self {
        self.room = room.to_owned();
        self.rooms = vec![room.to_owned()];
        self
    }

    /// The connection as a member of its rooms.
    pub fn member(&self) -> Member {
        Member {
            connection_id: self.connection_id.clone(),
            protocol: self.protocol,
            user_name: self.user_name.clone(),
        }
    }

    pub fn is_in(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| r == room)
    }
}

/// A connection as a broadcast, `who` or a presence event sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    pub connection_id: String,
    pub protocol: Protocol,
    /// Set on stages with tokens (and not read by a scan of everyone).
    pub user_name: Option<String>,
}

impl Member {
    /// A plain member known only by its id.
    pub fn plain(connection_id: &str) -> Self {
        Member {
            connection_id: connection_id.to_owned(),
            protocol: Protocol::Plain,
            user_name: None,
        }
    }
}

/// One page of a scan of connections, or of a query on a room's shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    pub members: Vec<Member>,
    /// Where the next page starts (a connection id); `None` on the last page.
    pub next_start: Option<String>,
}

/// One segment of a DynamoDB parallel scan: `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub total: u32,
}

/// What a `join` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// Now a member; its member item written.
    Joined(Member),
    /// Already was a member: nothing changed.
    AlreadyIn,
    /// In [`chat_contract::MAX_ROOMS_PER_CONNECTION`] rooms already.
    TooManyRooms,
    /// The table does not hold the connection (gone, or expired).
    NoConnection,
}

#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// A DynamoDB call of `operation` that failed, with its chain of causes.
pub(crate) fn store_error(
    operation: &'static str,
    error: impl std::error::Error + 'static,
) -> StoreError {
    StoreError {
        operation,
        message: crate::describe(&error),
    }
}

/// Where connections and memberships live; DynamoDB in production, fakes
/// in tests.
pub trait ConnectionStore: Send + Sync {
    /// Records a new connection and its membership of its first room.
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The connection as stored, `None` when the table does not hold it.
    fn connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;

    /// Forgets a connection and its memberships; returns what it was (for
    /// `left` events), `None` when it was not there (which succeeds).
    fn delete(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Option<Connection>, StoreError>> + Send;

    /// Adds `room` (a name already checked) to the connection's rooms.
    fn join(
        &self,
        connection_id: &str,
        room: &str,
    ) -> impl Future<Output = Result<Joined, StoreError>> + Send;

    /// Removes `room` from the connection's rooms: the member that left,
    /// `None` when it was not in it.
    fn leave(
        &self,
        connection_id: &str,
        room: &str,
    ) -> impl Future<Output = Result<Option<Member>, StoreError>> + Send;

    /// At most `limit` members of `room`'s `shard` after `start` (from the
    /// shard's start when `None`), in id order.
    fn room_page(
        &self,
        room: &str,
        shard: u32,
        start: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;

    /// The `chatstack.v1` members of `room` (who hear presence), or
    /// `None` when there are more than `most`: one query, of at most
    /// `most + 1` items.
    fn room_listeners(
        &self,
        room: &str,
        most: u32,
    ) -> impl Future<Output = Result<Option<Vec<Member>>, StoreError>> + Send;

    /// How many connections of `user` the table holds that have not
    /// expired at `now_s` (epoch seconds): through the index by user, so
    /// only that user's items are read.
    fn user_connections(
        &self,
        user: &str,
        now_s: u64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Counts one message of `connection_id` in the minute `window`:
    /// whether it is within `limit` (the first `limit` of each minute
    /// are). A connection the table does not hold is over any limit.
    fn count_message(
        &self,
        connection_id: &str,
        window: u64,
        limit: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The page of every connection after `start` (from the start when `None`).
    fn scan_page(
        &self,
        start: Option<String>,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;

    /// At most `limit` connections of `segment`, after `start` (from the
    /// segment's start when `None`). The segments together hold every
    /// connection once.
    fn scan_segment(
        &self,
        segment: Segment,
        start: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_expires_two_hours_after_it_opened() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let connection = Connection::opened("abc=", now);
        assert_eq!(connection.connected_at_ms, 1_700_000_000_123);
        assert_eq!(connection.expires_at_s, 1_700_000_000 + 7200);
        assert_eq!(connection.rooms, [chat_contract::DEFAULT_ROOM]);
    }
}
