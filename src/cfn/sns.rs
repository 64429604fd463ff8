//! `AWS::SNS::*`: a topic and a subscription to it.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// A topic.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topic.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The KMS key that encrypts messages at rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
}

impl ResourceProperties for Topic {
    const TYPE: &'static str = "AWS::SNS::Topic";
}

/// An endpoint subscribed to a topic.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    pub topic_arn: Expr,
    /// `email`, `https`, `sqs`, ...
    pub protocol: String,
    pub endpoint: String,
}

impl ResourceProperties for Subscription {
    const TYPE: &'static str = "AWS::SNS::Subscription";
}
