//! The stage clients connect to, and the deployment it serves.

use crate::cfn::apigatewayv2::{AccessLogSettings, RouteSettings, Stage};
use crate::cfn::logs::LogGroup;
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, Template, TemplateError,
};

use super::api::stage_url;
use super::{StageName, WebSocketApi};
use crate::settings::{Logging, Throttling};

/// The output clients connect to (`wss://`).
pub const WEBSOCKET_URL_OUTPUT: &str = "WebSocketUrl";
/// The output of the management API's URL (`https://`).
pub const CALLBACK_URL_OUTPUT: &str = "CallbackUrl";

/// The output naming the access log group, for `chatstack logs --access`.
pub const ACCESS_LOG_OUTPUT: &str = "AccessLogGroupName";
/// The access log group's logical id (`chatstack logs --access` finds it
/// among the stack's resources by it).
pub const ACCESS_LOG_GROUP_ID: &str = "AccessLogGroup";

/// A stage's own settings.
#[derive(Debug, Clone, Copy)]
pub struct StageProps {
    /// Every route's throttling, all clients together.
    pub throttling: Throttling,
    /// API Gateway's access and execution logs, if asked for.
    pub logging: Option<Logging>,
}

/// A stage of a [`WebSocketApi`] with every route the API was given.
#[derive(Debug)]
pub struct WebSocketStage {
    id: LogicalId,
    api: LogicalId,
    name: StageName,
    access_log: Option<LogicalId>,
}

/// One access log line: what API Gateway knows of each connection,
/// message and disconnection, as JSON (`$context` variables of WebSocket
/// APIs; the user is the authorizer's `userName`, empty on open stages).
/// <https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-logging.html>
pub fn access_log_format(source_ip: bool) -> String {
    let mut fields = vec![
        ("requestId", "$context.requestId"),
        ("time", "$context.requestTimeEpoch"),
        ("connectionId", "$context.connectionId"),
        ("eventType", "$context.eventType"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationLatency", "$context.integration.latency"),
        ("integrationError", "$context.integration.error"),
        ("authorizerError", "$context.authorizer.error"),
        ("error", "$context.error.message"),
        ("user", "$context.authorizer.userName"),
    ];
    if source_ip {
        fields.push(("sourceIp", "$context.identity.sourceIp"));
    }
    let map: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

impl WebSocketStage {
    /// Adds the stage. It takes the API by value: once the stage exists no
    /// route can be added that it would not serve, and an API gets one stage.
    ///
    /// The stage deploys itself (`AutoDeploy`): API Gateway takes a new
    /// deployment after every change to the API's routes and integrations,
    /// including their removal, which CloudFormation performs last, in its
    /// cleanup phase. A `Deployment` resource instead is taken when
    /// CloudFormation creates it, so it keeps serving what it snapshotted:
    /// stale routes after an update (the reference sample's known failure),
    /// or removed routes whose functions are gone. Automatic deployment is
    /// not limited to HTTP APIs: the CloudFormation reference lists it for
    /// every `AWS::ApiGatewayV2::Stage`, and the CDK's `WebSocketStage` has
    /// `autoDeploy`. The stage waits for every route and integration, so
    /// its first deployment has them all.
    pub fn add_to(
        template: &mut Template,
        api: WebSocketApi,
        props: StageProps,
    ) -> Result<Self, TemplateError> {
        let WebSocketApi {
            id: api,
            stage: name,
            routes,
            integrations,
        } = api;
        let logging = props.logging.unwrap_or_default();
        let access_log = if logging.access {
            Some(add_access_log_group(template, logging.retention_days.0)?)
        } else {
            None
        };
        let stage = Resource::new(Stage {
            api_id: (&api).into(),
            stage_name: name.to_string(),
            deployment_id: None,
            auto_deploy: Some(true),
            default_route_settings: Some(RouteSettings {
                throttling_burst_limit: Some(props.throttling.burst_limit.0),
                throttling_rate_limit: Some(f64::from(props.throttling.rate_limit.0)),
                detailed_metrics_enabled: Some(false),
                logging_level: logging.execution.map(|level| level.as_str().to_owned()),
                // Execution logs never hold whole messages: they are chat.
                data_trace_enabled: logging.execution.map(|_| false),
            }),
            access_log_settings: access_log.as_ref().map(|group| AccessLogSettings {
                destination_arn: Expr::arn_of(group),
                format: access_log_format(logging.source_ip),
            }),
            description: Some(format!("chatstack stage {name}")),
        })
        .depends_on(routes.into_iter().chain(integrations));
        let stage = if access_log.is_some() {
            stage
        } else {
            stage.skip_checkov(
                "CKV_AWS_95",
                "access logs need the account-wide API Gateway CloudWatch role, which is the account owner's to set",
            )
        };
        let id = template.add("Stage", stage)?;
        Ok(WebSocketStage {
            id,
            api,
            name,
            access_log,
        })
    }

    /// The stage resource (`Ref`: its name).
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    /// The API it serves.
    pub fn api(&self) -> &LogicalId {
        &self.api
    }

    pub fn name(&self) -> &StageName {
        &self.name
    }

    /// `AccessLogGroupName`, on a stage with access logs.
    pub fn add_access_log_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        match &self.access_log {
            Some(group) => template.add_output(
                ACCESS_LOG_OUTPUT,
                Output {
                    description: "API Gateway's access log (chatstack logs --access)".to_owned(),
                    value: group.into(),
                },
            ),
            None => Ok(()),
        }
    }

    /// Outputs the stage's URLs: `WebSocketUrl`
    /// (`wss://<api>.execute-api.<region>.<suffix>/<stage>`), what clients
    /// connect to, and `CallbackUrl` (the same over `https://`), the
    /// management API.
    pub fn add_outputs(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            WEBSOCKET_URL_OUTPUT,
            Output {
                description: "Connect clients here (wss://)".to_owned(),
                value: stage_url("wss", &self.api, &self.name),
            },
        )?;
        template.add_output(
            CALLBACK_URL_OUTPUT,
            Output {
                description: "API Gateway management endpoint for @connections".to_owned(),
                value: stage_url("https", &self.api, &self.name),
            },
        )
    }
}

