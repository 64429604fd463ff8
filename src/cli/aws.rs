//! The flags every command that talks to AWS shares, and what they build.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::aws::{AwsOptions, load_config};
use crate::deploy::aws::AwsCloud;
use crate::deploy::ui::{Approval, Interrupts, Ui};
use crate::deploy::{Assets, DeployError, Deployer, Poll};
use crate::handlers::HandlersWorkspace;

/// The AWS account and region to work in.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: AWS_REGION or your profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Named profile from your AWS config files (default: AWS_PROFILE or "default").
    #[arg(long)]
    pub profile: Option<String>,
}

impl AwsArgs {
    /// The SDK configuration: these flags, the environment, the config files.
    pub async fn config(&self) -> Result<aws_config::SdkConfig, CliError> {
        let options = AwsOptions {
            region: self.region.clone(),
            profile: self.profile.clone(),
        };
        Ok(load_config(&options).await.map_err(DeployError::from)?)
    }

    pub async fn cloud(&self) -> Result<AwsCloud, CliError> {
        Ok(AwsCloud::new(&self.config().await?))
    }
}

/// Where the functions' zips come from.
#[derive(Debug, Args)]
pub struct AssetArgs {
    /// Use the zips already built instead of running handlers/build.sh first.
    #[arg(long)]
    pub no_build: bool,
    /// The handlers workspace (holds build.sh).
    #[arg(long, value_name = "DIR", default_value = "handlers")]
    pub handlers_dir: PathBuf,
    /// Directory holding <function>/bootstrap.zip (default: the handlers'
    /// target/lambda, or $CARGO_TARGET_DIR/lambda).
    #[arg(long, value_name = "DIR")]
    pub assets_dir: Option<PathBuf>,
}

impl AssetArgs {
    pub fn assets(&self) -> Assets {
        let workspace = HandlersWorkspace::new(&self.handlers_dir);
        Assets {
            dir: self
                .assets_dir
                .clone()
                .unwrap_or_else(|| workspace.zips_dir()),
            build: (!self.no_build).then_some(workspace),
        }
    }
}

/// A deployer that may change stacks: asks on a terminal (or `--yes`),
/// shows live progress there, and turns Ctrl-C into a cancel.
pub fn interactive_deployer<'a>(
    cloud: &'a AwsCloud,
    out: &'a mut dyn Write,
    yes: bool,
) -> Deployer<'a, AwsCloud> {
    Deployer {
        cloud,
        ui: Ui {
            out,
            approval: Approval::from_terminal(yes),
            live: io::stderr().is_terminal(),
        },
        interrupts: Interrupts::from_ctrl_c(),
        poll: Poll::default(),
    }
}
