//! `chatstack local`: the whole app on localhost, from the synthesized
//! template and the real handler binaries. A WebSocket gateway and the
//! management API (axum), one emulated Lambda Runtime API per function,
//! and DynamoDB in moto (or any endpoint).

pub mod app;
pub mod dynamo;
pub mod events;
mod function_log;
pub mod gateway;
mod http_api;
mod process;
mod queues;
pub mod runtime;
mod schedules;
pub mod services;
pub mod throttle;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chat_contract::MANAGEMENT_ENDPOINT_VAR;
use tokio::sync::mpsc;

use crate::chat::{self, StageName};
use crate::handlers::HandlersWorkspace;
use crate::logs::local::{LOG_EXTENSION, latest_run_link};
use crate::settings::StageSettings;
use app::{LocalApp, LocalFunction};
use function_log::FunctionLogFile;
use gateway::{Gateway, Limits};
use process::FunctionPool;
use runtime::FunctionRuntime;
use services::LocalServices;

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
    /// Browser origins besides the chat page's own whose pages may open a
    /// WebSocket (`--allow-origin`: a front end of the user's own).
    pub allowed_origins: Vec<String>,
}

impl LocalOptions {
    /// The notify endpoint's port: as asked, else the gateway's + 1 (a
    /// free one when the gateway's is).
    fn notify_port(&self) -> u16 {
        match (self.notify_port, self.port) {
            (Some(port), _) => port,
            (None, 0) => 0,
            (None, port) => port.saturating_add(1),
        }
    }
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

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> LocalError {
    let what = what.into();
    move |e| LocalError::Io(what, e)
}

/// The region `local` reports and uses against moto (which takes any).
pub(crate) const LOCAL_REGION: &str = "us-east-1";

/// What local needs, checked before a build that takes minutes: the
/// handlers' sources (when it builds them) and moto; moto's path.
fn check_prerequisites(options: &LocalOptions) -> Result<PathBuf, LocalError> {
    if options.build && !options.handlers.dir().join("Cargo.toml").is_file() {
        return Err(LocalError::NoHandlers(options.handlers.dir().to_owned()));
    }
    dynamo::find_moto(options.handlers.dir())
}

/// Runs the app until `shutdown` resolves, then stops everything it started.
pub async fn run_local(
    options: LocalOptions,
    out: &mut dyn Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), LocalError> {
    let stage = options.stage.as_str();
    let app = local_app(&options)?;
    let moto = check_prerequisites(&options)?;
    let binaries = handler_binaries(&options, &app, out)?;
    let logs_dir = create_run_dir()?;
    let mut services =
        LocalServices::start(&moto, options.dynamodb_endpoint.clone(), &logs_dir).await?;
    services.create_tables(&app).await?;
    let secret_file =
        create_secrets(&app, &services, options.token_secret.clone(), &logs_dir).await?;
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
    let (runtimes, mut pools) = start_functions(
        &app,
        &binaries,
        &settings,
        &logs_dir,
        options.concurrency,
        &scale_up,
    )
    .await?;

    let (log_sender, log_lines) = mpsc::unbounded_channel();
    let notify = serve_http_apis(&app, &runtimes, &log_sender, options.notify_port()).await?;
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
        gateway_access(&services, address.port(), &options.allowed_origins),
    );
    let server = serve_gateway(listener, &gateway, address, stage);
    let push = push_lines(
        notify.as_ref(),
        &schedules,
        &event_sources,
        secret_file.as_deref(),
    );
    say(
        out,
        banner(
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
    let supervised = supervise(out, &mut pools, events, shutdown).await;

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

/// Serves the WebSocket gateway, the management API and the chat page on
/// `listener` until aborted.
fn serve_gateway(
    listener: tokio::net::TcpListener,
    gateway: &Arc<Gateway>,
    address: SocketAddr,
    stage: &str,
) -> tokio::task::JoinHandle<io::Result<()>> {
    let page = crate::web::PageConfig {
        url: format!("ws://{address}/{stage}"),
        token_required: gateway.app.connect_authorizer.is_some(),
        reply_prefixes: crate::web::ReplyPrefixes::of_this_version(),
    };
    let router = crate::loopback::own_host_only(
        gateway.router().merge(crate::web::router(page)),
        address.port(),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
}

/// The banner's lines for what the stage's settings add.
fn push_lines(
    notify: Option<&HttpApiServer>,
    schedules: &schedules::Schedules,
    event_sources: &queues::EventSources,
    secret_file: Option<&Path>,
) -> Vec<String> {
    notify
        .map(|n| n.described.clone())
        .into_iter()
        .chain(schedules.described.iter().cloned())
        .chain(event_sources.described.iter().cloned())
        .chain(secret_file.map(|path| {
            format!(
                "  Tokens:          chatstack token --secret-file {} --user NAME (then ?token=...)",
                path.display()
            )
        }))
        .collect()
}

fn say(out: &mut dyn Write, text: String) -> Result<(), LocalError> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(io_error("writing"))
}

/// The directory of the handler binaries, built first unless the user
/// said not to; every function of `app` must have its binary there.
fn handler_binaries(
    options: &LocalOptions,
    app: &LocalApp,
    out: &mut dyn Write,
) -> Result<PathBuf, LocalError> {
    if options.build {
        options
            .handlers
            .build_binaries(out)
            .map_err(|e| LocalError::Build(e.to_string()))?;
    }
    let binaries = options.handlers.local_binaries_dir();
    for function in app.functions.values() {
        let binary = binaries.join(function.binary);
        if !binary.is_file() {
            return Err(LocalError::Build(format!(
                "{} is missing: run `cargo build --profile {}` in {}, or drop --no-build",
                binary.display(),
                crate::handlers::LOCAL_PROFILE,
                options.handlers.dir().display()
            )));
        }
    }
    Ok(binaries)
}

/// Who may use the gateway: the handlers' credentials and region sign
/// management API calls; browsers may connect from the gateway's own page
/// and the origins the user allowed.
fn gateway_access(
    services: &LocalServices,
    port: u16,
    allowed_origins: &[String],
) -> gateway::Access {
    gateway::Access {
        management_signer: gateway::ManagementSigner {
            credentials: services.credentials.clone(),
            region: services.region.clone(),
        },
        allowed_origins: crate::loopback::page_origins(port)
            .into_iter()
            .chain(allowed_origins.iter().cloned())
            .collect(),
    }
}

/// Creates the template's secrets (a stage's token secret) in moto, with
/// `value` or a random one, and writes the value to a file only the user
/// can read, for `chatstack token --secret-file`. Returns that file.
async fn create_secrets(
    app: &LocalApp,
    services: &LocalServices,
    value: Option<String>,
    dir: &Path,
) -> Result<Option<PathBuf>, LocalError> {
    if app.secrets.is_empty() {
        return Ok(None);
    }
    let value = match value {
        Some(value) => value,
        None => random_hex(32)?,
    };
    services.create_secrets(app, &value).await?;
    let path = dir.join("token-secret");
    write_private(&path, &value)?;
    Ok(Some(path))
}

/// `bytes` random bytes from the OS, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, LocalError> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).map_err(|e| {
        LocalError::Io(
            "reading random bytes from the OS".to_owned(),
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), LocalError> {
    create_private(path, false)?
        .write_all(text.as_bytes())
        .map_err(io_error(format!("writing {}", path.display())))
}

/// Creates `path`, a file that must not exist yet, readable and writable
/// by its owner only; a link planted there is not followed.
pub(crate) fn create_private(path: &Path, append: bool) -> Result<std::fs::File, LocalError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_error(format!("creating {}", path.display())))
}

/// What every function process is told about its surroundings.
struct FunctionSettings<'a> {
    stage: &'a str,
    services: &'a LocalServices,
    management_endpoint: String,
    /// Queue URLs by queue name (variables name a queue by its name until
    /// it exists).
    queue_urls: &'a BTreeMap<String, String>,
}

