//! `chatstack cost`: a stage's month, estimated.

use std::io::Write;

use clap::{ArgGroup, Args};

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on, now_ms, write_json};
use crate::chat::StageName;
use crate::cost::{self, Workload};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["stage", "connections"])))]
pub struct CostArgs {
    /// Estimate from this deployed stage's metrics (the last --days, scaled
    /// to a month).
    #[arg(long)]
    pub stage: Option<StageName>,
    /// Days of metrics to read (1 to 63).
    #[arg(long, default_value_t = 7, conflicts_with = "connections", value_parser = clap::value_parser!(u32).range(1..=63))]
    pub days: u32,
    /// Or describe the month: connections opened...
    #[arg(long, requires = "messages", allow_negative_numbers = true, value_parser = non_negative)]
    pub connections: Option<f64>,
    /// ...messages clients send...
    #[arg(long, requires = "connections", allow_negative_numbers = true, value_parser = non_negative)]
    pub messages: Option<f64>,
    /// ...members each message reaches...
    #[arg(long, default_value_t = 10.0, conflicts_with = "stage", allow_negative_numbers = true, value_parser = non_negative)]
    pub room_size: f64,
    /// ...an average message's size...
    #[arg(long, default_value_t = 300.0, conflicts_with = "stage", allow_negative_numbers = true, value_parser = non_negative)]
    pub message_bytes: f64,
    /// ...with history kept ([stages.X.history])...
    #[arg(long, conflicts_with = "stage")]
    pub history: bool,
    /// ...with tokens or an identity provider (an authorizer run per connection).
    #[arg(long, conflicts_with = "stage")]
    pub authorized: bool,
    /// How long a connection stays open, in minutes (at most 120, API
    /// Gateway's two hours): with --stage too, since no metric counts
    /// connection minutes.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true, value_parser = minutes)]
    pub minutes_per_connection: f64,
    /// Print the estimate as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number of 0 or more")),
    }
}

fn minutes(text: &str) -> Result<f64, String> {
    let n = non_negative(text)?;
    if n > 120.0 {
        return Err("API Gateway closes a connection after two hours: at most 120".to_owned());
    }
    Ok(n)
}

impl Execute for CostArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let (title, usage) = match (&self.stage, self.connections, self.messages) {
            (Some(stage), _, _) => {
                let usage = block_on(async {
                    let config = self.aws.config().await?;
                    let source = crate::status::aws::AwsStatus::new(&config, stage)?;
                    Ok(cost::usage_from_metrics(
                        &source,
                        stage,
                        now_ms(),
                        self.days,
                        self.minutes_per_connection,
                    )
                    .await?)
                })?;
                (
                    format!(
                        "Stage {stage}, a month at the last {} days' rate:",
                        self.days
                    ),
                    usage,
                )
            }
            (None, Some(connections), Some(messages)) => {
                let workload = Workload {
                    connections,
                    minutes_per_connection: self.minutes_per_connection,
                    messages,
                    room_size: self.room_size,
                    message_bytes: self.message_bytes,
                    history: self.history,
                    authorizer: self.authorized,
                    direct_limit: f64::from(chat_contract::DEFAULT_DIRECT_LIMIT),
                };
                (
                    "A month of the workload described:".to_owned(),
                    workload.usage(),
                )
            }
            // clap requires a stage, or connections with messages.
            _ => {
                return Err(CliError::Usage(
                    "pass --stage NAME, or --connections N --messages N".to_owned(),
                ));
            }
        };
        let estimate = cost::estimate(&usage);
        if self.json {
            return write_json(out, &estimate);
        }
        cost::write_text(out, &title, &estimate).map_err(CliError::Stdout)
    }
}