/// The access log group, named after the stack, kept `retention_days`,
/// deleted with the stack.
fn add_access_log_group(
    template: &mut Template,
    retention_days: u32,
) -> Result<LogicalId, TemplateError> {
    template.add(
        ACCESS_LOG_GROUP_ID,
        Resource::new(LogGroup {
            log_group_name: Some(Expr::sub([
                "/aws/apigateway/".into(),
                Pseudo::StackName.into(),
                "/access".into(),
            ])),
            retention_in_days: Some(retention_days),
        })
        .retention(RetentionPolicy::Delete)
        .skip_checkov(
            "CKV_AWS_158",
            "CloudWatch Logs encrypts at rest already; the access log holds no message text",
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::chat::function::test_props;
    use crate::chat::{CodeBucket, Grants, LambdaFunction, RouteIntegration, RouteOptions};
    use crate::settings::{BurstLimit, RateLimit};

    /// The stage of an API with one function and route per key, as JSON,
    /// and the ids of the API's routes and integrations.
    fn stage_for(route_keys: &[&str], props: StageProps) -> (serde_json::Value, BTreeSet<String>) {
        let mut template = Template::new("t");
        let stage: StageName = "dev".parse().unwrap();
        let code = CodeBucket::add_to(&mut template).unwrap();
        let mut api = WebSocketApi::add_to(&mut template, &stage).unwrap();
        for (n, key) in route_keys.iter().enumerate() {
            let prefix = format!("F{n}");
            let function =
                LambdaFunction::add_to(&mut template, &test_props(&prefix), &code, Grants::new())
                    .unwrap();
            let route = RouteOptions {
                route_key: key,
                logical_prefix: &prefix,
                integration: RouteIntegration::Lambda(&function),
                authorizer: None,
            };
            api.add_route(&mut template, route).unwrap();
        }
        let wired: BTreeSet<String> = api
            .routes
            .iter()
            .chain(&api.integrations)
            .map(|id| id.to_string())
            .collect();
        WebSocketStage::add_to(&mut template, api, props).unwrap();
        let json = serde_json::to_value(&template).unwrap();
        (json["Resources"]["Stage"].clone(), wired)
    }

    #[test]
    fn the_stage_deploys_itself_after_every_route_and_integration() {
        for keys in [&["$connect"][..], &["$connect", "sendmessage", "$default"]] {
            let (stage, wired) = stage_for(keys, default_props());
            assert_eq!(stage["Properties"]["AutoDeploy"], true);
            assert!(
                stage["Properties"].get("DeploymentId").is_none(),
                "a fixed deployment would keep serving removed routes"
            );
            let depends: BTreeSet<String> = stage["DependsOn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(depends, wired);
            assert_eq!(wired.len(), 2 * keys.len());
        }
    }

    fn default_props() -> StageProps {
        StageProps {
            throttling: Throttling::default(),
            logging: None,
        }
    }

    #[test]
    fn the_stage_throttles_every_route_as_its_props_say() {
        let (stage, _) = stage_for(&["$connect"], default_props());
        let settings = &stage["Properties"]["DefaultRouteSettings"];
        assert_eq!(settings["ThrottlingRateLimit"], 100.0);
        assert_eq!(settings["ThrottlingBurstLimit"], 200);
        let props = StageProps {
            throttling: Throttling {
                rate_limit: RateLimit(20),
                burst_limit: BurstLimit(5),
            },
            logging: None,
        };
        let (stage, _) = stage_for(&["$connect"], props);
        let settings = &stage["Properties"]["DefaultRouteSettings"];
        assert_eq!(settings["ThrottlingRateLimit"], 20.0);
        assert_eq!(settings["ThrottlingBurstLimit"], 5);
    }
}
