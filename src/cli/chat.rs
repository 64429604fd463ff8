//! `chatstack chat`: a terminal chat client.

use std::io::Write;

use clap::Args;

use super::{CliError, Execute, block_on};

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// ws:// or wss:// URL of a stage (printed by `local` and `deploy`).
    pub url: String,
    /// Send each line exactly as typed (for other routes or your own JSON).
    #[arg(long)]
    pub raw: bool,
}

impl Execute for ChatArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            crate::client::run_chat(&self.url, self.raw, stdin, out).await?;
            Ok(())
        })
    }
}
