//! The chat app for one stage, composed from [`crate::cfn`] resources.
//!
//! Permissions are granted by the resource being accessed
//! ([`ConnectionsTable::grant`], [`WebSocketApi::grant_manage_connections`],
//! [`FunctionLogs::grant_write`]) to an [`ExecutionRole`] being assembled.

mod api;
mod handlers;
mod logs;
mod role;
mod stage;
mod table;

pub use api::{ConnectionMethod, WebSocketApi};
pub use handlers::{HANDLERS, Handler};
pub use logs::FunctionLogs;
pub use role::ExecutionRole;
pub use stage::{StageName, StageNameError};
pub use table::{CONNECTION_ID, ConnectionsTable, EXPIRES_AT, TableAction};

use std::collections::BTreeMap;

use crate::cfn::lambda::{Architecture, Code, Environment, Function, LogFormat, LoggingConfig};
use crate::cfn::{Expr, Output, Parameter, Resource, Template, TemplateError};

/// The template parameter naming the S3 bucket that holds the function zips.
pub const ASSETS_BUCKET_PARAMETER: &str = "AssetsBucket";

/// The complete template of the chat app for `stage`.
pub fn template(stage: &StageName) -> Result<Template, TemplateError> {
    let mut template = Template::new(&format!(
        "chatstack: serverless WebSocket chat (API Gateway, Lambda, DynamoDB), stage {stage}"
    ));
    let bucket = template.add_parameter(
        ASSETS_BUCKET_PARAMETER,
        Parameter {
            // S3's bucket naming rule.
            allowed_pattern: Some("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$".to_owned()),
            constraint_description: Some("an S3 bucket name".to_owned()),
            ..Parameter::string("S3 bucket holding the Lambda deployment packages")
        },
    )?;
    let table = ConnectionsTable::add_to(&mut template)?;
    let mut api = WebSocketApi::add_to(&mut template, stage)?;

    for handler in &HANDLERS {
        let code_key = template.add_parameter(
            &handler.code_key_parameter(),
            Parameter {
                min_length: Some(1),
                ..Parameter::string(&format!(
                    "S3 key of the {} function's zip (content-hashed)",
                    handler.name
                ))
            },
        )?;
        let logs = FunctionLogs::add_to(&mut template, handler)?;
        let mut role = ExecutionRole::for_lambda(&format!(
            "Runs the chatstack {} function, with only the access it needs",
            handler.name
        ));
        table.grant(&mut role, handler.table_actions);
        api.grant_manage_connections(&mut role, handler.connection_methods);
        logs.grant_write(&mut role);
        let role = role.add_to(&mut template, &format!("{}Role", handler.logical_prefix))?;

        let function = template.add(
            &format!("{}Function", handler.logical_prefix),
            Resource::new(Function {
                code: Code {
                    s3_bucket: (&bucket).into(),
                    s3_key: (&code_key).into(),
                },
                role: Expr::arn_of(&role),
                runtime: Some("provided.al2023".to_owned()),
                handler: Some("bootstrap".to_owned()),
                architectures: vec![Architecture::Arm64],
                description: Some(handler.description.to_owned()),
                memory_size: Some(handler.memory_mb),
                timeout: Some(handler.timeout_seconds),
                environment: Some(Environment {
                    variables: BTreeMap::from([("TABLE_NAME".to_owned(), table.id().into())]),
                }),
                logging_config: Some(LoggingConfig {
                    log_format: Some(LogFormat::Json),
                    log_group: Some(logs.id().into()),
                }),
            })
            .skip_checkov(
                "CKV_AWS_116",
                "API Gateway invokes synchronously; a dead-letter queue only serves async invocations",
            )
            .skip_checkov(
                "CKV_AWS_117",
                "reaches only AWS APIs; a VPC would add NAT cost and cold-start time for nothing",
            )
            .skip_checkov(
                "CKV_AWS_115",
                "the stage's route throttling bounds invocations; reserved concurrency fails on accounts at the default quota",
            )
            .skip_checkov(
                "CKV_AWS_173",
                "the only variable is the table name, which is not a secret",
            ),
        )?;
        api.add_lambda_route(
            &mut template,
            handler.logical_prefix,
            handler.route_key,
            &function,
        )?;
    }
    api.deploy(&mut template)?;

    template.add_output(
        "WebSocketUrl",
        Output {
            description: "Connect clients here (wss://)".to_owned(),
            value: api.websocket_url(),
        },
    )?;
    template.add_output(
        "CallbackUrl",
        Output {
            description: "API Gateway management endpoint for @connections".to_owned(),
            value: api.callback_url(),
        },
    )?;
    template.add_output(
        "ConnectionsTableName",
        Output {
            description: "DynamoDB table of open connections".to_owned(),
            value: table.id().into(),
        },
    )?;
    Ok(template)
}
