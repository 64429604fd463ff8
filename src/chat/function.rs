//! One Lambda function with everything it needs, added in one call.

use crate::cfn::lambda::{
    Architecture, Code, Environment, Function, LogFormat, LoggingConfig, RecursiveLoop,
};
use crate::cfn::{Expr, LogicalId, Parameter, Resource, Template, TemplateError};

use super::{FunctionLogs, Grants};

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

/// What invokes a function: it decides which of checkov's advice applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokedBy {
    /// A WebSocket API route, synchronously.
    Route,
    /// API Gateway, as a `REQUEST` authorizer, synchronously.
    Authorizer,
    /// An HTTP API endpoint (synchronously) and schedules (asynchronously).
    EndpointAndSchedule,
    /// An SQS event source.
    Queue,
}

/// A function's own settings: what it is called, how big it is, what
/// invokes it. What it may reach comes in as [`Grants`].
#[derive(Debug, Clone, Copy)]
pub struct FunctionProps<'a> {
    /// The binary's name, the zip's folder and the end of the log group's.
    pub name: &'a str,
    /// Prefix of its logical ids (`ConnectFunction`, `ConnectRole`, ...).
    /// Changing it replaces every resource of the function.
    pub logical_prefix: &'a str,
    pub description: &'a str,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub invoked_by: InvokedBy,
    /// Whether it feeds the queue that invokes it (a loop by design, which
    /// Lambda otherwise stops after 16 rounds).
    pub feeds_its_own_queue: bool,
}

impl InvokedBy {
    /// Why no dead-letter queue (CKV_AWS_116).
    fn no_dead_letter_queue_reason(self) -> &'static str {
        match self {
            InvokedBy::Route => {
                "API Gateway invokes synchronously; a dead-letter queue only serves async invocations"
            }
            InvokedBy::EndpointAndSchedule => {
                "the endpoint invokes synchronously; a schedule's pushes are asynchronous, bounded by the function's event invoke config (no retries, events dropped after four minutes): a dead-letter queue would only collect stale notices"
            }
            InvokedBy::Authorizer => {
                "API Gateway invokes authorizers synchronously; a dead-letter queue only serves async invocations"
            }
            InvokedBy::Queue => {
                "invoked by an SQS event source: a job that keeps failing moves to the queue's own dead-letter queue (redrive policy)"
            }
        }
    }

    /// Why no reserved concurrency (CKV_AWS_115).
    fn no_reserved_concurrency_reason(self) -> &'static str {
        match self {
            InvokedBy::Queue => {
                "the event source's maximum concurrency bounds the workers without taking concurrency from the rest of the account"
            }
            _ => {
                "the stage's route throttling bounds invocations; reserved concurrency fails on accounts at the default quota"
            }
        }
    }

    /// Why the variables need no KMS key of their own (CKV_AWS_173).
    fn plain_environment_reason(self) -> &'static str {
        match self {
            InvokedBy::Authorizer => {
                "the variables are the token secret's ARN (not the secret) or the identity provider's public settings (issuer, audience, claims)"
            }
            _ => "the variables name the table and the management endpoint, neither a secret",
        }
    }
}

/// Why no VPC (CKV_AWS_117).
const NO_VPC_REASON: &str =
    "reaches only AWS APIs; a VPC would add NAT cost and cold-start time for nothing";

/// A Rust function on `provided.al2023` (arm64) as the CDK would make it:
/// its zip's S3 key parameter, its own log group, an execution role holding
/// only what it was granted, and the function itself.
#[derive(Debug)]
pub struct LambdaFunction {
    id: LogicalId,
    logical_prefix: String,
}

impl LambdaFunction {
    /// The logical id of the function whose logical ids start with
    /// `logical_prefix` (`status` and `cost` find a stage's functions by it).
    pub fn logical_id(logical_prefix: &str) -> String {
        format!("{logical_prefix}Function")
    }

    /// Adds the function `props` describe, with the access and variables
    /// `grants` hold (and the right to write its own log group).
    pub fn add_to(
        template: &mut Template,
        props: &FunctionProps,
        code: &CodeBucket,
        mut grants: Grants,
    ) -> Result<Self, TemplateError> {
        let prefix = props.logical_prefix;
        let code_key = template.add_parameter(
            &code_key_parameter(prefix),
            Parameter {
                min_length: Some(1),
                ..Parameter::string(&format!(
                    "S3 key of the {} function's zip (content-hashed)",
                    props.name
                ))
            },
        )?;
        let logs = FunctionLogs::add_to(template, props)?;
        logs.grant_write(&mut grants);
        let (role, variables) = grants.add_role(
            template,
            &format!("{prefix}Role"),
            &format!(
                "Runs the chatstack {} function, with only the access it needs",
                props.name
            ),
        )?;

        let function = Function {
            code: Code {
                s3_bucket: (&code.parameter).into(),
                s3_key: (&code_key).into(),
            },
            role: Expr::arn_of(&role),
            runtime: Some("provided.al2023".to_owned()),
            handler: Some("bootstrap".to_owned()),
            architectures: vec![Architecture::Arm64],
            description: Some(props.description.to_owned()),
            memory_size: Some(props.memory_mb),
            timeout: Some(props.timeout_seconds),
            environment: Some(Environment { variables }),
            logging_config: Some(LoggingConfig {
                log_format: Some(LogFormat::Json),
                log_group: Some(logs.id().into()),
            }),
            recursive_loop: props.feeds_its_own_queue.then_some(RecursiveLoop::Allow),
        };
        let invoked_by = props.invoked_by;
        let resource = Resource::new(function)
            .skip_checkov("CKV_AWS_116", invoked_by.no_dead_letter_queue_reason())
            .skip_checkov("CKV_AWS_117", NO_VPC_REASON)
            .skip_checkov("CKV_AWS_115", invoked_by.no_reserved_concurrency_reason())
            .skip_checkov("CKV_AWS_173", invoked_by.plain_environment_reason());
        let id = template.add(&LambdaFunction::logical_id(prefix), resource)?;
        Ok(LambdaFunction {
            id,
            logical_prefix: prefix.to_owned(),
        })
    }

    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    /// The prefix of its logical ids; its route's and integration's share it.
    pub fn logical_prefix(&self) -> &str {
        &self.logical_prefix
    }
}

/// A small route function whose logical ids start with `logical_prefix`,
/// for the constructs' tests.
#[cfg(test)]
pub(crate) fn test_props(logical_prefix: &str) -> FunctionProps<'_> {
    FunctionProps {
        name: "f",
        logical_prefix,
        description: "test",
        memory_mb: 128,
        timeout_seconds: 3,
        invoked_by: InvokedBy::Route,
        feeds_its_own_queue: false,
    }
}

/// Ends the name of every parameter that holds a zip's S3 key.
const CODE_KEY_SUFFIX: &str = "CodeKey";

/// The template parameter holding the S3 key of the zip of the function
/// whose logical ids start with `logical_prefix`.
pub fn code_key_parameter(logical_prefix: &str) -> String {
    format!("{logical_prefix}{CODE_KEY_SUFFIX}")
}

/// Whether a template parameter holds a zip's S3 key, of a function listed
/// now or of one an earlier template had.
pub fn is_code_key_parameter(name: &str) -> bool {
    name.ends_with(CODE_KEY_SUFFIX)
}
