//! `AWS::IAM::Role` and a typed policy document.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Expr, ResourceProperties};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement applies to (trust and resource policies only).
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// AWS services, for example `lambda.amazonaws.com`: `{"Service": [...]}`.
    Service(Vec<String>),
    /// Everyone, `"*"`: for `Deny` statements of resource policies.
    Everyone,
    /// An account or role, by ARN: `{"AWS": ...}` (a key policy's owner).
    Aws(Expr),
}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Service(services) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("Service", services)?;
                map.end()
            }
            Principal::Everyone => serializer.serialize_str("*"),
            Principal::Aws(arn) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("AWS", arn)?;
                map.end()
            }
        }
    }
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    pub action: Vec<String>,
    /// Absent only in trust policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    /// Operator, then condition key and value: `{"Bool": {"aws:SecureTransport": "false"}}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<String, BTreeMap<String, Expr>>,
}

/// An IAM policy document (version 2012-10-17).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    version: &'static str,
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        PolicyDocument {
            version: "2012-10-17",
            statement,
        }
    }

    /// A trust policy that lets an AWS service (for example
    /// `lambda.amazonaws.com`) assume the role.
    pub fn service_trust(service: &str) -> Self {
        PolicyDocument::new(vec![Statement {
            sid: None,
            effect: Effect::Allow,
            principal: Some(Principal::Service(vec![service.to_owned()])),
            action: vec!["sts:AssumeRole".to_owned()],
            resource: Vec::new(),
            condition: BTreeMap::new(),
        }])
    }

    /// A trust policy for a service acting for this account only: the
    /// service may assume the role on behalf of resources of the stack's
    /// account, not of another's (the confused-deputy guard).
    pub fn service_trust_for_this_account(service: &str) -> Self {
        let mut document = PolicyDocument::service_trust(service);
        document.statement[0].condition = BTreeMap::from([(
            "StringEquals".to_owned(),
            BTreeMap::from([(
                "aws:SourceAccount".to_owned(),
                Expr::Pseudo(super::Pseudo::AccountId),
            )]),
        )]);
        document
    }
}

/// A policy embedded in a role.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    pub policy_name: String,
    pub policy_document: PolicyDocument,
}

/// A role.
///
/// Changing `RoleName` or `Path` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub assume_role_policy_document: PolicyDocument,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<InlinePolicy>,
}

impl ResourceProperties for Role {
    const TYPE: &'static str = "AWS::IAM::Role";
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn principals_serialize_as_iam_expects() {
        assert_eq!(
            serde_json::to_value(Principal::Service(vec!["lambda.amazonaws.com".into()])).unwrap(),
            json!({"Service": ["lambda.amazonaws.com"]})
        );
        assert_eq!(
            serde_json::to_value(Principal::Everyone).unwrap(),
            json!("*")
        );
    }
}
