//! `authorizer`: the `$connect` authorizer of stages that require tokens,
//! the stage's own or an OpenID Connect identity provider's.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest as Event;
use chat_core::authorize::{self, HttpDocuments, OidcVerifier, TokenSecret, Verifier};
use chat_core::config::{self, Authorization};
use chat_core::runtime;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    match runtime::or_exit(config::authorization(runtime::env)) {
        Authorization::Signed { secret_arn } => serve(&read_secret(&secret_arn).await).await,
        Authorization::Oidc(oidc) => {
            // The keys are read on the first token, not here: an issuer
            // that is down at start-up must not fail the environment.
            let documents = runtime::or_exit_saying(HttpDocuments::new(), "could not set up HTTPS");
            serve(&OidcVerifier::new(oidc, documents)).await
        }
    }
}

/// The stage's secret, once per execution environment; without it no
/// token can be checked, so the environment fails to start (and Lambda
/// tries a new one).
async fn read_secret(arn: &str) -> TokenSecret {
    let sdk_config = runtime::sdk_config().await;
    runtime::or_exit_saying(
        authorize::read_token_secret(&sdk_config, arn).await,
        &format!("could not read the token secret {arn}"),
    )
}

async fn serve<V: Verifier>(verifier: &V) -> Result<(), lambda_runtime::Error> {
    runtime::serve(|event: Event, _deadline| async move {
        Ok(authorize::authorize(verifier, &event, std::time::SystemTime::now()).await)
    })
    .await
}
