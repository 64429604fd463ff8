//! The connections table.

use crate::cfn::dynamodb::{
    AttributeDefinition, AttributeType, BillingMode, KeySchemaElement, KeyType, SseSpecification,
    Table, TimeToLiveSpecification,
};
use std::collections::BTreeMap;

use chat_contract::{CONNECTION_ID, EXPIRES_AT, TABLE_NAME_VAR};

use crate::cfn::{Expr, LogicalId, Output, Resource, RetentionPolicy, Template, TemplateError};

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
    }
}

/// The table of open connections, one item per connection id.
#[derive(Debug)]
pub struct ConnectionsTable {
    id: LogicalId,
}

impl ConnectionsTable {
    pub fn add_to(template: &mut Template) -> Result<Self, TemplateError> {
        // API Gateway closes connections after 2 hours; TTL removes ids
        // whose $disconnect never ran.
        let table = expiring_table(CONNECTION_ID);
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
        Ok(ConnectionsTable { id })
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

    /// Lets `role` perform `actions` on this table, and nothing else.
    pub fn grant(&self, role: &mut ExecutionRole, actions: &[TableAction]) {
        if actions.is_empty() {
            return;
        }
        let actions: Vec<_> = actions.iter().map(|a| a.iam_action()).collect();
        role.allow("ConnectionsTable", &actions, vec![Expr::arn_of(&self.id)]);
    }
}