impl FunctionSettings<'_> {
    /// The whole environment of `function`'s process, as Lambda gives it
    /// (nothing of the user's shell): its own variables from the template,
    /// what Lambda sets, then where the local services are. Each process
    /// adds the address of its own Runtime API.
    fn environment(&self, id: &str, function: &LocalFunction) -> Vec<(String, String)> {
        let name = format!("chatstack-{}-{id}", self.stage);
        let mut environment: Vec<(String, String)> = function
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), self.queue_urls.get(v).unwrap_or(v).clone()))
            .collect();
        let mut set = |name: &str, value: String| environment.push((name.to_owned(), value));
        set("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"));
        set("AWS_LAMBDA_FUNCTION_NAME", name);
        set(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        );
        set("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned());
        set("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned());
        if let Some(format) = &function.log_format {
            set("AWS_LAMBDA_LOG_FORMAT", format.clone());
        }
        set("_HANDLER", "bootstrap".to_owned());
        set("LANG", "en_US.UTF-8".to_owned());
        set("TZ", ":UTC".to_owned());
        set("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned());
        for (name, value) in self.services.handler_access() {
            set(name, value);
        }
        set("AWS_ENDPOINT_URL_DYNAMODB", self.services.endpoint.clone());
        // The token secret and the queues live in moto (see create_secrets).
        set(
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            self.services.moto_endpoint.clone(),
        );
        set("AWS_ENDPOINT_URL_SQS", self.services.moto_endpoint.clone());
        set(MANAGEMENT_ENDPOINT_VAR, self.management_endpoint.clone());
        set("AWS_EC2_METADATA_DISABLED", "true".to_owned());
        environment
    }
}

/// This run's directory (the functions' logs, the token secret, moto's
/// socket), which `chatstack logs --local` reads: a new directory with a
/// random name, only the user's (0700), never one that existed; the link
/// to the latest run's directory is replaced (atomically, as other runs
/// may read it).
fn create_run_dir() -> Result<PathBuf, LocalError> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = loop {
        let dir = std::env::temp_dir().join(format!("chatstack-local-{}", random_hex(8)?));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(LocalError::Io(format!("creating {}", dir.display()), e)),
        }
    };
    let link = latest_run_link();
    if let Some(parent) = link.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
    }
    let staged = link.with_extension(format!("{}.new", std::process::id()));
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(&dir, &staged)
        .and_then(|()| std::fs::rename(&staged, &link))
        .map_err(io_error(format!(
            "linking {} to this run's logs",
            link.display()
        )))?;
    Ok(dir)
}

