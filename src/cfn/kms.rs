//! `AWS::KMS::Key`: a customer managed key.

use serde::Serialize;

use super::{ResourceProperties, iam::PolicyDocument};

/// A symmetric encryption key.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-kms-key.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Key {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub enable_key_rotation: bool,
    pub key_policy: PolicyDocument,
    /// Days between the key's deletion being asked and done (7 to 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<u32>,
}

impl ResourceProperties for Key {
    const TYPE: &'static str = "AWS::KMS::Key";
}
