//! The connections table and the room-members table.

use crate::cfn::dynamodb::{
    AttributeDefinition, AttributeType, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, SseSpecification, Table, TimeToLiveSpecification,
};

use chat_contract::{
    CONNECTION_ID, CONNECTIONS_PER_USER_VAR, EXPIRES_AT, HISTORY_MAX_PER_REQUEST_VAR,
    HISTORY_RETENTION_SECONDS_VAR, HISTORY_TABLE_VAR, MEMBERS_TABLE_NAME_VAR,
    MESSAGES_PER_MINUTE_VAR, PRESENCE_LIMIT_VAR, ROOM, ROOM_KEY, SEQ, TABLE_NAME_VAR, USER_INDEX,
    USER_NAME,
};

use crate::cfn::{
    Expr, LogicalId, Output, Resource, RetentionPolicy, SubPart, Template, TemplateError,
};
use crate::settings::{ConnectionsPerUser, History, MessagesPerMinute, PresenceLimit};

use super::Grants;

/// The DynamoDB actions the handlers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    PutItem,
    GetItem,
    DeleteItem,
    UpdateItem,
    Scan,
    Query,
}

impl TableAction {
    fn iam_action(self) -> &'static str {
        match self {
            TableAction::PutItem => "dynamodb:PutItem",
            TableAction::GetItem => "dynamodb:GetItem",
            TableAction::DeleteItem => "dynamodb:DeleteItem",
            TableAction::UpdateItem => "dynamodb:UpdateItem",
            TableAction::Scan => "dynamodb:Scan",
            TableAction::Query => "dynamodb:Query",
        }
    }
}

/// An on-demand, encrypted table keyed by the string `key`, whose items
/// DynamoDB removes after their `expiresAt` (epoch seconds).
pub fn expiring_table(key: &str) -> Table {
    Table {
        key_schema: vec![KeySchemaElement {
            attribute_name: key.to_owned(),
            key_type: KeyType::Hash,
        }],
        attribute_definitions: vec![AttributeDefinition {
            attribute_name: key.to_owned(),
            attribute_type: AttributeType::S,
        }],
        billing_mode: Some(BillingMode::PayPerRequest),
        time_to_live_specification: Some(TimeToLiveSpecification {
            attribute_name: EXPIRES_AT.to_owned(),
            enabled: true,
        }),
        sse_specification: Some(SseSpecification { sse_enabled: true }),
        global_secondary_indexes: None,
    }
}

/// [`expiring_table`] keyed by `key` and the sort key `sort` of `sort_type`.
fn expiring_table_sorted(key: &str, sort: &str, sort_type: AttributeType) -> Table {
    let mut table = expiring_table(key);
    table.key_schema.push(KeySchemaElement {
        attribute_name: sort.to_owned(),
        key_type: KeyType::Range,
    });
    table.attribute_definitions.push(AttributeDefinition {
        attribute_name: sort.to_owned(),
        attribute_type: sort_type,
    });
    table
}

/// The table of open connections, one item per connection id.
#[derive(Debug)]
pub struct ConnectionsTable {
    id: LogicalId,
    /// Whether it has the index of connections by user ([`USER_INDEX`]).
    by_user: bool,
}

/// The connections table's index by user name: each user's connection ids
/// and when they expire, so `$connect` can count them.
fn user_index() -> GlobalSecondaryIndex {
    GlobalSecondaryIndex {
        index_name: USER_INDEX.to_owned(),
        key_schema: vec![KeySchemaElement {
            attribute_name: USER_NAME.to_owned(),
            key_type: KeyType::Hash,
        }],
        projection: Projection {
            projection_type: ProjectionType::Include,
            non_key_attributes: Some(vec![EXPIRES_AT.to_owned()]),
        },
    }
}

/// The connections table's logical id (`chatstack local` finds its local
/// name by it).
pub const CONNECTIONS_TABLE_ID: &str = "ConnectionsTable";

impl ConnectionsTable {
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    /// The table; `by_user` adds the index of connections by user name
    /// (stages with tokens, where connections have one).
    pub fn add_to(template: &mut Template, by_user: bool) -> Result<Self, TemplateError> {
        // API Gateway closes connections after 2 hours; TTL removes ids
        // whose $disconnect never ran.
        let mut table = expiring_table(CONNECTION_ID);
        if by_user {
            table.attribute_definitions.push(AttributeDefinition {
                attribute_name: USER_NAME.to_owned(),
                attribute_type: AttributeType::S,
            });
            table.global_secondary_indexes = Some(vec![user_index()]);
        }
        // Connection ids are worthless once the API is gone: nothing to keep.
        let id = template.add(
            CONNECTIONS_TABLE_ID,
            Resource::new(table)
                .retention(RetentionPolicy::Delete)
                .skip_checkov(
                    "CKV_AWS_119",
                    "encrypted with the AWS managed key; connection ids are not sensitive enough for a CMK",
                )
                .skip_checkov(
                    "CKV_AWS_28",
                    "items live at most two hours (TTL); there is nothing to restore",
                ),
        )?;
        Ok(ConnectionsTable { id, by_user })
    }

