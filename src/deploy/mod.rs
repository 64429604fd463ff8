//! `chatstack deploy`, `diff` and `destroy`: assets, the bootstrap stack and
//! the chat stack's lifecycle. All AWS calls go through [`cloud::Cloud`], so
//! a fake drives every path in tests; [`aws::AwsCloud`] is the real one.

pub mod assets;
pub mod aws;
pub mod bootstrap;
pub mod cloud;
pub mod policy;
pub mod stack;
pub mod status;
pub mod ui;

use crate::settings::StageSettings;
use std::collections::BTreeSet;
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
    #[error(
        "the template is {bytes} bytes, over CloudFormation's 51,200-byte inline limit, so it goes through \
         the assets bucket, which does not exist yet: run deploy once (it creates the bucket), then diff"
    )]
    TemplateNeedsBucket { bytes: usize },
    #[error("the bootstrap stack {0} has no {1} resource; delete it and deploy again")]
    Bootstrap(&'static str, &'static str),
    #[error(
        "the certificate of [stages.{stage}.domain] is in {certificate_region} ({certificate_partition}), \
         but the stage deploys to {region} ({partition}): a regional custom domain takes an ACM \
         certificate of its own region; request or import one in {region} and name it in \
         certificate_arn"
    )]
    CertificateElsewhere {
        stage: String,
        certificate_region: String,
        certificate_partition: String,
        region: String,
        partition: String,
    },
    #[error(
        "stage {stage} asks for API Gateway logs ([stages.{stage}.logging]), which API Gateway \
         writes only with the account's CloudWatch role, and none is set in {region}. It is one \
         role for every API of the account in that region, so setting it is an administrator's \
         step, done once: create a role API Gateway may assume with the AWS managed policy \
         AmazonAPIGatewayPushToCloudWatchLogs, then `aws apigateway update-account --region \
         {region} --patch-operations op=replace,path=/cloudwatchRoleArn,value=ROLE_ARN` \
         (README: \"API Gateway's logs\"). Or turn the stage's logs off."
    )]
    NoApiGatewayLogsRole { stage: String, region: String },
}

/// What must hold in the account before a stage's production settings can
/// deploy, checked before anything is built or changed: the domain's
/// certificate in the stage's region and partition, and for logs the
/// account's API Gateway CloudWatch role (a read that is not allowed is
/// said and passed over: CloudFormation would still say it).
async fn check_operations<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    settings: &StageSettings,
) -> Result<(), DeployError> {
    let region = deployer.cloud.region();
    if let Some(domain) = &settings.domain {
        let certificate = &domain.certificate_arn;
        let partition = crate::aws::partition_of(&region);
        if certificate.region() != region || certificate.partition() != partition {
            return Err(DeployError::CertificateElsewhere {
                stage: stage.to_string(),
                certificate_region: certificate.region().to_owned(),
                certificate_partition: certificate.partition().to_owned(),
                region,
                partition: partition.to_owned(),
            });
        }
    }
    if settings
        .logging
        .is_some_and(|logging| logging.needs_account_role())
    {
        match deployer.cloud.api_gateway_logs_role().await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(DeployError::NoApiGatewayLogsRole {
                    stage: stage.to_string(),
                    region,
                });
            }
            Err(error) => writeln!(
                deployer.ui.out,
                "note: could not check API Gateway's CloudWatch role in {region} (apigateway:GET \
                 on /account: {error}); without one the stage's logs fail the deploy with \
                 \"CloudWatch Logs role ARN must be set in account settings to enable logging\"."
            )
            .map_err(DeployError::Output)?,
        }
    }
    Ok(())
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

