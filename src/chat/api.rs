//! The WebSocket API: routes to functions, the stage and its deployment.

use sha2::{Digest, Sha256};

use crate::cfn::apigatewayv2::{
    Api, AuthorizationType, Deployment, Integration, IntegrationType, ProtocolType, Route,
    RouteSettings, Stage,
};
use crate::cfn::lambda::Permission;
use crate::cfn::{Expr, LogicalId, Pseudo, Resource, SubPart, Template, TemplateError};

use super::{ExecutionRole, StageName};

/// The HTTP methods of the `@connections` management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMethod {
    /// GetConnection.
    Get,
    /// PostToConnection.
    Post,
    /// DeleteConnection.
    Delete,
}

impl ConnectionMethod {
    fn as_str(self) -> &'static str {
        match self {
            ConnectionMethod::Get => "GET",
            ConnectionMethod::Post => "POST",
            ConnectionMethod::Delete => "DELETE",
        }
    }
}

/// The API with the stage it will be deployed to; routes are added one by
/// one, then [`WebSocketApi::deploy`] makes them live.
#[derive(Debug)]
pub struct WebSocketApi {
    id: LogicalId,
    stage: StageName,
    routes: Vec<LogicalId>,
    integrations: Vec<LogicalId>,
}

impl WebSocketApi {
    pub fn add_to(template: &mut Template, stage: &StageName) -> Result<Self, TemplateError> {
        let id = template.add(
            "WebSocketApi",
            Api {
                name: Expr::Pseudo(Pseudo::StackName),
                protocol_type: ProtocolType::Websocket,
                route_selection_expression: Some("$request.body.action".to_owned()),
                description: Some("chatstack WebSocket chat API".to_owned()),
            },
        )?;
        Ok(WebSocketApi {
            id,
            stage: stage.clone(),
            routes: Vec::new(),
            integrations: Vec::new(),
        })
    }

    /// `arn:<partition>:execute-api:<region>:<account>:<api>/<rest>`.
    fn execute_api_arn(&self, rest: &str) -> Expr {
        Expr::sub([
            "arn:".into(),
            Pseudo::Partition.into(),
            ":execute-api:".into(),
            Pseudo::Region.into(),
            ":".into(),
            Pseudo::AccountId.into(),
            ":".into(),
            (&self.id).into(),
            SubPart::Text(format!("/{}/{rest}", self.stage)),
        ])
    }

    /// Lets `role` call the management API with `methods`, on this API's
    /// stage only.
    pub fn grant_manage_connections(&self, role: &mut ExecutionRole, methods: &[ConnectionMethod]) {
        if methods.is_empty() {
            return;
        }
        let resources = methods
            .iter()
            .map(|method| self.execute_api_arn(&format!("{}/@connections/*", method.as_str())))
            .collect();
        role.allow(
            "ManageConnections",
            &["execute-api:ManageConnections"],
            resources,
        );
    }

    /// Routes `route_key` to `function` through its own Lambda proxy
    /// integration, and lets this API's route (and only it) invoke the function.
    pub fn add_lambda_route(
        &mut self,
        template: &mut Template,
        name: &str,
        route_key: &str,
        function: &LogicalId,
    ) -> Result<(), TemplateError> {
        let integration = template.add(
            &format!("{name}Integration"),
            Integration {
                api_id: (&self.id).into(),
                integration_type: IntegrationType::AwsProxy,
                integration_uri: Some(Expr::sub([
                    "arn:".into(),
                    Pseudo::Partition.into(),
                    ":apigateway:".into(),
                    Pseudo::Region.into(),
                    ":lambda:path/2015-03-31/functions/".into(),
                    SubPart::GetAtt(function.clone(), "Arn".to_owned()),
                    "/invocations".into(),
                ])),
                description: Some(format!("{route_key} to the {name} function")),
                timeout_in_millis: None,
            },
        )?;
        let route = template.add(
            &format!("{name}Route"),
            Route {
                api_id: (&self.id).into(),
                route_key: route_key.to_owned(),
                // The sample app is open; an authorizer would go on $connect,
                // the only WebSocket route that can have one.
                authorization_type: Some(AuthorizationType::None),
                target: Some(Expr::sub(["integrations/".into(), (&integration).into()])),
                operation_name: Some(name.to_owned()),
            },
        )?;
        template.add(
            &format!("{name}Permission"),
            Permission {
                action: "lambda:InvokeFunction".to_owned(),
                function_name: Expr::arn_of(function),
                principal: "apigateway.amazonaws.com".to_owned(),
                source_arn: Some(self.execute_api_arn(route_key)),
                source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
            },
        )?;
        self.routes.push(route);
        self.integrations.push(integration);
        Ok(())
    }

