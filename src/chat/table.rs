//! The connections table.

use crate::cfn::dynamodb::{
    AttributeDefinition, AttributeType, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, SseSpecification, Table, TimeToLiveSpecification,
};
use std::collections::BTreeMap;

use chat_contract::{
    CONNECTION_ID, CONNECTIONS_PER_USER_VAR, EXPIRES_AT, TABLE_NAME_VAR, USER_INDEX, USER_NAME,
};

use crate::cfn::{
    Expr, LogicalId, Output, Resource, RetentionPolicy, SubPart, Template, TemplateError,
};
use crate::settings::ConnectionsPerUser;

use super::ExecutionRole;

/// The DynamoDB actions the handlers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    PutItem,
    GetItem,
    DeleteItem,
    UpdateItem,
    Scan,
}

impl TableAction {
    fn iam_action(self) -> &'static str {
        match self {
            TableAction::PutItem => "dynamodb:PutItem",
            TableAction::GetItem => "dynamodb:GetItem",
            TableAction::DeleteItem => "dynamodb:DeleteItem",
            TableAction::UpdateItem => "dynamodb:UpdateItem",
            TableAction::Scan => "dynamodb:Scan",
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

impl ConnectionsTable {
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
            "ConnectionsTable",
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

    /// The variables that tell a function which table to use.
    pub fn environment(&self) -> BTreeMap<String, Expr> {
        BTreeMap::from([(TABLE_NAME_VAR.to_owned(), (&self.id).into())])
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

    /// Lets `role` count a user's connections (Query on the index by
    /// user); nothing on a table without the index.
    pub fn grant_user_count(&self, role: &mut ExecutionRole) {
        if !self.by_user {
            return;
        }
        role.allow(
            "ConnectionsByUser",
            &["dynamodb:Query"],
            vec![Expr::sub([
                SubPart::GetAtt(self.id.clone(), "Arn".to_owned()),
                SubPart::from(format!("/index/{USER_INDEX}").as_str()),
            ])],
        );
    }

    /// The variable that tells the function granted
    /// [`grant_user_count`](Self::grant_user_count) how many connections a
    /// user may hold; none on a table without the index.
    pub fn user_count_environment(&self, most: ConnectionsPerUser) -> BTreeMap<String, Expr> {
        if !self.by_user {
            return BTreeMap::new();
        }
        BTreeMap::from([(
            CONNECTIONS_PER_USER_VAR.to_owned(),
            most.0.to_string().into(),
        )])
    }

    /// Lets `role` perform `actions` on this table, and nothing else.
    pub fn grant(&self, role: &mut ExecutionRole, actions: &[TableAction]) {
        if actions.is_empty() {
            return;
        }
        let actions: Vec<_> = actions.iter().map(|a| a.iam_action()).collect();
        role.allow("ConnectionsTable", &actions, vec![Expr::arn_of(&self.id)]);
    }
}