/// Starts each function with one environment; each may run
/// `concurrency` at once, asking for more on `scale_up`.
async fn start_functions(
    app: &LocalApp,
    binaries: &Path,
    settings: &FunctionSettings<'_>,
    logs_dir: &Path,
    concurrency: usize,
    scale_up: &mpsc::UnboundedSender<String>,
) -> Result<(BTreeMap<String, Arc<FunctionRuntime>>, Vec<FunctionPool>), LocalError> {
    let mut runtimes = BTreeMap::new();
    let mut pools = Vec::new();
    for (id, function) in &app.functions {
        let log_path = logs_dir.join(format!("{}.{LOG_EXTENSION}", function.binary));
        let runtime = FunctionRuntime::new(
            function.binary,
            function.timeout,
            concurrency,
            scale_up.clone(),
            Arc::new(FunctionLogFile::create(&log_path, function.memory_mb)?),
        );
        pools.push(
            FunctionPool::start(
                function.binary,
                binaries.join(function.binary),
                settings.environment(id, function),
                log_path,
                runtime.clone(),
            )
            .await?,
        );
        runtimes.insert(id.clone(), runtime);
    }
    Ok((runtimes, pools))
}

/// The HTTP APIs' server (the notify endpoint), when the template has one.
struct HttpApiServer {
    server: tokio::task::JoinHandle<()>,
    /// Its line in the banner.
    described: String,
}

