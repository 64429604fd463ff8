//! The AWS services `local` runs in moto (the fan-out queues, the token
//! secret, and DynamoDB unless `--dynamodb-endpoint` names another), and
//! the guard in front of moto.
//!
//! moto authenticates nothing, answers any origin through CORS and serves
//! far more than the app uses: its `/moto-api/data.json` holds the token
//! secret in plain text, and its Batch emulation starts containers. So
//! local runs it on a Unix socket in the run directory (mode 0700: no
//! other user can connect, and no web page can reach a socket at all),
//! with a cleared environment, and serves it through a listener local binds
//! itself and holds (no port is chosen, released and bound again, so none
//! can be taken in between). The guard forwards only requests
//! - for its own address (`Host`: no DNS rebinding),
//! - signed (SigV4, AWS's five minutes) with this run's key, made at start
//!   and given only to the handler processes (and to the user, in a file
//!   of the run directory),
//! - for DynamoDB, SQS or Secrets Manager, and not moto's own API,
//!
//! and drops moto's CORS headers from what it answers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::process::{Child, Command};

use super::app::LocalApp;
use super::{LOCAL_REGION, LocalError, dynamo, io_error, queues};

/// The services the app uses, by SigV4 name: all the guard forwards.
pub const GUARDED_SERVICES: &[&str] = &["dynamodb", "sqs", "secretsmanager", "cognito-idp"];

/// The file of the run directory naming its services, for `chatstack
/// status --local`.
pub const RUN_FILE: &str = "run.json";

/// What [`RUN_FILE`] holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFile {
    pub stage: String,
    /// DynamoDB's endpoint (moto's guard, or `--dynamodb-endpoint`).
    pub dynamodb_endpoint: String,
    /// moto's guard: the queues (and, without `--dynamodb-endpoint`, the tables).
    pub moto_endpoint: String,
    pub region: String,
    pub connections_table: String,
    pub fanout_queue: Option<String>,
    pub dead_letter_queue: Option<String>,
}

/// The file of the run directory naming the stage's user pool in moto
/// (stages with `cognito = true`), for `chatstack users --local` and
/// `chatstack token --local`.
pub const USER_POOL_FILE: &str = "user-pool.json";

/// What [`USER_POOL_FILE`] holds: where the pool is and which it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalPoolFile {
    /// The guard's URL, which takes requests signed with the run's key.
    pub endpoint: String,
    pub region: String,
    pub user_pool_id: String,
    pub client_id: String,
}

/// The file of the run directory holding the run's key, in the AWS CLI's
/// credentials format (profile [`CREDENTIALS_PROFILE`]).
pub const CREDENTIALS_FILE: &str = "aws-credentials";
pub const CREDENTIALS_PROFILE: &str = "chatstack-local";

/// More than any request the app sends (DynamoDB items are at most 400 KB,
/// SQS batches 1 MiB).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// moto and the guard, and DynamoDB: moto's, or the endpoint the user named.
pub struct LocalServices {
    /// DynamoDB's endpoint.
    pub endpoint: String,
    /// Whether the user named DynamoDB's endpoint.
    named: bool,
    moto: Child,
    guard: tokio::task::JoinHandle<()>,
    /// The guard's URL: where moto's services are reached.
    pub moto_endpoint: String,
    client: aws_sdk_dynamodb::Client,
    /// What the handlers sign with: the run's key, or (for an endpoint the
    /// user named) the user's credentials.
    pub credentials: Credentials,
    pub region: String,
    /// Where the credentials are written for the user.
    pub credentials_file: PathBuf,
}

