//! The stage clients connect to, and the deployment it serves.

use sha2::{Digest, Sha256};

use crate::cfn::apigatewayv2::{Deployment, RouteSettings, Stage};
use crate::cfn::{Expr, LogicalId, Output, Pseudo, Resource, SubPart, Template, TemplateError};

use super::{StageName, WebSocketApi};

/// Messages per second across the stage; well under the account's default
/// 10,000 so one chat app cannot starve others in the account.
const DEFAULT_RATE_LIMIT: f64 = 100.0;
const DEFAULT_BURST_LIMIT: u32 = 200;

/// A stage of a [`WebSocketApi`] with every route the API was given.
#[derive(Debug)]
pub struct WebSocketStage {
    api: LogicalId,
    name: StageName,
}

impl WebSocketStage {
    /// Adds the stage and the deployment it serves. It takes the API by
    /// value: once the stage exists no route can be added that it would
    /// not serve, and an API gets one stage.
    ///
    /// WebSocket stages cannot auto-deploy (API Gateway offers automatic
    /// deployment for HTTP APIs only), and a `Deployment` whose logical id
    /// never changes is never re-created, which leaves the stage serving
    /// stale routes after an update: the reference sample's known failure.
    /// So the deployment's logical id carries a hash of the API, its routes
    /// and integrations: any change to them yields a new deployment, the
    /// stage moves to it and CloudFormation removes the old one.
    pub fn add_to(template: &mut Template, api: WebSocketApi) -> Result<Self, TemplateError> {
        let WebSocketApi {
            id: api,
            stage: name,
            routes,
            integrations,
        } = api;
        // What a deployment snapshots: the API and its routes and integrations.
        let snapshot: Vec<_> = std::iter::once(&api)
            .chain(&routes)
            .chain(&integrations)
            .map(|id| (id, template.resource(id)))
            .collect();
        let json = serde_json::to_vec(&snapshot).map_err(|e| TemplateError::Serialization {
            id: "Deployment".to_owned(),
            reason: e.to_string(),
        })?;
        let digest = format!("{:x}", Sha256::digest(&json));
        let deployment = template.add(
            &format!("Deployment{}", &digest[..12]),
            // A deployment of an API without routes fails: wait for all of them.
            Resource::new(Deployment {
                api_id: (&api).into(),
                description: Some("routes and integrations of this template".to_owned()),
            })
            .depends_on(routes),
        )?;
        template.add(
            "Stage",
            Resource::new(Stage {
                api_id: (&api).into(),
                stage_name: name.to_string(),
                deployment_id: Some((&deployment).into()),
                auto_deploy: None,
                default_route_settings: Some(RouteSettings {
                    throttling_burst_limit: Some(DEFAULT_BURST_LIMIT),
                    throttling_rate_limit: Some(DEFAULT_RATE_LIMIT),
                    detailed_metrics_enabled: Some(false),
                }),
                description: Some(format!("chatstack stage {name}")),
            })
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
            "WebSocketUrl",
            Output {
                description: "Connect clients here (wss://)".to_owned(),
                value: self.endpoint_url("wss"),
            },
        )?;
        template.add_output(
            "CallbackUrl",
            Output {
                description: "API Gateway management endpoint for @connections".to_owned(),
                value: self.endpoint_url("https"),
            },
        )
    }

    fn endpoint_url(&self, scheme: &str) -> Expr {
        Expr::sub([
            SubPart::Text(format!("{scheme}://")),
            (&self.api).into(),
            ".execute-api.".into(),
            Pseudo::Region.into(),
            ".".into(),
            Pseudo::UrlSuffix.into(),
            SubPart::Text(format!("/{}", self.name)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::chat::{CodeBucket, FunctionSpec, LambdaFunction};

    /// The deployment id of an API with one function and route per key.
    fn deployment_for(route_keys: &[&str]) -> String {
        let mut template = Template::new("t");
        let stage: StageName = "dev".parse().unwrap();
        let code = CodeBucket::add_to(&mut template).unwrap();
        let mut api = WebSocketApi::add_to(&mut template, &stage).unwrap();
        for (n, key) in route_keys.iter().enumerate() {
            // Specs are 'static in the app; a test's few may leak.
            let spec: &'static FunctionSpec = Box::leak(Box::new(FunctionSpec {
                name: "f",
                logical_prefix: Box::leak(format!("F{n}").into_boxed_str()),
                route_key: Box::leak(key.to_string().into_boxed_str()),
                description: "test",
                memory_mb: 128,
                timeout_seconds: 3,
                table_actions: &[],
                connection_methods: &[],
            }));
            let function =
                LambdaFunction::add_to(&mut template, spec, &code, |_| {}, BTreeMap::new())
                    .unwrap();
            api.add_route(&mut template, &function).unwrap();
        }
        WebSocketStage::add_to(&mut template, api).unwrap();
        template
            .resources()
            .find(|(_, r)| r.resource_type == "AWS::ApiGatewayV2::Deployment")
            .map(|(id, _)| id.to_string())
            .unwrap()
    }

    #[test]
    fn deployment_is_replaced_whenever_routes_change() {
        let base = deployment_for(&["$connect", "sendmessage"]);
        assert_eq!(base, deployment_for(&["$connect", "sendmessage"]), "stable");
        assert_ne!(
            base,
            deployment_for(&["$connect", "broadcast"]),
            "renamed route"
        );
        assert_ne!(base, deployment_for(&["$connect"]), "removed route");
        assert_ne!(
            base,
            deployment_for(&["$connect", "sendmessage", "$default"]),
            "added route"
        );
    }
}
