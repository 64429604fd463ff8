//! The handler processes `local` runs: started with the environment Lambda
//! would give them, their output in a log file, restarted when they exit.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use std::sync::Arc;

use super::runtime::FunctionRuntime;
use super::{LocalError, io_error};

/// A handler process, how to start it again, and its log file.
pub struct FunctionProcess {
    pub name: &'static str,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    pub log: PathBuf,
    /// `None` once it exited and will not be started again.
    child: Option<Child>,
    /// Restarts after the process exited by itself.
    restarts: u32,
    /// The Runtime API it polls.
    runtime: Arc<FunctionRuntime>,
}

/// Lambda starts a new execution environment after a crash; so does
/// `local`, but not forever for a function that cannot start.
const MAX_RESTARTS: u32 = 5;

impl FunctionProcess {
    /// Starts `binary` with exactly the variables of `environment`, its
    /// output appended to `log`.
    pub fn spawn(
        name: &'static str,
        binary: PathBuf,
        environment: Vec<(String, String)>,
        log: PathBuf,
        runtime: Arc<FunctionRuntime>,
    ) -> Result<Self, LocalError> {
        let mut process = FunctionProcess {
            name,
            binary,
            environment,
            log,
            child: None,
            restarts: 0,
            runtime,
        };
        process.start()?;
        Ok(process)
    }

    /// Stops the process; whether there was one to stop.
    pub async fn stop(&mut self) -> bool {
        match &mut self.child {
            Some(child) => child.kill().await.is_ok(),
            None => false,
        }
    }

    fn start(&mut self) -> Result<(), LocalError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io_error(format!("opening {}", self.log.display())))?;
        let log_err = log.try_clone().map_err(io_error("opening a log file"))?;
        let child = Command::new(&self.binary)
            .env_clear()
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(io_error(format!("starting {}", self.binary.display())))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> String {
        self.child
            .as_ref()
            .and_then(Child::id)
            .map_or_else(|| "?".to_owned(), |p| p.to_string())
    }

    /// Ends the process after a timed-out invocation and starts a new one,
    /// as Lambda replaces the environment; fails the invocation a process
    /// that exited held, and restarts it. Returns what to tell the user.
    pub async fn check(&mut self) -> Option<String> {
        if self.runtime.take_timed_out()
            && let Some(child) = &mut self.child
        {
            let _ = child.kill().await;
            self.runtime.fail_pending().await;
            return Some(match self.start() {
                Ok(()) => format!(
                    "function {} timed out: ended its process, as Lambda ends the environment, \
                     and started another (pid {}).",
                    self.name,
                    self.pid()
                ),
                Err(error) => {
                    self.child = None;
                    format!(
                        "function {} timed out; could not start it again: {error}",
                        self.name
                    )
                }
            });
        }
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.runtime.fail_pending().await;
        let exited = format!(
            "function {} exited ({status}); see {}",
            self.name,
            self.log.display()
        );
        if self.restarts >= MAX_RESTARTS {
            self.child = None;
            return Some(format!(
                "{exited}. Not restarting it again: its routes now fail."
            ));
        }
        self.restarts += 1;
        Some(match self.start() {
            Ok(()) => format!("{exited}. Restarted it (pid {}).", self.pid()),
            Err(error) => {
                self.child = None;
                format!("{exited}. Could not restart it: {error}")
            }
        })
    }
}
