//! Who may connect: a secret CloudFormation generates, and a `REQUEST`
//! authorizer on `$connect` (the only WebSocket route that takes one) that
//! checks the token in the query string against it.

use std::collections::BTreeMap;

use chat_contract::{TOKEN_QUERY_PARAMETER, TOKEN_SECRET_ARN_VAR};

use crate::cfn::apigatewayv2::{Authorizer, AuthorizerType};
use crate::cfn::lambda::Permission;
use crate::cfn::secretsmanager::{GenerateSecretString, Secret};
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, Template, TemplateError,
};

use super::api::{execute_api_arn, lambda_invocation_uri};
use super::{ExecutionRole, LambdaFunction, WebSocketApi};

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

    /// Lets `role` read this secret and no other.
    pub fn grant_read(&self, role: &mut ExecutionRole) {
        role.allow(
            "ReadTokenSecret",
            &["secretsmanager:GetSecretValue"],
            vec![(&self.id).into()],
        );
    }

    /// The variable that tells the authorizer where the secret is.
    pub fn environment(&self) -> BTreeMap<String, Expr> {
        BTreeMap::from([(TOKEN_SECRET_ARN_VAR.to_owned(), (&self.id).into())])
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

/// Puts `function` in front of `api`'s `$connect` as a `REQUEST`
/// authorizer whose identity source is the `token` query parameter: API
/// Gateway refuses a connection without one before invoking anything.
pub fn add_token_authorizer(
    template: &mut Template,
    api: &mut WebSocketApi,
    function: &LambdaFunction,
) -> Result<(), TemplateError> {
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
    api.connect_authorizer = Some(authorizer);
    Ok(())
}
