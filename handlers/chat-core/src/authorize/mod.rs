//! The `$connect` authorizer: lets in a client whose token the stage
//! trusts and tells API Gateway its user name, which API Gateway passes on
//! to every route of the connection. A stage trusts either tokens it signs
//! itself ([`TokenSecret`], `authorization = true`) or an OpenID Connect
//! identity provider's ([`OidcVerifier`]). Why a token was refused is
//! logged; the token never is.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html>

mod oidc;
mod secret;

use std::future::Future;
use std::time::SystemTime;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use chat_contract::{TOKEN_QUERY_PARAMETER, TOKEN_SUBPROTOCOL_PREFIX, USER_NAME_CONTEXT_KEY};
use serde_json::{Value, json};

pub use oidc::{
    DocumentSource, HttpDocuments, KEY_REFETCH_INTERVAL, OidcConfig, OidcRefusal, OidcVerifier,
    check_url,
};
pub use secret::{TokenSecret, read_token_secret};

/// Why a connection was refused, in the authorizer's log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error(
        "no token (neither a {TOKEN_SUBPROTOCOL_PREFIX}* entry of Sec-WebSocket-Protocol nor a \
         {TOKEN_QUERY_PARAMETER} query parameter)"
    )]
    NoToken,
    /// A token of the stage's own.
    #[error(transparent)]
    Signed(#[from] chat_token::TokenError),
    /// An identity provider's token.
    #[error(transparent)]
    Oidc(#[from] OidcRefusal),
}

/// What checks a presented token: the user it names, or why not.
pub trait Verifier: Send + Sync {
    fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<String, Refused>> + Send;
}

/// The token a client presented: in `Sec-WebSocket-Protocol` (an entry
/// [`TOKEN_SUBPROTOCOL_PREFIX`] begins), else the `token` query parameter.
pub fn presented_token(event: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<&str> {
    let in_header = event
        .headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|entry| entry.trim().strip_prefix(TOKEN_SUBPROTOCOL_PREFIX));
    in_header
        .or_else(|| event.query_string_parameters.first(TOKEN_QUERY_PARAMETER))
        .filter(|token| !token.is_empty())
}

/// API Gateway's answer: an IAM policy allowing or denying `$connect`,
/// with the user name in the context when allowed. A deny makes API
/// Gateway refuse the upgrade with 403.
pub async fn authorize<V: Verifier>(
    verifier: &V,
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    now: SystemTime,
) -> Value {
    let method_arn = event.method_arn.as_deref().unwrap_or("*");
    let verdict = match presented_token(event) {
        Some(token) => verifier.verify(token, now).await,
        None => Err(Refused::NoToken),
    };
    match verdict {
        Ok(user) => {
            tracing::info!(user, "connection authorized");
            json!({
                "principalId": user,
                "policyDocument": policy("Allow", method_arn),
                "context": { USER_NAME_CONTEXT_KEY: user },
            })
        }
        Err(refused) => {
            tracing::info!(reason = %refused, "connection refused");
            json!({
                "principalId": "anonymous",
                "policyDocument": policy("Deny", method_arn),
            })
        }
    }
}

fn policy(effect: &str, method_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Action": "execute-api:Invoke",
            "Effect": effect,
            "Resource": method_arn,
        }],
    })
}
