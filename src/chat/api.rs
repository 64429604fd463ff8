//! The WebSocket API and its routes to functions.

use chat_contract::MANAGEMENT_ENDPOINT_VAR;

use crate::cfn::apigatewayv2::{
    Api, AuthorizationType, Integration, IntegrationType, ProtocolType, Route,
};
use crate::cfn::lambda::Permission;
use crate::cfn::{Expr, LogicalId, Pseudo, SubPart, Template, TemplateError};

use super::{ConnectAuthorizer, Grants, LambdaFunction, StageName};

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

/// The route a client's connection request takes.
pub const CONNECT_ROUTE: &str = "$connect";

/// A route: its key, what it invokes, and what authorizes it.
#[derive(Debug, Clone, Copy)]
pub struct RouteOptions<'a> {
    pub route_key: &'a str,
    /// Prefix of its logical ids: `<prefix>Route`, `<prefix>Integration`,
    /// `<prefix>Permission`.
    pub logical_prefix: &'a str,
    pub integration: RouteIntegration<'a>,
    /// Only [`CONNECT_ROUTE`] may have one.
    pub authorizer: Option<&'a ConnectAuthorizer>,
}

/// What a route invokes.
#[derive(Debug, Clone, Copy)]
pub enum RouteIntegration<'a> {
    /// The function, through a Lambda proxy integration.
    Lambda(&'a LambdaFunction),
    /// Nothing: API Gateway takes the message and answers it itself.
    Mock,
}

/// The one mapping template of a `MOCK` integration.
const MOCK_TEMPLATE_KEY: &str = "$default";

/// The API, knowing the stage it will be served on (permissions are scoped
/// to it); routes are added one by one, then a [`super::WebSocketStage`]
/// consumes the API and makes them live.
#[derive(Debug)]
pub struct WebSocketApi {
    pub(super) id: LogicalId,
    pub(super) stage: StageName,
    pub(super) routes: Vec<LogicalId>,
    pub(super) integrations: Vec<LogicalId>,
}

/// The API's logical id: readers of a deployed stack (`status`, `cost`)
/// find it by this.
pub const WEBSOCKET_API_ID: &str = "WebSocketApi";

