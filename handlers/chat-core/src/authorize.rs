//! The `$connect` authorizer: lets in a client whose `token` query
//! parameter the stage's secret signed and that has not expired, and tells
//! API Gateway its user name, which API Gateway passes on to every route
//! of the connection. Why a token was refused is logged; the token never is.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html>

use std::time::SystemTime;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use chat_contract::{TOKEN_QUERY_PARAMETER, USER_NAME_CONTEXT_KEY};
use serde_json::{Value, json};

/// The stage's token secret, read once per execution environment.
pub struct TokenSecret(Vec<u8>);

impl TokenSecret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        TokenSecret(value.into())
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

/// API Gateway's answer: an IAM policy allowing or denying `$connect`,
/// with the user name in the context when allowed. A deny makes API
/// Gateway refuse the upgrade with 403.
pub fn authorize(
    secret: &TokenSecret,
    event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    now: SystemTime,
) -> Value {
    let method_arn = event.method_arn.as_deref().unwrap_or("*");
    let token = event
        .query_string_parameters
        .first(TOKEN_QUERY_PARAMETER)
        .unwrap_or("");
    match chat_token::verify(&secret.0, token, now) {
        Ok(claims) => {
            let user = claims.user.as_str();
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
