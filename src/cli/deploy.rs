//! `chatstack deploy`: build, upload, then create or update the stage.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::aws::{AssetArgs, AwsArgs, interactive_deployer};
use super::output::write_replacing;
use super::{CliError, Execute, SettingsArgs, block_on};
use crate::chat::StageName;
use crate::deploy::ui::write_outputs;
use crate::deploy::{DeployError, deploy_stage};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Stage to deploy; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    /// Approve the changes without asking (needed when there is no terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Also write the stack's outputs to FILE as a JSON object.
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub assets: AssetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for DeployArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let stack = self.stage.stack_name().map_err(DeployError::from)?;
            let settings = self.settings.stage(&self.stage)?;
            let cloud = self.aws.cloud().await?;
            let mut deployer = interactive_deployer(&cloud, out, self.yes);
            let deployed =
                deploy_stage(&mut deployer, &self.stage, &settings, &self.assets.assets()).await?;
            write_outputs(deployer.ui.out, &stack, deployed.outputs()).map_err(CliError::Stdout)?;
            if let Some(path) = &self.outputs_file {
                write_replacing(path, &outputs_json(deployed.outputs()))?;
            }
            Ok(())
        })
    }
}

/// The stack's outputs as a JSON object, `{"WebSocketUrl": "wss://...", ...}`.
pub fn outputs_json(outputs: &[(String, String)]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|(key, value)| (key.clone(), serde_json::Value::from(value.as_str())))
        .collect();
    let mut text = serde_json::Value::Object(object).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_file_is_a_json_object_of_the_outputs() {
        let text = outputs_json(&[
            ("WebSocketUrl".to_owned(), "wss://a/dev".to_owned()),
            ("ConnectionsTableName".to_owned(), "t\"x".to_owned()),
        ]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"WebSocketUrl": "wss://a/dev", "ConnectionsTableName": "t\"x"})
        );
        assert!(text.ends_with('\n'));
    }
}
