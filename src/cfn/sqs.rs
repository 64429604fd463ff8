//! `AWS::SQS::Queue`.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// Where messages go after failing `max_receive_count` receives.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: Expr,
    pub max_receive_count: u32,
}

/// A queue. `FifoQueue` (and so the name's `.fifo`) cannot change without
/// replacing it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sqs-queue.html>
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    /// A FIFO queue's name must end in `.fifo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fifo_queue: Option<bool>,
    /// Seconds a received message stays hidden from other receivers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<u32>,
    /// Seconds a message is kept, 60 to 1,209,600.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<u32>,
    /// Encryption at rest with SQS-owned keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,
}

impl ResourceProperties for Queue {
    const TYPE: &'static str = "AWS::SQS::Queue";
}
