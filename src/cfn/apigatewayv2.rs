//! `AWS::ApiGatewayV2::*`: WebSocket (and HTTP) APIs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Expr, ResourceProperties};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProtocolType {
    Http,
    Websocket,
}

/// An API.
///
/// Changing `ProtocolType` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-api.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Api {
    pub name: Expr,
    pub protocol_type: ProtocolType,
    /// Required for WebSocket APIs, for example `$request.body.action`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_selection_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ResourceProperties for Api {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Api";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthorizationType {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    #[serde(rename = "CUSTOM")]
    Custom,
    #[serde(rename = "JWT")]
    Jwt,
}

/// A route: a route key (`$connect`, `sendmessage`, ...) and its target.
///
/// Changing `ApiId` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-route.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    pub api_id: Expr,
    pub route_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_type: Option<AuthorizationType>,
    /// With `CUSTOM` authorization: the `Authorizer`'s id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<Expr>,
    /// `integrations/<IntegrationId>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
}

impl ResourceProperties for Route {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Route";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizerType {
    Request,
    Jwt,
}

/// A Lambda (`REQUEST`) or JWT authorizer of an API.
///
/// Changing `ApiId` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-authorizer.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authorizer {
    pub api_id: Expr,
    pub authorizer_type: AuthorizerType,
    pub name: String,
    /// For `REQUEST`: the Lambda invocation URI, as for an integration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<Expr>,
    /// Where the credential is, for example `route.request.querystring.token`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_source: Vec<String>,
}

impl ResourceProperties for Authorizer {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Authorizer";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntegrationType {
    Aws,
    AwsProxy,
    Http,
    HttpProxy,
    Mock,
}

/// An integration: where a route's requests go.
///
/// Changing `ApiId` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-integration.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    pub api_id: Expr,
    pub integration_type: IntegrationType,
    /// For Lambda: `arn:<partition>:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_uri: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 50 to 29,000 ms for WebSocket APIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_in_millis: Option<u32>,
    /// HTTP APIs' Lambda proxy event format: `2.0` (or `1.0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_format_version: Option<String>,
    /// Mapping templates by key (WebSocket APIs), chosen by the
    /// template selection expression; a `MOCK` integration's gives its
    /// status code.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_templates: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_selection_expression: Option<String>,
}

impl ResourceProperties for Integration {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Integration";
}

/// Throttling, metrics and logging applied to every route of a stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_burst_limit: Option<u32>,
    /// Requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttling_rate_limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detailed_metrics_enabled: Option<bool>,
    /// Execution logging: `OFF`, `ERROR` or `INFO` (needs the account's
    /// API Gateway CloudWatch role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<String>,
    /// Whether execution logs hold whole requests and responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_trace_enabled: Option<bool>,
}

/// Where a stage's access log goes, and each line's format.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessLogSettings {
    pub destination_arn: Expr,
    /// `$context` variables, in JSON here.
    pub format: String,
}

/// A named stage (`dev`, `prod`, ...) serving one deployment.
///
/// Changing `ApiId` or `StageName` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-stage.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    pub api_id: Expr,
    pub stage_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_deploy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_route_settings: Option<RouteSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<AccessLogSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ResourceProperties for Stage {
    const TYPE: &'static str = "AWS::ApiGatewayV2::Stage";
}

/// How a custom domain is served.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainNameConfiguration {
    pub certificate_arn: String,
    /// `REGIONAL` (the only kind WebSocket APIs take).
    pub endpoint_type: String,
    /// `TLS_1_2`: TLS 1.2 at least.
    pub security_policy: String,
}

/// A custom domain name for APIs.
///
/// Changing `DomainName` replaces it:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-domainname.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainName {
    pub domain_name: String,
    pub domain_name_configurations: Vec<DomainNameConfiguration>,
}

impl ResourceProperties for DomainName {
    const TYPE: &'static str = "AWS::ApiGatewayV2::DomainName";
}

/// Serves an API's stage at a custom domain (at its root, without a key).
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-apimapping.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiMapping {
    pub api_id: Expr,
    pub domain_name: Expr,
    pub stage: Expr,
}

impl ResourceProperties for ApiMapping {
    const TYPE: &'static str = "AWS::ApiGatewayV2::ApiMapping";
}
