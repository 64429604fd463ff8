//! Generic CloudFormation: templates, logical ids, intrinsic functions and
//! typed resources, one module per service. Nothing here knows about chat.
//!
//! Required properties are plain fields and optional ones `Option`s left out
//! when `None`, so forgetting a required property does not compile.

pub mod apigatewayv2;
pub mod cloudwatch;
pub mod cognito;
pub mod dynamodb;
mod expr;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod route53;
pub mod s3;
pub mod scheduler;
pub mod secretsmanager;
pub mod sns;
pub mod sqs;
mod template;

pub use expr::{Expr, Pseudo, SubPart};
pub use template::{
    LogicalId, Output, Parameter, Resource, ResourceEntry, ResourceProperties, RetentionPolicy,
    Template, TemplateError,
};
