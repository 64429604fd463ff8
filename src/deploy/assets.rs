//! The functions' zips: found on disk, named by content, uploaded once.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::DeployError;
use super::cloud::Cloud;
use crate::chat::{FUNCTIONS, FunctionSpec};

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
    pub fn key(&self) -> String {
        format!("chatstack/{}/{}.zip", self.function.name, self.sha256)
    }
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

/// Uploads the assets the bucket lacks; returns how many were uploaded.
pub async fn upload_missing<C: Cloud>(
    cloud: &C,
    bucket: &str,
    assets: &[Asset],
) -> Result<usize, DeployError> {
    let mut uploaded = 0;
    for asset in assets {
        let key = asset.key();
        if cloud.object_exists(bucket, &key).await? {
            continue;
        }
        cloud.put_object(bucket, &key, asset.bytes.clone()).await?;
        uploaded += 1;
    }
    Ok(uploaded)
}

/// The chat template's parameters for these assets.
pub fn parameters(bucket: &str, assets: &[Asset]) -> Vec<(String, String)> {
    std::iter::once((
        crate::chat::ASSETS_BUCKET_PARAMETER.to_owned(),
        bucket.to_owned(),
    ))
    .chain(
        assets
            .iter()
            .map(|asset| (asset.function.code_key_parameter(), asset.key())),
    )
    .collect()
}
