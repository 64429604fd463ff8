//! The connections and members tables in DynamoDB.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chat_contract::{
    CONNECTION_ID, EXPIRES_AT, MAX_ROOMS_PER_CONNECTION, PROTOCOL, ROOM, ROOM_KEY, ROOMS,
    USER_INDEX, USER_NAME,
};

use super::{
    CONNECTED_AT, Connection, ConnectionStore, Joined, MESSAGE_COUNT, MESSAGE_WINDOW, Member,
    ScanPage, Segment, StoreError, listeners_key, room_key, shard_of, store_error,
};
use crate::protocol::Protocol;

type Item = HashMap<String, AttributeValue>;

/// The connections and members tables in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    members_table: String,
    page_limit: Option<i32>,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str, members_table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
            members_table: members_table.to_owned(),
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

fn string(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn number<T: std::str::FromStr + Default>(item: &Item, name: &str) -> T {
    item.get(name)
        .and_then(|value| value.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}

/// A connection item as read back. A connection recorded before rooms
/// existed has no room attributes: it is a plain client of the default room.
fn connection_from(item: &Item) -> Option<Connection> {
    let connection_id = string(item, CONNECTION_ID)?;
    let rooms = item
        .get(ROOMS)
        .and_then(|value| value.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    Some(Connection {
        connection_id,
        connected_at_ms: number(item, CONNECTED_AT),
        expires_at_s: number(item, EXPIRES_AT),
        user_name: string(item, USER_NAME),
        protocol: Protocol::from_stored(string(item, PROTOCOL).as_deref()),
        room: string(item, ROOM).unwrap_or_else(|| chat_contract::DEFAULT_ROOM.to_owned()),
        rooms,
    })
}

fn member_from(item: &Item) -> Option<Member> {
    Some(Member {
        connection_id: string(item, CONNECTION_ID)?,
        protocol: Protocol::from_stored(string(item, PROTOCOL).as_deref()),
        user_name: string(item, USER_NAME),
    })
}

impl DynamoStore {
    /// Writes `member`'s item in `room` (and, for a `chatstack.v1`
    /// member, among its listeners), expiring with its connection.
    async fn put_member(
        &self,
        room: &str,
        member: &Member,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        self.put_member_item(
            room_key(room, shard_of(&member.connection_id)),
            room,
            member,
            expires_at_s,
        )
        .await?;
        if member.protocol == Protocol::V1 {
            self.put_member_item(listeners_key(room), room, member, expires_at_s)
                .await?;
        }
        Ok(())
    }

    async fn put_member_item(
        &self,
        key: String,
        room: &str,
        member: &Member,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.members_table)
            .item(ROOM_KEY, AttributeValue::S(key))
            .item(
                CONNECTION_ID,
                AttributeValue::S(member.connection_id.clone()),
            )
            .item(ROOM, AttributeValue::S(room.to_owned()))
            .item(EXPIRES_AT, AttributeValue::N(expires_at_s.to_string()));
        if let Some(protocol) = member.protocol.stored() {
            request = request.item(PROTOCOL, AttributeValue::S(protocol.to_owned()));
        }
        if let Some(user) = &member.user_name {
            request = request.item(USER_NAME, AttributeValue::S(user.clone()));
        }
        request
            .send()
            .await
            .map_err(|e| store_error("PutItem", e))?;
        Ok(())
    }

    /// Deletes `member`'s item in `room` (and among its listeners).
    async fn delete_member(&self, room: &str, member: &Member) -> Result<(), StoreError> {
        let id = &member.connection_id;
        self.delete_member_item(room_key(room, shard_of(id)), id)
            .await?;
        if member.protocol == Protocol::V1 {
            self.delete_member_item(listeners_key(room), id).await?;
        }
        Ok(())
    }

    async fn delete_member_item(&self, key: String, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.members_table)
            .key(ROOM_KEY, AttributeValue::S(key))
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", e))?;
        Ok(())
    }

    /// One page of the members under `key`, at most `limit`, after `start`.
    async fn member_page(
        &self,
        key: String,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.members_table)
            .key_condition_expression("#key = :key")
            .projection_expression("#id, #protocol, #user")
            .expression_attribute_names("#key", ROOM_KEY)
            .expression_attribute_names("#id", CONNECTION_ID)
            .expression_attribute_names("#protocol", PROTOCOL)
            .expression_attribute_names("#user", USER_NAME)
            .expression_attribute_values(":key", AttributeValue::S(key.clone()))
            .set_exclusive_start_key(start.map(|id| {
                HashMap::from([
                    (ROOM_KEY.to_owned(), AttributeValue::S(key.clone())),
                    (CONNECTION_ID.to_owned(), AttributeValue::S(id)),
                ])
            }))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("Query", e))?;
        Ok(ScanPage {
            members: output.items().iter().filter_map(member_from).collect(),
            next_start: output
                .last_evaluated_key()
                .and_then(|key| string(key, CONNECTION_ID)),
        })
    }
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
            )
            .item(ROOM, AttributeValue::S(connection.room.clone()));
        // DynamoDB refuses an empty string set.
        if !connection.rooms.is_empty() {
            request = request.item(ROOMS, AttributeValue::Ss(connection.rooms.clone()));
        }
        if let Some(protocol) = connection.protocol.stored() {
            request = request.item(PROTOCOL, AttributeValue::S(protocol.to_owned()));
        }
        if let Some(user) = &connection.user_name {
            request = request.item(USER_NAME, AttributeValue::S(user.clone()));
        }
        request
            .send()
            .await
            .map_err(|e| store_error("PutItem", e))?;
        let member = connection.member();
        for room in &connection.rooms {
            self.put_member(room, &member, connection.expires_at_s)
                .await?;
        }
        Ok(())
    }

    async fn connection(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(output.item().and_then(connection_from))
    }

    /// The connection item's old value names its rooms: each membership
    /// goes with it. One that fails to go expires by TTL with the
    /// connection, and a broadcast's 410 removes it sooner.
    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("DeleteItem", e))?;
        let Some(connection) = output.attributes().and_then(connection_from) else {
            return Ok(None);
        };
        let member = connection.member();
        let removals = connection
            .rooms
            .iter()
            .map(|room| self.delete_member(room, &member));
        futures::future::try_join_all(removals).await?;
        Ok(Some(connection))
    }

    /// One conditional UpdateItem adds the room to the connection's set
    /// while it holds fewer than the most allowed; its old value says
    /// whether the room was new and what the member item needs.
    async fn join(&self, connection_id: &str, room: &str) -> Result<Joined, StoreError> {
        let limit = i64::try_from(MAX_ROOMS_PER_CONNECTION).unwrap_or(i64::MAX);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .update_expression("ADD #rooms :room")
            .condition_expression(
                "attribute_exists(#id) AND (attribute_not_exists(#rooms) OR contains(#rooms, :name) OR size(#rooms) < :most)",
            )
            .expression_attribute_names("#id", CONNECTION_ID)
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.to_owned()]))
            .expression_attribute_values(":name", AttributeValue::S(room.to_owned()))
            .expression_attribute_values(":most", AttributeValue::N(limit.to_string()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(output) => output.attributes().and_then(connection_from),
            Err(error) if condition_failed(&error) => {
                let held = error
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed) => failed.item(),
                        _ => None,
                    })
                    .is_some();
                return Ok(if held {
                    Joined::TooManyRooms
                } else {
                    Joined::NoConnection
                });
            }
            Err(error) => return Err(store_error("UpdateItem", error)),
        };
        let Some(old) = old else {
            return Ok(Joined::NoConnection);
        };
        if old.is_in(room) {
            return Ok(Joined::AlreadyIn);
        }
        let member = old.member();
        self.put_member(room, &member, old.expires_at_s).await?;
        Ok(Joined::Joined(member))
    }

    async fn leave(&self, connection_id: &str, room: &str) -> Result<Option<Member>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CONNECTION_ID, AttributeValue::S(connection_id.to_owned()))
            .update_expression("DELETE #rooms :room")
            .condition_expression("contains(#rooms, :name)")
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.to_owned()]))
            .expression_attribute_values(":name", AttributeValue::S(room.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(output) => output.attributes().and_then(connection_from),
            Err(error) if condition_failed(&error) => return Ok(None),
            Err(error) => return Err(store_error("UpdateItem", error)),
        };
        let Some(member) = old.map(|connection| connection.member()) else {
            return Ok(None);
        };
        self.delete_member(room, &member).await?;
        Ok(Some(member))
    }

    async fn room_page(
        &self,
        room: &str,
        shard: u32,
        start: Option<String>,
        limit: u32,
    ) -> Result<ScanPage, StoreError> {
        self.member_page(room_key(room, shard), start, limit).await
    }

    async fn room_listeners(
        &self,
        room: &str,
        most: u32,
    ) -> Result<Option<Vec<Member>>, StoreError> {
        let page = self
            .member_page(listeners_key(room), None, most.saturating_add(1))
            .await?;
        Ok((page.members.len() <= most as usize).then_some(page.members))
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
            // Only what a post needs: less read capacity, smaller pages.
            .projection_expression("#id, #protocol")
            .expression_attribute_names("#id", CONNECTION_ID)
            .expression_attribute_names("#protocol", PROTOCOL)
            .set_exclusive_start_key(
                start.map(|id| HashMap::from([(CONNECTION_ID.to_owned(), AttributeValue::S(id))])),
            )
            .set_segment(segment.map(|s| to_i32(s.index)))
            .set_total_segments(segment.map(|s| to_i32(s.total)))
            .set_limit(limit)
            .send()
            .await
            .map_err(|e| store_error("Scan", e))?;
        Ok(ScanPage {
            members: output.items().iter().filter_map(member_from).collect(),
            next_start: output
                .last_evaluated_key()
                .and_then(|key| string(key, CONNECTION_ID)),
        })
    }
}
