//! What each function process is given: Lambda's environment, nothing of
//! the user's shell, and where the local services are.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chat_contract::{
    CONNECTION_LIFETIME_SECONDS_VAR, HISTORY_RETENTION_SECONDS_VAR, MANAGEMENT_ENDPOINT_VAR,
    OIDC_DISCOVERY_URL_VAR, OIDC_ISSUER_VAR,
};
use tokio::sync::mpsc;

use super::LocalError;
use super::app::{LocalApp, LocalFunction, REGION_PLACEHOLDER, placeholder};
use super::function_log::FunctionLogFile;
use super::gateway::Limits;
use super::process::FunctionPool;
use super::runtime::FunctionRuntime;
use super::services::LocalServices;
use crate::logs::local::LOG_EXTENSION;

/// What every function process is told about its surroundings.
pub(super) struct FunctionSettings<'a> {
    pub(super) stage: &'a str,
    pub(super) services: &'a LocalServices,
    pub(super) management_endpoint: String,
    /// Queue URLs by queue name (variables name a queue by its name until
    /// it exists).
    pub(super) queue_urls: &'a BTreeMap<String, String>,
    /// The ids of what was made at start (user pools, app clients) by
    /// logical id, for the variables' placeholders.
    pub(super) created_ids: &'a BTreeMap<String, String>,
    /// Where an authorizer trusting the stage's own pool reads its keys:
    /// moto, which signs the tokens as Cognito's issuer.
    pub(super) oidc_discovery_url: Option<String>,
    /// The gateway's limits, which the functions tell clients about.
    pub(super) limits: &'a Limits,
    /// `--history-retention`, replacing the stage's on the functions that
    /// keep history.
    pub(super) history_retention: Option<std::time::Duration>,
}

impl FunctionSettings<'_> {
    /// The whole environment of `function`'s process, as Lambda gives it
    /// (nothing of the user's shell): its own variables from the template,
    /// what Lambda sets, then where the local services are. Each process
    /// adds the address of its own Runtime API.
    fn environment(&self, id: &str, function: &LocalFunction) -> Vec<(String, String)> {
        let name = format!("chatstack-{}-{id}", self.stage);
        let retention = self
            .history_retention
            .map(|r| r.as_secs().max(1).to_string());
        let mut environment: Vec<(String, String)> = function
            .environment
            .iter()
            .map(|(k, v)| match &retention {
                Some(retention) if k == HISTORY_RETENTION_SECONDS_VAR => {
                    (k.clone(), retention.clone())
                }
                _ => (
                    k.clone(),
                    self.queue_urls
                        .get(v)
                        .cloned()
                        .unwrap_or_else(|| self.fill_placeholders(v)),
                ),
            })
            .collect();
        if let Some(url) = &self.oidc_discovery_url
            && function.environment.contains_key(OIDC_ISSUER_VAR)
        {
            environment.push((OIDC_DISCOVERY_URL_VAR.to_owned(), url.clone()));
        }
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
        // The connection's expiry, as the emulated gateway enforces it.
        set(
            CONNECTION_LIFETIME_SECONDS_VAR,
            self.limits.max_lifetime.as_secs().max(1).to_string(),
        );
        set("AWS_EC2_METADATA_DISABLED", "true".to_owned());
        environment
    }
}

impl FunctionSettings<'_> {
    /// `value` with the run's region and the ids of what was made at start
    /// in place of their placeholders.
    fn fill_placeholders(&self, value: &str) -> String {
        let mut filled = value.replace(REGION_PLACEHOLDER, &self.services.region);
        for (logical_id, id) in self.created_ids {
            filled = filled.replace(&placeholder(logical_id), id);
        }
        filled
    }
}

/// Starts each function with one environment; each may run
/// `concurrency` at once, asking for more on `scale_up`.
pub(super) async fn start_functions(
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
