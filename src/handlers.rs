//! The handlers workspace (`handlers/`): building it and finding its output.
//! `deploy` needs its release zips, `local` its binaries for this machine.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where cargo puts the binaries of `local`'s builds (the dev profile's),
/// under the target dir.
const LOCAL_BINARIES: &str = "debug";

/// The workspace at a directory, usually `handlers`.
#[derive(Debug, Clone)]
pub struct HandlersWorkspace {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not write: {0}")]
    Output(#[source] io::Error),
    #[error("could not run {command}: {source}")]
    Start { command: String, source: io::Error },
    #[error("{command} exited with {status}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
    },
}

impl HandlersWorkspace {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HandlersWorkspace { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where cargo puts the build output: `$CARGO_TARGET_DIR` when set (one
    /// target dir shared by both workspaces), else the workspace's `target`.
    fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(target) => PathBuf::from(target),
            None => self.dir.join("target"),
        }
    }

    /// Where `build.sh` leaves `<function>/bootstrap.zip`.
    pub fn zips_dir(&self) -> PathBuf {
        self.target_dir().join("lambda")
    }

    /// Where [`Self::build_binaries`] leaves the binaries for this machine.
    pub fn local_binaries_dir(&self) -> PathBuf {
        self.target_dir().join(LOCAL_BINARIES)
    }

    /// Builds the release zips with `build.sh` (cargo-lambda, arm64).
    pub fn build_zips(&self, out: &mut dyn Write) -> Result<(), BuildError> {
        let script = self.dir.join("build.sh");
        writeln!(out, "Building the Lambda zips ({})...", script.display())
            .map_err(BuildError::Output)?;
        let mut command = Command::new("bash");
        command.arg(&script);
        run(command, &format!("bash {}", script.display()))
    }

    /// Builds the binaries for this machine: a debug build is quick, runs
    /// the same code as the release zips, and the binaries abort on panic as
    /// they do (`chat_core::runtime::init_process`). It is the build the
    /// handlers' own tests make, so each reuses the other's.
    pub fn build_binaries(&self, out: &mut dyn Write) -> Result<(), BuildError> {
        let description = format!("cargo build --bins in {}", self.dir.display());
        writeln!(
            out,
            "Building the handlers for this machine ({description})..."
        )
        .map_err(BuildError::Output)?;
        let mut command = Command::new("cargo");
        command
            .args(["build", "--bins", "--quiet"])
            .current_dir(&self.dir);
        run(command, &description)
    }
}

/// Runs a build with its output on our stderr, keeping stdout for results.
fn run(mut command: Command, description: &str) -> Result<(), BuildError> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(|source| BuildError::Start {
            command: description.to_owned(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            command: description.to_owned(),
            status,
        })
    }
}
