//! The Lambda Runtime API, emulated for one function: the handler binary
//! polls `invocation/next` and posts its response, exactly as in Lambda.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::function_log::{FunctionLogFile, InvocationReport};

/// The Runtime API's paths (version 2018-06-01), as the Lambda runtime
/// in every handler calls them:
/// <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>
mod paths {
    /// The next event, waited for as long as it takes.
    pub const NEXT_INVOCATION: &str = "/2018-06-01/runtime/invocation/next";
    /// The answer to the invocation `{id}`.
    pub const INVOCATION_RESPONSE: &str = "/2018-06-01/runtime/invocation/{id}/response";
    /// The function error of the invocation `{id}`.
    pub const INVOCATION_ERROR: &str = "/2018-06-01/runtime/invocation/{id}/error";
    /// A failure before the first event (configuration, say).
    pub const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// The function reported an error (`invocation/{id}/error`).
    Function(String),
    TimedOut(Duration),
    /// The process exited while it held the invocation (Lambda's
    /// `Runtime.ExitError`).
    Exited,
    /// The function's process is gone.
    Unavailable,
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function(error) => write!(f, "function error: {error}"),
            InvokeError::TimedOut(after) => write!(f, "timed out after {}s", after.as_secs()),
            InvokeError::Exited => f.write_str("the function's process exited (Runtime.ExitError)"),
            InvokeError::Unavailable => f.write_str("the function's process is not running"),
        }
    }
}

struct Invocation {
    request_id: String,
    event: Value,
    /// Told when a process takes the invocation: its time runs from then.
    handed_out: oneshot::Sender<()>,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

/// An invocation a process took, and which environment took it.
struct Handout {
    environment: u32,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
    /// What its `platform.report` will say.
    report: InvocationReport,
}

/// How API Gateway waits for an integration: an invocation that no
/// process took by then has failed for the client.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// A function's execution environments, counted as Lambda counts
/// concurrency: each holds one invocation at a time.
#[derive(Debug, Default)]
struct Capacity {
    /// Running or starting.
    environments: usize,
    /// Holding an invocation.
    busy: usize,
    /// Sent and not yet taken by a process.
    queued: usize,
}

/// One function's invocation queue, its environments' Runtime APIs, and
/// its concurrency: an invocation no environment is free for gets a new
/// one, as in Lambda, up to local's limit, past which it waits for a free
/// one (Lambda would throttle only past the account's concurrency).
pub struct FunctionRuntime {
    pub name: String,
    timeout: Duration,
    concurrency_limit: usize,
    queue: mpsc::UnboundedSender<Invocation>,
    next: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: StdMutex<HashMap<String, Handout>>,
    capacity: StdMutex<Capacity>,
    /// Environments that have polled for an invocation: one that exits
    /// without ever polling failed to start.
    polled: StdMutex<HashSet<u32>>,
    /// Environments whose invocation timed out: each must end, as Lambda
    /// ends the execution environment.
    timed_out: StdMutex<Vec<u32>>,
    /// Where to ask for another environment (this function's name).
    scale_up: mpsc::UnboundedSender<String>,
    /// The function's log, where the runtime adds Lambda's own events.
    pub log: Arc<FunctionLogFile>,
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FunctionRuntime {
    pub fn new(
        name: &str,
        timeout: Duration,
        concurrency_limit: usize,
        scale_up: mpsc::UnboundedSender<String>,
        log: Arc<FunctionLogFile>,
    ) -> Arc<Self> {
        let (queue, next) = mpsc::unbounded_channel();
        Arc::new(FunctionRuntime {
            name: name.to_owned(),
            timeout,
            concurrency_limit: concurrency_limit.max(1),
            queue,
            next: Mutex::new(next),
            pending: StdMutex::new(HashMap::new()),
            capacity: StdMutex::new(Capacity::default()),
            polled: StdMutex::new(HashSet::new()),
            timed_out: StdMutex::new(Vec::new()),
            scale_up,
            log,
        })
    }

    /// Counts an environment about to start that no invocation asked for.
    pub fn add_environment(&self) {
        lock(&self.capacity).environments += 1;
    }

    /// Forgets an environment that is gone (or never started): fails the
    /// invocation it held, and, if it never polled, one that waited for
    /// it, as Lambda fails the invocation whose environment cannot start.
    pub fn retire(&self, environment: u32) {
        lock(&self.capacity).environments -= 1;
        let held: Vec<Handout> = {
            let mut pending = lock(&self.pending);
            let ids: Vec<String> = pending
                .iter()
                .filter(|(_, handout)| handout.environment == environment)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        lock(&self.capacity).busy -= held.len();
        for handout in held {
            self.log.platform_report(&handout.report, "error");
            let _ = handout.reply.send(Err(InvokeError::Exited));
        }
        if !lock(&self.polled).remove(&environment) {
            self.fail_one_queued();
        }
    }

    /// Fails the oldest invocation no environment took, unless an
    /// environment is already waiting to take it.
    fn fail_one_queued(&self) {
        let Ok(mut queue) = self.next.try_lock() else {
            return;
        };
        while let Ok(invocation) = queue.try_recv() {
            lock(&self.capacity).queued -= 1;
            if !invocation.handed_out.is_closed() {
                let _ = invocation.reply.send(Err(InvokeError::Exited));
                return;
            }
        }
    }

    /// The environments whose invocation timed out since the last look.
    pub fn take_timed_out(&self) -> Vec<u32> {
        std::mem::take(&mut *lock(&self.timed_out))
    }

    /// Counts one more invocation, and asks whoever runs the processes for
    /// a new environment when none is free and the limit allows one.
    fn reserve(&self) {
        let mut capacity = lock(&self.capacity);
        if capacity.busy + capacity.queued >= capacity.environments
            && capacity.environments < self.concurrency_limit
            && self.scale_up.send(self.name.clone()).is_ok()
        {
            capacity.environments += 1;
        }
        capacity.queued += 1;
    }

    /// Runs one event through the function, as API Gateway's Lambda proxy
    /// integration does: the function's timeout runs from when a process
    /// takes the event, not from when it was queued.
    pub async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        self.reserve();
        let (reply, mut answer) = oneshot::channel();
        let (handed_out, taken) = oneshot::channel();
        let request_id = super::ids::unique_hex();
        let invocation = Invocation {
            request_id: request_id.clone(),
            event,
            handed_out,
            reply,
        };
        if self.queue.send(invocation).is_err() {
            lock(&self.capacity).queued -= 1;
            return Err(InvokeError::Unavailable);
        }
        match tokio::time::timeout(INTEGRATION_TIMEOUT, taken).await {
            Ok(Ok(())) => {}
            // Failed before any process took it.
            Ok(Err(_dropped)) => return answer.try_recv().unwrap_or(Err(InvokeError::Unavailable)),
            Err(_) => return Err(InvokeError::TimedOut(INTEGRATION_TIMEOUT)),
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_dropped)) => Err(InvokeError::Unavailable),
            Err(_) => {
                if let Some(handout) = lock(&self.pending).remove(&request_id) {
                    lock(&self.capacity).busy -= 1;
                    lock(&self.timed_out).push(handout.environment);
                    self.log.platform_report(&handout.report, "timeout");
                }
                Err(InvokeError::TimedOut(self.timeout))
            }
        }
    }

