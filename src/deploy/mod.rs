//! `chatstack deploy`, `diff` and `destroy`: assets, the bootstrap stack and
//! the chat stack's lifecycle. All AWS calls go through [`cloud::Cloud`], so
//! a fake drives every path in tests; [`aws::AwsCloud`] is the real one.

pub mod assets;
pub mod aws;
pub mod bootstrap;
pub mod cloud;
pub mod stack;
pub mod status;
pub mod ui;

use std::io;
use std::path::PathBuf;

use crate::cfn::TemplateError;
use crate::chat::{self, StageName, StageNameError};
use crate::handlers::{BuildError, HandlersWorkspace};
use cloud::{CloudError, StackEvent};
pub use stack::{Deployed, Deployer, Poll};
use ui::Approval;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Stage(#[from] StageNameError),
    #[error("could not build the template: {0}")]
    Template(#[from] TemplateError),
    #[error("could not write: {0}")]
    Output(#[source] io::Error),
    #[error("could not serialize a template: {0}")]
    Serialize(#[from] serde_yaml::Error),
    #[error(
        "could not read {path} ({source}): build the zips with `bash handlers/build.sh`, or deploy without --no-build"
    )]
    MissingAsset { path: PathBuf, source: io::Error },
    #[error("building the zips failed: {0}")]
    Build(#[from] BuildError),
    #[error("stack {stack} is busy ({status}): wait for that operation to end, then try again")]
    Busy { stack: String, status: String },
    #[error("{0}")]
    Stuck(String),
    #[error("CloudFormation refused the change set for {stack}: {reason}")]
    ChangeSetFailed { stack: String, reason: String },
    #[error(
        "refusing to change the stack without confirmation: there is no terminal to ask on; pass --yes to approve"
    )]
    NeedsConfirmation,
    #[error("cancelled: nothing was changed")]
    Declined,
    #[error(
        "stack {stack} was deleted while deploy waited for it (by another user or process?): \
         nothing is deployed; run deploy again to create it"
    )]
    DeletedDuringDeploy { stack: String },
    #[error("interrupted before any change: the change set was deleted, nothing was changed")]
    InterruptedBeforeChange,
    #[error("{}", failure_message(stack, status, *interrupted, root_cause.as_deref()))]
    Failed {
        stack: String,
        status: String,
        interrupted: bool,
        root_cause: Option<Box<StackEvent>>,
    },
    #[error(
        "lost contact with CloudFormation while waiting for {stack} ({error}); the operation goes on in AWS: \
         check it with `aws cloudformation describe-stacks --stack-name {stack}`"
    )]
    LostContact { stack: String, error: CloudError },
    #[error("the bootstrap stack {0} has no {1} resource; delete it and deploy again")]
    Bootstrap(&'static str, &'static str),
}

fn failure_message(
    stack: &str,
    status: &str,
    interrupted: bool,
    root_cause: Option<&StackEvent>,
) -> String {
    let mut text = if interrupted {
        format!("interrupted: stack {stack} ended {status}")
    } else {
        format!("stack {stack} failed: {status}")
    };
    if let Some(event) = root_cause {
        text.push_str(&format!(
            "\n  root cause: {} ({}) {}: {}",
            event.logical_id,
            event.resource_type,
            event.status,
            event.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    text
}

/// Where deploy finds the zips.
#[derive(Debug, Clone)]
pub struct Assets {
    /// The workspace to build the zips in first (`build.sh`), if any.
    pub build: Option<HandlersWorkspace>,
    /// Holds `<function>/bootstrap.zip`.
    pub dir: PathBuf,
}

/// The assets bucket, creating the bootstrap stack on first use unless
/// `create` is false (then `None` while it does not exist).
async fn assets_bucket<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    create: bool,
) -> Result<Option<String>, DeployError> {
    let stack = bootstrap::BOOTSTRAP_STACK;
    let existing = deployer.cloud.describe_stack(stack).await?;
    let ready = existing
        .as_ref()
        .is_some_and(|s| status::classify(&s.status) == status::Existing::Updatable);
    if !ready {
        if !create {
            return Ok(None);
        }
        writeln!(
            deployer.ui.out,
            "Creating {stack}: the bucket for the functions' zips in this account and region."
        )
        .map_err(DeployError::Output)?;
        let body = bootstrap::template()?.to_yaml()?;
        // Part of the deploy the user is running: no separate question.
        let approval = std::mem::replace(&mut deployer.ui.approval, Approval::Yes);
        let result = deployer.deploy(stack, &body, &[]).await;
        deployer.ui.approval = approval;
        result?;
    }
    // The bucket's physical id is its name (the stack's output says the same).
    deployer
        .cloud
        .physical_id(stack, bootstrap::BUCKET_RESOURCE)
        .await?
        .map(Some)
        .ok_or(DeployError::Bootstrap(stack, bootstrap::BUCKET_RESOURCE))
}

/// Stands in for the bucket in `diff` before the first deploy made it.
const BUCKET_NOT_YET_CREATED: &str = "chatstack-assets-not-created-yet";

/// The chat template and its parameters, with the zips uploaded.
async fn prepare_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    assets: &Assets,
    upload: bool,
) -> Result<(String, Vec<(String, String)>), DeployError> {
    if let Some(workspace) = &assets.build {
        workspace.build_zips(deployer.ui.out)?;
    }
    let zips = assets::read_assets(&assets.dir)?;
    let bucket = match assets_bucket(deployer, upload).await? {
        Some(bucket) => bucket,
        None => {
            writeln!(
                deployer.ui.out,
                "{} does not exist yet: the first deploy creates it.",
                bootstrap::BOOTSTRAP_STACK
            )
            .map_err(DeployError::Output)?;
            BUCKET_NOT_YET_CREATED.to_owned()
        }
    };
    if upload {
        let uploaded = assets::upload_missing(deployer.cloud, &bucket, &zips).await?;
        let text = match uploaded {
            0 => format!("Zips unchanged (s3://{bucket})."),
            n => format!("Uploaded {n} of {} zips to s3://{bucket}.", zips.len()),
        };
        writeln!(deployer.ui.out, "{text}").map_err(DeployError::Output)?;
    }
    let body = chat::template(stage)?.to_yaml()?;
    Ok((body, assets::parameters(&bucket, &zips)))
}

/// `chatstack deploy`: zips, bootstrap, then the stage's stack.
pub async fn deploy_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    assets: &Assets,
) -> Result<Deployed, DeployError> {
    let stack = stage.stack_name()?;
    let (body, parameters) = prepare_stage(deployer, stage, assets, true).await?;
    deployer.deploy(&stack, &body, &parameters).await
}

/// `chatstack diff`: the change set of a deploy, shown and deleted; nothing
/// is created or uploaded.
pub async fn diff_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    assets: &Assets,
) -> Result<(), DeployError> {
    let stack = stage.stack_name()?;
    let (body, parameters) = prepare_stage(deployer, stage, assets, false).await?;
    deployer.diff(&stack, &body, &parameters).await
}