/// The assets bucket. With `create`, the bootstrap stack is created on
/// first use and updated when this version of chatstack changes its
/// template; without, `None` while it does not exist.
async fn assets_bucket<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    create: bool,
) -> Result<Option<String>, DeployError> {
    let stack = bootstrap::BOOTSTRAP_STACK;
    let existing = deployer.cloud.describe_stack(stack).await?;
    let ready = existing
        .as_ref()
        .is_some_and(|s| status::classify(&s.status) == status::Existing::Updatable);
    if !ready && !create {
        return Ok(None);
    }
    let body = bootstrap::template()?.to_yaml()?;
    let action = if !ready {
        Some(format!(
            "Creating {stack}: the bucket for the functions' zips in this account and region."
        ))
    } else if create && !same_template(deployer.cloud.template_body(stack).await?, &body) {
        Some(format!(
            "Updating {stack}: this version of chatstack changes the assets bucket's settings."
        ))
    } else {
        None
    };
    if let Some(action) = action {
        writeln!(deployer.ui.out, "{action}").map_err(DeployError::Output)?;
        // Part of the deploy the user is running: no separate question.
        let approval = std::mem::replace(&mut deployer.ui.approval, Approval::Yes);
        let template = cloud::TemplateSource { body, url: None };
        let result = deployer.deploy(stack, &template, &[]).await;
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

/// Whether a deployed template says the same as `ours`: compared as data,
/// so CloudFormation's or another version's formatting does not count.
fn same_template(deployed: Option<String>, ours: &str) -> bool {
    let parse = |text: &str| serde_yaml::from_str::<serde_yaml::Value>(text).ok();
    deployed.is_some_and(|deployed| parse(&deployed).is_some_and(|d| Some(d) == parse(ours)))
}

/// Stands in for the bucket in `diff` before the first deploy made it.
pub const BUCKET_NOT_YET_CREATED: &str = "chatstack-assets-not-created-yet";

/// What a deploy of a stage sends: the template, its parameters and the
/// bucket they point into.
struct StageDeployment {
    template: cloud::TemplateSource,
    parameters: Vec<(String, String)>,
    bucket: String,
}

/// The chat template and its parameters, with the zips uploaded when
/// `upload` is set.
async fn prepare_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    settings: &StageSettings,
    assets: &Assets,
    upload: bool,
) -> Result<StageDeployment, DeployError> {
    if let Some(workspace) = &assets.build {
        workspace.build_zips(deployer.ui.out)?;
    }
    let template = chat::template(stage, settings)?;
    // Only the functions this stage has: a parameter the template lacks
    // fails the change set.
    let mut zips = assets::read_assets(&assets.dir)?;
    zips.retain(|zip| template.has_parameter(&zip.function.code_key_parameter()));
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
        let uploads = assets::upload_for_deploy(deployer.cloud, &bucket, &zips, stage).await?;
        let text = match uploads {
            assets::Uploads { new: 0, renewed: 0 } => format!("Zips unchanged (s3://{bucket})."),
            assets::Uploads { new, renewed: 0 } => {
                format!("Uploaded {new} of {} zips to s3://{bucket}.", zips.len())
            }
            assets::Uploads { new, renewed } => format!(
                "Uploaded {} of {} zips to s3://{bucket} ({renewed} again: they were marked for removal).",
                new + renewed,
                zips.len()
            ),
        };
        writeln!(deployer.ui.out, "{text}").map_err(DeployError::Output)?;
    }
    let template = template_source(deployer, &bucket, stage, template.to_yaml()?).await?;
    Ok(StageDeployment {
        template,
        parameters: assets::parameters(&bucket, &zips, stage),
        bucket,
    })
}

/// The most CloudFormation takes inline as `TemplateBody`, in bytes.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// The template inline, or, past [`TEMPLATE_BODY_LIMIT`], uploaded to the
/// assets bucket (`chatstack/<stage>/templates/<sha256>.yaml`) for
/// `TemplateURL`. CloudFormation reads it once, when the change set is
/// made, and keeps its own copy: it is marked for removal at once, which
/// leaves it a day (the lifecycle rule's grace).
pub async fn template_source<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    bucket: &str,
    stage: &StageName,
    body: String,
) -> Result<cloud::TemplateSource, DeployError> {
    if body.len() <= TEMPLATE_BODY_LIMIT {
        return Ok(cloud::TemplateSource { body, url: None });
    }
    if bucket == BUCKET_NOT_YET_CREATED {
        return Err(DeployError::TemplateNeedsBucket { bytes: body.len() });
    }
    let key = assets::template_key(stage, &body);
    let cloud = deployer.cloud;
    cloud
        .put_object(bucket, &key, body.clone().into_bytes(), "text/yaml")
        .await?;
    cloud
        .tag_object(bucket, &key, bootstrap::SUPERSEDED_TAG)
        .await?;
    writeln!(
        deployer.ui.out,
        "The template is {} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT}-byte inline limit: passing it as s3://{bucket}/{key}.",
        body.len()
    )
    .map_err(DeployError::Output)?;
    Ok(cloud::TemplateSource {
        url: Some(cloud.object_url(bucket, &key)),
        body,
    })
}

/// The zips of `stage` the stack's current parameters point at.
async fn deployed_zips<C: cloud::Cloud>(
    deployer: &Deployer<'_, C>,
    stage: &StageName,
) -> Result<BTreeSet<String>, DeployError> {
    let stack = deployer.cloud.describe_stack(&stage.stack_name()?).await?;
    Ok(stack.map_or_else(BTreeSet::new, |stack| {
        assets::stage_zips(&stack.parameters, stage)
    }))
}

