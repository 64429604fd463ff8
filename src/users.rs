//! The users of a stage's own Cognito user pool (`cognito = true`):
//! `chatstack users add|remove|list` and signing in for `chatstack token`.
//! The pool is a deployed stage's (its stack's `UserPoolId` and
//! `UserPoolClientId` outputs) or a `chatstack local` run's (in its moto,
//! named in the run directory).

use std::path::Path;

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, MessageActionType};

use crate::aws::StackReader;
use crate::chat::{
    OIDC_ISSUER_OUTPUT, StageName, TOKEN_SECRET_OUTPUT, USER_POOL_CLIENT_OUTPUT, USER_POOL_OUTPUT,
};
use crate::local::services::{CREDENTIALS_FILE, LocalPoolFile, USER_POOL_FILE};

use crate::chat::MIN_PASSWORD_CHARS;
/// Cognito's longest user name.
const MAX_USER_NAME_CHARS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error(
        "stage {stage} has no user pool of its own: set `cognito = true` under \
         [stages.{stage}.authorization] in chatstack.toml and deploy it{issuer}"
    )]
    NoPool { stage: String, issuer: String },
    #[error(
        "the local run in {dir} has no user pool ({USER_POOL_FILE}): its stage needs \
         `cognito = true` under [stages.STAGE.authorization]"
    )]
    NoLocalPool { dir: String },
    #[error("could not read {path}: {reason}")]
    LocalRun { path: String, reason: String },
    #[error(
        "invalid user name {0:?}: use 1 to {MAX_USER_NAME_CHARS} characters without spaces or control characters"
    )]
    BadUserName(String),
    #[error("the password is too short: the pool takes at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("the passwords do not match")]
    PasswordsDiffer,
    #[error("could not read the password: {0}")]
    Password(String),
    #[error(
        "user {0} already exists: to set a new password, remove it (chatstack users remove \
         {0}) and add it again"
    )]
    Exists(String),
    #[error("there is no user {0} in the pool")]
    NoSuchUser(String),
    #[error("signing in as {0} failed: wrong user name or password")]
    SignInRefused(String),
    #[error("signing in as {user} needs a step chatstack does not take ({challenge})")]
    Challenge { user: String, challenge: String },
    #[error("{operation} on the user pool {pool} failed: {reason}")]
    Cognito {
        operation: &'static str,
        pool: String,
        reason: String,
    },
    #[error(transparent)]
    Outputs(#[from] crate::aws::OutputsError),
}

/// A user name as Cognito takes it (and the authorizer passes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUserName(String);

impl PoolUserName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for PoolUserName {
    type Err = UsersError;

    fn from_str(name: &str) -> Result<Self, UsersError> {
        let chars = name.chars().count();
        if chars == 0
            || chars > MAX_USER_NAME_CHARS
            || name.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(UsersError::BadUserName(name.to_owned()));
        }
        Ok(PoolUserName(name.to_owned()))
    }
}

/// A password, checked against the pool's policy before anything is sent.
pub struct Password(String);

impl Password {
    pub fn new(text: String) -> Result<Self, UsersError> {
        if text.chars().count() < MIN_PASSWORD_CHARS as usize {
            return Err(UsersError::ShortPassword);
        }
        Ok(Password(text))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// One user, as `chatstack users list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUser {
    pub name: String,
    /// `CONFIRMED`, `FORCE_CHANGE_PASSWORD`, ...
    pub status: String,
    pub enabled: bool,
    pub created: Option<String>,
}

/// How a stage's clients get their tokens, from its stack's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `authorization = true`: minted with the secret of this ARN.
    Secret(String),
    /// `cognito = true`: signing in to this pool.
    Pool { pool_id: String, client_id: String },
    /// An identity provider of the user's own: signing in there.
    Issuer(String),
    /// An open stage.
    None,
}

/// What `stage`'s outputs say about its tokens.
pub async fn token_source<C: StackReader>(
    cloud: &C,
    stage: &StageName,
) -> Result<TokenSource, crate::aws::OutputsError> {
    let outputs = crate::aws::stage_outputs(cloud, stage).await?;
    let output = |key: &str| crate::aws::output_value(&outputs, key).map(str::to_owned);
    Ok(
        match (
            output(TOKEN_SECRET_OUTPUT),
            output(USER_POOL_OUTPUT),
            output(USER_POOL_CLIENT_OUTPUT),
            output(OIDC_ISSUER_OUTPUT),
        ) {
            (Some(arn), _, _, _) => TokenSource::Secret(arn),
            (None, Some(pool_id), Some(client_id), _) => TokenSource::Pool { pool_id, client_id },
            (None, _, _, Some(issuer)) => TokenSource::Issuer(issuer),
            _ => TokenSource::None,
        },
    )
}

/// A user pool and the app client its users sign in through.
pub struct UserPool {
    client: Client,
    pool_id: String,
    client_id: String,
}

impl UserPool {
    /// The pool `pool_id` and its app client `client_id`, as a stage's
    /// outputs name them ([`TokenSource::Pool`]).
    pub fn new(config: &aws_config::SdkConfig, pool_id: String, client_id: String) -> Self {
        UserPool {
            client: Client::new(config),
            pool_id,
            client_id,
        }
    }

