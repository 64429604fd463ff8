//! `chatstack deployer-policy`: the IAM policy deploy, diff and destroy need.

use std::io::Write;

use clap::Args;

use super::{CliError, Execute};

#[derive(Debug, Args)]
pub struct DeployerPolicyArgs {
    /// Print the second policy instead: what stages with a custom domain,
    /// API Gateway logs or alarms add (domain names, the alias record, the
    /// access log group, alarms, the dashboard, the alarm topic and its
    /// key). Attach both to deploy such stages.
    #[arg(long)]
    pub operations: bool,
}

impl Execute for DeployerPolicyArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let policy = if self.operations {
            crate::deploy::policy::operations_policy()
        } else {
            crate::deploy::policy::deployer_policy()
        };
        super::write_json(out, &policy)
    }
}
