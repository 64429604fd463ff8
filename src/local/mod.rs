//! `chatstack local`: the whole app on localhost, from the synthesized
//! template and the real handler binaries. A WebSocket gateway and the
//! management API (axum), one emulated Lambda Runtime API per function,
//! and DynamoDB in moto (or any endpoint).

pub mod app;
pub mod dynamo;
pub mod events;
pub mod gateway;
pub mod runtime;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::chat::{self, StageName};
use app::LocalApp;
use gateway::{Gateway, Limits};
use runtime::FunctionRuntime;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the template cannot run locally: {0}")]
    Template(String),
    #[error("could not build the template: {0}")]
    Synth(#[from] crate::cfn::TemplateError),
    #[error(
        "moto_server is not on PATH: install it with `pip install 'moto[server]'`, \
         or pass --dynamodb-endpoint URL (DynamoDB Local, or AWS)"
    )]
    MotoMissing,
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("building the handlers failed: {0}")]
    Build(String),
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
}

/// What `chatstack local` was asked for.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub stage: StageName,
    /// 0 picks a free port.
    pub port: u16,
    pub dynamodb_endpoint: Option<String>,
    pub build: bool,
    pub handlers_dir: PathBuf,
    pub limits: Limits,
}

/// An id unique within this process and unlikely to repeat across runs:
/// the clock's low bits and a counter, in hex.
pub(crate) fn unique_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:012x}{count:04x}", nanos & 0xffff_ffff_ffff)
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> LocalError {
    let what = what.into();
    move |e| LocalError::Io(what, e)
}

/// Where cargo puts the handlers' debug binaries.
fn binaries_dir(handlers_dir: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => PathBuf::from(target).join("debug"),
        None => handlers_dir.join("target/debug"),
    }
}

