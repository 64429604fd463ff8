//! What `chatstack local` was asked for.

use crate::chat::StageName;
use crate::handlers::HandlersWorkspace;
use crate::settings::StageSettings;

use super::gateway::Limits;

/// What `chatstack local` was asked for.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub stage: StageName,
    /// 0 picks a free port.
    pub port: u16,
    /// The notify endpoint's port; `None`: the gateway's port + 1 (a free
    /// one when that is 0).
    pub notify_port: Option<u16>,
    pub dynamodb_endpoint: Option<String>,
    /// Build the handler binaries first.
    pub build: bool,
    pub handlers: HandlersWorkspace,
    pub limits: Limits,
    /// How many environments (processes) each function may run at once.
    pub concurrency: usize,
    /// What the stage's settings add.
    pub settings: StageSettings,
    /// Fire rate schedules this often instead of at their rate.
    pub schedule_every: Option<std::time::Duration>,
    /// The token secret of a stage that requires tokens; random per run
    /// when `None`.
    pub token_secret: Option<String>,
    /// Hand a failed queue message out again after this long instead of
    /// the queue's visibility timeout.
    pub queue_retry_after: Option<std::time::Duration>,
    /// Keep rooms' messages this long instead of the stage's days, to see
    /// retention without waiting for it.
    pub history_retention: Option<std::time::Duration>,
    /// Browser origins besides the chat page's own whose pages may open a
    /// WebSocket (`--allow-origin`: a front end of the user's own).
    pub allowed_origins: Vec<String>,
}

impl LocalOptions {
    /// The notify endpoint's port: as asked, else the gateway's + 1 (a
    /// free one when the gateway's is).
    pub(super) fn notify_port(&self) -> u16 {
        match (self.notify_port, self.port) {
            (Some(port), _) => port,
            (None, 0) => 0,
            (None, port) => port.saturating_add(1),
        }
    }
}
