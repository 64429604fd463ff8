//! The stage clients connect to, and the deployment it serves.

use crate::cfn::apigatewayv2::{RouteSettings, Stage};
use crate::cfn::{LogicalId, Output, Resource, Template, TemplateError};

use super::api::stage_url;
use super::{StageName, WebSocketApi};
use crate::settings::Throttling;

/// The output clients connect to (`wss://`).
pub const WEBSOCKET_URL_OUTPUT: &str = "WebSocketUrl";
/// The output of the management API's URL (`https://`).
pub const CALLBACK_URL_OUTPUT: &str = "CallbackUrl";

/// A stage's own settings.
#[derive(Debug, Clone, Copy)]
pub struct StageProps {
    /// Every route's throttling, all clients together.
    pub throttling: Throttling,
}

/// A stage of a [`WebSocketApi`] with every route the API was given.
#[derive(Debug)]
pub struct WebSocketStage {
    api: LogicalId,
    name: StageName,
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
        template.add(
            "Stage",
            Resource::new(Stage {
                api_id: (&api).into(),
                stage_name: name.to_string(),
                deployment_id: None,
                auto_deploy: Some(true),
                default_route_settings: Some(RouteSettings {
                    throttling_burst_limit: Some(props.throttling.burst_limit.0),
                    throttling_rate_limit: Some(f64::from(props.throttling.rate_limit.0)),
                    detailed_metrics_enabled: Some(false),
                }),
                description: Some(format!("chatstack stage {name}")),
            })
            .depends_on(routes.into_iter().chain(integrations))
            .skip_checkov(
                "CKV_AWS_95",
                "access logs need the account-wide API Gateway CloudWatch role, which is the account owner's to set",
            ),
        )?;
        Ok(WebSocketStage { api, name })
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
        };
        let (stage, _) = stage_for(&["$connect"], props);
        let settings = &stage["Properties"]["DefaultRouteSettings"];
        assert_eq!(settings["ThrottlingRateLimit"], 20.0);
        assert_eq!(settings["ThrottlingBurstLimit"], 5);
    }
}
