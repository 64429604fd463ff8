//! `chatstack token`: connection tokens for stages that require them,
//! signed with the stage's secret (read from Secrets Manager through the
//! stack's `TokenSecretArn` output) or with `chatstack local`'s.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chat_token::UserName;

/// A token's lifetime when none is asked for.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(
        "stage {stage} does not require tokens: set `authorization = true` (or a user pool: \
         [stages.{stage}.authorization] cognito = true) in chatstack.toml and deploy it"
    )]
    NotRequired { stage: String },
    #[error(
        "stage {stage} trusts {issuer}: its tokens come from that identity provider (sign in \
         there); chatstack token makes tokens only for stages with authorization = true or \
         cognito = true"
    )]
    FromIssuer { stage: String, issuer: String },
    #[error("the local run in {dir} has no token secret and no user pool: its stage takes anyone")]
    LocalOpen { dir: String },
    #[error(
        "--ttl is for tokens chatstack mints: a user pool's app client sets its ID tokens' \
         lifetime (60 minutes)"
    )]
    TtlOfPool,
    #[error("could not read the token secret {arn}: {reason}")]
    SecretUnreadable { arn: String, reason: String },
    #[error("could not read the secret file {path}: {reason}")]
    SecretFile { path: String, reason: String },
    #[error(transparent)]
    Token(#[from] chat_token::TokenError),
    #[error(transparent)]
    Outputs(#[from] crate::aws::OutputsError),
}

/// The secret's value (`secretsmanager:GetSecretValue`).
pub async fn read_secret(
    config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<Vec<u8>, TokenCommandError> {
    let unreadable = |reason: String| TokenCommandError::SecretUnreadable {
        arn: arn.to_owned(),
        reason,
    };
    let output = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            let endpoint = crate::aws::endpoint_of(config, "secretsmanager");
            unreadable(crate::aws::cloud_error(e, &endpoint).to_string())
        })?;
    output
        .secret_string()
        .filter(|value| !value.is_empty())
        .map(|value| value.as_bytes().to_vec())
        .ok_or_else(|| unreadable("it has no string value".to_owned()))
}

/// The secret `chatstack local` wrote for this run.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, TokenCommandError> {
    let value = std::fs::read(path).map_err(|e| TokenCommandError::SecretFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(value.trim_ascii().to_vec())
}

/// A token for `user`, valid for `ttl` from now.
pub fn mint(secret: &[u8], user: &UserName, ttl: Duration) -> Result<String, TokenCommandError> {
    Ok(chat_token::mint(secret, user, ttl, SystemTime::now())?)
}
