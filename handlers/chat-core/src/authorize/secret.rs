//! Tokens the stage signs itself (`chatstack token`), checked against the
//! stage's secret.

use std::time::SystemTime;

use super::{Refused, Verifier};

/// The stage's token secret, read once per execution environment.
pub struct TokenSecret(Vec<u8>);

impl TokenSecret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        TokenSecret(value.into())
    }
}

impl Verifier for TokenSecret {
    async fn verify(&self, token: &str, now: SystemTime) -> Result<String, Refused> {
        let claims = chat_token::verify(&self.0, token, now)?;
        Ok(claims.user.as_str().to_owned())
    }
}

/// The secret's value, from Secrets Manager.
pub async fn read_token_secret(
    sdk_config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<TokenSecret, String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk_config);
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| crate::describe(&e))?;
    let value = output
        .secret_string()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| "the secret has no string value".to_owned())?;
    Ok(TokenSecret::new(value.as_bytes()))
}
