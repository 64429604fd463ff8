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
    /// Connection token for a stage that requires one (chatstack token);
    /// added to the URL as ?token=...
    #[arg(long, env = "CHATSTACK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Execute for ChatArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let url = crate::client::with_token(&self.url, self.token.as_deref());
            crate::client::run_chat(&url, self.raw, crate::client::stdin_lines(), out).await?;
            Ok(())
        })
    }
}
