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

/// Where a client's token came: the log says, so clients still putting
/// tokens in URLs can be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An entry of `Sec-WebSocket-Protocol`.
    Header,
    /// The `token` query parameter.
    Query,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Header => "header",
            Transport::Query => "query",
        }
    }
}

/// The token a client presented: in `Sec-WebSocket-Protocol` (an entry
/// [`TOKEN_SUBPROTOCOL_PREFIX`] begins), else the `token` query parameter.
pub fn presented_token(
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> Option<(&str, Transport)> {
    let in_header = event
        .headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| crate::protocol::token_entry(value.to_str().ok()))
        .find_map(|entry| entry.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .map(|token| (token, Transport::Header));
    in_header
        .or_else(|| {
            event
                .query_string_parameters
                .first(TOKEN_QUERY_PARAMETER)
                .map(|token| (token, Transport::Query))
        })
        .filter(|(token, _)| !token.is_empty())
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
    let presented = presented_token(event);
    let verdict = match presented {
        Some((token, _)) => verifier.verify(token, now).await,
        None => Err(Refused::NoToken),
    };
    let transport = presented.map(|(_, transport)| transport.as_str());
    match verdict {
        Ok(user) => {
            tracing::info!(user, transport, "connection authorized");
            json!({
                "principalId": user,
                "policyDocument": policy("Allow", method_arn),
                "context": { USER_NAME_CONTEXT_KEY: user },
            })
        }
        Err(refused) => {
            tracing::info!(reason = %refused, transport, "connection refused");
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