impl LocalServices {
    /// Starts moto on a socket in `run_dir` and the guard in front of it.
    pub async fn start(
        moto_server: &Path,
        endpoint: Option<String>,
        run_dir: &Path,
    ) -> Result<Self, LocalError> {
        let (region, credentials) = match &endpoint {
            Some(_) => dynamo::user_access().await,
            None => (None, None),
        };
        let credentials = match credentials {
            Some(credentials) => credentials,
            None => run_key()?,
        };
        let region = region.unwrap_or_else(|| LOCAL_REGION.to_owned());
        let socket = run_dir.join("moto.sock");
        let moto = start_moto(moto_server, &socket, run_dir).await?;
        let (guard, moto_endpoint) = start_guard(Guarded {
            socket: Arc::new(socket),
            credentials: credentials.clone(),
            region: region.clone(),
            dynamodb_writes: Arc::new(tokio::sync::Mutex::new(())),
        })
        .await?;
        let named = endpoint.is_some();
        let endpoint = endpoint.unwrap_or_else(|| moto_endpoint.clone());
        let client = dynamo::client(&endpoint, credentials.clone(), &region);
        let credentials_file = run_dir.join(CREDENTIALS_FILE);
        super::run_dir::write_private(&credentials_file, &credentials_text(&credentials))?;
        Ok(LocalServices {
            endpoint,
            named,
            moto,
            guard,
            moto_endpoint,
            client,
            credentials,
            region,
            credentials_file,
        })
    }

    pub async fn create_tables(&self, app: &LocalApp) -> Result<(), LocalError> {
        for table in &app.tables {
            dynamo::create_table(&self.client, table).await?;
        }
        Ok(())
    }

    /// What the handler processes get: region and credentials, as Lambda
    /// gives a function its role's.
    pub fn handler_access(&self) -> Vec<(&'static str, String)> {
        let mut access = vec![
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            (
                "AWS_ACCESS_KEY_ID",
                self.credentials.access_key_id().to_owned(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.credentials.secret_access_key().to_owned(),
            ),
        ];
        if let Some(token) = self.credentials.session_token() {
            access.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
        access
    }

    pub fn describe(&self) -> &'static str {
        if self.named {
            "--dynamodb-endpoint"
        } else {
            "moto, started by chatstack, signed requests only"
        }
    }

    /// Stops the guard and moto; whether moto stopped.
    pub async fn stop(&mut self) -> bool {
        self.guard.abort();
        self.moto.kill().await.is_ok()
    }

    /// Creates the template's secrets (a stage's token secret) in moto,
    /// with `value` or a random one, and writes the value to a file of
    /// `dir` only the user can read, for `chatstack token --secret-file`.
    /// Returns that file; `None` when the template has no secret.
    pub async fn create_secrets(
        &self,
        app: &LocalApp,
        value: Option<String>,
        dir: &Path,
    ) -> Result<Option<PathBuf>, LocalError> {
        if app.secrets.is_empty() {
            return Ok(None);
        }
        let value = match value {
            Some(value) => value,
            None => super::ids::random_hex(32)?,
        };
        let config = self.moto_config().await;
        let client = aws_sdk_secretsmanager::Client::new(&config);
        for secret in &app.secrets {
            client
                .create_secret()
                .name(&secret.name)
                .secret_string(&value)
                .send()
                .await
                .map_err(|e| {
                    LocalError::Dynamo(format!(
                        "creating the secret {} in moto: {}",
                        secret.name,
                        crate::aws::error_chain(&e)
                    ))
                })?;
        }
        let path = dir.join(super::TOKEN_SECRET_FILE);
        super::run_dir::write_private(&path, &value)?;
        Ok(Some(path))
    }

    /// Creates the template's user pools and their app clients in moto;
    /// their ids by logical id. The pool is written to [`USER_POOL_FILE`]
    /// in `dir`, and its keys are served without a signature (see
    /// [`is_public_key_document`]), as Cognito serves them.
    pub async fn create_user_pools(
        &self,
        app: &LocalApp,
        dir: &Path,
    ) -> Result<std::collections::BTreeMap<String, String>, LocalError> {
        let mut ids = std::collections::BTreeMap::new();
        if app.user_pools.is_empty() {
            return Ok(ids);
        }
        let client = aws_sdk_cognitoidentityprovider::Client::new(&self.moto_config().await);
        for pool in &app.user_pools {
            let pool_id = create_user_pool(&client, pool).await?;
            let client_id = create_app_client(&client, pool, &pool_id).await?;
            let file = LocalPoolFile {
                endpoint: self.moto_endpoint.clone(),
                region: self.region.clone(),
                user_pool_id: pool_id.clone(),
                client_id: client_id.clone(),
            };
            super::run_dir::write_private_json(&dir.join(USER_POOL_FILE), &file)?;
            ids.insert(pool.logical_id.clone(), pool_id);
            ids.insert(pool.client_logical_id.clone(), client_id);
        }
        Ok(ids)
    }

    /// Where the authorizer reads the discovery document of the pool
    /// `pool_id`: moto, through the guard.
    pub fn discovery_url(&self, pool_id: &str) -> String {
        format!(
            "{}/{pool_id}/.well-known/openid-configuration",
            self.moto_endpoint
        )
    }

    /// Creates the template's queues in moto; the client and their URLs
    /// by name.
    pub async fn create_queues(
        &self,
        app: &LocalApp,
    ) -> Result<
        (
            aws_sdk_sqs::Client,
            std::collections::BTreeMap<String, String>,
        ),
        LocalError,
    > {
        let sqs = aws_sdk_sqs::Client::new(&self.moto_config().await);
        let urls = queues::create(&sqs, &app.queues).await?;
        Ok((sqs, urls))
    }

    async fn moto_config(&self) -> aws_config::SdkConfig {
        dynamo::moto_config(&self.moto_endpoint, &self.region, &self.credentials).await
    }
}

/// `pool` in moto, with the template's admin-only sign-up and password
/// policy; its id.
async fn create_user_pool(
    client: &aws_sdk_cognitoidentityprovider::Client,
    pool: &super::app::LocalUserPool,
) -> Result<String, LocalError> {
    use aws_sdk_cognitoidentityprovider::types::{
        AdminCreateUserConfigType, PasswordPolicyType, UserPoolPolicyType,
    };
    let policy = pool
        .password_policy
        .map(|(length, [lower, upper, numbers, symbols])| {
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(i32::try_from(length).unwrap_or(i32::MAX))
                        .require_lowercase(lower)
                        .require_uppercase(upper)
                        .require_numbers(numbers)
                        .require_symbols(symbols)
                        .build(),
                )
                .build()
        });
    let created = client
        .create_user_pool()
        .pool_name(&pool.name)
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(true)
                .build(),
        )
        .set_policies(policy)
        .send()
        .await
        .map_err(|e| moto_failed(&format!("creating the user pool {}", pool.name), &e))?;
    created
        .user_pool()
        .and_then(|p| p.id())
        .map(str::to_owned)
        .ok_or_else(|| LocalError::Dynamo("moto made a user pool without an id".into()))
}

