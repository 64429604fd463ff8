//! `chatstack destroy`: delete a stage's stack.

use std::io::Write;

use clap::Args;

use super::aws::{AwsArgs, interactive_deployer};
use super::{CliError, Execute, block_on};
use crate::chat::StageName;
use crate::deploy::{DeployError, destroy_stage};

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Stage to delete; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    /// Delete without asking (needed when there is no terminal).
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for DestroyArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            // A stage that cannot name a stack fails before AWS is asked.
            self.stage.stack_name().map_err(DeployError::from)?;
            let cloud = self.aws.cloud().await?;
            let mut deployer = interactive_deployer(&cloud, out, self.yes);
            destroy_stage(&mut deployer, &self.stage).await?;
            Ok(())
        })
    }
}
