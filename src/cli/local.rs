//! `chatstack local`: the whole app on localhost.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{CliError, Execute, SettingsArgs, block_on};
use crate::chat::StageName;
use crate::handlers::HandlersWorkspace;
use crate::local::gateway::Limits;
use crate::local::{LocalOptions, run_local};

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Stage to run; clients connect at ws://127.0.0.1:PORT/STAGE.
    #[arg(long, default_value = "dev")]
    pub stage: StageName,
    /// Port of the WebSocket gateway and management API (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of the notify endpoint, on stages with one (default: PORT + 1,
    /// or a free one with --port 0).
    #[arg(long, value_name = "PORT")]
    pub notify_port: Option<u16>,
    /// Use this DynamoDB endpoint (DynamoDB Local, AWS) for the table
    /// instead of moto (which local still runs for the fan-out queue and the
    /// token secret: pip install 'moto[server]').
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// Use the handler binaries already built instead of running cargo build.
    #[arg(long)]
    pub no_build: bool,
    /// The handlers workspace.
    #[arg(long, value_name = "DIR", default_value = "handlers")]
    pub handlers_dir: PathBuf,
    /// Seconds without a message before a connection is closed (API Gateway: 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub idle_timeout: u64,
    /// Seconds a connection may last (API Gateway: 7200).
    #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
    pub max_lifetime: u64,
    /// Processes each function may run at once: as in Lambda, concurrent
    /// invocations run in separate environments. Past the limit, an
    /// invocation waits for a free one (Lambda throttles only past the
    /// account's concurrency: 1,000 by default, less in new accounts).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency: u16,
    /// Fire the stage's rate schedules every SECONDS instead of at their
    /// rate, to see a scheduled push without waiting for it.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub schedule_every: Option<u64>,
    /// The token secret of a stage that requires tokens (default: random
    /// for each run, written to a file only you can read, whose path local
    /// prints for chatstack token --secret-file).
    #[arg(
        long,
        value_name = "SECRET",
        env = "CHATSTACK_LOCAL_TOKEN_SECRET",
        hide_env_values = true
    )]
    pub token_secret: Option<String>,
    /// Posts per second the management API takes before it answers 429
    /// (API Gateway's default account limit: 10000); lower it to watch
    /// broadcasts back off.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub management_rate: u32,
    /// Hand a failed fan-out job out again after SECONDS instead of the
    /// queue's visibility timeout (120), to see a retry without waiting.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_retry_after: Option<u64>,
    /// Keep rooms' messages SECONDS instead of the stage's
    /// [stages.X.history] days, to see retention at work.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub history_retention: Option<u64>,
    /// Let pages of ORIGIN (http://localhost:3000, say: a front end of
    /// your own) open WebSocket connections; repeat for more. Browsers
    /// send their page's origin, and the gateway refuses any but its own
    /// chat page's, so another site open in your browser cannot connect
    /// in your name. Clients that are not browsers send none and connect.
    #[arg(long, value_name = "ORIGIN", value_parser = crate::loopback::parse_origin)]
    pub allow_origin: Vec<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

impl Execute for LocalArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let settings = self.settings.stage(&self.stage)?;
        if self.history_retention.is_some() && settings.history.is_none() {
            return Err(CliError::Usage(format!(
                "--history-retention: stage {} keeps no history; add [stages.{}.history] to the settings",
                self.stage, self.stage
            )));
        }
        let options = LocalOptions {
            settings,
            stage: self.stage,
            port: self.port,
            notify_port: self.notify_port,
            dynamodb_endpoint: self.dynamodb_endpoint,
            build: !self.no_build,
            handlers: HandlersWorkspace::new(self.handlers_dir),
            limits: Limits {
                idle_timeout: Duration::from_secs(self.idle_timeout),
                max_lifetime: Duration::from_secs(self.max_lifetime),
                management_rate: self.management_rate,
                ..Default::default()
            },
            concurrency: usize::from(self.concurrency),
            schedule_every: self.schedule_every.map(Duration::from_secs),
            token_secret: self.token_secret,
            queue_retry_after: self.queue_retry_after.map(Duration::from_secs),
            history_retention: self.history_retention.map(Duration::from_secs),
            allowed_origins: self.allow_origin,
        };
        block_on(async {
            // Listening from here, not from when `shutdown` is first polled
            // (after the banner): a Ctrl-C any earlier would kill local
            // without stopping what it started.
            let mut interrupts =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                    .map_err(CliError::Runtime)?;
            let shutdown = async move {
                interrupts.recv().await;
            };
            run_local(options, out, shutdown).await?;
            Ok(())
        })
    }
}
