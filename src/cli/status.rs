//! `chatstack status`: a stage (or a local run) on one screen.

use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on, now_ms, write_json};
use crate::chat::StageName;
use crate::logs::local::latest_run_link;
use crate::status;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["stage", "local"])))]
pub struct StatusArgs {
    /// Stage to show: its stack, outputs, alarms, the last hour's traffic
    /// and errors, the fan-out queue, the last errors logged.
    #[arg(long)]
    pub stage: Option<StageName>,
    /// A `chatstack local` run instead (the latest, or the run in DIR):
    /// whether it runs, its connections, fan-out queue and last errors.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub local: Option<Option<PathBuf>>,
    /// Print it as one JSON object, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for StatusArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let written = match (&self.local, &self.stage) {
            (Some(dir), _) => {
                let dir = dir.clone().unwrap_or_else(latest_run_link);
                let report =
                    block_on(async { Ok(status::local::gather_local(&dir, now_ms()).await?) })?;
                if self.json {
                    return write_json(out, &report);
                }
                status::local::write_local_text(out, &report)
            }
            (None, Some(stage)) => {
                let report = block_on(async {
                    let config = self.aws.config().await?;
                    let source = status::aws::AwsStatus::new(&config, stage)?;
                    Ok(status::gather(&source, stage, now_ms()).await?)
                })?;
                if self.json {
                    return write_json(out, &report);
                }
                status::write_text(out, &report)
            }
            // clap requires one of the two.
            (None, None) => return Err(CliError::Usage("pass --stage NAME or --local".to_owned())),
        };
        written.map_err(CliError::Stdout)
    }
}
