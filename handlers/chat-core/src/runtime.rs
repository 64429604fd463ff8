//! What every function's `main` does: set up logging, AWS clients and the
//! management endpoint once, then [`serve`] its route for every event.

use std::future::Future;
use std::time::SystemTime;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ConfigError;
use crate::history::{DynamoHistory, RoomHistory};
use crate::store::DynamoStore;

/// What every function does first: JSON logs when the function's
/// LoggingConfig says JSON (the template does), and panics that end the
/// process in every build.
pub fn init_process() {
    lambda_runtime::tracing::init_default_subscriber();
    #[cfg(panic = "unwind")]
    abort_on_panic();
}

/// Makes a panic end the process after it is reported, as it does in the
/// release build Lambda runs (`panic = "abort"`). The debug build that
/// `chatstack local` and the tests run unwinds, so lambda_runtime would
/// catch the panic, answer an error and keep alive an environment that
/// Lambda would have lost.
#[cfg(panic = "unwind")]
pub fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}

/// The value, or a clear message and exit code 1: a function missing its
/// configuration should fail at start-up, not on every event.
pub fn or_exit<T>(result: Result<T, ConfigError>) -> T {
    result.unwrap_or_else(|error| {
        tracing::error!(%error, "bad configuration");
        eprintln!("error: {error}");
        std::process::exit(1)
    })
}

/// The value, or `what` failed with the error logged and exit code 1:
/// an environment that cannot serve should fail at start-up (Lambda then
/// tries a new one), not on every event.
pub fn or_exit_saying<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|error| {
        tracing::error!(%error, "{what}");
        eprintln!("error: {what}: {error}");
        std::process::exit(1)
    })
}

/// Reads `name` from the process environment.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The HTTP client of every AWS call: rustls with ring, which is smaller
/// than the SDK's default aws-lc.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Region and credentials from the environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The connections and members tables (named by the environment, exiting
/// with a clear message when they are not), with a client built once for
/// the process.
pub fn dynamo_store(sdk_config: &SdkConfig) -> DynamoStore {
    let table = or_exit(crate::config::table_name(env));
    let members = or_exit(crate::config::members_table_name(env));
    DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk_config), &table, &members)
}

/// The stage's room history, when it keeps one, sharing `store`'s client.
pub fn room_history(store: &DynamoStore) -> Option<RoomHistory<DynamoHistory>> {
    let config = or_exit(crate::config::history(env))?;
    Some(RoomHistory {
        store: DynamoHistory::new(store.client().clone(), &config.table),
        retention: config.retention,
        max_per_request: config.max_per_request,
    })
}

/// The management API of the function's stage.
pub fn management_api(sdk_config: &SdkConfig) -> crate::poster::ManagementApi {
    let endpoint = or_exit(crate::config::management_endpoint(env));
    crate::poster::ManagementApi::new(sdk_config, &endpoint)
}

/// What the functions that fan out (`sendmessage`, `notify`, `fanout`)
/// set up once: the table, the management API of their stage, and the
/// broadcast's pacing, split rule and queue.
pub struct FanoutClients {
    pub store: DynamoStore,
    pub poster: crate::poster::ManagementApi,
    pub fanout: crate::fanout::Fanout<crate::segments::SqsJobQueue>,
}

/// Reads the configuration (exiting with a clear message when some is
/// missing) and builds the clients.
pub async fn fanout_clients() -> FanoutClients {
    let config = or_exit(crate::config::fanout_config(env));
    let split = or_exit(crate::config::split_config(env));
    let sdk_config = sdk_config().await;
    let store = dynamo_store(&sdk_config);
    let poster = management_api(&sdk_config);
    let queue_url = or_exit(crate::config::fanout_queue_url(env));
    FanoutClients {
        store,
        poster,
        fanout: crate::fanout::Fanout {
            config,
            split,
            queue: crate::segments::SqsJobQueue::new(&sdk_config, &queue_url),
        },
    }
}

/// What the `fanout` worker sets up once: the clients every function that
/// fans out has, and the fan-out jobs table.
pub async fn worker_clients() -> (FanoutClients, crate::segments::DynamoLedger) {
    let clients = fanout_clients().await;
    let table = or_exit(crate::config::fanout_jobs_table(env));
    let ledger = crate::segments::DynamoLedger::new(clients.store.client().clone(), &table);
    (clients, ledger)
}

/// The event every WebSocket route receives.
pub type Event = ApiGatewayWebsocketProxyRequest;

/// What every WebSocket route answers.
pub type Response = ApiGatewayProxyResponse;

/// Hands `route` to the Lambda runtime, which calls it once per event
/// (a WebSocket route's [`Event`], or any other the function takes), with
/// the invocation's deadline, for the life of the process. An `Err` is
/// reported to Lambda as a function error (API Gateway then answers 502).
/// Returns the runtime's own future rather than wrapping it in another:
/// each extra state machine is code in every zip.
pub fn serve<E, A, R, Fut>(route: R) -> impl Future<Output = Result<(), lambda_runtime::Error>>
where
    E: DeserializeOwned,
    A: Serialize,
    R: Fn(E, tokio::time::Instant) -> Fut,
    Fut: Future<Output = Result<A, lambda_runtime::Error>>,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let left = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        route(event.payload, tokio::time::Instant::now() + left)
    }))
}