    /// Adds the stage and the deployment it serves.
    ///
    /// WebSocket stages cannot auto-deploy (API Gateway offers automatic
    /// deployment for HTTP APIs only), and a `Deployment` whose logical id
    /// never changes is never re-created, which leaves the stage serving
    /// stale routes after an update: the reference sample's known failure.
    /// So the deployment's logical id carries a hash of the API, its routes
    /// and integrations: any change to them yields a new deployment, the
    /// stage moves to it and CloudFormation removes the old one.
    pub fn deploy(&self, template: &mut Template) -> Result<LogicalId, TemplateError> {
        // What a deployment snapshots: the API and its routes and integrations.
        let snapshot: Vec<_> = std::iter::once(&self.id)
            .chain(&self.routes)
            .chain(&self.integrations)
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
                api_id: (&self.id).into(),
                description: Some("routes and integrations of this template".to_owned()),
            })
            .depends_on(self.routes.iter().cloned()),
        )?;
        template.add(
            "Stage",
            Resource::new(Stage {
                api_id: (&self.id).into(),
                stage_name: self.stage.to_string(),
                deployment_id: Some((&deployment).into()),
                auto_deploy: None,
                default_route_settings: Some(RouteSettings {
                    throttling_burst_limit: Some(DEFAULT_BURST_LIMIT),
                    throttling_rate_limit: Some(DEFAULT_RATE_LIMIT),
                    detailed_metrics_enabled: Some(false),
                }),
                description: Some(format!("chatstack stage {}", self.stage)),
            })
            .skip_checkov(
                "CKV_AWS_95",
                "access logs need the account-wide API Gateway CloudWatch role, which is the account owner's to set",
            ),
        )
    }

    /// `wss://<api>.execute-api.<region>.<suffix>/<stage>`: what clients connect to.
    pub fn websocket_url(&self) -> Expr {
        self.endpoint_url("wss")
    }

    /// `https://<api>.execute-api.<region>.<suffix>/<stage>`: the management API.
    pub fn callback_url(&self) -> Expr {
        self.endpoint_url("https")
    }

    fn endpoint_url(&self, scheme: &str) -> Expr {
        Expr::sub([
            SubPart::Text(format!("{scheme}://")),
            (&self.id).into(),
            ".execute-api.".into(),
            Pseudo::Region.into(),
            ".".into(),
            Pseudo::UrlSuffix.into(),
            SubPart::Text(format!("/{}", self.stage)),
        ])
    }
}

/// Messages per second across the stage; well under the account's default
/// 10,000 so one chat app cannot starve others in the account.
const DEFAULT_RATE_LIMIT: f64 = 100.0;
const DEFAULT_BURST_LIMIT: u32 = 200;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfn::lambda::{Code, Function};

    /// The deployment id of an API with one Lambda route per key.
    fn deployment_for(route_keys: &[&str]) -> String {
        let mut template = Template::new("t");
        let stage: StageName = "dev".parse().unwrap();
        let mut api = WebSocketApi::add_to(&mut template, &stage).unwrap();
        for (n, key) in route_keys.iter().enumerate() {
            let function = template
                .add(
                    &format!("F{n}"),
                    Function {
                        code: Code {
                            s3_bucket: "b".into(),
                            s3_key: "k".into(),
                        },
                        role: "arn:aws:iam::1:role/r".into(),
                        runtime: None,
                        handler: None,
                        architectures: Vec::new(),
                        description: None,
                        memory_size: None,
                        timeout: None,
                        environment: None,
                        logging_config: None,
                    },
                )
                .unwrap();
            api.add_lambda_route(&mut template, &format!("R{n}"), key, &function)
                .unwrap();
        }
        api.deploy(&mut template).unwrap();
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
