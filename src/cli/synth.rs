//! `chatstack synth`: the template of a stage, with no AWS account.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::output::write_replacing;
use super::{CliError, Execute, SettingsArgs};
use crate::chat::{self, StageName};
use crate::settings::StageSettings;

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Stage to describe: 1 to 128 letters, digits, '-' or '_'. It becomes the
    /// API Gateway stage (the last part of the wss:// URL) and names the stack
    /// (chatstack-<stage>).
    #[arg(long, default_value = "dev")]
    pub stage: StageName,

    /// Template format. Both are accepted by CloudFormation.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Write the template to FILE instead of standard output. The file is
    /// replaced only once the whole template is written.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub settings: SettingsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// The template of `stage` with its `settings`, as text in `format`.
pub fn render(
    stage: &StageName,
    settings: &StageSettings,
    format: Format,
) -> Result<String, CliError> {
    let template = chat::template(stage, settings)?;
    match format {
        Format::Json => template
            .to_json()
            .map_err(|e| CliError::Serialize(e.to_string())),
        Format::Yaml => template
            .to_yaml()
            .map_err(|e| CliError::Serialize(e.to_string())),
    }
}

impl Execute for SynthArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let settings = self.settings.stage(&self.stage)?;
        let text = render(&self.stage, &settings, self.format)?;
        if text.len() > crate::deploy::TEMPLATE_BODY_LIMIT {
            // Standard error: the template itself may be on standard output.
            eprintln!(
                "note: this template is {} bytes, over CloudFormation's {}-byte TemplateBody limit: \
                 pass it to CloudFormation as a TemplateURL in S3 (chatstack deploy does, through the assets bucket)",
                text.len(),
                crate::deploy::TEMPLATE_BODY_LIMIT
            );
        }
        match &self.output {
            Some(path) => write_replacing(path, &text),
            None => out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(CliError::Stdout),
        }
    }
}