/// The app client of `pool` (already made as `pool_id`), public and with
/// the template's sign-in flows; its id.
async fn create_app_client(
    client: &aws_sdk_cognitoidentityprovider::Client,
    pool: &super::app::LocalUserPool,
    pool_id: &str,
) -> Result<String, LocalError> {
    use aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType;
    let flows = pool
        .auth_flows
        .iter()
        .map(|flow| ExplicitAuthFlowsType::from(flow.as_str()))
        .collect();
    let created = client
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(&pool.client_name)
        .generate_secret(false)
        .set_explicit_auth_flows(Some(flows))
        .send()
        .await
        .map_err(|e| moto_failed(&format!("creating the app client of {}", pool.name), &e))?;
    created
        .user_pool_client()
        .and_then(|c| c.client_id())
        .map(str::to_owned)
        .ok_or_else(|| LocalError::Dynamo("moto made an app client without an id".into()))
}

fn moto_failed(what: &str, error: &(dyn std::error::Error + 'static)) -> LocalError {
    LocalError::Dynamo(format!(
        "{what} in moto: {}",
        crate::aws::error_chain(error)
    ))
}

/// A key made for this run: an access key id and secret no one else has.
fn run_key() -> Result<Credentials, LocalError> {
    Ok(Credentials::new(
        format!("AKIALOCAL{}", super::ids::random_hex(6)?.to_uppercase()),
        super::ids::random_hex(20)?,
        None,
        None,
        "chatstack-local-run",
    ))
}

/// `credentials` in the AWS CLI's credentials file format.
fn credentials_text(credentials: &Credentials) -> String {
    let mut text = format!(
        "[{CREDENTIALS_PROFILE}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        credentials.access_key_id(),
        credentials.secret_access_key()
    );
    if let Some(token) = credentials.session_token() {
        text.push_str(&format!("aws_session_token = {token}\n"));
    }
    text
}

/// The credentials in a run's credentials file, read as the AWS SDK reads
/// a shared credentials file (for tests and tools reading a run's table or
/// queues).
pub async fn read_credentials_file(path: &Path) -> Result<Credentials, String> {
    use aws_config::profile::ProfileFileCredentialsProvider;
    use aws_credential_types::provider::ProvideCredentials;
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Credentials, path)
        .build();
    // The SDK's own HTTPS client: a profile may name one that needs it (a
    // run's file never does).
    let provider_config = aws_config::provider_config::ProviderConfig::without_region()
        .with_http_client(crate::aws::https_client());
    ProfileFileCredentialsProvider::builder()
        .configure(&provider_config)
        .profile_files(files)
        .profile_name(CREDENTIALS_PROFILE)
        .build()
        .provide_credentials()
        .await
        .map_err(|e| format!("{}: {}", path.display(), crate::aws::error_chain(&e)))
}