impl WebSocketApi {
    pub fn add_to(template: &mut Template, stage: &StageName) -> Result<Self, TemplateError> {
        let id = template.add(
            WEBSOCKET_API_ID,
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

    /// `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<rest>`.
    fn execute_api_arn(&self, rest: &str) -> Expr {
        execute_api_arn(&self.id, [SubPart::Text(format!("/{}/{rest}", self.stage))])
    }

    /// Lets the function call the management API with `methods`, on this
    /// API's stage only, and tells it where that is (with the partition's
    /// URL suffix); nothing without methods.
    pub fn grant_manage_connections(&self, grants: &mut Grants, methods: &[ConnectionMethod]) {
        if methods.is_empty() {
            return;
        }
        let resources = methods
            .iter()
            .map(|method| self.execute_api_arn(&format!("{}/@connections/*", method.as_str())))
            .collect();
        grants.allow(
            "ManageConnections",
            &["execute-api:ManageConnections"],
            resources,
        );
        grants.set(
            MANAGEMENT_ENDPOINT_VAR,
            stage_url("https", &self.id, &self.stage),
        );
    }

    /// Adds the route `options` describe: its integration, and its
    /// authorizer, which only `$connect` may have (API Gateway authorizes a
    /// WebSocket client once, when it connects). A Lambda integration gets
    /// a permission for this API's route, and only it, to invoke the
    /// function.
    pub fn add_route(
        &mut self,
        template: &mut Template,
        options: RouteOptions,
    ) -> Result<(), TemplateError> {
        let RouteOptions {
            route_key,
            logical_prefix: name,
            integration: target,
            authorizer,
        } = options;
        if authorizer.is_some() && route_key != CONNECT_ROUTE {
            return Err(TemplateError::Invalid(format!(
                "route {route_key:?} has an authorizer: a WebSocket API authorizes on {CONNECT_ROUTE} only"
            )));
        }
        let integration = template.add(
            &format!("{name}Integration"),
            self.integration(route_key, target),
        )?;
        // Only $connect can have an authorizer; the open sample has none.
        let authorizer = authorizer.map(ConnectAuthorizer::id);
        let route = template.add(
            &format!("{name}Route"),
            Route {
                api_id: (&self.id).into(),
                route_key: route_key.to_owned(),
                authorization_type: Some(if authorizer.is_some() {
                    AuthorizationType::Custom
                } else {
                    AuthorizationType::None
                }),
                authorizer_id: authorizer.map(Expr::from),
                target: Some(Expr::sub(["integrations/".into(), (&integration).into()])),
                operation_name: Some(name.to_owned()),
            },
        )?;
        if let RouteIntegration::Lambda(function) = target {
            template.add(
                &format!("{name}Permission"),
                self.invoke_permission(function, route_key),
            )?;
        }
        self.routes.push(route);
        self.integrations.push(integration);
        Ok(())
    }

    /// The route of the clients' heartbeats
    /// ([`chat_contract::HEARTBEAT_ROUTE`]): a message there keeps the
    /// connection from going idle and invokes nothing.
    pub fn add_heartbeat_route(&mut self, template: &mut Template) -> Result<(), TemplateError> {
        let options = RouteOptions {
            route_key: chat_contract::HEARTBEAT_ROUTE,
            logical_prefix: "Heartbeat",
            integration: RouteIntegration::Mock,
            authorizer: None,
        };
        self.add_route(template, options)
    }

    /// The integration behind `route_key`: a Lambda proxy, or a `MOCK`
    /// whose one mapping template answers 200 (a route without a route
    /// response sends the client nothing back).
    fn integration(&self, route_key: &str, target: RouteIntegration) -> Integration {
        let api_id = (&self.id).into();
        match target {
            RouteIntegration::Lambda(function) => Integration {
                api_id,
                integration_type: IntegrationType::AwsProxy,
                integration_uri: Some(lambda_invocation_uri(function)),
                description: Some(format!(
                    "{route_key} to the {} function",
                    function.logical_prefix()
                )),
                timeout_in_millis: None,
                payload_format_version: None,
                request_templates: Default::default(),
                template_selection_expression: None,
            },
            RouteIntegration::Mock => Integration {
                api_id,
                integration_type: IntegrationType::Mock,
                integration_uri: None,
                description: Some(format!("{route_key}: answered by API Gateway, no function")),
                timeout_in_millis: None,
                payload_format_version: None,
                request_templates: [(
                    MOCK_TEMPLATE_KEY.to_owned(),
                    r#"{"statusCode": 200}"#.to_owned(),
                )]
                .into(),
                // `\$default` is the literal key `$default`.
                template_selection_expression: Some(format!("\\{MOCK_TEMPLATE_KEY}")),
            },
        }
    }

    /// Lets this API's `route_key` route, and only it, invoke `function`.
    fn invoke_permission(&self, function: &LambdaFunction, route_key: &str) -> Permission {
        Permission {
            action: "lambda:InvokeFunction".to_owned(),
            function_name: Expr::arn_of(function.id()),
            principal: "apigateway.amazonaws.com".to_owned(),
            source_arn: Some(self.execute_api_arn(route_key)),
            source_account: Some(Expr::Pseudo(Pseudo::AccountId)),
        }
    }
}

/// `arn:<partition>:execute-api:<region>:<account>:<api>` and `rest`:
/// what API Gateway's permissions and IAM policies name.
pub(super) fn execute_api_arn(api: &LogicalId, rest: impl IntoIterator<Item = SubPart>) -> Expr {
    Expr::sub(
        [
            "arn:".into(),
            Pseudo::Partition.into(),
            ":execute-api:".into(),
            Pseudo::Region.into(),
            ":".into(),
            Pseudo::AccountId.into(),
            ":".into(),
            api.into(),
        ]
        .into_iter()
        .chain(rest),
    )
}

/// The URI through which API Gateway invokes `function` (an integration's
/// or an authorizer's).
pub(super) fn lambda_invocation_uri(function: &LambdaFunction) -> Expr {
    Expr::sub([
        "arn:".into(),
        Pseudo::Partition.into(),
        ":apigateway:".into(),
        Pseudo::Region.into(),
        ":lambda:path/2015-03-31/functions/".into(),
        SubPart::GetAtt(function.id().clone(), "Arn".to_owned()),
        "/invocations".into(),
    ])
}

/// `<scheme>://<api>.execute-api.<region>.<suffix>/<stage>`: the API's own
/// host (never a custom domain, whose path mapping would break
/// `@connections`) with the partition's URL suffix.
pub(super) fn stage_url(scheme: &str, api: &LogicalId, stage: &StageName) -> Expr {
    Expr::sub([
        SubPart::Text(format!("{scheme}://")),
        api.into(),
        ".execute-api.".into(),
        Pseudo::Region.into(),
        ".".into(),
        Pseudo::UrlSuffix.into(),
        SubPart::Text(format!("/{stage}")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::function::test_props;
    use crate::chat::{CodeBucket, add_connect_authorizer};

    #[test]
    fn an_authorizer_is_refused_on_any_route_but_connect() {
        let mut template = Template::new("t");
        let stage: StageName = "dev".parse().unwrap();
        let code = CodeBucket::add_to(&mut template).unwrap();
        let mut api = WebSocketApi::add_to(&mut template, &stage).unwrap();
        let add = |template: &mut Template, prefix| {
            LambdaFunction::add_to(template, &test_props(prefix), &code, Grants::new()).unwrap()
        };
        let checker = add(&mut template, "Auth");
        let authorizer = add_connect_authorizer(&mut template, &api, &checker, "token").unwrap();
        let function = add(&mut template, "Send");
        let refused = api.add_route(
            &mut template,
            RouteOptions {
                route_key: "sendmessage",
                logical_prefix: "Send",
                integration: RouteIntegration::Lambda(&function),
                authorizer: Some(&authorizer),
            },
        );
        let error = refused.unwrap_err().to_string();
        assert!(
            error.contains("sendmessage") && error.contains("$connect"),
            "{error}"
        );
        let connect = add(&mut template, "Connect");
        api.add_route(
            &mut template,
            RouteOptions {
                route_key: CONNECT_ROUTE,
                logical_prefix: "Connect",
                integration: RouteIntegration::Lambda(&connect),
                authorizer: Some(&authorizer),
            },
        )
        .unwrap();
        let json = serde_json::to_value(&template).unwrap();
        let route = &json["Resources"]["ConnectRoute"]["Properties"];
        assert_eq!(route["AuthorizationType"], "CUSTOM");
        assert_eq!(
            route["AuthorizerId"],
            serde_json::json!({"Ref": "ConnectAuthorizer"})
        );
    }
}