    /// The Runtime API of one execution environment, whose process
    /// (`pid`, just started) logs to `stream`.
    pub fn router(self: &Arc<Self>, environment: u32, stream: String, pid: Option<u32>) -> Router {
        Router::new()
            .route(paths::NEXT_INVOCATION, get(next))
            .route(paths::INVOCATION_RESPONSE, post(respond))
            .route(paths::INVOCATION_ERROR, post(fail))
            .route(paths::INIT_ERROR, post(init_error))
            .with_state(Environment {
                runtime: self.clone(),
                id: environment,
                stream,
                pid,
                spawned: Instant::now(),
                cold: Arc::new(AtomicBool::new(true)),
            })
    }

    /// The next invocation no one gave up on, counted as taken.
    async fn take(&self, environment: u32) -> Option<Invocation> {
        lock(&self.polled).insert(environment);
        let mut queue = self.next.lock().await;
        loop {
            let invocation = queue.recv().await?;
            lock(&self.capacity).queued -= 1;
            if !invocation.handed_out.is_closed() {
                return Some(invocation);
            }
        }
    }
}

/// The state of one environment's Runtime API.
#[derive(Clone)]
struct Environment {
    runtime: Arc<FunctionRuntime>,
    id: u32,
    stream: String,
    pid: Option<u32>,
    spawned: Instant,
    /// Until the process first asks for an invocation: the one that call
    /// returns is the first, whose report includes the start-up.
    cold: Arc<AtomicBool>,
}

impl Environment {
    /// Logs the invocation's start; what its report will need.
    fn start_report(&self, request_id: &str, init_ms: Option<f64>) -> InvocationReport {
        self.runtime.log.platform_start(&self.stream, request_id);
        InvocationReport {
            request_id: request_id.to_owned(),
            stream: self.stream.clone(),
            pid: self.pid,
            started: Instant::now(),
            init_ms,
        }
    }
}

async fn next(State(environment): State<Environment>) -> Response {
    let runtime = &environment.runtime;
    // A process asks for the next invocation only once it has answered
    // the last, so its first ask returns its first invocation.
    let init_ms = environment
        .cold
        .swap(false, Ordering::Relaxed)
        .then(|| environment.spawned.elapsed().as_secs_f64() * 1000.0);
    let Some(invocation) = runtime.take(environment.id).await else {
        return StatusCode::GONE.into_response();
    };
    // No await from here on: a process that hangs up cannot lose the
    // invocation between the queue and the pending map.
    let deadline = SystemTime::now() + runtime.timeout;
    let report = environment.start_report(&invocation.request_id, init_ms);
    lock(&runtime.pending).insert(
        invocation.request_id.clone(),
        Handout {
            environment: environment.id,
            reply: invocation.reply,
            report,
        },
    );
    lock(&runtime.capacity).busy += 1;
    let _ = invocation.handed_out.send(());
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", invocation.request_id);
    set(
        "lambda-runtime-deadline-ms",
        deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            .to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:{}:000000000000:function:{}",
            super::LOCAL_REGION,
            runtime.name
        ),
    );
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, invocation.event.to_string()).into_response()
}

fn settle(runtime: &FunctionRuntime, id: &str, result: Result<Value, InvokeError>) -> StatusCode {
    let Some(handout) = lock(&runtime.pending).remove(id) else {
        return StatusCode::BAD_REQUEST;
    };
    lock(&runtime.capacity).busy -= 1;
    let status = if result.is_ok() { "success" } else { "error" };
    runtime.log.platform_report(&handout.report, status);
    let _ = handout.reply.send(result);
    StatusCode::ACCEPTED
}

async fn respond(
    State(environment): State<Environment>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let response = serde_json::from_slice(&body).unwrap_or(Value::Null);
    settle(&environment.runtime, &id, Ok(response))
}

async fn fail(
    State(environment): State<Environment>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let error = String::from_utf8_lossy(&body).into_owned();
    settle(&environment.runtime, &id, Err(InvokeError::Function(error)))
}

async fn init_error(State(environment): State<Environment>, body: Bytes) -> StatusCode {
    eprintln!(
        "{}: initialisation failed: {}",
        environment.runtime.name,
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}