/// Starts `moto_server` on `socket` with nothing of the user's
/// environment, and waits until it answers.
async fn start_moto(
    moto_server: &Path,
    socket: &Path,
    run_dir: &Path,
) -> Result<Child, LocalError> {
    let mut child = Command::new(moto_server)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["-p", "0"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", run_dir)
        .current_dir(run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(io_error(format!("starting {}", moto_server.display())))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::UnixStream::connect(socket).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(LocalError::Dynamo(format!(
                "{} exited ({status}) before it listened",
                moto_server.display()
            )));
        }
        if Instant::now() > deadline {
            return Err(LocalError::Dynamo(
                "moto_server did not listen within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

/// What the guard checks against and forwards to.
#[derive(Clone)]
struct Guarded {
    socket: Arc<PathBuf>,
    credentials: Credentials,
    region: String,
    /// Held while moto runs a DynamoDB write: see [`writes_an_item`].
    dynamodb_writes: Arc<tokio::sync::Mutex<()>>,
}

/// DynamoDB applies each write to an item atomically (an `ADD` counter
/// never hands out a number twice), but moto's server runs requests on
/// threads and its writes read, change and store the item unlocked: two
/// `UpdateItem ... ADD` at once could both return the same number (seen:
/// two messages of a room numbered 8). So the guard lets moto run one
/// write at a time, as DynamoDB's per-item atomicity promises.
fn writes_an_item(headers: &HeaderMap) -> bool {
    const WRITES: [&str; 5] = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ];
    headers
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .and_then(|target| target.strip_prefix("DynamoDB_20120810."))
        .is_some_and(|action| WRITES.contains(&action))
}

/// Serves the guard on a port of loopback it binds and keeps; its URL.
async fn start_guard(
    guarded: Guarded,
) -> Result<(tokio::task::JoinHandle<()>, String), LocalError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(io_error("listening for moto's guard"))?;
    let address = listener
        .local_addr()
        .map_err(io_error("reading the guard's address"))?;
    let router = Router::new().fallback(forward).with_state(guarded);
    let router = crate::loopback::own_host_only(router, address.port());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((server, format!("http://{address}")))
}

/// AWS's way of refusing, with nothing of what moto holds.
fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        json!({ "__type": "UnrecognizedClientException", "message": message }).to_string(),
    )
        .into_response()
}

async fn forward(State(guarded): State<Guarded>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, "Request too large");
    };
    if parts.uri.path().starts_with("/moto-api") {
        return refused(StatusCode::FORBIDDEN, "moto's own API is not served here");
    }
    let public = (parts.method == axum::http::Method::GET
        && parts.uri.query().is_none()
        && is_public_key_document(parts.uri.path()))
        || signs_in(&parts.method, &parts.headers);
    if !public {
        let checked = crate::sigv4::check_received(
            &parts,
            &body,
            Some(&guarded.credentials),
            &guarded.region,
            GUARDED_SERVICES,
        );
        if let Err(refusal) = checked {
            return refused(StatusCode::FORBIDDEN, &refusal.to_string());
        }
    }
    let _one_write_at_a_time = if writes_an_item(&parts.headers) {
        Some(guarded.dynamodb_writes.lock().await)
    } else {
        None
    };
    match to_moto(
        &guarded.socket,
        axum::http::Request::from_parts(parts, body),
    )
    .await
    {
        Ok(response) => response,
        Err(reason) => refused(StatusCode::BAD_GATEWAY, &format!("moto: {reason}")),
    }
}

