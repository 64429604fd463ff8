//! `AWS::SecretsManager::Secret`.

use serde::Serialize;

use super::ResourceProperties;

/// A value Secrets Manager generates, so it never appears in the template.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateSecretString {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_punctuation: Option<bool>,
}

/// A secret.
///
/// Changing `Name` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-secretsmanager-secret.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub generate_secret_string: GenerateSecretString,
}

impl ResourceProperties for Secret {
    const TYPE: &'static str = "AWS::SecretsManager::Secret";
}
