//! What local does while it runs: print the gateway's lines, start the
//! environments invocations ask for, replace processes that die.

use std::io::Write;

use tokio::sync::mpsc;

use super::process::FunctionPool;
use super::{LocalError, say};

/// What the gateway and the runtimes tell the supervisor.
pub(super) struct Events {
    pub(super) log_lines: mpsc::UnboundedReceiver<String>,
    /// Names of functions that need another environment.
    pub(super) scale_up_requests: mpsc::UnboundedReceiver<String>,
}

/// Until `shutdown`: prints the gateway's log lines, starts environments
/// invocations ask for, and replaces (and reports) handler processes that
/// exit or time out, checking ten times a second so a dead process fails
/// its invocation at once.
pub(super) async fn supervise(
    out: &mut dyn Write,
    pools: &mut [FunctionPool],
    mut events: Events,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), LocalError> {
    tokio::pin!(shutdown);
    let mut health = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            line = events.log_lines.recv() => match line {
                // The gateway's lines can quote what clients sent.
                Some(line) => say(out, crate::terminal::visible(&line).into_owned())?,
                None => return Ok(()),
            },
            Some(function) = events.scale_up_requests.recv() => {
                if let Some(pool) = pools.iter_mut().find(|p| p.name == function) {
                    say(out, pool.scale_up().await)?;
                }
            },
            _ = health.tick() => {
                for pool in pools.iter_mut() {
                    for report in pool.check().await {
                        say(out, report)?;
                    }
                }
            }
        }
    }
}
