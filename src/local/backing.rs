//! The services a run's functions use, with the template's resources in
//! them, and the functions started against them.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::app::LocalApp;
use super::environment::{self, FunctionSettings};
use super::process::FunctionPool;
use super::services::LocalServices;
use super::{LocalError, LocalOptions, runtime};

/// The AWS services a run's functions use (moto, or the user's DynamoDB),
/// with the template's tables, secrets and queues in them.
pub(super) struct Backing {
    pub(super) services: LocalServices,
    pub(super) secret_file: Option<PathBuf>,
    pub(super) sqs: aws_sdk_sqs::Client,
    pub(super) queue_urls: std::collections::BTreeMap<String, String>,
    /// The ids of the user pools and app clients made, by logical id.
    pub(super) pool_ids: std::collections::BTreeMap<String, String>,
    /// Where the authorizer reads the stage's own pool's keys, if it has one.
    pub(super) pool_discovery_url: Option<String>,
}

impl Backing {
    pub(super) async fn start(
        options: &LocalOptions,
        app: &LocalApp,
        moto: &Path,
        logs_dir: &Path,
    ) -> Result<Self, LocalError> {
        let services =
            LocalServices::start(moto, options.dynamodb_endpoint.clone(), logs_dir).await?;
        services.create_tables(app).await?;
        let secret_file = services
            .create_secrets(app, options.token_secret.clone(), logs_dir)
            .await?;
        let (sqs, queue_urls) = services.create_queues(app).await?;
        write_run_file(options, app, &services, &queue_urls, logs_dir)?;
        let pool_ids = services.create_user_pools(app, logs_dir).await?;
        let pool_discovery_url = app
            .user_pools
            .first()
            .and_then(|pool| pool_ids.get(&pool.logical_id))
            .map(|id| services.discovery_url(id));
        Ok(Backing {
            services,
            secret_file,
            sqs,
            queue_urls,
            pool_ids,
            pool_discovery_url,
        })
    }

    /// Starts each function's processes, with the run's services and the
    /// gateway at `address` as their management endpoint.
    pub(super) async fn start_functions(
        &self,
        options: &LocalOptions,
        app: &LocalApp,
        binaries: &Path,
        address: std::net::SocketAddr,
        logs_dir: &Path,
    ) -> Result<(Runtimes, Vec<FunctionPool>, mpsc::UnboundedReceiver<String>), LocalError> {
        let stage = options.stage.as_str();
        let settings = FunctionSettings {
            stage,
            services: &self.services,
            management_endpoint: format!("http://{address}/{stage}"),
            queue_urls: &self.queue_urls,
            created_ids: &self.pool_ids,
            oidc_discovery_url: self.pool_discovery_url.clone(),
            limits: &options.limits,
            history_retention: options.history_retention,
        };
        // Each pool keeps a sender, to ask for another process when busy.
        let (scale_up, scale_up_requests) = mpsc::unbounded_channel();
        let (runtimes, pools) = environment::start_functions(
            app,
            binaries,
            &settings,
            logs_dir,
            options.concurrency,
            &scale_up,
        )
        .await?;
        Ok((runtimes, pools, scale_up_requests))
    }
}

/// Where the run's services are, for `chatstack status --local`.
fn write_run_file(
    options: &LocalOptions,
    app: &LocalApp,
    services: &LocalServices,
    queue_urls: &std::collections::BTreeMap<String, String>,
    dir: &Path,
) -> Result<(), LocalError> {
    let queue = |logical_id: &str| {
        app.queues
            .iter()
            .find(|queue| queue.logical_id == logical_id)
            .and_then(|queue| queue_urls.get(&queue.name))
            .cloned()
    };
    let connections_table = app
        .tables
        .iter()
        .find(|table| table.logical_id == crate::chat::CONNECTIONS_TABLE_ID)
        .map(|table| table.name.clone())
        .ok_or_else(|| LocalError::Template("the template has no ConnectionsTable".into()))?;
    let run = super::services::RunFile {
        stage: options.stage.to_string(),
        dynamodb_endpoint: services.endpoint.clone(),
        moto_endpoint: services.moto_endpoint.clone(),
        region: services.region.clone(),
        connections_table,
        fanout_queue: queue(crate::chat::FANOUT_QUEUE_ID),
        dead_letter_queue: queue(crate::chat::FANOUT_DEAD_LETTERS_ID),
    };
    super::run_dir::write_private_json(&dir.join(super::services::RUN_FILE), &run)
}

/// Each function's Runtime API, by logical id.
pub(super) type Runtimes =
    std::collections::BTreeMap<String, std::sync::Arc<runtime::FunctionRuntime>>;
