//! `AWS::Lambda::Function`, `AWS::Lambda::Permission`,
//! `AWS::Lambda::EventSourceMapping` and `AWS::Lambda::EventInvokeConfig`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// Where the deployment package is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    pub s3_bucket: Expr,
    pub s3_key: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    pub variables: BTreeMap<String, Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogFormat {
    Text,
    #[serde(rename = "JSON")]
    Json,
}

/// Where and how the function's logs are written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// The log group's name (its `Ref`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<Expr>,
}

/// A function.
///
/// Changing `FunctionName` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    pub code: Code,
    /// The execution role's ARN.
    pub role: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Architecture>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MB, 128 to 10,240.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_config: Option<LoggingConfig>,
    /// Lambda stops a function found in a loop through SQS, SNS or S3
    /// (`Terminate`, the default) unless this is `Allow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive_loop: Option<RecursiveLoop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RecursiveLoop {
    Allow,
    Terminate,
}

impl ResourceProperties for Function {
    const TYPE: &'static str = "AWS::Lambda::Function";
}

/// Lets a service invoke a function.
///
/// Every property change replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-permission.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    pub action: String,
    /// Name or ARN of the function.
    pub function_name: Expr,
    pub principal: String,
    /// Without it any resource of `principal`'s service, in any account, could invoke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_account: Option<Expr>,
}

impl ResourceProperties for Permission {
    const TYPE: &'static str = "AWS::Lambda::Permission";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FunctionResponseType {
    ReportBatchItemFailures,
}

/// How many invocations an SQS event source may run at once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfig {
    /// 2 to 1,000.
    pub maximum_concurrency: u32,
}

/// Lambda polling a queue (or stream) and invoking a function with batches.
///
/// Changing `EventSourceArn` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventsourcemapping.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    pub event_source_arn: Expr,
    /// Name or ARN of the function.
    pub function_name: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_response_types: Vec<FunctionResponseType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_config: Option<ScalingConfig>,
}

impl ResourceProperties for EventSourceMapping {
    const TYPE: &'static str = "AWS::Lambda::EventSourceMapping";
}

/// How Lambda handles a function's asynchronous invocations (by default it
/// retries a failed one twice and keeps an event up to six hours).
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventinvokeconfig.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    pub function_name: Expr,
    /// `$LATEST`, a version or an alias.
    pub qualifier: String,
    /// 60 to 21,600: older events are dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    /// 0 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
}

impl ResourceProperties for EventInvokeConfig {
    const TYPE: &'static str = "AWS::Lambda::EventInvokeConfig";
}