    /// `stage`'s own pool, from its outputs (`cloudformation:DescribeStacks`).
    pub async fn of_stage<C: StackReader>(
        config: &aws_config::SdkConfig,
        cloud: &C,
        stage: &StageName,
    ) -> Result<Self, UsersError> {
        match token_source(cloud, stage).await? {
            TokenSource::Pool { pool_id, client_id } => {
                Ok(UserPool::new(config, pool_id, client_id))
            }
            TokenSource::Issuer(issuer) => Err(UsersError::NoPool {
                stage: stage.to_string(),
                issuer: format!(" (it trusts {issuer}: manage its users there)"),
            }),
            _ => Err(UsersError::NoPool {
                stage: stage.to_string(),
                issuer: String::new(),
            }),
        }
    }

    /// The pool of the `chatstack local` run whose directory is `dir`, in
    /// its moto, reached with the run's key.
    pub async fn of_local_run(dir: &Path) -> Result<Self, UsersError> {
        let file = dir.join(USER_POOL_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(UsersError::NoLocalPool {
                    dir: dir.display().to_string(),
                });
            }
            Err(e) => return Err(local_run(&file, e.to_string())),
        };
        let pool: LocalPoolFile =
            serde_json::from_str(&text).map_err(|e| local_run(&file, e.to_string()))?;
        let credentials_file = dir.join(CREDENTIALS_FILE);
        let credentials = crate::local::services::read_credentials_file(&credentials_file)
            .await
            .map_err(|reason| local_run(&credentials_file, reason))?;
        let config =
            crate::local::dynamo::moto_config(&pool.endpoint, &pool.region, &credentials).await;
        Ok(UserPool {
            client: Client::new(&config),
            pool_id: pool.user_pool_id,
            client_id: pool.client_id,
        })
    }

    fn failed<E, R>(&self, operation: &'static str, error: &SdkError<E, R>) -> UsersError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let reason = match error.as_service_error() {
            Some(service) => service
                .message()
                .map_or_else(|| service.to_string(), str::to_owned),
            None => crate::aws::error_chain(error),
        };
        UsersError::Cognito {
            operation,
            pool: self.pool_id.clone(),
            reason,
        }
    }

    /// Creates `user` with `password` as a permanent one, sending no
    /// message (the pool keeps no address to send it to).
    pub async fn add(&self, user: &PoolUserName, password: &Password) -> Result<(), UsersError> {
        let created = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(user.as_str())
            .message_action(MessageActionType::Suppress)
            .send()
            .await;
        if let Err(error) = created {
            if error.as_service_error().and_then(|e| e.code()) == Some("UsernameExistsException") {
                return Err(UsersError::Exists(user.as_str().to_owned()));
            }
            return Err(self.failed("AdminCreateUser", &error));
        }
        let set = self
            .client
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(user.as_str())
            .password(&password.0)
            .permanent(true)
            .send()
            .await;
        if let Err(error) = set {
            // A user without a password of theirs could not sign in: take
            // it out again, so adding it once more starts afresh.
            let _ = self.remove(user).await;
            return Err(self.failed("AdminSetUserPassword", &error));
        }
        Ok(())
    }

    /// Deletes `user`. Tokens already issued stay valid until they expire
    /// (an hour at most), as does a connection already open.
    pub async fn remove(&self, user: &PoolUserName) -> Result<(), UsersError> {
        match self
            .client
            .admin_delete_user()
            .user_pool_id(&self.pool_id)
            .username(user.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error.as_service_error().and_then(|e| e.code())
                    == Some("UserNotFoundException") =>
            {
                Err(UsersError::NoSuchUser(user.as_str().to_owned()))
            }
            Err(error) => Err(self.failed("AdminDeleteUser", &error)),
        }
    }

    /// Every user, in pages.
    pub async fn list(&self) -> Result<Vec<PoolUser>, UsersError> {
        let mut users = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_users()
                .user_pool_id(&self.pool_id)
                .set_pagination_token(token.take())
                .send()
                .await
                .map_err(|e| self.failed("ListUsers", &e))?;
            users.extend(page.users().iter().map(|user| {
                PoolUser {
                    name: user.username().unwrap_or_default().to_owned(),
                    status: user
                        .user_status()
                        .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                    enabled: user.enabled(),
                    created: user.user_create_date().map(|date| {
                        humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_secs(date.secs().max(0) as u64),
                        )
                        .to_string()
                    }),
                }
            }));
            match page.pagination_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    /// Signs `user` in through the app client; their ID token, which
    /// names them (`cognito:username`) and the app (`aud`).
    pub async fn sign_in(&self, user: &PoolUserName, password: &str) -> Result<String, UsersError> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", user.as_str())
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                let code = error.as_service_error().and_then(|e| e.code());
                return Err(match code {
                    Some("NotAuthorizedException" | "UserNotFoundException") => {
                        UsersError::SignInRefused(user.as_str().to_owned())
                    }
                    _ => self.failed("InitiateAuth", &error),
                });
            }
        };
        if let Some(challenge) = answer.challenge_name() {
            return Err(UsersError::Challenge {
                user: user.as_str().to_owned(),
                challenge: challenge.as_str().to_owned(),
            });
        }
        answer
            .authentication_result()
            .and_then(|result| result.id_token())
            .map(str::to_owned)
            .ok_or_else(|| UsersError::Cognito {
                operation: "InitiateAuth",
                pool: self.pool_id.clone(),
                reason: "the answer holds no ID token".to_owned(),
            })
    }
}

fn local_run(path: &Path, reason: String) -> UsersError {
    UsersError::LocalRun {
        path: path.display().to_string(),
        reason,
    }
}
