//! The notify endpoint: an HTTP API with one route, `POST /notify`, that
//! only IAM-signed requests reach, in front of the notify function.

use crate::cfn::apigatewayv2::{
    Api, AuthorizationType, Integration, IntegrationType, ProtocolType, Route, RouteSettings, Stage,
};
use crate::cfn::lambda::Permission;
use crate::cfn::{Expr, LogicalId, Output, Pseudo, Resource, SubPart, Template, TemplateError};

use super::LambdaFunction;
use super::api::execute_api_arn;

/// The route callers sign requests for.
pub const NOTIFY_ROUTE: &str = "POST /notify";
/// Its path, as the `NotifyUrl` output ends.
pub const NOTIFY_PATH: &str = "/notify";
/// The output of the endpoint's URL.
pub const NOTIFY_URL_OUTPUT: &str = "NotifyUrl";

/// Pushes per second through the endpoint: an operator's tool, not a
/// public API.
const RATE_LIMIT: f64 = 10.0;
const BURST_LIMIT: u32 = 20;

/// The endpoint, added in one call.
#[derive(Debug)]
pub struct NotifyEndpoint {
    api: LogicalId,
    stage: LogicalId,
}

impl NotifyEndpoint {
    pub fn add_to(
        template: &mut Template,
        function: &LambdaFunction,
    ) -> Result<Self, TemplateError> {
        let api = template.add(
            "NotifyApi",
            Api {
                name: Expr::sub([Pseudo::StackName.into(), "-notify".into()]),
                protocol_type: ProtocolType::Http,
                route_selection_expression: None,
                description: Some(
                    "chatstack notify: server push to the chat's clients (IAM-signed requests only)"
                        .to_owned(),
                ),
            },
        )?;
        let integration = template.add(
            "NotifyIntegration",
            Integration {
                api_id: (&api).into(),
                integration_type: IntegrationType::AwsProxy,
                integration_uri: Some(Expr::arn_of(function.id())),
                description: Some(format!("{NOTIFY_ROUTE} to the notify function")),
                timeout_in_millis: None,
                payload_format_version: Some("2.0".to_owned()),
                request_templates: Default::default(),
                template_selection_expression: None,
            },
        )?;
        let route = template.add(
            "NotifyRoute",
            Route {
                api_id: (&api).into(),
                route_key: NOTIFY_ROUTE.to_owned(),
                // SigV4: only principals allowed execute-api:Invoke on it.
                authorization_type: Some(AuthorizationType::AwsIam),
                authorizer_id: None,
                target: Some(Expr::sub(["integrations/".into(), (&integration).into()])),
                operation_name: Some("Notify".to_owned()),
            },
        )?;
        let stage = add_stage(template, &api, [route, integration])?;
        let endpoint = NotifyEndpoint { api, stage };
        template.add(
            "NotifyPermission",
            Permission {
                action: "lambda:InvokeFunction".to_owned(),
                function_name: Expr::arn_of(function.id()),
                principal: "apigateway.amazonaws.com".to_owned(),
                source_arn: Some(endpoint.route_arn()),
                source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
            },
        )?;
        Ok(endpoint)
    }

    /// `arn:<partition>:execute-api:<region>:<account>:<api>/*/POST/notify`:
    /// the route on any stage (the API has one), as IAM policies name it.
    fn route_arn(&self) -> Expr {
        execute_api_arn(
            &self.api,
            [SubPart::Text(format!(
                "/*/{}",
                NOTIFY_ROUTE.replace(' ', "")
            ))],
        )
    }

    /// The API and its stage, for a custom domain's mapping.
    pub fn api_and_stage(&self) -> (&LogicalId, &LogicalId) {
        (&self.api, &self.stage)
    }

    /// `NotifyUrl`, where to POST, and `NotifyRouteArn`, what a caller's
    /// policy must allow `execute-api:Invoke` on.
    pub fn add_outputs(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            NOTIFY_URL_OUTPUT,
            Output {
                description: "POST {\"text\": ...} here, signed with SigV4 (chatstack notify)"
                    .to_owned(),
                value: Expr::sub([
                    "https://".into(),
                    (&self.api).into(),
                    ".execute-api.".into(),
                    Pseudo::Region.into(),
                    ".".into(),
                    Pseudo::UrlSuffix.into(),
                    NOTIFY_PATH.into(),
                ]),
            },
        )?;
        template.add_output(
            "NotifyRouteArn",
            Output {
                description: "Allow execute-api:Invoke on this to let a principal notify"
                    .to_owned(),
                value: self.route_arn(),
            },
        )
    }
}

/// The `$default` stage, deploying itself after the route and its
/// integration, throttled: an operator's tool, not a public API.
fn add_stage(
    template: &mut Template,
    api: &LogicalId,
    wired: [LogicalId; 2],
) -> Result<LogicalId, TemplateError> {
    template.add(
        "NotifyStage",
        Resource::new(Stage {
            api_id: api.into(),
            stage_name: "$default".to_owned(),
            deployment_id: None,
            auto_deploy: Some(true),
            default_route_settings: Some(RouteSettings {
                throttling_burst_limit: Some(BURST_LIMIT),
                throttling_rate_limit: Some(RATE_LIMIT),
                detailed_metrics_enabled: Some(false),
                ..RouteSettings::default()
            }),
            access_log_settings: None,
            description: Some("chatstack notify endpoint".to_owned()),
        })
        .depends_on(wired)
        .skip_checkov(
            "CKV_AWS_95",
            "access logs need the account-wide API Gateway CloudWatch role, which is the account owner's to set",
        ),
    )
}
