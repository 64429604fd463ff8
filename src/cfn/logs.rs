//! `AWS::Logs::LogGroup`.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// A log group.
///
/// Changing `LogGroupName` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<Expr>,
    /// One of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<u32>,
}

impl ResourceProperties for LogGroup {
    const TYPE: &'static str = "AWS::Logs::LogGroup";
}
