//! The connections table.

use crate::cfn::dynamodb::{
    AttributeDefinition, AttributeType, BillingMode, KeySchemaElement, KeyType, SseSpecification,
    Table, TimeToLiveSpecification,
};
use crate::cfn::{Expr, LogicalId, Resource, RetentionPolicy, Template, TemplateError};

use super::ExecutionRole;

/// The partition key: the API Gateway connection id.
pub const CONNECTION_ID: &str = "connectionId";
/// Epoch seconds after which DynamoDB deletes the item (TTL).
pub const EXPIRES_AT: &str = "expiresAt";

/// The DynamoDB actions the handlers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAction {
    PutItem,
    DeleteItem,
    Scan,
}

impl TableAction {
    fn iam_action(self) -> &'static str {
        match self {
            TableAction::PutItem => "dynamodb:PutItem",
            TableAction::DeleteItem => "dynamodb:DeleteItem",
            TableAction::Scan => "dynamodb:Scan",
        }
    }
}

/// The table of open connections, one item per connection id.
#[derive(Debug)]
pub struct ConnectionsTable {
    id: LogicalId,
}

impl ConnectionsTable {
    pub fn add_to(template: &mut Template) -> Result<Self, TemplateError> {
        let table = Table {
            key_schema: vec![KeySchemaElement {
                attribute_name: CONNECTION_ID.to_owned(),
                key_type: KeyType::Hash,
            }],
            attribute_definitions: vec![AttributeDefinition {
                attribute_name: CONNECTION_ID.to_owned(),
                attribute_type: AttributeType::S,
            }],
            billing_mode: Some(BillingMode::PayPerRequest),
            // API Gateway closes connections after 2 hours; TTL removes ids
            // whose $disconnect never ran.
            time_to_live_specification: Some(TimeToLiveSpecification {
                attribute_name: EXPIRES_AT.to_owned(),
                enabled: true,
            }),
            sse_specification: Some(SseSpecification { sse_enabled: true }),
        };
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

    pub fn id(&self) -> &LogicalId {
        &self.id
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
