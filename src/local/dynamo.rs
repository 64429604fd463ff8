//! DynamoDB for `local`: a moto server chatstack starts and stops, or any
//! endpoint the user names; the template's tables are created there.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use tokio::process::{Child, Command};

use super::LocalError;
use super::app::LocalTable;

/// Credentials moto and DynamoDB Local accept; AWS would refuse them.
fn dummy_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "chatstack-local")
}

/// A free port on 127.0.0.1 (the OS picks it; the listener is closed again).
pub fn free_port() -> Result<u16, LocalError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| LocalError::Io("finding a free port".into(), e))
}

/// Where chatstack's own moto venv goes, when the user makes one.
fn own_moto_venv() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("chatstack").join("moto")
}

/// `moto_server`: on PATH, else in the venv the test command installs
/// (`tests/tools.sh`: `$CHATSTACK_TOOLS_DIR`, else under the target dir,
/// `$CARGO_TARGET_DIR` or the repository's), else in chatstack's own venv.
pub fn find_moto(handlers_dir: &Path) -> Result<PathBuf, LocalError> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"));
    let tool_dirs: Vec<PathBuf> = match std::env::var_os("CHATSTACK_TOOLS_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let repository_target = handlers_dir.join("..").join("target");
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .into_iter()
                .chain([repository_target])
                .map(|target| target.join("tools"))
                .collect()
        }
    };
    let in_tools = tool_dirs
        .into_iter()
        .map(|dir| dir.join("venv").join("bin").join("moto_server"));
    let venv = own_moto_venv();
    let own = std::iter::once(venv.join("bin").join("moto_server"));
    on_path
        .chain(in_tools)
        .chain(own)
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| LocalError::MotoMissing {
            venv: venv.display().to_string(),
        })
}

/// Starts `moto_server` on a free port and waits until it listens.
pub async fn start_moto(moto_server: &Path) -> Result<(Child, String), LocalError> {
    let port = free_port()?;
    let child = Command::new(moto_server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LocalError::Io(format!("starting {}", moto_server.display()), e))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(LocalError::Dynamo(
                "moto_server did not listen within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((child, format!("http://127.0.0.1:{port}")))
}

/// DynamoDB for `local`, from one load of the AWS configuration: a client
/// for `endpoint`, and the region and credentials the handler processes
/// get, as Lambda gives a function its role's. moto gets dummy ones; an
/// endpoint the user names gets what the SDK finds for the user (profile,
/// environment, SSO), or the dummy ones when there is nothing to find
/// (DynamoDB Local takes any).
pub async fn connect(
    endpoint: &str,
    moto: bool,
) -> (aws_sdk_dynamodb::Client, Vec<(&'static str, String)>) {
    use aws_credential_types::provider::ProvideCredentials;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::deploy::aws::https_client())
        .endpoint_url(endpoint);
    if moto {
        loader = loader
            .region(Region::new(super::LOCAL_REGION))
            .credentials_provider(dummy_credentials());
    }
    let config = loader.load().await;
    let region = config
        .region()
        .map_or_else(|| super::LOCAL_REGION.to_owned(), |r| r.to_string());
    let credentials = match config.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.ok(),
        None => None,
    }
    .unwrap_or_else(dummy_credentials);
    // The same credentials as the handlers', found or dummy.
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .region(Region::new(region.clone()))
            .credentials_provider(credentials.clone())
            .build(),
    );
    let mut handler_access = vec![
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key().to_owned(),
        ),
    ];
    if let Some(token) = credentials.session_token() {
        handler_access.push(("AWS_SESSION_TOKEN", token.to_owned()));
    }
    (client, handler_access)
}

/// A DynamoDB client for `endpoint`; moto gets dummy credentials.
pub async fn client(endpoint: &str, moto: bool) -> aws_sdk_dynamodb::Client {
    connect(endpoint, moto).await.0
}

/// Creates `table` unless it exists (a reused DynamoDB Local keeps tables).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &LocalTable,
) -> Result<(), LocalError> {
    let attribute_type = ScalarAttributeType::from(table.hash_key_type.as_str());
    let key = KeySchemaElement::builder()
        .attribute_name(&table.hash_key)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| LocalError::Dynamo(e.to_string()))?;
    let definition = AttributeDefinition::builder()
        .attribute_name(&table.hash_key)
        .attribute_type(attribute_type)
        .build()
        .map_err(|e| LocalError::Dynamo(e.to_string()))?;
    let result = client
        .create_table()
        .table_name(&table.name)
        .key_schema(key)
        .attribute_definitions(definition)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(LocalError::Dynamo(format!(
            "creating table {}: {}",
            table.name,
            crate::deploy::aws::error_chain(&error)
        ))),
    }
}

/// AWS configuration for moto at `endpoint` in `region` (moto keeps each
/// region's resources apart, so it must be the handlers' region).
pub async fn moto_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::deploy::aws::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(dummy_credentials())
        .load()
        .await
}

/// Creates the secret `name` holding `value` in the moto server at
/// `endpoint` (`local` keeps a stage's token secret there, as Secrets
/// Manager would).
pub async fn create_secret(
    endpoint: &str,
    region: &str,
    name: &str,
    value: &str,
) -> Result<(), LocalError> {
    let config = moto_config(endpoint, region).await;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| {
            LocalError::Dynamo(format!(
                "creating the secret {name} in moto: {}",
                crate::deploy::aws::error_chain(&e)
            ))
        })?;
    Ok(())
}
