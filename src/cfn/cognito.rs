//! `AWS::Cognito::*`: a user pool and its app client.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// Who may create users.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdminCreateUserConfig {
    /// `true`: only administrators create users (no self sign-up).
    pub allow_admin_create_user_only: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_lowercase: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_uppercase: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_numbers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_symbols: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password_validity_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policies {
    pub password_policy: PasswordPolicy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecoveryOption {
    /// `admin_only`, `verified_email` or `verified_phone_number`.
    pub name: String,
    pub priority: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountRecoverySetting {
    pub recovery_mechanisms: Vec<RecoveryOption>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsernameConfiguration {
    pub case_sensitive: bool,
}

/// A user pool.
///
/// Changing `UsernameConfiguration` (among others) replaces it, and its
/// users with it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpool.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_pool_name: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_create_user_config: Option<AdminCreateUserConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Policies>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_recovery_setting: Option<AccountRecoverySetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_configuration: Option<UsernameConfiguration>,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<String>,
}

impl ResourceProperties for UserPool {
    const TYPE: &'static str = "AWS::Cognito::UserPool";
}

/// Units of the token validities.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenValidityUnits {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
}

/// An app client of a user pool: what signs in, and how.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cognito-userpoolclient.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserPoolClient {
    pub user_pool_id: Expr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `false` for a public client (a browser, a command line), which
    /// could not keep a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_secret: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explicit_auth_flows: Vec<String>,
    /// `ENABLED`: sign-in failures do not say whether the user exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prevent_user_existence_errors: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_token_revocation: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_validity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_validity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_validity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_validity_units: Option<TokenValidityUnits>,
    /// Minutes a sign-in session (between its steps) lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_session_validity: Option<u32>,
}

impl ResourceProperties for UserPoolClient {
    const TYPE: &'static str = "AWS::Cognito::UserPoolClient";
}