/// Tags zips no stack uses any more, so the bucket's lifecycle rule
/// removes them. A failure leaves them in the bucket and is only reported:
/// the deploy itself is done.
async fn supersede<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    bucket: &str,
    keys: &BTreeSet<String>,
) -> Result<(), DeployError> {
    let mut failed = None;
    for key in keys {
        if let Err(error) = deployer
            .cloud
            .tag_object(bucket, key, bootstrap::SUPERSEDED_TAG)
            .await
        {
            failed = Some(error);
        }
    }
    let text = match failed {
        None if keys.is_empty() => return Ok(()),
        None => format!("Marked {} zips no longer used for removal.", keys.len()),
        Some(error) => format!(
            "Could not mark the zips no longer used for removal ({error}); they stay in s3://{bucket}."
        ),
    };
    writeln!(deployer.ui.out, "{text}").map_err(DeployError::Output)
}

/// Warns when the account's unreserved Lambda concurrency in the region is
/// no more than one split broadcast's workers plus one invocation of each
/// other function: new accounts may get as little as 10, and the workers
/// of one large broadcast could then throttle `$connect`, `sendmessage` and
/// the authorizer. Reading it is advice, never a reason to fail the deploy.
async fn warn_on_small_concurrency<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    settings: &StageSettings,
    functions: usize,
) -> Result<(), DeployError> {
    let workers = settings.broadcast.workers.0 as usize;
    let text = match deployer.cloud.account_concurrency().await {
        Ok(concurrency) => {
            let needed = workers + functions.saturating_sub(1);
            if (concurrency.unreserved as usize) > needed {
                return Ok(());
            }
            format!(
                "warning: this account may run {unreserved} Lambda invocations at once in this region \
                 ({total} in all, less what functions reserve), and one split broadcast of stage {stage} \
                 runs up to {workers} fanout workers beside its {others} other functions: a large \
                 broadcast can take every slot and throttle $connect and sendmessage. Ask AWS for more \
                 (Service Quotas: AWS Lambda, Concurrent executions), or lower \
                 [stages.{stage}.broadcast] workers.",
                unreserved = concurrency.unreserved,
                total = concurrency.total,
                others = functions.saturating_sub(1),
            )
        }
        Err(error) => format!(
            "note: could not read the account's Lambda concurrency (lambda:GetAccountSettings: {error}); \
             a new account's may be as low as 10, which one split broadcast's {workers} workers can use up."
        ),
    };
    writeln!(deployer.ui.out, "{text}").map_err(DeployError::Output)
}

/// `chatstack deploy`: zips, bootstrap, then the stage's stack; afterwards
/// the zips the stage no longer uses are marked for removal.
pub async fn deploy_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    settings: &StageSettings,
    assets: &Assets,
) -> Result<Deployed, DeployError> {
    let stack = stage.stack_name()?;
    check_operations(deployer, stage, settings).await?;
    let before = deployed_zips(deployer, stage).await?;
    let prepared = prepare_stage(deployer, stage, settings, assets, true).await?;
    let functions = prepared
        .parameters
        .iter()
        .filter(|(name, _)| chat::is_code_key_parameter(name))
        .count();
    warn_on_small_concurrency(deployer, stage, settings, functions).await?;
    let deployed = deployer
        .deploy(&stack, &prepared.template, &prepared.parameters)
        .await?;
    if let Deployed::Changed { .. } = deployed {
        let now = assets::stage_zips(&prepared.parameters, stage);
        let unused = before.difference(&now).cloned().collect();
        supersede(deployer, &prepared.bucket, &unused).await?;
    }
    Ok(deployed)
}

/// `chatstack diff`: the change set of a deploy, shown and deleted; nothing
/// is created or uploaded. Whether a deploy would change anything.
pub async fn diff_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
    settings: &StageSettings,
    assets: &Assets,
) -> Result<bool, DeployError> {
    let stack = stage.stack_name()?;
    check_operations(deployer, stage, settings).await?;
    let prepared = prepare_stage(deployer, stage, settings, assets, false).await?;
    deployer
        .diff(&stack, &prepared.template, &prepared.parameters)
        .await
}

/// `chatstack destroy`: the stage's stack, then its zips are marked for
/// removal.
pub async fn destroy_stage<C: cloud::Cloud>(
    deployer: &mut Deployer<'_, C>,
    stage: &StageName,
) -> Result<(), DeployError> {
    let zips = deployed_zips(deployer, stage).await?;
    deployer.destroy(&stage.stack_name()?).await?;
    if !zips.is_empty()
        && let Some(bucket) = assets_bucket(deployer, false).await?
    {
        supersede(deployer, &bucket, &zips).await?;
    }
    Ok(())
}
