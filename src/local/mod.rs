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
use environment::FunctionSettings;
use gateway::Gateway;
use process::FunctionPool;
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

/// The region `local` reports and uses against moto (which takes any).
pub(crate) const LOCAL_REGION: &str = "us-east-1";

/// Runs the app until `shutdown` resolves, then stops everything it started.
pub async fn run_local(
    options: LocalOptions,
    out: &mut dyn Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), LocalError> {
    let stage = options.stage.as_str();
    let app = local_app(&options)?;
    let moto = prerequisites::check(&options)?;
    let binaries = prerequisites::handler_binaries(&options, &app, out)?;
    let logs_dir = run_dir::create()?;
    let mut services =
        LocalServices::start(&moto, options.dynamodb_endpoint.clone(), &logs_dir).await?;
    services.create_tables(&app).await?;
    let secret_file = services
        .create_secrets(&app, options.token_secret.clone(), &logs_dir)
        .await?;
    let (sqs, queue_urls) = services.create_queues(&app).await?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(io_error(format!("listening on 127.0.0.1:{}", options.port)))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the listening address"))?;
    let settings = FunctionSettings {
        stage,
        services: &services,
        management_endpoint: format!("http://{address}/{stage}"),
        queue_urls: &queue_urls,
    };
    let (scale_up, scale_up_requests) = mpsc::unbounded_channel();
    let (runtimes, mut pools) = environment::start_functions(
        &app,
        &binaries,
        &settings,
        &logs_dir,
        options.concurrency,
        &scale_up,
    )
    .await?;

    let (log_sender, log_lines) = mpsc::unbounded_channel();
    let notify =
        servers::serve_http_apis(&app, &runtimes, &log_sender, options.notify_port()).await?;
    let schedules = schedules::start(
        &app.schedules,
        &runtimes,
        &log_sender,
        options.schedule_every,
    );
    let event_sources = queues::start(
        &sqs,
        &app.event_sources,
        &app.queues,
        &queue_urls,
        &runtimes,
        &log_sender,
        (&services.region, options.queue_retry_after),
    );
    let gateway = Gateway::new(
        app,
        stage,
        &address.to_string(),
        options.limits,
        runtimes,
        log_sender,
        servers::gateway_access(&services, address.port(), &options.allowed_origins),
    );
    let server = servers::serve_gateway(listener, &gateway, address, stage);
    let push = banner::push_lines(
        notify.as_ref(),
        &schedules,
        &event_sources,
        secret_file.as_deref(),
    );
    say(
        out,
        banner::banner(
            stage,
            address,
            &services,
            &gateway.app,
            &pools,
            &push,
            secret_file.as_deref(),
        ),
    )?;
    let events = Events {
        log_lines,
        scale_up_requests,
    };
    let supervised = supervisor::supervise(out, &mut pools, events, shutdown).await;

    gateway.close_all(std::time::Duration::from_secs(1)).await;
    server.abort();
    if let Some(notify) = notify {
        notify.server.abort();
    }
    drop(schedules);
    drop(event_sources);
    let stopped = stop_processes(&mut pools, &mut services).await;
    supervised?;
    say(out, format!("Stopped {stopped} processes."))
}

/// Stops every handler process and moto (if local started it); how many.
async fn stop_processes(pools: &mut [FunctionPool], services: &mut LocalServices) -> usize {
    let mut stopped = 0;
    for pool in pools {
        stopped += pool.stop().await;
    }
    stopped + usize::from(services.stop().await)
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
