//! The AWS layer every command shares: configuration (flags, profiles,
//! environment), the HTTPS client, errors in the user's words, and reading
//! a deployed stage's stack. `deploy` adds change sets and assets on top
//! ([`crate::deploy::cloud::Cloud`]); `local`, `logs`, `notify`, `tokens`
//! and `web` need only this.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::stage_name::{StageName, StageNameError};

/// The HTTP client of every AWS call: rustls with ring.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The AWS settings a user can pass on the command line.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// Loads the standard AWS configuration (flags, environment including
/// `AWS_ENDPOINT_URL`, profiles), refusing early without a region or
/// credentials so the user gets one line saying what to do.
pub async fn load_config(options: &AwsOptions) -> Result<SdkConfig, CloudError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(profile) = &options.profile {
        check_profile(profile).await?;
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(CloudError::Other(
            "no AWS region: pass --region, set AWS_REGION, or set a region in your profile"
                .to_owned(),
        ));
    }
    let provider = config
        .credentials_provider()
        .ok_or(CloudError::NoCredentials)?;
    use aws_credential_types::provider::ProvideCredentials;
    provider
        .provide_credentials()
        .await
        .map_err(|_| CloudError::NoCredentials)?;
    Ok(config)
}

/// Refuses a `--profile` the AWS config files do not define, naming those
/// they do: the SDK would only say later that it found no region or
/// credentials.
async fn check_profile(name: &str) -> Result<(), CloudError> {
    use aws_types::os_shim_internal::{Env, Fs};
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let profiles = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None).await;
    let mut names: Vec<String> = match &profiles {
        Ok(set) => set.profiles().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    if names.iter().any(|n| n == name) {
        return Ok(());
    }
    let known = if names.is_empty() {
        "they define none".to_owned()
    } else {
        format!("they define {}", names.join(", "))
    };
    Err(CloudError::Other(format!(
        "there is no AWS profile {name:?} in your AWS config files (~/.aws/config, \
         ~/.aws/credentials, or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE): {known}"
    )))
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CloudError {
    /// The API asked us to slow down; worth retrying after a pause.
    #[error("throttled by AWS: {0}")]
    Throttled(String),
    #[error(
        "no AWS credentials found: pass --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials,
    /// No answer at all: DNS, connection or timeout.
    #[error(
        "could not reach {endpoint} ({cause}): check your network connection and proxy, the \
         region (--region, AWS_REGION), and AWS_ENDPOINT_URL if you set one"
    )]
    Unreachable { endpoint: String, cause: String },
    #[error("{0}")]
    Other(String),
}

/// The partition of a region: `aws-cn` for China's, `aws-us-gov` for
/// GovCloud, `aws-iso*` for the isolated ones, `aws` for the rest.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The domain of a region's endpoints: China's regions have their own.
pub fn dns_suffix(region: &str) -> &'static str {
    if partition_of(region) == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// The endpoint a client of `service` calls, as the user would recognise it.
pub fn endpoint_of(config: &SdkConfig, service: &str) -> String {
    match (config.endpoint_url(), config.region()) {
        (Some(url), _) => url.to_owned(),
        (None, Some(region)) => format!(
            "https://{service}.{region}.amazonaws.com (or AWS_ENDPOINT_URL_{})",
            service.to_ascii_uppercase()
        ),
        (None, None) => format!("the {service} endpoint"),
    }
}

pub fn cloud_error<E, R>(error: SdkError<E, R>, endpoint: &str) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) = &error {
        return CloudError::Unreachable {
            endpoint: endpoint.to_owned(),
            cause: error_chain(&error),
        };
    }
    let code = error.code().map(str::to_owned);
    let message = error.message().map(str::to_owned);
    match (code.as_deref(), message) {
        (
            Some(
                "Throttling"
                | "ThrottlingException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "SlowDown",
            ),
            m,
        ) => CloudError::Throttled(m.unwrap_or_default()),
        (Some(code), Some(message)) => CloudError::Other(format!("{code}: {message}")),
        (Some(code), None) => CloudError::Other(code.to_owned()),
        (None, _) => CloudError::Other(error_chain(&error)),
    }
}

