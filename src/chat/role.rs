//! What a function may do and where to find it, granted together.

use std::collections::BTreeMap;

use crate::cfn::iam::{Effect, InlinePolicy, PolicyDocument, Role, Statement};
use crate::cfn::{Expr, LogicalId, Template, TemplateError};

/// A function's access, being assembled: each resource's `grant` adds the
/// IAM statement the function's role needs and the environment variable
/// that tells its code where the resource is, in one step, so neither is
/// ever given without the other (as the CDK's grants do).
/// [`super::LambdaFunction::add_to`] writes the role and the variables.
#[derive(Debug, Default)]
pub struct Grants {
    statements: Vec<Statement>,
    environment: BTreeMap<String, Expr>,
}

impl Grants {
    pub fn new() -> Self {
        Grants::default()
    }

    /// Allows `actions` on `resources`. Actions granted under one `sid` on
    /// the same resources join that statement, so two grants on one table
    /// make one statement.
    pub(crate) fn allow(&mut self, sid: &str, actions: &[&str], resources: Vec<Expr>) {
        let actions = actions.iter().map(|a| (*a).to_owned());
        if let Some(statement) = self
            .statements
            .iter_mut()
            .find(|s| s.sid.as_deref() == Some(sid) && s.resource == resources)
        {
            for action in actions {
                if !statement.action.contains(&action) {
                    statement.action.push(action);
                }
            }
            return;
        }
        self.statements.push(Statement {
            sid: Some(sid.to_owned()),
            effect: Effect::Allow,
            principal: None,
            action: actions.collect(),
            resource: resources,
            condition: Default::default(),
        });
    }

    /// Sets the environment variable `name`.
    pub(crate) fn set(&mut self, name: &str, value: Expr) {
        self.environment.insert(name.to_owned(), value);
    }

    /// Adds the execution role `name` holding the statements granted, and
    /// returns it with the variables.
    pub(super) fn add_role(
        self,
        template: &mut Template,
        name: &str,
        description: &str,
    ) -> Result<(LogicalId, BTreeMap<String, Expr>), TemplateError> {
        let role = template.add(
            name,
            Role {
                assume_role_policy_document: PolicyDocument::service_trust("lambda.amazonaws.com"),
                description: Some(description.to_owned()),
                policies: vec![InlinePolicy {
                    policy_name: "least-privilege".to_owned(),
                    policy_document: PolicyDocument::new(self.statements),
                }],
            },
        )?;
        Ok((role, self.environment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_on_one_resource_under_one_sid_join_one_statement() {
        let mut grants = Grants::new();
        let table = || vec![Expr::from("arn:table")];
        grants.allow("Table", &["dynamodb:Scan"], table());
        grants.allow("Other", &["sqs:SendMessage"], vec![Expr::from("arn:queue")]);
        grants.allow("Table", &["dynamodb:UpdateItem", "dynamodb:Scan"], table());
        grants.allow(
            "Table",
            &["dynamodb:GetItem"],
            vec![Expr::from("arn:index")],
        );
        let actions: Vec<_> = grants.statements.iter().map(|s| s.action.clone()).collect();
        assert_eq!(
            actions,
            [
                vec!["dynamodb:Scan", "dynamodb:UpdateItem"],
                vec!["sqs:SendMessage"],
                vec!["dynamodb:GetItem"],
            ]
        );
    }
}
