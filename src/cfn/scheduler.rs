//! `AWS::Scheduler::Schedule`: EventBridge Scheduler.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// Whether a schedule may fire late within a window; `OFF` fires on time.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FlexibleTimeWindow {
    pub mode: FlexibleTimeWindowMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_window_in_minutes: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlexibleTimeWindowMode {
    Off,
    Flexible,
}

/// How long and how often Scheduler retries a target that failed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// 60 to 86,400.
    pub maximum_event_age_in_seconds: u32,
    /// 0 to 185.
    pub maximum_retry_attempts: u32,
}

/// What a schedule invokes, and as whom.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub arn: Expr,
    /// The role Scheduler assumes to invoke the target.
    pub role_arn: Expr,
    /// The event the target receives; JSON for Lambda.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// A schedule.
///
/// Changing `Name` or `GroupName` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-scheduler-schedule.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Schedule {
    /// `rate(...)`, `cron(...)` or `at(...)`.
    pub schedule_expression: String,
    /// The IANA time zone a cron expression is read in (default UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression_timezone: Option<String>,
    pub flexible_time_window: FlexibleTimeWindow,
    pub target: Target,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl ResourceProperties for Schedule {
    const TYPE: &'static str = "AWS::Scheduler::Schedule";
}
