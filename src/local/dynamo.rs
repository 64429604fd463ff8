//! DynamoDB for `local`: moto (see [`super::services`]) or any endpoint the
//! user names; the template's tables are created there. And where moto is.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use super::LocalError;
use super::app::{LocalIndex, LocalTable};

/// A free port on 127.0.0.1 (the OS picks it; the listener is closed again).
pub fn free_port() -> Result<u16, LocalError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| LocalError::Io("finding a free port".into(), e))
}

/// Where chatstack's own moto venv goes, when the user makes one.
fn own_moto_venv() -> PathBuf {
    crate::logs::local::user_cache_dir().join("moto")
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

/// A DynamoDB client for `endpoint` with `credentials` in `region`: for
/// local's own calls and for tests reading a run's table (with the run's
/// credentials file, [`super::services::read_credentials_file`]).
pub fn client(endpoint: &str, credentials: Credentials, region: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::aws::https_client())
            .endpoint_url(endpoint)
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .build(),
    )
}

/// The region and credentials the user's AWS configuration resolves to
/// (profile, environment, SSO), for an endpoint the user names: the
/// handlers get them, as Lambda gives a function its role's. Nothing
/// found: `None` (DynamoDB Local takes any, so the run's own then do).
pub async fn user_access() -> (Option<String>, Option<Credentials>) {
    use aws_credential_types::provider::ProvideCredentials;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::aws::https_client())
        .load()
        .await;
    let region = config.region().map(|r| r.to_string());
    let credentials = match config.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.ok(),
        None => None,
    };
    (region, credentials)
}

/// Creates `table` unless it exists (a reused DynamoDB Local keeps tables),
/// with its indexes.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &LocalTable,
) -> Result<(), LocalError> {
    let mut request = client
        .create_table()
        .table_name(&table.name)
        .key_schema(key(&table.hash_key, KeyType::Hash)?)
        .attribute_definitions(definition(&table.hash_key, &table.hash_key_type)?)
        .billing_mode(BillingMode::PayPerRequest);
    if let Some((range_key, range_key_type)) = &table.range_key {
        request = request
            .key_schema(key(range_key, KeyType::Range)?)
            .attribute_definitions(definition(range_key, range_key_type)?);
    }
    for index in &table.indexes {
        request = request
            .attribute_definitions(definition(&index.hash_key, &index.hash_key_type)?)
            .global_secondary_indexes(global_index(index)?);
    }
    match request.send().await {
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
            crate::aws::error_chain(&error)
        ))),
    }
}

fn built(error: aws_sdk_dynamodb::error::BuildError) -> LocalError {
    LocalError::Dynamo(error.to_string())
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, LocalError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(built)
}

fn definition(name: &str, kind: &str) -> Result<AttributeDefinition, LocalError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::from(kind))
        .build()
        .map_err(built)
}

/// An index as the template declares it: keys only, or with the
/// attributes it includes.
fn global_index(index: &LocalIndex) -> Result<GlobalSecondaryIndex, LocalError> {
    let projection = if index.included.is_empty() {
        Projection::builder().projection_type(ProjectionType::KeysOnly)
    } else {
        Projection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(index.included.clone()))
    };
    GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .key_schema(key(&index.hash_key, KeyType::Hash)?)
        .projection(projection.build())
        .build()
        .map_err(built)
}

/// AWS configuration for the guarded moto at `endpoint` in `region`
/// (moto keeps each region's resources apart, so it must be the handlers'
/// region), signed with the run's `credentials`.
pub async fn moto_config(
    endpoint: &str,
    region: &str,
    credentials: &Credentials,
) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::aws::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials.clone())
        .load()
        .await
}
