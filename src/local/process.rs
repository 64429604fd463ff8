//! The handler processes `local` runs: started with the environment Lambda
//! would give them, their output in a log file, restarted when they exit.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::{LocalError, io_error};

/// A handler process, how to start it again, and its log file.
pub struct FunctionProcess {
    pub name: &'static str,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    pub log: PathBuf,
    /// `None` once it exited and will not be started again.
    child: Option<Child>,
    restarts: u32,
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
    ) -> Result<Self, LocalError> {
        let mut process = FunctionProcess {
            name,
            binary,
            environment,
            log,
            child: None,
            restarts: 0,
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

    /// Restarts the process if it exited; returns what to tell the user.
    pub fn check(&mut self) -> Option<String> {
        let status = self.child.as_mut()?.try_wait().ok()??;
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
