//! Rooms' messages in DynamoDB: one partition per room, keyed by number.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chat_contract::{CONNECTION_ID, COUNTER_SEQ, EXPIRES_AT, LAST_SEQ, ROOM, SEQ, USER_NAME};

use super::{HistoryPage, HistoryStore, Span, StoredMessage, Unnumbered};
use crate::store::{StoreError, store_error};

/// A kept message's text (S)...
const TEXT: &str = "text";
/// ...and when it was taken, epoch milliseconds (N).
const AT: &str = "at";

/// Queries one read makes at most. Expired messages DynamoDB has not
/// removed yet (TTL deletes within days) are read and dropped; past this
/// many queries the answer says where to go on from.
const MOST_QUERIES: usize = 8;

type Item = HashMap<String, AttributeValue>;

/// The history table in DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoHistory {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoHistory {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        DynamoHistory {
            client,
            table: table.to_owned(),
        }
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn read_number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn read_string(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

fn message_from(item: &Item) -> Option<StoredMessage> {
    Some(StoredMessage {
        seq: read_number(item, SEQ)?,
        text: read_string(item, TEXT)?,
        from: read_string(item, USER_NAME),
        sender: read_string(item, CONNECTION_ID),
        at_ms: read_number(item, AT).unwrap_or_default(),
    })
}

impl HistoryStore for DynamoHistory {
    async fn append(
        &self,
        room: &str,
        message: Unnumbered<'_>,
        expires_at_s: u64,
    ) -> Result<u64, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ROOM, AttributeValue::S(room.to_owned()))
            .key(SEQ, number(COUNTER_SEQ))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", LAST_SEQ)
            .expression_attribute_values(":one", number(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_error("UpdateItem", e))?;
        let seq = counted
            .attributes
            .as_ref()
            .and_then(|attributes| read_number(attributes, LAST_SEQ))
            .ok_or_else(|| StoreError {
                operation: "UpdateItem",
                message: format!("the counter of room {room} returned no {LAST_SEQ}"),
            })?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(ROOM, AttributeValue::S(room.to_owned()))
            .item(SEQ, number(seq))
            .item(TEXT, AttributeValue::S(message.text.to_owned()))
            .item(AT, number(message.at_ms))
            .item(EXPIRES_AT, number(expires_at_s));
        if let Some(user) = message.from {
            put = put.item(USER_NAME, AttributeValue::S(user.to_owned()));
        }
        if let Some(sender) = message.sender {
            put = put.item(CONNECTION_ID, AttributeValue::S(sender.to_owned()));
        }
        put.send().await.map_err(|e| store_error("PutItem", e))?;
        Ok(seq)
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ROOM, AttributeValue::S(room.to_owned()))
            .key(SEQ, number(COUNTER_SEQ))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| read_number(item, LAST_SEQ))
            .unwrap_or(0))
    }

    async fn read(
        &self,
        room: &str,
        span: Span,
        limit: u32,
        now_s: u64,
    ) -> Result<HistoryPage, StoreError> {
        let (after, forward) = match span {
            Span::After(seq) => (seq, true),
            Span::Latest => (COUNTER_SEQ, false),
        };
        // One more than asked for tells whether more remain.
        let wanted = limit as usize + 1;
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        let mut last_read = None;
        for _ in 0..MOST_QUERIES {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#room = :room AND #seq > :after")
                .filter_expression("#expires > :now")
                .expression_attribute_names("#room", ROOM)
                .expression_attribute_names("#seq", SEQ)
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":room", AttributeValue::S(room.to_owned()))
                .expression_attribute_values(":after", number(after))
                .expression_attribute_values(":now", number(now_s))
                .scan_index_forward(forward)
                // A client that reconnects asks for what was written just before.
                .consistent_read(true)
                .limit(i32::try_from(wanted - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error("Query", e))?;
            found.extend(output.items().iter().filter_map(message_from));
            start = output.last_evaluated_key;
            last_read = start.as_ref().and_then(|key| read_number(key, SEQ));
            if found.len() >= wanted || start.is_none() {
                break;
            }
        }
        Ok(page(
            found,
            limit as usize,
            forward,
            start.is_some(),
            last_read,
        ))
    }
}

/// The answer from what the queries found (in query order) and whether
/// they stopped before the end of the room (`unfinished`, at `last_read`).
fn page(
    mut found: Vec<StoredMessage>,
    limit: usize,
    forward: bool,
    unfinished: bool,
    last_read: Option<u64>,
) -> HistoryPage {
    let more = found.len() > limit || unfinished;
    found.truncate(limit);
    let last_kept = found.last().map(|message| message.seq);
    let next = match (forward && more, found.len() == limit) {
        (false, _) => None,
        // Cut at the limit: go on after the last one given.
        (true, true) => last_kept,
        // Stopped among expired ones: go on after the last one read.
        (true, false) => last_read.or(last_kept),
    };
    if !forward {
        found.reverse();
    }
    HistoryPage {
        messages: found,
        more,
        next,
    }
}