/// A user pool's discovery document or key set
/// (`/<pool id>/.well-known/openid-configuration` or `.../jwks.json`),
/// which Cognito serves to anyone: the authorizer reads them unsigned.
fn is_public_key_document(path: &str) -> bool {
    let Some((pool_id, document)) = path
        .strip_prefix('/')
        .and_then(|path| path.split_once("/.well-known/"))
    else {
        return false;
    };
    let pool_shaped = pool_id.split_once('_').is_some_and(|(region, id)| {
        !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric())
    });
    pool_shaped && ["openid-configuration", "jwks.json"].contains(&document)
}

/// Cognito's `InitiateAuth`: signing in with a user's name and password,
/// which AWS takes unsigned from anyone (the SDK sends it so); a password
/// guessed here could be guessed at Cognito's endpoint as well.
fn signs_in(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    method == axum::http::Method::POST
        && headers
            .get("x-amz-target")
            .is_some_and(|target| target == "AWSCognitoIdentityProviderService.InitiateAuth")
}

/// Sends `request` to moto over its socket; moto's answer without its
/// CORS headers.
async fn to_moto(socket: &Path, request: axum::http::Request<Bytes>) -> Result<Response, String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let (parts, body) = request.into_parts();
    let response = sender
        .send_request(axum::http::Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| e.to_string())?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    parts.headers = without_cors(&parts.headers);
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn without_cors(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !name.as_str().starts_with("access-control-"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-target", value.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_pools_key_documents_are_public() {
        for public in [
            "/us-east-1_2bdf59b018b14877a5459992afcaac9a/.well-known/jwks.json",
            "/eu-west-1_AbC123/.well-known/openid-configuration",
        ] {
            assert!(is_public_key_document(public), "{public}");
        }
        for guarded in [
            "/",
            "/moto-api/data.json",
            "/us-east-1_abc/.well-known/other",
            "/us-east-1_abc/x/.well-known/jwks.json",
            "/../.well-known/jwks.json",
            "/US-EAST-1_abc/.well-known/jwks.json",
            "/us-east-1_/.well-known/jwks.json",
        ] {
            assert!(!is_public_key_document(guarded), "{guarded}");
        }
    }

    #[test]
    fn only_signing_in_is_taken_unsigned() {
        let post = axum::http::Method::POST;
        assert!(signs_in(
            &post,
            &target("AWSCognitoIdentityProviderService.InitiateAuth")
        ));
        for other in [
            "AWSCognitoIdentityProviderService.AdminCreateUser",
            "AWSCognitoIdentityProviderService.ListUsers",
            "DynamoDB_20120810.Scan",
        ] {
            assert!(!signs_in(&post, &target(other)), "{other}");
        }
        assert!(!signs_in(
            &axum::http::Method::GET,
            &target("AWSCognitoIdentityProviderService.InitiateAuth")
        ));
    }

    #[test]
    fn dynamodb_writes_are_told_from_reads_and_other_services() {
        for write in [
            "UpdateItem",
            "PutItem",
            "DeleteItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ] {
            assert!(
                writes_an_item(&target(&format!("DynamoDB_20120810.{write}"))),
                "{write}"
            );
        }
        for other in [
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.Query",
            "AmazonSQS.SendMessage",
            "secretsmanager.GetSecretValue",
        ] {
            assert!(!writes_an_item(&target(other)), "{other}");
        }
        assert!(!writes_an_item(&HeaderMap::new()));
    }
}
