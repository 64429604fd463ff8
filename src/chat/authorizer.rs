//! Who may connect: a secret CloudFormation generates, and a `REQUEST`
//! authorizer on `$connect` (the only WebSocket route that takes one) that
//! checks the token in the query string against it.

use chat_contract::{TOKEN_QUERY_PARAMETER, TOKEN_SECRET_ARN_VAR};

use crate::cfn::apigatewayv2::{Authorizer, AuthorizerType};
use crate::cfn::lambda::Permission;
use crate::cfn::secretsmanager::{GenerateSecretString, Secret};
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, Template, TemplateError,
};

use super::api::{execute_api_arn, lambda_invocation_uri};
use super::{Grants, LambdaFunction, WebSocketApi};

/// The output naming the secret, for `chatstack token`.
pub const TOKEN_SECRET_OUTPUT: &str = "TokenSecretArn";

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

/// Makes `function` a `REQUEST` authorizer of `api` whose identity source
/// is the `token` query parameter: on the `$connect` route it guards, API
/// Gateway refuses a connection without one before invoking anything.
pub fn add_token_authorizer(
    template: &mut Template,
    api: &WebSocketApi,
    function: &LambdaFunction,
) -> Result<ConnectAuthorizer, TemplateError> {
    let authorizer = template.add(
        "ConnectAuthorizer",
        Authorizer {
            api_id: (&api.id).into(),
            authorizer_type: AuthorizerType::Request,
            name: "token".to_owned(),
            authorizer_uri: Some(lambda_invocation_uri(function)),
            identity_source: vec![format!("route.request.querystring.{TOKEN_QUERY_PARAMETER}")],
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
