//! `chatstack diff`: what a deploy would change, executing nothing.

use std::io::Write;

use clap::Args;

use super::aws::{AssetArgs, AwsArgs};
use super::{CliError, Execute, SettingsArgs, block_on};
use crate::chat::StageName;
use crate::deploy::ui::{Approval, Interrupts, Ui};
use crate::deploy::{Deployer, Poll, diff_stage};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Stage to compare; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub assets: AssetArgs,
    /// Exit with status 2 when a deploy would change something (0: up to
    /// date, 1: an error), for CI to gate on.
    #[arg(long)]
    pub exit_code: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for DiffArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let settings = self.settings.stage(&self.stage)?;
            let cloud = self.aws.cloud().await?;
            // Changes nothing: never asks, never cancels.
            let mut deployer = Deployer {
                cloud: &cloud,
                ui: Ui {
                    out,
                    approval: Approval::NoTerminal,
                    live: false,
                },
                interrupts: Interrupts::none(),
                poll: Poll::default(),
            };
            let changes =
                diff_stage(&mut deployer, &self.stage, &settings, &self.assets.assets()).await?;
            if changes && self.exit_code {
                return Err(CliError::ChangesPending);
            }
            Ok(())
        })
    }
}