async fn serve_http_apis(
    app: &LocalApp,
    runtimes: &BTreeMap<String, Arc<FunctionRuntime>>,
    log: &mpsc::UnboundedSender<String>,
    port: u16,
) -> Result<Option<HttpApiServer>, LocalError> {
    if app.http_routes.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(io_error(format!(
            "listening for the notify endpoint on 127.0.0.1:{port} (choose another with --notify-port)"
        )))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the listening address"))?;
    let (credentials, region) = signing_credentials().await;
    let checked_against = match &credentials {
        Some(credentials) => format!(
            "requests must be signed with access key {} for {region}",
            credentials.access_key_id()
        ),
        None => "no AWS credentials found to check signatures: every request is refused".to_owned(),
    };
    let routes: Vec<String> = app
        .http_routes
        .keys()
        .map(|key| {
            key.split_once(' ')
                .map_or(key.as_str(), |(_, path)| path)
                .to_owned()
        })
        .collect();
    let described = format!(
        "  Notify URL:      {} ({checked_against})",
        routes
            .iter()
            .map(|path| format!("http://{address}{path}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let router = http_api::HttpApi {
        routes: app.http_routes.clone(),
        runtimes: runtimes.clone(),
        credentials,
        region,
        domain_name: address.to_string(),
        log: log.clone(),
    }
    .router();
    let router = crate::loopback::own_host_only(router, address.port());
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(Some(HttpApiServer { server, described }))
}

/// The credentials and region the user's AWS configuration resolves to:
/// an `AWS_IAM` route takes requests signed with them for that region (the
/// user calling their own local API, as `chatstack notify --url` signs), as
/// API Gateway takes those of a principal allowed to call it, scoped to the
/// API's region. No region configured: [`LOCAL_REGION`].
async fn signing_credentials() -> (Option<aws_credential_types::Credentials>, String) {
    use aws_credential_types::provider::ProvideCredentials;
    let resolve = async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::deploy::aws::https_client())
            .load()
            .await;
        let region = config
            .region()
            .map_or_else(|| LOCAL_REGION.to_owned(), |r| r.to_string());
        let credentials = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.ok(),
            None => None,
        };
        (credentials, region)
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), resolve)
        .await
        .unwrap_or_else(|_| (None, LOCAL_REGION.to_owned()))
}

/// What the user reads first: the URLs, DynamoDB, each process and its log.
fn banner(
    stage: &str,
    address: SocketAddr,
    services: &LocalServices,
    app: &LocalApp,
    pools: &[FunctionPool],
    push: &[String],
    secret_file: Option<&Path>,
) -> String {
    let tables: Vec<&str> = app.tables.iter().map(|t| t.name.as_str()).collect();
    let mut lines = vec![
        format!("chatstack local: stage {stage}"),
        format!("  Chat page:       http://{address}/"),
        format!("  WebSocket URL:   ws://{address}/{stage}"),
        format!("  Management API:  http://{address}/{stage}/@connections/{{connectionId}}"),
    ];
    lines.extend(push.iter().cloned());
    lines.extend([
        format!(
            "  DynamoDB:        {} ({}), tables {}",
            services.endpoint,
            services.describe(),
            tables.join(", ")
        ),
        format!(
            "  Credentials:     {} (the handlers' key; AWS CLI: AWS_SHARED_CREDENTIALS_FILE=<it> aws --profile {} --region {} --endpoint-url {} ...)",
            services.credentials_file.display(),
            services::CREDENTIALS_PROFILE,
            services.region,
            services.moto_endpoint
        ),
    ]);
    for pool in pools {
        lines.push(format!(
            "  function {:<12} pid {:<7} log {}",
            pool.name,
            pool.pids().join(","),
            pool.log.display()
        ));
    }
    if let Some(dir) = pools.first().and_then(|pool| pool.log.parent()) {
        lines.push(format!(
            "Read the logs with: chatstack logs --local {} --follow",
            dir.display()
        ));
    }
    // A stage with tokens refuses a bare connection (401): mint one.
    lines.push(match secret_file {
        Some(file) => format!(
            "Connect with: chatstack chat ws://{address}/{stage} --token \"$(chatstack token --secret-file {} --user you)\"",
            file.display()
        ),
        None => format!("Connect with: chatstack chat ws://{address}/{stage}"),
    });
    lines.push("Press Ctrl-C to stop.".to_owned());
    lines.join("\n")
}

/// What the gateway and the runtimes tell the supervisor.
struct Events {
    log_lines: mpsc::UnboundedReceiver<String>,
    /// Names of functions that need another environment.
    scale_up_requests: mpsc::UnboundedReceiver<String>,
}

/// Until `shutdown`: prints the gateway's log lines, starts environments
/// invocations ask for, and replaces (and reports) handler processes that
/// exit or time out, checking ten times a second so a dead process fails
/// its invocation at once.
async fn supervise(
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
