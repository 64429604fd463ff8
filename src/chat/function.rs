//! One Lambda function with everything it needs, added in one call.

use std::collections::BTreeMap;

use crate::cfn::lambda::{
    Architecture, Code, Environment, Function, LogFormat, LoggingConfig, RecursiveLoop,
};
use crate::cfn::{Expr, LogicalId, Parameter, Resource, Template, TemplateError};

use super::{ExecutionRole, FunctionLogs, FunctionSpec, Trigger};

/// The template parameter naming the S3 bucket that holds the function zips.
pub const ASSETS_BUCKET_PARAMETER: &str = "AssetsBucket";

/// Where the functions' zips are: a bucket given as a template parameter,
/// so `synth` needs no build and deploy passes the bucket it uploaded to.
#[derive(Debug)]
pub struct CodeBucket {
    parameter: LogicalId,
}

impl CodeBucket {
    pub fn add_to(template: &mut Template) -> Result<Self, TemplateError> {
        let parameter = template.add_parameter(
            ASSETS_BUCKET_PARAMETER,
            Parameter {
                // S3's bucket naming rule.
                allowed_pattern: Some("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$".to_owned()),
                constraint_description: Some("an S3 bucket name".to_owned()),
                ..Parameter::string("S3 bucket holding the Lambda deployment packages")
            },
        )?;
        Ok(CodeBucket { parameter })
    }
}

/// Why no dead-letter queue (CKV_AWS_116), by what invokes the function.
fn no_dead_letter_queue_reason(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::WebSocketRoute(_) => {
            "API Gateway invokes synchronously; a dead-letter queue only serves async invocations"
        }
        Trigger::Notify => {
            "the endpoint invokes synchronously; a schedule's pushes are asynchronous, bounded by the function's event invoke config (no retries, events dropped after four minutes): a dead-letter queue would only collect stale notices"
        }
        Trigger::Authorizer => {
            "API Gateway invokes authorizers synchronously; a dead-letter queue only serves async invocations"
        }
        Trigger::FanoutQueue => {
            "invoked by an SQS event source: a job that keeps failing moves to the queue's own dead-letter queue (redrive policy)"
        }
    }
}

/// Why no reserved concurrency (CKV_AWS_115), by what invokes the function.
fn no_reserved_concurrency_reason(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::FanoutQueue => {
            "the event source's maximum concurrency bounds the workers without taking concurrency from the rest of the account"
        }
        _ => {
            "the stage's route throttling bounds invocations; reserved concurrency fails on accounts at the default quota"
        }
    }
}

/// Why the variables need no KMS key of their own (CKV_AWS_173).
fn plain_environment_reason(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Authorizer => "the variable is the token secret's ARN, not the secret",
        _ => "the variables name the table and the management endpoint, neither a secret",
    }
}

/// Why no VPC (CKV_AWS_117).
const NO_VPC_REASON: &str =
    "reaches only AWS APIs; a VPC would add NAT cost and cold-start time for nothing";

/// A Rust function on `provided.al2023` (arm64) as the CDK would make it:
/// its zip's S3 key parameter, its own log group, an execution role holding
/// only the grants given to it, and the function itself.
#[derive(Debug)]
pub struct LambdaFunction {
    id: LogicalId,
    spec: &'static FunctionSpec,
}

impl LambdaFunction {
    /// Adds `spec`'s function. `grant` gives its role access to the
    /// resources it uses (the role may also write its own log group);
    /// `environment` holds its variables.
    pub fn add_to(
        template: &mut Template,
        spec: &'static FunctionSpec,
        code: &CodeBucket,
        grant: impl FnOnce(&mut ExecutionRole),
        environment: BTreeMap<String, Expr>,
    ) -> Result<Self, TemplateError> {
        let code_key = template.add_parameter(
            &spec.code_key_parameter(),
            Parameter {
                min_length: Some(1),
                ..Parameter::string(&format!(
                    "S3 key of the {} function's zip (content-hashed)",
                    spec.name
                ))
            },
        )?;
        let logs = FunctionLogs::add_to(template, spec)?;
        let mut role = ExecutionRole::for_lambda(&format!(
            "Runs the chatstack {} function, with only the access it needs",
            spec.name
        ));
        grant(&mut role);
        logs.grant_write(&mut role);
        let role = role.add_to(template, &format!("{}Role", spec.logical_prefix))?;

        let function = Function {
            code: Code {
                s3_bucket: (&code.parameter).into(),
                s3_key: (&code_key).into(),
            },
            role: Expr::arn_of(&role),
            runtime: Some("provided.al2023".to_owned()),
            handler: Some("bootstrap".to_owned()),
            architectures: vec![Architecture::Arm64],
            description: Some(spec.description.to_owned()),
            memory_size: Some(spec.memory_mb),
            timeout: Some(spec.timeout_seconds),
            environment: Some(Environment {
                variables: environment,
            }),
            logging_config: Some(LoggingConfig {
                log_format: Some(LogFormat::Json),
                log_group: Some(logs.id().into()),
            }),
            // A worker queues its segment's next page on the queue that
            // invokes it: a loop by design, ended by the scan's last page,
            // which Lambda would otherwise stop after 16 rounds.
            recursive_loop: (spec.trigger == Trigger::FanoutQueue).then_some(RecursiveLoop::Allow),
        };
        let resource = Resource::new(function)
            .skip_checkov("CKV_AWS_116", no_dead_letter_queue_reason(spec.trigger))
            .skip_checkov("CKV_AWS_117", NO_VPC_REASON)
            .skip_checkov("CKV_AWS_115", no_reserved_concurrency_reason(spec.trigger))
            .skip_checkov("CKV_AWS_173", plain_environment_reason(spec.trigger));
        let id = template.add(&format!("{}Function", spec.logical_prefix), resource)?;
        Ok(LambdaFunction { id, spec })
    }

    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    pub fn spec(&self) -> &'static FunctionSpec {
        self.spec
    }
}
