//! The handler processes `local` runs, one per execution environment:
//! started with the environment Lambda would give them, their output in
//! the function's log file, more of them when invocations overlap, and a
//! new one when the last exits.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use axum::Router;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::function_log::FunctionLogFile;
use super::runtime::FunctionRuntime;
use super::{LocalError, io_error};

/// One execution environment: a process and the Runtime API it polls.
struct Environment {
    id: u32,
    process: Child,
    runtime_api: JoinHandle<()>,
}

impl Environment {
    fn pid(&self) -> String {
        self.process
            .id()
            .map_or_else(|| "?".to_owned(), |pid| pid.to_string())
    }

    /// Ends the process and its Runtime API; whether there was a process.
    async fn stop(mut self) -> bool {
        self.runtime_api.abort();
        self.process.kill().await.is_ok()
    }
}

/// A function's environments and how to start another.
pub struct FunctionPool {
    pub name: &'static str,
    binary: PathBuf,
    /// Everything but `AWS_LAMBDA_RUNTIME_API`, which is each environment's own.
    environment: Vec<(String, String)>,
    pub log: PathBuf,
    runtime: Arc<FunctionRuntime>,
    environments: Vec<Environment>,
    next_id: u32,
    /// Restarts after the last environment exited by itself.
    restarts: u32,
}

/// Lambda starts a new execution environment after a crash; so does
/// `local`, but not forever for a function that cannot start.
const MAX_RESTARTS: u32 = 5;

impl FunctionPool {
    /// Starts the function's first environment, as `local` keeps one warm.
    pub async fn start(
        name: &'static str,
        binary: PathBuf,
        environment: Vec<(String, String)>,
        log: PathBuf,
        runtime: Arc<FunctionRuntime>,
    ) -> Result<Self, LocalError> {
        let mut pool = FunctionPool {
            name,
            binary,
            environment,
            log,
            runtime,
            environments: Vec::new(),
            next_id: 0,
            restarts: 0,
        };
        pool.runtime.add_environment();
        if let Err(error) = pool.launch().await {
            pool.runtime.retire(pool.next_id);
            return Err(error);
        }
        Ok(pool)
    }

    /// The process ids of the running environments.
    pub fn pids(&self) -> Vec<String> {
        self.environments.iter().map(Environment::pid).collect()
    }

    /// Stops every environment; how many processes it stopped.
    pub async fn stop(&mut self) -> usize {
        let mut stopped = 0;
        for environment in self.environments.drain(..) {
            stopped += usize::from(environment.stop().await);
        }
        stopped
    }

    /// Starts the environment an invocation asked for, as Lambda does
    /// when every environment is busy. Returns what to tell the user.
    pub async fn scale_up(&mut self) -> String {
        match self.launch().await {
            Ok(pid) => format!(
                "function {}: started environment {} (pid {pid}) for a concurrent invocation.",
                self.name,
                self.environments.len()
            ),
            Err(error) => {
                self.runtime.retire(self.next_id);
                format!(
                    "function {}: could not start another environment: {error}",
                    self.name
                )
            }
        }
    }

    /// Starts one environment: a Runtime API on a port of its own, then
    /// the process polling it, its output appended to the log. The API
    /// answers only under a path made for this environment, which only
    /// its process is told (in its environment, which other users cannot
    /// read): a web page or another local user finding the port can
    /// neither take an invocation (with its event, a token in it) nor
    /// answer one.
    async fn launch(&mut self) -> Result<String, LocalError> {
        self.next_id += 1;
        let id = self.next_id;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(io_error("listening for a Runtime API"))?;
        let address = listener
            .local_addr()
            .map_err(io_error("reading an address"))?;
        let key = super::ids::random_hex(16)?;
        let mut process = Command::new(&self.binary)
            .env_clear()
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            // The Rust runtime takes a base URL with a path as well as
            // Lambda's bare `host:port`.
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://{address}/{key}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_error(format!("starting {}", self.binary.display())))?;
        // Each environment is a stream of the function's log, as in Lambda.
        let stream = FunctionLogFile::new_stream();
        if let Some(stdout) = process.stdout.take() {
            self.runtime.log.clone().pump(stream.clone(), stdout);
        }
        if let Some(stderr) = process.stderr.take() {
            self.runtime.log.clone().pump(stream.clone(), stderr);
        }
        let router = Router::new().nest(
            &format!("/{key}"),
            self.runtime.router(id, stream, process.id()),
        );
        let router = crate::loopback::own_host_only(router, address.port());
        let runtime_api = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let environment = Environment {
            id,
            process,
            runtime_api,
        };
        let pid = environment.pid();
        self.environments.push(environment);
        Ok(pid)
    }

    /// Ends the environments whose invocation timed out, as Lambda does,
    /// and notices those that exited (failing what they held). Returns
    /// what to tell the user.
    pub async fn check(&mut self) -> Vec<String> {
        let mut reports = Vec::new();
        for id in self.runtime.take_timed_out() {
            let Some(at) = self.environments.iter().position(|e| e.id == id) else {
                continue;
            };
            self.environments.swap_remove(at).stop().await;
            self.runtime.retire(id);
            let ended = format!(
                "function {} timed out: ended its process, as Lambda ends the environment",
                self.name
            );
            reports.push(self.replace_if_last(ended, false).await);
        }
        while let Some((environment, status)) = self.take_exited() {
            environment.runtime_api.abort();
            self.runtime.retire(environment.id);
            let exited = format!(
                "function {} exited ({status}); see {}",
                self.name,
                self.log.display()
            );
            reports.push(self.replace_if_last(exited, true).await);
        }
        reports
    }

    /// The first environment whose process has exited, and how it ended.
    fn take_exited(&mut self) -> Option<(Environment, std::process::ExitStatus)> {
        let (at, status) = self
            .environments
            .iter_mut()
            .enumerate()
            .find_map(|(at, e)| Some((at, e.process.try_wait().ok()??)))?;
        Some((self.environments.swap_remove(at), status))
    }

    /// Reports `what` happened to an environment; when it was the last,
    /// starts another so the function stays warm (after crashes, only
    /// `MAX_RESTARTS` times: then the next invocation starts one).
    async fn replace_if_last(&mut self, what: String, crashed: bool) -> String {
        if !self.environments.is_empty() {
            return format!("{what}.");
        }
        if crashed {
            if self.restarts >= MAX_RESTARTS {
                return format!("{what}. Not restarting it again: the next invocation starts it.");
            }
            self.restarts += 1;
        }
        self.runtime.add_environment();
        match self.launch().await {
            Ok(pid) => format!("{what}. Restarted it (pid {pid})."),
            Err(error) => {
                self.runtime.retire(self.next_id);
                format!("{what}. Could not restart it: {error}")
            }
        }
    }
}
