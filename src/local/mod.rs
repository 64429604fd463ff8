//! `chatstack local`: the whole app on localhost, from the synthesized
//! template and the real handler binaries. A WebSocket gateway and the
//! management API (axum), one emulated Lambda Runtime API per function,
//! and DynamoDB in moto (or any endpoint).
//!
//! [`run_local`] is the sequence; each step has a module of its own:
//! `prerequisites` (sources, moto, binaries), `run_dir` (the run's files),
//! [`services`] (moto behind its guard: tables, queues, secret),
//! `environment` (each process's variables, the function pools),
//! `servers` (the gateway and page, the notify endpoint), [`gateway`] (the
//! WebSocket API) and `management` (its `@connections` API), `banner`, and
//! `supervisor` (what happens while it runs); `options` says what was asked.

pub mod app;
mod backing;
mod banner;
pub mod dynamo;
mod environment;
pub mod events;
mod function_log;
pub mod gateway;
mod http_api;
mod ids;
mod management;
mod options;
mod prerequisites;
mod process;
mod push;
mod queues;
mod run_dir;
pub mod runtime;
mod schedules;
mod servers;
pub mod services;
mod supervisor;
pub mod throttle;

use std::io::{self, Write};
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::chat;
use app::LocalApp;
use backing::Backing;
use gateway::Gateway;
use process::FunctionPool;
use push::PushSources;
use services::LocalServices;
use supervisor::Events;

pub use options::LocalOptions;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the template cannot run locally: {0}")]
    Template(String),
    #[error("could not build the template: {0}")]
    Synth(#[from] crate::cfn::TemplateError),
    #[error(
        "moto_server was not found (on PATH, in the test tools' venv, or in {venv}): local runs \
         the fan-out queue and the token secret in it, and DynamoDB unless --dynamodb-endpoint \
         names another. Install it into a venv of its own (Debian's Python refuses a bare pip \
         install): python3 -m venv {venv} && {venv}/bin/pip install 'moto[server]'"
    )]
    MotoMissing { venv: String },
    #[error(
        "the handlers' sources are not in {0}: chatstack local builds and runs the Lambda \
         handlers of the chatstack repository's handlers/ workspace; run it from a checkout \
         of chatstack, or pass --handlers-dir PATH/TO/chatstack/handlers"
    )]
    NoHandlers(PathBuf),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("building the handlers failed: {0}")]
    Build(String),
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> LocalError {
    let what = what.into();
    move |e| LocalError::Io(what, e)
}

/// The file of the run directory holding a token stage's secret, for
/// `chatstack token --secret-file` (or `--local`).
pub const TOKEN_SECRET_FILE: &str = "token-secret";

/// The region `local` reports and uses against moto (which takes any).
pub(crate) const LOCAL_REGION: &str = "us-east-1";

/// Runs the app until `shutdown` resolves, then stops everything it started.
pub async fn run_local(
    options: LocalOptions,
    out: &mut dyn Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), LocalError> {
    let running = start(&options, out).await?;
    running.supervise(out, shutdown).await
}

/// Everything a run started, until Ctrl-C.
struct Running {
    backing: Backing,
    pools: Vec<FunctionPool>,
    gateway: std::sync::Arc<Gateway>,
    server: tokio::task::JoinHandle<io::Result<()>>,
    push: PushSources,
    events: Events,
}

/// Starts the services, the functions and the servers, and prints the
/// banner.
async fn start(options: &LocalOptions, out: &mut dyn Write) -> Result<Running, LocalError> {
    let stage = options.stage.as_str();
    let app = local_app(options)?;
    let moto = prerequisites::check(options)?;
    let binaries = prerequisites::handler_binaries(options, &app, out)?;
    let logs_dir = run_dir::create()?;
    let backing = Backing::start(options, &app, &moto, &logs_dir).await?;

    let (listener, address) = listen(options.port).await?;
    let (runtimes, pools, scale_up_requests) = backing
        .start_functions(options, &app, &binaries, address, &logs_dir)
        .await?;

    let (log_sender, log_lines) = mpsc::unbounded_channel();
    let push = PushSources::start(&app, &runtimes, &log_sender, options, &backing).await?;
    let access =
        servers::gateway_access(&backing.services, address.port(), &options.allowed_origins);
    let host = address.to_string();
    let gateway = Gateway::new(
        app,
        stage,
        &host,
        options.limits,
        runtimes,
        log_sender,
        access,
    );
    let server = servers::serve_gateway(listener, &gateway, address, stage);
    let secret_file = backing.secret_file.as_deref();
    let push_lines = push.banner_lines(secret_file);
    let (services, app) = (&backing.services, &gateway.app);
    let sign_in = sign_in(&backing, app, &logs_dir);
    let banner = banner::banner(stage, address, services, app, &pools, &push_lines, &sign_in);
    say(out, banner)?;
    let events = Events {
        log_lines,
        scale_up_requests,
    };
    Ok(Running {
        backing,
        pools,
        gateway,
        server,
        push,
        events,
    })
}

impl Running {
    /// Supervises until `shutdown`, then closes every connection (1001)
    /// and stops everything it started.
    async fn supervise(
        mut self,
        out: &mut dyn Write,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), LocalError> {
        let supervised = supervisor::supervise(out, &mut self.pools, self.events, shutdown).await;
        self.gateway
            .close_all(std::time::Duration::from_secs(1))
            .await;
        self.server.abort();
        self.push.stop();
        let stopped = stop_processes(&mut self.pools, &mut self.backing.services).await;
        supervised?;
        say(out, format!("Stopped {stopped} processes."))
    }
}

/// The gateway's listener, on loopback only.
async fn listen(port: u16) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), LocalError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(io_error(format!("listening on 127.0.0.1:{port}")))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the listening address"))?;
    Ok((listener, address))
}

/// Stops every handler process and moto (if local started it); how many.
async fn stop_processes(pools: &mut [FunctionPool], services: &mut LocalServices) -> usize {
    let mut stopped = 0;
    for pool in pools {
        stopped += pool.stop().await;
    }
    stopped + usize::from(services.stop().await)
}

/// How a client of this run gets a token.
fn sign_in<'a>(
    backing: &'a Backing,
    app: &'a LocalApp,
    run_dir: &'a std::path::Path,
) -> banner::SignIn<'a> {
    if let Some(file) = &backing.secret_file {
        return banner::SignIn::Secret(file);
    }
    if !backing.pool_ids.is_empty() {
        return banner::SignIn::Pool(run_dir);
    }
    let issuer = app
        .connect_authorizer
        .as_ref()
        .and_then(|authorizer| app.functions.get(&authorizer.function))
        .and_then(|function| function.environment.get(chat_contract::OIDC_ISSUER_VAR));
    match issuer {
        Some(issuer) => banner::SignIn::Issuer(issuer),
        None => banner::SignIn::Open,
    }
}

/// The app the stage's template describes.
fn local_app(options: &LocalOptions) -> Result<LocalApp, LocalError> {
    let template = serde_json::to_value(chat::template(&options.stage, &options.settings)?)
        .map_err(|e| LocalError::Template(e.to_string()))?;
    LocalApp::from_template(&template, &format!("chatstack-{}", options.stage))
}

/// One line for the user, at once.
fn say(out: &mut dyn Write, text: String) -> Result<(), LocalError> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(io_error("writing"))
}
