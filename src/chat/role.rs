//! Execution roles assembled from grants.

use crate::cfn::iam::{Effect, InlinePolicy, PolicyDocument, Role, Statement};
use crate::cfn::{Expr, LogicalId, Template, TemplateError};

/// A Lambda execution role being assembled: resources add statements to it
/// through their `grant` methods, then [`ExecutionRole::add_to`] writes it.
#[derive(Debug)]
pub struct ExecutionRole {
    description: String,
    statements: Vec<Statement>,
}

impl ExecutionRole {
    pub fn for_lambda(description: &str) -> Self {
        ExecutionRole {
            description: description.to_owned(),
            statements: Vec::new(),
        }
    }

    /// Allows `actions` on exactly `resources`; called by the resources' grant methods.
    pub(crate) fn allow(&mut self, sid: &str, actions: &[&str], resources: Vec<Expr>) {
        self.statements.push(Statement {
            sid: Some(sid.to_owned()),
            effect: Effect::Allow,
            principal: None,
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource: resources,
            condition: Default::default(),
        });
    }

    pub fn add_to(self, template: &mut Template, name: &str) -> Result<LogicalId, TemplateError> {
        template.add(
            name,
            Role {
                assume_role_policy_document: PolicyDocument::service_trust("lambda.amazonaws.com"),
                description: Some(self.description),
                policies: vec![InlinePolicy {
                    policy_name: "least-privilege".to_owned(),
                    policy_document: PolicyDocument::new(self.statements),
                }],
            },
        )
    }
}