/// Builds the handler binaries for this machine (debug: quick to build,
/// same code as the release zips).
fn build_handlers(handlers_dir: &Path, out: &mut dyn Write) -> Result<(), LocalError> {
    writeln!(
        out,
        "Building the handlers for this machine (cargo build in {})...",
        handlers_dir.display()
    )
    .map_err(io_error("writing"))?;
    let status = std::process::Command::new("cargo")
        .args(["build", "--bins", "--quiet"])
        .current_dir(handlers_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(io_error("running cargo build"))?;
    if status.success() {
        Ok(())
    } else {
        Err(LocalError::Build(format!(
            "cargo build in {} exited with {status}",
            handlers_dir.display()
        )))
    }
}

/// A handler process, how to start it again, and its log file.
struct FunctionProcess {
    name: &'static str,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    log: PathBuf,
    /// `None` once it exited and will not be started again.
    child: Option<Child>,
    restarts: u32,
}

/// Lambda starts a new execution environment after a crash; so does
/// `local`, but not forever for a function that cannot start.
const MAX_RESTARTS: u32 = 5;

impl FunctionProcess {
    fn start(&mut self) -> Result<(), LocalError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io_error(format!("opening {}", self.log.display())))?;
        let log_err = log.try_clone().map_err(io_error("opening a log file"))?;
        let child = Command::new(&self.binary)
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

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .and_then(Child::id)
            .map_or_else(|| "?".to_owned(), |p| p.to_string())
    }

    /// Restarts the process if it exited; returns what to tell the user.
    fn check(&mut self) -> Option<String> {
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

/// Runs the app until `shutdown` resolves, then stops everything it started.
pub async fn run_local(
    options: LocalOptions,
    out: &mut dyn Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), LocalError> {
    let stage = options.stage.as_str();
    let template = serde_json::to_value(chat::template(&options.stage)?)
        .map_err(|e| LocalError::Template(e.to_string()))?;
    let app = LocalApp::from_template(&template, &format!("chatstack-{stage}"))?;
    if options.build {
        build_handlers(&options.handlers_dir, out)?;
    }
    let binaries = binaries_dir(&options.handlers_dir);
    for function in app.functions.values() {
        let binary = binaries.join(function.binary);
        if !binary.is_file() {
            return Err(LocalError::Build(format!(
                "{} is missing: run `cargo build` in {}, or drop --no-build",
                binary.display(),
                options.handlers_dir.display()
            )));
        }
    }

    let (mut moto, dynamodb_endpoint) = match &options.dynamodb_endpoint {
        Some(endpoint) => (None, endpoint.clone()),
        None => {
            let (child, endpoint) = dynamo::start_moto().await?;
            (Some(child), endpoint)
        }
    };
    let using_moto = moto.is_some();
    let dynamodb = dynamo::client(&dynamodb_endpoint, using_moto).await;
    for table in &app.tables {
        dynamo::create_table(&dynamodb, table).await?;
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(io_error(format!("listening on 127.0.0.1:{}", options.port)))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the listening address"))?;
    let management_endpoint = format!("http://{address}/{stage}");

    let logs_dir = std::env::temp_dir().join(format!("chatstack-local-{}", std::process::id()));
    std::fs::create_dir_all(&logs_dir)
        .map_err(io_error(format!("creating {}", logs_dir.display())))?;
    let mut runtimes = BTreeMap::new();
    let mut processes = Vec::new();
    for (id, function) in &app.functions {
        let runtime = FunctionRuntime::new(function.binary, function.timeout);
        let runtime_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(io_error("listening for a Runtime API"))?;
        let runtime_address = runtime_listener
            .local_addr()
            .map_err(io_error("reading an address"))?;
        let router = runtime.router();
        tokio::spawn(async move { axum::serve(runtime_listener, router).await });

        let log = logs_dir.join(format!("{}.log", function.binary));
        let mut environment: Vec<(String, String)> = function
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut set = |name: &str, value: String| environment.push((name.to_owned(), value));
        set("AWS_LAMBDA_RUNTIME_API", runtime_address.to_string());
        set(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("chatstack-{stage}-{id}"),
        );
        set(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        );
        set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned());
        set("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint.clone());
        set("CHATSTACK_MANAGEMENT_ENDPOINT", management_endpoint.clone());
        set("AWS_EC2_METADATA_DISABLED", "true".to_owned());
        if using_moto {
            for (name, value) in dynamo::MOTO_CREDENTIALS {
                set(name, value.to_owned());
            }
            set("AWS_REGION", "us-east-1".to_owned());
        } else if std::env::var_os("AWS_REGION").is_none() {
            set("AWS_REGION", "us-east-1".to_owned());
        }
        let mut process = FunctionProcess {
            name: function.binary,
            binary: binaries.join(function.binary),
            environment,
            log,
            child: None,
            restarts: 0,
        };
        process.start()?;
        processes.push(process);
        runtimes.insert(id.clone(), runtime);
    }

    let (log_sender, mut log_lines) = mpsc::unbounded_channel();
    let gateway = Gateway::new(
        app,
        stage,
        &address.to_string(),
        options.limits,
        runtimes,
        log_sender,
    );
    let router = gateway.router();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let say =
        |out: &mut dyn Write, text: String| writeln!(out, "{text}").and_then(|()| out.flush());
    let mut banner = vec![
        format!("chatstack local: stage {stage}"),
        format!("  WebSocket URL:   ws://{address}/{stage}"),
        format!("  Management API:  http://{address}/{stage}/@connections/{{connectionId}}"),
        format!(
            "  DynamoDB:        {dynamodb_endpoint} ({}), tables {}",
            if using_moto {
                "moto, started by chatstack"
            } else {
                "--dynamodb-endpoint"
            },
            gateway
                .app
                .tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    for process in &processes {
        banner.push(format!(
            "  function {:<12} pid {:<7} log {}",
            process.name,
            process.pid(),
            process.log.display()
        ));
    }
    banner
        .push("Connect with: chatstack chat ws://".to_owned() + &address.to_string() + "/" + stage);
    banner.push("Press Ctrl-C to stop.".to_owned());
    say(out, banner.join("\n")).map_err(io_error("writing"))?;

    tokio::pin!(shutdown);
    let mut health = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            line = log_lines.recv() => match line {
                Some(line) => say(out, line).map_err(io_error("writing"))?,
                None => break,
            },
            _ = health.tick() => {
                for process in &mut processes {
                    if let Some(report) = process.check() {
                        say(out, report).map_err(io_error("writing"))?;
                    }
                }
            }
        }
    }

    server.abort();
    let mut stopped = 0;
    for process in &mut processes {
        if let Some(child) = &mut process.child
            && child.kill().await.is_ok()
        {
            stopped += 1;
        }
    }
    if let Some(moto) = &mut moto
        && moto.kill().await.is_ok()
    {
        stopped += 1;
    }
    say(out, format!("Stopped {stopped} processes.")).map_err(io_error("writing"))?;
    Ok(())
}