/// Whether CloudFormation answered that the stack named does not exist.
pub fn is_missing_stack(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some("ValidationError")
        && error
            .message()
            .is_some_and(|m| m.contains("does not exist"))
}

/// An error with its causes: the SDK's own Display is terse ("dispatch
/// failure"); the causes say what happened.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A stack as CloudFormation describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// Milliseconds since the epoch: its last update, else its creation.
    pub updated_ms: Option<i64>,
    /// Output key and value.
    pub outputs: Vec<(String, String)>,
    /// Parameter key and value, as last deployed.
    pub parameters: Vec<(String, String)>,
}

/// `stack` as DescribeStacks tells it; `None` when there is none.
pub async fn describe_stack(
    client: &aws_sdk_cloudformation::Client,
    endpoint: &str,
    stack: &str,
) -> Result<Option<Stack>, CloudError> {
    let output = match client.describe_stacks().stack_name(stack).send().await {
        Ok(output) => output,
        Err(error) if is_missing_stack(&error) => return Ok(None),
        Err(error) => return Err(cloud_error(error, endpoint)),
    };
    Ok(output.stacks().first().map(|s| Stack {
        name: s.stack_name().unwrap_or(stack).to_owned(),
        status: s
            .stack_status()
            .map(|x| x.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: s.stack_status_reason().map(str::to_owned),
        updated_ms: s
            .last_updated_time()
            .or(s.creation_time())
            .and_then(|t| t.to_millis().ok()),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_owned(),
                    p.parameter_value()?.to_owned(),
                ))
            })
            .collect(),
    }))
}

/// A resource of a stack: logical id, physical id (empty until it has
/// one), type.
pub type StackResource = (String, String, String);

/// Every resource of `stack` (every page of ListStackResources); `None`
/// when there is no such stack.
pub async fn stack_resources(
    client: &aws_sdk_cloudformation::Client,
    endpoint: &str,
    stack: &str,
) -> Result<Option<Vec<StackResource>>, CloudError> {
    let mut pages = client
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .send();
    let mut resources = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing_stack(&error) => return Ok(None),
            Err(error) => return Err(cloud_error(error, endpoint)),
        };
        resources.extend(page.stack_resource_summaries().iter().map(|r| {
            (
                r.logical_resource_id().unwrap_or_default().to_owned(),
                r.physical_resource_id().unwrap_or_default().to_owned(),
                r.resource_type().unwrap_or_default().to_owned(),
            )
        }));
    }
    Ok(Some(resources))
}

/// Reading a stack: all a command that uses a deployed stage needs.
// Used only through generics, so the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait StackReader {
    /// The stack, or `None` when there is none of that name.
    async fn describe_stack(&self, stack: &str) -> Result<Option<Stack>, CloudError>;
}

/// Why a deployed stage's outputs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error("there is no stack {stack}: deploy the stage first (chatstack deploy --stage {stage})")]
    NoStack { stack: String, stage: String },
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    StageName(#[from] StageNameError),
}

/// The value of the output `key` among a stack's `outputs`.
pub fn output_value<'a>(outputs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    outputs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// The outputs of `stage`'s stack, for the commands that use a deployed
/// stage (`notify`, `token`, `web`).
pub async fn stage_outputs<C: StackReader>(
    cloud: &C,
    stage: &StageName,
) -> Result<Vec<(String, String)>, OutputsError> {
    let stack = stage.stack_name()?;
    match cloud.describe_stack(&stack).await? {
        Some(described) => Ok(described.outputs),
        None => Err(OutputsError::NoStack {
            stack,
            stage: stage.to_string(),
        }),
    }
}
