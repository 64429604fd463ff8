//! `chatstack deployer-policy`: the IAM policy deploy, diff and destroy need.

use std::io::Write;

use clap::Args;

use super::{CliError, Execute};

#[derive(Debug, Args)]
pub struct DeployerPolicyArgs {}

impl Execute for DeployerPolicyArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let policy = crate::deploy::policy::deployer_policy();
        let text = serde_json::to_string_pretty(&policy)
            .map_err(|e| CliError::Serialize(e.to_string()))?;
        writeln!(out, "{text}").map_err(CliError::Stdout)
    }
}
