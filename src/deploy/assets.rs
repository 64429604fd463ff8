//! The functions' zips: found on disk, named by content, uploaded once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DeployError;
use super::cloud::Cloud;
use crate::chat::{FUNCTIONS, FunctionSpec, StageName, is_code_key_parameter};

/// One function's deployment package.
#[derive(Debug, Clone)]
pub struct Asset {
    pub function: &'static FunctionSpec,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Asset {
    /// The S3 key: content-hashed, so a changed zip is a new key (and a
    /// template change), and an unchanged one is neither uploaded nor updated.
    /// Each stage has its own keys, so marking one stage's old zips for
    /// removal never touches a zip another stage runs.
    pub fn key(&self, stage: &StageName) -> String {
        format!(
            "{}{}/{}.zip",
            stage_prefix(stage),
            self.function.name,
            self.sha256
        )
    }
}

/// Where a template too large to pass inline goes: content-hashed, like
/// the zips, under the stage's prefix.
pub fn template_key(stage: &StageName, body: &str) -> String {
    format!(
        "{}templates/{:x}.yaml",
        stage_prefix(stage),
        Sha256::digest(body.as_bytes())
    )
}

/// Where a stage's zips are in the bucket.
fn stage_prefix(stage: &StageName) -> String {
    format!("chatstack/{stage}/")
}

/// The zips of `stage` that template `parameters` point at. Keys of other
/// stages, and those of earlier chatstack versions (shared by all stages),
/// are left out: a stage never marks for removal a zip another stage runs.
pub fn stage_zips(parameters: &[(String, String)], stage: &StageName) -> BTreeSet<String> {
    let prefix = stage_prefix(stage);
    parameters
        .iter()
        .filter(|(name, key)| is_code_key_parameter(name) && key.starts_with(&prefix))
        .map(|(_, key)| key.clone())
        .collect()
}

/// Reads `<dir>/<function>/bootstrap.zip` for every function.
pub fn read_assets(dir: &Path) -> Result<Vec<Asset>, DeployError> {
    FUNCTIONS
        .iter()
        .map(|function| {
            let path = dir.join(function.name).join("bootstrap.zip");
            let bytes = std::fs::read(&path).map_err(|source| DeployError::MissingAsset {
                path: path.clone(),
                source,
            })?;
            let sha256 = format!("{:x}", Sha256::digest(&bytes));
            Ok(Asset {
                function,
                path,
                bytes,
                sha256,
            })
        })
        .collect()
}

/// What [`upload_for_deploy`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploads {
    /// Zips the bucket lacked.
    pub new: usize,
    /// Zips it held marked for removal (a destroyed stage deployed again, a
    /// revert to an earlier build), uploaded again.
    pub renewed: usize,
}

/// Makes every asset present and unmarked before a stack points at it:
/// uploads those the bucket lacks, and again those tagged
/// [`super::bootstrap::SUPERSEDED_TAG`]. Uploading again rather than
/// removing the tag, since S3 counts a lifecycle expiry from the object's
/// creation: the new object starts its own count, and no removal already
/// due for the old one can take it.
pub async fn upload_for_deploy<C: Cloud>(
    cloud: &C,
    bucket: &str,
    assets: &[Asset],
    stage: &StageName,
) -> Result<Uploads, DeployError> {
    let mut uploads = Uploads::default();
    for asset in assets {
        let key = asset.key(stage);
        match cloud.object_tags(bucket, &key).await? {
            Some(tags) if !is_superseded(&tags) => continue,
            Some(_) => uploads.renewed += 1,
            None => uploads.new += 1,
        }
        cloud
            .put_object(bucket, &key, asset.bytes.clone(), ZIP_CONTENT_TYPE)
            .await?;
    }
    Ok(uploads)
}

const ZIP_CONTENT_TYPE: &str = "application/zip";

/// Whether an object's tags mark it for removal.
pub fn is_superseded(tags: &[(String, String)]) -> bool {
    let (key, value) = super::bootstrap::SUPERSEDED_TAG;
    tags.iter().any(|(k, v)| k == key && v == value)
}

/// The chat template's parameters for these assets.
pub fn parameters(bucket: &str, assets: &[Asset], stage: &StageName) -> Vec<(String, String)> {
    std::iter::once((
        crate::chat::ASSETS_BUCKET_PARAMETER.to_owned(),
        bucket.to_owned(),
    ))
    .chain(
        assets
            .iter()
            .map(|asset| (asset.function.code_key_parameter(), asset.key(stage))),
    )
    .collect()
}
