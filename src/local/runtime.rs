//! The Lambda Runtime API, emulated for one function: the handler binary
//! polls `invocation/next` and posts its response, exactly as in Lambda.
//! <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

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

/// How long API Gateway waits for an integration: an invocation that no
/// process took by then has failed for the client.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

/// One function's invocation queue and its Runtime API.
pub struct FunctionRuntime {
    pub name: String,
    timeout: Duration,
    queue: mpsc::Sender<Invocation>,
    next: Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, InvokeError>>>>,
    /// Set when an invocation timed out: its process must end, as Lambda
    /// ends the execution environment.
    timed_out: AtomicBool,
}

impl FunctionRuntime {
    pub fn new(name: &str, timeout: Duration) -> Arc<Self> {
        let (queue, next) = mpsc::channel(64);
        Arc::new(FunctionRuntime {
            name: name.to_owned(),
            timeout,
            queue,
            next: Mutex::new(next),
            pending: Mutex::new(HashMap::new()),
            timed_out: AtomicBool::new(false),
        })
    }

    /// Whether an invocation timed out since the last look.
    pub fn take_timed_out(&self) -> bool {
        self.timed_out.swap(false, Ordering::SeqCst)
    }

    /// Fails every invocation handed to the process, which has exited.
    pub async fn fail_pending(&self) {
        for (_, reply) in self.pending.lock().await.drain() {
            let _ = reply.send(Err(InvokeError::Exited));
        }
    }

    /// Runs one event through the function, as API Gateway's Lambda proxy
    /// integration does: the function's timeout runs from when a process
    /// takes the event, not from when it was queued.
    pub async fn invoke(&self, event: Value) -> Result<Value, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let (handed_out, taken) = oneshot::channel();
        let invocation = Invocation {
            request_id: super::unique_hex(),
            event,
            handed_out,
            reply,
        };
        self.queue
            .send(invocation)
            .await
            .map_err(|_| InvokeError::Unavailable)?;
        match tokio::time::timeout(INTEGRATION_TIMEOUT, taken).await {
            Ok(Ok(())) => {}
            Ok(Err(_dropped)) => return Err(InvokeError::Unavailable),
            Err(_) => return Err(InvokeError::TimedOut(INTEGRATION_TIMEOUT)),
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_dropped)) => Err(InvokeError::Unavailable),
            Err(_) => {
                self.timed_out.store(true, Ordering::SeqCst);
                Err(InvokeError::TimedOut(self.timeout))
            }
        }
    }

    /// The Runtime API routes for this function.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(self.clone())
    }
}

async fn next(State(runtime): State<Arc<FunctionRuntime>>) -> Response {
    let invocation = {
        let mut queue = runtime.next.lock().await;
        queue.recv().await
    };
    let Some(invocation) = invocation else {
        return StatusCode::GONE.into_response();
    };
    let deadline = SystemTime::now() + runtime.timeout;
    runtime
        .pending
        .lock()
        .await
        .insert(invocation.request_id.clone(), invocation.reply);
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

async fn settle(
    runtime: &FunctionRuntime,
    id: &str,
    result: Result<Value, InvokeError>,
) -> StatusCode {
    match runtime.pending.lock().await.remove(id) {
        Some(reply) => {
            let _ = reply.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(
    State(runtime): State<Arc<FunctionRuntime>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let response = serde_json::from_slice(&body).unwrap_or(Value::Null);
    settle(&runtime, &id, Ok(response)).await
}

async fn fail(
    State(runtime): State<Arc<FunctionRuntime>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let error = String::from_utf8_lossy(&body).into_owned();
    settle(&runtime, &id, Err(InvokeError::Function(error))).await
}

async fn init_error(State(runtime): State<Arc<FunctionRuntime>>, body: Bytes) -> StatusCode {
    eprintln!(
        "{}: initialisation failed: {}",
        runtime.name,
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}
