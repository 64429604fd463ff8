//! Who may connect: a `REQUEST` authorizer on `$connect` (the only
//! WebSocket route that takes one) checking the client's token, either one
//! the stage signs with a secret CloudFormation generates, or an OpenID
//! Connect identity provider's (the user's own, or a Cognito user pool the
//! stage makes).

use chat_contract::{
    OIDC_AUDIENCE_VAR, OIDC_GROUPS_CLAIM_VAR, OIDC_GROUPS_VAR, OIDC_ISSUER_VAR,
    OIDC_REQUIRED_CLAIMS_VAR, OIDC_USER_CLAIM_VAR, TOKEN_SECRET_ARN_VAR,
};

use crate::cfn::apigatewayv2::{Authorizer, AuthorizerType};
use crate::cfn::cognito::{
    AccountRecoverySetting, AdminCreateUserConfig, PasswordPolicy, Policies, RecoveryOption,
    TokenValidityUnits, UserPool, UserPoolClient, UsernameConfiguration,
};
use crate::cfn::lambda::Permission;
use crate::cfn::secretsmanager::{GenerateSecretString, Secret};
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, Template, TemplateError,
};
use crate::settings::{Oidc, Provider};

use super::api::{execute_api_arn, lambda_invocation_uri};
use super::{Grants, LambdaFunction, StageName, WebSocketApi};

/// The output naming the secret, for `chatstack token`.
pub const TOKEN_SECRET_OUTPUT: &str = "TokenSecretArn";
/// The issuer an identity provider's stage trusts.
pub const OIDC_ISSUER_OUTPUT: &str = "OidcIssuer";
/// The stage's own user pool (`cognito = true`), for `chatstack users`...
pub const USER_POOL_OUTPUT: &str = "UserPoolId";
/// ...and its app client, which users sign in through (`chatstack token`).
pub const USER_POOL_CLIENT_OUTPUT: &str = "UserPoolClientId";
/// The shortest password the stage's own pool takes (`chatstack users add`
/// checks it before anything is sent).
pub const MIN_PASSWORD_CHARS: u32 = 12;

/// The secret tokens are signed with. Secrets Manager generates its value:
/// it appears in no template, output, log or snapshot.
#[derive(Debug)]
pub struct TokenSecret {
    id: LogicalId,
}

impl TokenSecret {
    pub fn add_to(template: &mut Template) -> Result<Self, TemplateError> {
        let id = template.add(
            "TokenSecret",
            Resource::new(Secret {
                description: Some(
                    "chatstack: signs the stage's connection tokens (chatstack token)".to_owned(),
                ),
                generate_secret_string: GenerateSecretString {
                    password_length: Some(64),
                    exclude_punctuation: Some(true),
                },
            })
            // The tokens belong to the stage: destroying it ends them.
            .retention(RetentionPolicy::Delete)
            .skip_checkov(
                "CKV_AWS_149",
                "the AWS managed key suffices: only the authorizer's role and the stage's operators may read the secret",
            ),

        )?;
        Ok(TokenSecret { id })
    }

    /// Lets the function read this secret and no other, and tells it which.
    pub fn grant_read(&self, grants: &mut Grants) {
        grants.set(TOKEN_SECRET_ARN_VAR, (&self.id).into());
        grants.allow(
            "ReadTokenSecret",
            &["secretsmanager:GetSecretValue"],
            vec![(&self.id).into()],
        );
    }

    /// `TokenSecretArn`: the ARN (not the value).
    pub fn add_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            TOKEN_SECRET_OUTPUT,
            Output {
                description: "The secret chatstack token signs with (its ARN; read it with secretsmanager:GetSecretValue)".to_owned(),
                value: (&self.id).into(),
            },
        )
    }
}

/// The identity provider a stage trusts: its issuer and audience reach the
/// authorizer as variables. Its keys are public: the authorizer needs no
/// permission to read them.
#[derive(Debug)]
pub struct IdentityProvider {
    issuer: Expr,
    audience: Expr,
    /// A user pool the stage made, and its app client.
    pool: Option<(LogicalId, LogicalId)>,
}

impl IdentityProvider {
    /// The provider `oidc` names: the user's issuer, or a new user pool.
    pub fn add_to(
        template: &mut Template,
        stage: &StageName,
        oidc: &Oidc,
    ) -> Result<Self, TemplateError> {
        match &oidc.provider {
            Provider::Issuer { issuer, audience } => Ok(IdentityProvider {
                issuer: issuer.as_str().into(),
                audience: audience.as_str().into(),
                pool: None,
            }),
            Provider::CognitoPool => IdentityProvider::add_user_pool(template, stage),
        }
    }

    /// A user pool whose users only administrators add (`chatstack users
    /// add`), and a public app client (no secret: browsers and terminals
    /// cannot keep one) that signs in with a password and refreshes.
    fn add_user_pool(template: &mut Template, stage: &StageName) -> Result<Self, TemplateError> {
        let pool = template.add("UserPool", user_pool(stage))?;
        let client = template.add("UserPoolClient", app_client(&pool))?;
        Ok(IdentityProvider {
            // As Cognito's tokens name their issuer.
            issuer: Expr::sub([
                "https://cognito-idp.".into(),
                Pseudo::Region.into(),
                ".".into(),
                Pseudo::UrlSuffix.into(),
                "/".into(),
                (&pool).into(),
            ]),
            audience: (&client).into(),
            pool: Some((pool, client)),
        })
    }

