//! `chatstack chat`: a terminal chat client.

use std::io::Write;

use clap::Args;

use super::{CliError, Execute, block_on};

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// ws:// or wss:// URL of a stage (printed by `local` and `deploy`).
    pub url: String,
    /// Send each line exactly as typed (for other routes or your own JSON),
    /// on a plain connection, as wscat does: frames are printed as they come.
    #[arg(long)]
    pub raw: bool,
    /// Connection token for a stage that requires one (chatstack token):
    /// sent in Sec-WebSocket-Protocol, out of the URL (as ?token=... on a
    /// plain --raw connection, or to a stage deployed before that).
    #[arg(long, env = "CHATSTACK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The room to connect to (default: general, where the guide's clients
    /// meet). Once connected: /join ROOM, /leave [ROOM], /who [ROOM], /help.
    #[arg(long, value_name = "NAME")]
    pub room: Option<crate::settings::RoomName>,
    /// Seconds between heartbeats, which keep an idle connection open
    /// (API Gateway closes one after 10 minutes without a message).
    #[arg(long, value_name = "SECONDS", default_value_t = chat_contract::HEARTBEAT_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=540))]
    pub heartbeat: u64,
    /// Tries to reconnect when the connection closes or drops (waiting a
    /// random part of 1 s, 2 s, 4 s ... up to 30 s before each), rejoining
    /// your rooms and showing what was said meanwhile on a stage with
    /// history; 0 ends the chat with the connection. A plain (--raw or
    /// pre-rooms) chat never reconnects, as wscat does not.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub retries: u32,
}

impl Execute for ChatArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let options = crate::client::ChatOptions {
                raw: self.raw,
                room: self.room.as_ref().map(|room| room.as_str()),
                heartbeat: std::time::Duration::from_secs(self.heartbeat),
                retries: self.retries,
                token: self.token.as_deref(),
            };
            crate::client::run_chat(&self.url, options, crate::client::stdin_lines(), out).await?;
            Ok(())
        })
    }
}
