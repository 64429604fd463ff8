//! The table of open connections.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use chat_contract::{CONNECTION_ID, EXPIRES_AT, USER_INDEX, USER_NAME};

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
}

impl Connection {
    /// A connection opened at `now`, expiring after [`CONNECTION_LIFETIME`].
    pub fn opened(connection_id: &str, now: SystemTime) -> Self {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        Connection {
            connection_id: connection_id.to_owned(),
            connected_at_ms: since_epoch.as_millis(),
            expires_at_s: (since_epoch + CONNECTION_LIFETIME).as_secs(),
            user_name: None,
        }
    }

    /// The same connection, made by `user`.
    pub fn by(mut self, user: Option<&str>) -> Self {
        self.user_name = user.map(str::to_owned);
        self
    }
}

/// One page of a scan of connection ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanPage {
    pub connection_ids: Vec<String>,
    /// Where the next page starts; `None` on the last page.
    pub next_start: Option<String>,
}

/// One segment of a DynamoDB parallel scan: `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub total: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("connection table {operation} failed: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub message: String,
}

/// Where connection ids live; DynamoDB in production, fakes in tests.
pub trait ConnectionStore: Send + Sync {
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the table holds `connection_id`.
    fn contains(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deleting an id that is not there succeeds.
    fn delete(&self, connection_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

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

    /// The page of ids after `start` (from the start when `None`).
    fn scan_page(
        &self,
        start: Option<String>,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;

    /// At most `limit` ids of `segment`, after `start` (from the segment's
    /// start when `None`). The segments together hold every id once.
    fn scan_segment(
        &self,
        segment: Segment,
        start: Option<String>,
        limit: u32,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send;
}

/// The connections table in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    page_limit: Option<i32>,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
            page_limit: None,
        }
    }

    /// The DynamoDB client, to share with other tables of the stage.
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// At most `limit` items per scan page (DynamoDB's own limit is 1 MB a page).
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit);
        self
    }
}

fn store_error(operation: &'static str, error: impl std::error::Error + 'static) -> StoreError {
    StoreError {
        operation,
        message: crate::describe(&error),
    }
}

/// Whether an UpdateItem failed only because its condition did not hold.
fn condition_failed<R>(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        R,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

impl ConnectionStore for DynamoStore {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                CONNECTION_ID,
                AttributeValue::S(connection.connection_id.clone()),
            )
            .item(
                CONNECTED_AT,
                AttributeValue::N(connection.connected_at_ms.to_string()),
            )
            .item(
                EXPIRES_AT,
                AttributeValue::N(connection.expires_at_s.to_string()),
            );
        if let Some(user) = &connection.user_name {
            request = request.item(USER_NAME, AttributeValue::S(user.clone()));
        }
        request
            .send()
            .await
            .map_err(|e| store_error("PutItem", e))?;
        Ok(())
    }

    async fn contains(&self, connection_id: &str) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .projection_expression("#id")
            .expression_attribute_names("#id", CONNECTION_ID)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(output.item().is_some())
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", e))?;
        Ok(())
    }

    async fn scan_page(&self, start: Option<String>) -> Result<ScanPage, StoreError> {
        self.scan(None, start, self.page_limit).await
    }

    async fn user_connections(&self, user: &str, now_s: u64) -> Result<usize, StoreError> {
        let mut count = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .key_condition_expression("#user = :user")
                // An id whose $disconnect never ran counts only until its
                // connection could still be open.
                .filter_expression("#expires > :now")
                .expression_attribute_names("#user", USER_NAME)
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":user", AttributeValue::S(user.to_owned()))
                .expression_attribute_values(":now", AttributeValue::N(now_s.to_string()))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("Query", e))?;
            count += usize::try_from(page.count()).unwrap_or(0);
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// One conditional write a message: one more in the current minute
    /// while under the limit; at a new minute (a second write, once a
    /// minute at most), the count starts again, and a message that loses
    /// that race to a concurrent one counts in the minute it started.
    async fn count_message(
        &self,
        connection_id: &str,
        window: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let number = |n: u64| AttributeValue::N(n.to_string());
        let update = |expression: &str, condition: &str| {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
                .update_expression(expression)
                .condition_expression(condition)
                .expression_attribute_names("#id", CONNECTION_ID)
                .expression_attribute_names("#window", MESSAGE_WINDOW)
                .expression_attribute_names("#count", MESSAGE_COUNT)
                .expression_attribute_values(":window", number(window))
                .expression_attribute_values(":one", number(1))
        };
        let count_in_window = || async {
            match update(
                "SET #count = #count + :one",
                "attribute_exists(#id) AND #window = :window AND #count < :limit",
            )
            .expression_attribute_values(":limit", number(u64::from(limit)))
            .send()
            .await
            {
                Ok(_) => Ok(true),
                Err(error) if condition_failed(&error) => Ok(false),
                Err(error) => Err(store_error("UpdateItem", error)),
            }
        };
        if count_in_window().await? {
            return Ok(true);
        }
        let new_window = update(
            "SET #window = :window, #count = :one",
            "attribute_exists(#id) AND (attribute_not_exists(#window) OR #window < :window)",
        )
        .send()
        .await;
        match new_window {
            Ok(_) => Ok(limit > 0),
            // A message sent at the same moment may have just started this
            // minute's count: count in it.
            Err(error) if condition_failed(&error) => count_in_window().await,
            Err(error) => Err(store_error("UpdateItem", error)),
        }
    }

    async fn scan_segment(
        &self,
        segment: Segment,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        self.scan(Some(segment), start, Some(limit)).await
    }
}

impl DynamoStore {
    async fn scan(
        &self,
        segment: Option<Segment>,
        start: Option<String>,
        limit: Option<i32>,
    ) -> Result<ScanPage, StoreError> {
        let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            // Only the key: less read capacity, smaller pages.
            .projection_expression("#id")
            .expression_attribute_names("#id", CONNECTION_ID)
            .set_exclusive_start_key(
                start.map(|id| HashMap::from([(CONNECTION_ID.to_owned(), AttributeValue::S(id))])),
            )
            .set_segment(segment.map(|s| to_i32(s.index)))
            .set_total_segments(segment.map(|s| to_i32(s.total)))
            .set_limit(limit)
            .send()
            .await
            .map_err(|e| store_error("Scan", e))?;
        let connection_ids = output
            .items()
            .iter()
            .filter_map(|item| item.get(CONNECTION_ID)?.as_s().ok().cloned())
            .collect();
        let next_start = output
            .last_evaluated_key()
            .and_then(|key| key.get(CONNECTION_ID)?.as_s().ok().cloned());
        Ok(ScanPage {
            connection_ids,
            next_start,
        })
    }
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
    }
}