    /// Tells the authorizer which tokens to accept (no permission: the
    /// issuer's keys are public).
    pub fn trust(&self, grants: &mut Grants, oidc: &Oidc) {
        grants.set(OIDC_ISSUER_VAR, self.issuer.clone());
        grants.set(OIDC_AUDIENCE_VAR, self.audience.clone());
        grants.set(OIDC_USER_CLAIM_VAR, oidc.user_claim.as_str().into());
        if !oidc.required_claims.is_empty() {
            grants.set(
                OIDC_REQUIRED_CLAIMS_VAR,
                serde_json::to_string(&oidc.required_claims)
                    .unwrap_or_default()
                    .into(),
            );
        }
        if let Some(groups) = &oidc.groups {
            grants.set(
                OIDC_GROUPS_VAR,
                serde_json::to_string(groups).unwrap_or_default().into(),
            );
            grants.set(OIDC_GROUPS_CLAIM_VAR, oidc.groups_claim.as_str().into());
        }
    }

    /// `OidcIssuer`, and with the stage's own pool `UserPoolId` and
    /// `UserPoolClientId`: what a client signs in with.
    pub fn add_outputs(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            OIDC_ISSUER_OUTPUT,
            Output {
                description: "The OpenID Connect issuer whose tokens may connect".to_owned(),
                value: self.issuer.clone(),
            },
        )?;
        if let Some((pool, client)) = &self.pool {
            template.add_output(
                USER_POOL_OUTPUT,
                Output {
                    description: "The stage's user pool (chatstack users add|remove|list)"
                        .to_owned(),
                    value: pool.into(),
                },
            )?;
            template.add_output(
                USER_POOL_CLIENT_OUTPUT,
                Output {
                    description: "The app client users sign in through (chatstack token --user NAME); its id tokens connect".to_owned(),
                    value: client.into(),
                },
            )?;
        }
        Ok(())
    }
}

/// The stage's pool: only administrators add users; passwords of
/// [`MIN_PASSWORD_CHARS`] or more; no e-mail or phone kept.
fn user_pool(stage: &StageName) -> Resource<UserPool> {
    Resource::new(UserPool {
        user_pool_name: Some(format!("chatstack-{stage}").into()),
        admin_create_user_config: Some(AdminCreateUserConfig {
            allow_admin_create_user_only: true,
        }),
        // Length over composition rules (NIST SP 800-63B).
        policies: Some(Policies {
            password_policy: PasswordPolicy {
                minimum_length: MIN_PASSWORD_CHARS,
                require_lowercase: Some(false),
                require_uppercase: Some(false),
                require_numbers: Some(false),
                require_symbols: Some(false),
                temporary_password_validity_days: Some(7),
            },
        }),
        // The pool keeps no e-mail or phone: an administrator sets
        // a forgotten password (chatstack users add again).
        account_recovery_setting: Some(AccountRecoverySetting {
            recovery_mechanisms: vec![RecoveryOption {
                name: "admin_only".to_owned(),
                priority: 1,
            }],
        }),
        username_configuration: Some(UsernameConfiguration {
            case_sensitive: false,
        }),
        deletion_protection: Some("INACTIVE".to_owned()),
    })
    // The users belong to the stage: destroying it ends them.
    .retention(RetentionPolicy::Delete)
}

/// The pool's public app client: password and SRP sign-in, refresh,
/// tokens of 60 minutes.
fn app_client(pool: &LogicalId) -> UserPoolClient {
    UserPoolClient {
        user_pool_id: pool.into(),
        client_name: Some("chatstack".to_owned()),
        generate_secret: Some(false),
        explicit_auth_flows: [
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ]
        .map(str::to_owned)
        .to_vec(),
        prevent_user_existence_errors: Some("ENABLED".to_owned()),
        enable_token_revocation: Some(true),
        access_token_validity: Some(60),
        id_token_validity: Some(60),
        refresh_token_validity: Some(30),
        token_validity_units: Some(TokenValidityUnits {
            access_token: "minutes".to_owned(),
            id_token: "minutes".to_owned(),
            refresh_token: "days".to_owned(),
        }),
        auth_session_validity: Some(3),
    }
}

/// An authorizer of a WebSocket API's `$connect` route
/// ([`super::RouteOptions::authorizer`]).
#[derive(Debug)]
pub struct ConnectAuthorizer {
    id: LogicalId,
}

impl ConnectAuthorizer {
    pub fn id(&self) -> &LogicalId {
        &self.id
    }
}

/// Makes `function` a `REQUEST` authorizer of `api`, named `name`. It has
/// no identity source: a token may come in the query string or in
/// `Sec-WebSocket-Protocol`, and API Gateway would refuse (401) a
/// connection lacking any one source named; so the function is invoked for
/// every connection and denies one without a token itself (403).
pub fn add_connect_authorizer(
    template: &mut Template,
    api: &WebSocketApi,
    function: &LambdaFunction,
    name: &str,
) -> Result<ConnectAuthorizer, TemplateError> {
    let authorizer = template.add(
        "ConnectAuthorizer",
        Authorizer {
            api_id: (&api.id).into(),
            authorizer_type: AuthorizerType::Request,
            name: name.to_owned(),
            authorizer_uri: Some(lambda_invocation_uri(function)),
            identity_source: Vec::new(),
        },
    )?;
    template.add(
        "AuthorizerPermission",
        Permission {
            action: "lambda:InvokeFunction".to_owned(),
            function_name: Expr::arn_of(function.id()),
            principal: "apigateway.amazonaws.com".to_owned(),
            source_arn: Some(execute_api_arn(
                &api.id,
                ["/authorizers/".into(), (&authorizer).into()],
            )),
            source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
        },
    )?;
    Ok(ConnectAuthorizer { id: authorizer })
}