    /// Outputs the table's name, for operators and scripts.
    pub fn add_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            "ConnectionsTableName",
            Output {
                description: "DynamoDB table of open connections".to_owned(),
                value: (&self.id).into(),
            },
        )
    }

    /// Tells the function the table's name, and lets it perform `actions`
    /// on it (none: it only learns the name), and nothing else.
    pub fn grant(&self, grants: &mut Grants, actions: &[TableAction]) {
        grants.set(TABLE_NAME_VAR, (&self.id).into());
        if actions.is_empty() {
            return;
        }
        let actions: Vec<_> = actions.iter().map(|a| a.iam_action()).collect();
        self.allow_on_items(grants, &actions);
    }

    /// Allows `actions` on the table's items, in the one statement every
    /// grant on them shares.
    fn allow_on_items(&self, grants: &mut Grants, actions: &[&str]) {
        grants.allow("ConnectionsTable", actions, vec![Expr::arn_of(&self.id)]);
    }

    /// Lets the function count a user's connections (Query on the index by
    /// user) and tells it how many a user may hold; nothing on a table
    /// without the index (a stage without tokens has no users).
    pub fn grant_user_count(&self, grants: &mut Grants, most: ConnectionsPerUser) {
        if !self.by_user {
            return;
        }
        grants.allow(
            "ConnectionsByUser",
            &["dynamodb:Query"],
            vec![Expr::sub([
                SubPart::GetAtt(self.id.clone(), "Arn".to_owned()),
                SubPart::from(format!("/index/{USER_INDEX}").as_str()),
            ])],
        );
        grants.set(CONNECTIONS_PER_USER_VAR, most.0.to_string().into());
    }

    /// Lets the function count each connection's messages on its item
    /// (UpdateItem) and tells it how many a minute one may send.
    pub fn grant_message_count(&self, grants: &mut Grants, most: MessagesPerMinute) {
        self.allow_on_items(grants, &[TableAction::UpdateItem.iam_action()]);
        grants.set(MESSAGES_PER_MINUTE_VAR, most.0.to_string().into());
    }
}

/// The table of room memberships: one item per connection and room, keyed
/// by `<room>#<shard>` and the connection id, so a room's members are a
/// query on each of its shards (see the README's "Rooms").
#[derive(Debug)]
pub struct MembersTable {
    id: LogicalId,
}

impl MembersTable {
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    pub fn add_to(template: &mut Template) -> Result<Self, TemplateError> {
        // Memberships expire with their connection (TTL), like it.
        let id = template.add(
            "MembersTable",
            Resource::new(expiring_table_sorted(ROOM_KEY, CONNECTION_ID, AttributeType::S))
                .retention(RetentionPolicy::Delete)
                .skip_checkov(
                    "CKV_AWS_119",
                    "encrypted with the AWS managed key; room memberships are not sensitive enough for a CMK",
                )
                .skip_checkov(
                    "CKV_AWS_28",
                    "items live at most two hours (TTL); there is nothing to restore",
                ),
        )?;
        Ok(MembersTable { id })
    }

    /// Tells the function the table's name, and lets it perform `actions`
    /// on it (none: it only learns the name), and nothing else.
    pub fn grant(&self, grants: &mut Grants, actions: &[TableAction]) {
        grants.set(MEMBERS_TABLE_NAME_VAR, (&self.id).into());
        if actions.is_empty() {
            return;
        }
        let actions: Vec<_> = actions.iter().map(|a| a.iam_action()).collect();
        grants.allow("MembersTable", &actions, vec![Expr::arn_of(&self.id)]);
    }

    /// Tells a function that announces joins and leaves the most members a
    /// room may have for them to be told.
    pub fn grant_presence(&self, grants: &mut Grants, limit: PresenceLimit) {
        grants.set(PRESENCE_LIMIT_VAR, limit.0.to_string().into());
    }
}

/// The table of each room's messages, keyed by room and number
/// ([`SEQ`]): a catch-up is one query of a room's partition after a
/// number. Each room's counter item (number 0) gives the numbers; the
/// messages expire after the stage's retention (TTL), the counters never,
/// so a room's numbers keep rising (see the README's "History").
#[derive(Debug)]
pub struct HistoryTable {
    id: LogicalId,
    settings: History,
}

impl HistoryTable {
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    pub fn add_to(template: &mut Template, settings: History) -> Result<Self, TemplateError> {
        let id = template.add(
            "HistoryTable",
            Resource::new(expiring_table_sorted(ROOM, SEQ, AttributeType::N))
                .retention(RetentionPolicy::Delete)
                .skip_checkov(
                    "CKV_AWS_119",
                    "encrypted with the AWS managed key; a customer managed key is a choice the stage's owner makes",
                )
                .skip_checkov(
                    "CKV_AWS_28",
                    "a catch-up buffer of days (TTL), not a record: point-in-time recovery would restore what is meant to expire",
                ),
        )?;
        Ok(HistoryTable { id, settings })
    }

    /// Outputs the table's name, for operators and scripts.
    pub fn add_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            "HistoryTableName",
            Output {
                description: "DynamoDB table of each room's recent messages".to_owned(),
                value: (&self.id).into(),
            },
        )
    }

    /// Tells the function the table's name and the stage's history
    /// settings, and lets it perform `actions` on it (none: nothing at all,
    /// not even the name: the function has no part in history).
    pub fn grant(&self, grants: &mut Grants, actions: &[TableAction]) {
        if actions.is_empty() {
            return;
        }
        grants.set(HISTORY_TABLE_VAR, (&self.id).into());
        grants.set(
            HISTORY_RETENTION_SECONDS_VAR,
            self.settings.retention_seconds().to_string().into(),
        );
        grants.set(
            HISTORY_MAX_PER_REQUEST_VAR,
            self.settings.max_per_request.0.to_string().into(),
        );
        let actions: Vec<_> = actions.iter().map(|a| a.iam_action()).collect();
        grants.allow("HistoryTable", &actions, vec![Expr::arn_of(&self.id)]);
    }
}
