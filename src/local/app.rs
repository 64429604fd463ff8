//! The app as the template describes it: what `local` emulates. Routes,
//! integrations, functions, environment and tables are read from the
//! synthesized template itself, so a wiring mistake there shows up locally.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::LocalError;
use chat_contract::MANAGEMENT_ENDPOINT_VAR;

use super::throttle::RouteLimits;
use crate::chat::FUNCTIONS;

/// One function: which handler binary runs it and with what settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalFunction {
    pub logical_id: String,
    /// The handlers workspace binary, found by the code key parameter.
    pub binary: &'static str,
    /// Variables with `Ref`s to tables already resolved to local table names.
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// `LoggingConfig.LogFormat`: `JSON` or `Text`.
    pub log_format: Option<String>,
}

/// One DynamoDB table.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalTable {
    pub logical_id: String,
    pub name: String,
    pub hash_key: String,
    /// `S`, `N` or `B`.
    pub hash_key_type: String,
    /// Its RANGE key and type, if it has one.
    pub range_key: Option<(String, String)>,
    /// Its global secondary indexes.
    pub indexes: Vec<LocalIndex>,
}

/// A global secondary index of a table: its name, hash key and type, and
/// the attributes it copies besides the keys (`INCLUDE`).
#[derive(Debug, Clone, PartialEq)]
pub struct LocalIndex {
    pub name: String,
    pub hash_key: String,
    pub hash_key_type: String,
    pub included: Vec<String>,
}

/// What a WebSocket route invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// This function (logical id), through a Lambda proxy integration.
    Function(String),
    /// Nothing: a `MOCK` integration, which API Gateway answers itself.
    Mock,
}

/// A route of an HTTP API (the notify endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    /// Function logical id.
    pub function: String,
    /// `AuthorizationType: AWS_IAM`: only SigV4-signed requests.
    pub signed_only: bool,
}

/// A schedule that invokes a function with a fixed event.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSchedule {
    pub logical_id: String,
    pub expression: String,
    /// Function logical id.
    pub function: String,
    pub event: Value,
}

/// The `REQUEST` authorizer of `$connect`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalAuthorizer {
    /// Function logical id.
    pub function: String,
    /// The query-string parameter its identity source names, if it has
    /// one: without it API Gateway refuses (401) before invoking anything.
    pub query_parameter: Option<String>,
}

/// A Cognito user pool of the template and its app client, created
/// locally (in moto) under `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalUserPool {
    pub logical_id: String,
    pub name: String,
    pub client_logical_id: String,
    pub client_name: String,
    pub auth_flows: Vec<String>,
    /// `Policies.PasswordPolicy`: its minimum length and whether it
    /// requires lower case, upper case, numbers and symbols.
    pub password_policy: Option<(u32, [bool; 4])>,
}

/// A Secrets Manager secret of the template, created locally under `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSecret {
    pub logical_id: String,
    pub name: String,
}

/// An SQS queue of the template, created locally under `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalQueue {
    pub logical_id: String,
    /// Ends in `.fifo` for a FIFO queue, as SQS requires.
    pub name: String,
    pub fifo: bool,
    pub visibility_timeout: Option<u32>,
    pub message_retention: Option<u32>,
    /// The dead-letter queue's logical id and the receives before a
    /// message moves there.
    pub dead_letters: Option<(String, u32)>,
}

/// Lambda polling a queue and invoking a function with its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEventSource {
    /// Queue logical id.
    pub queue: String,
    /// Function logical id.
    pub function: String,
    pub batch_size: u32,
    /// Invocations at once (the mapping's `ScalingConfig.MaximumConcurrency`).
    pub max_concurrency: u32,
    /// Whether the function reports failed messages (`batchItemFailures`).
    pub reports_item_failures: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalApp {
    /// The body field routes are selected by (`action` for `$request.body.action`).
    pub selection_field: String,
    /// WebSocket route key to what it invokes.
    pub routes: BTreeMap<String, RouteTarget>,
    /// HTTP API route keys (`POST /notify`).
    pub http_routes: BTreeMap<String, HttpRoute>,
    pub schedules: Vec<LocalSchedule>,
    pub connect_authorizer: Option<LocalAuthorizer>,
    pub secrets: Vec<LocalSecret>,
    pub user_pools: Vec<LocalUserPool>,
    pub queues: Vec<LocalQueue>,
    pub event_sources: Vec<LocalEventSource>,
    pub functions: BTreeMap<String, LocalFunction>,
    pub tables: Vec<LocalTable>,
    /// The stage's default route throttling, when the template sets one.
    pub route_limits: Option<RouteLimits>,
}

fn invalid(what: impl Into<String>) -> LocalError {
    LocalError::Template(what.into())
}

/// The logical ids a `Fn::Sub` string refers to (`${Id}` or `${Id.Attr}`).
fn sub_references(value: &Value) -> Vec<String> {
    let text = match value.get("Fn::Sub") {
        Some(Value::String(text)) => text.as_str(),
        Some(Value::Array(parts)) => parts.first().and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    text.split("${")
        .skip(1)
        .filter_map(|rest| rest.split('}').next())
        .filter(|name| !name.starts_with("AWS::") && !name.starts_with('!'))
        .map(|name| name.split('.').next().unwrap_or(name).to_owned())
        .collect()
}

fn resources_of<'a>(
    template: &'a Value,
    kind: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(move |(_, r)| r["Type"] == kind)
}

impl LocalApp {
    /// Reads the app from a template; `table_prefix` names the local tables.
    pub fn from_template(template: &Value, table_prefix: &str) -> Result<Self, LocalError> {
        let tables = read_tables(template, table_prefix)?;
        let secrets: Vec<LocalSecret> = resources_of(template, "AWS::SecretsManager::Secret")
            .map(|(id, _)| LocalSecret {
                logical_id: id.clone(),
                name: format!("{table_prefix}-{id}"),
            })
            .collect();
        let queues = read_queues(template, table_prefix)?;
        let user_pools = read_user_pools(template, table_prefix)?;
        let created = Created {
            tables: &tables,
            secrets: &secrets,
            queues: &queues,
            user_pools: &user_pools,
        };
        let functions = read_functions(template, &created)?;
        let websocket_api = websocket_api(template)?;
        let mut routes = BTreeMap::new();
        let mut http_routes = BTreeMap::new();
        for (api, key, route) in read_routes(template, &functions)? {
            match route {
                ReadRoute::Mock if api == websocket_api => {
                    routes.insert(key, RouteTarget::Mock);
                }
                ReadRoute::Function(route) if api == websocket_api => {
                    routes.insert(key, RouteTarget::Function(route.function));
                }
                ReadRoute::Function(route) => {
                    http_routes.insert(key, route);
                }
                ReadRoute::Mock => {
                    return Err(invalid(format!(
                        "HTTP API route {key} has a MOCK integration, which local emulates on WebSocket routes only"
                    )));
                }
            }
        }
        Ok(LocalApp {
            selection_field: read_selection_field(template)?,
            routes,
            http_routes,
            schedules: read_schedules(template, &functions)?,
            connect_authorizer: read_connect_authorizer(template, &websocket_api, &functions)?,
            secrets,
            user_pools,
            event_sources: read_event_sources(template, &queues, &functions)?,
            queues,
            functions,
            tables,
            route_limits: read_route_limits(template),
        })
    }

    /// The route a message body selects: its selection field when that names
    /// a route, `$default` otherwise (not JSON, no such field, unknown key).
    pub fn select_route(&self, body: &str) -> Option<&str> {
        let selected = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|json| json.get(&self.selection_field)?.as_str().map(str::to_owned))
            .filter(|key| !key.starts_with('$'))
            .and_then(|key| self.routes.get_key_value(&key).map(|(k, _)| k.as_str()));
        selected.or_else(|| {
            self.routes
                .get_key_value("$default")
                .map(|(k, _)| k.as_str())
        })
    }
}

/// The WebSocket API (the template has one) and its logical id.
fn websocket_api_entry(template: &Value) -> Result<(&String, &Value), LocalError> {
    resources_of(template, "AWS::ApiGatewayV2::Api")
        .find(|(_, api)| api["Properties"]["ProtocolType"] == "WEBSOCKET")
        .ok_or_else(|| invalid("no AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET"))
}

fn websocket_api(template: &Value) -> Result<String, LocalError> {
    websocket_api_entry(template).map(|(id, _)| id.clone())
}

/// The logical id a `Ref` or `Fn::GetAtt` names.
fn referenced(value: &Value) -> Option<&str> {
    value
        .get("Ref")
        .and_then(Value::as_str)
        .or_else(|| value.get("Fn::GetAtt")?.get(0)?.as_str())
}

/// The authorizer of the WebSocket API's `$connect`, if it has one.
fn read_connect_authorizer(
    template: &Value,
    websocket_api: &str,
    functions: &BTreeMap<String, LocalFunction>,
) -> Result<Option<LocalAuthorizer>, LocalError> {
    let connect = resources_of(template, "AWS::ApiGatewayV2::Route").find(|(_, route)| {
        referenced(&route["Properties"]["ApiId"]) == Some(websocket_api)
            && route["Properties"]["RouteKey"] == "$connect"
    });
    let Some((route_id, route)) = connect else {
        return Ok(None);
    };
    let properties = &route["Properties"];
    if properties["AuthorizationType"] != "CUSTOM" {
        return Ok(None);
    }
    let authorizer_id = referenced(&properties["AuthorizerId"]).ok_or_else(|| {
        invalid(format!(
            "route {route_id}: CUSTOM without an AuthorizerId Ref"
        ))
    })?;
    let authorizer = &template["Resources"][authorizer_id]["Properties"];
    if authorizer["AuthorizerType"] != "REQUEST" {
        return Err(invalid(format!(
            "authorizer {authorizer_id}: local runs REQUEST authorizers only"
        )));
    }
    let function = sub_references(&authorizer["AuthorizerUri"])
        .into_iter()
        .find(|reference| functions.contains_key(reference))
        .ok_or_else(|| {
            invalid(format!(
                "authorizer {authorizer_id} invokes no function of the template"
            ))
        })?;
    let query_parameter = match authorizer["IdentitySource"].as_array().map(Vec::as_slice) {
        None | Some([]) => None,
        Some([source]) => Some(
            source
                .as_str()
                .and_then(|s| s.strip_prefix("route.request.querystring."))
                .map(str::to_owned)
                .ok_or_else(|| {
                    invalid(format!(
                        "authorizer {authorizer_id}: local supports no identity source or one route.request.querystring.* source"
                    ))
                })?,
        ),
        Some(_) => {
            return Err(invalid(format!(
                "authorizer {authorizer_id}: local supports at most one identity source"
            )));
        }
    };
    Ok(Some(LocalAuthorizer {
        function,
        query_parameter,
    }))
}

/// The schedules and the function each invokes with its input.
fn read_schedules(
    template: &Value,
    functions: &BTreeMap<String, LocalFunction>,
) -> Result<Vec<LocalSchedule>, LocalError> {
    resources_of(template, "AWS::Scheduler::Schedule")
        .map(|(id, schedule)| {
            let properties = &schedule["Properties"];
            let function = referenced(&properties["Target"]["Arn"])
                .filter(|target| functions.contains_key(*target))
                .ok_or_else(|| {
                    invalid(format!("schedule {id} invokes no function of the template"))
                })?;
            let input = properties["Target"]["Input"].as_str().unwrap_or("{}");
            Ok(LocalSchedule {
                logical_id: id.clone(),
                expression: properties["ScheduleExpression"]
                    .as_str()
                    .ok_or_else(|| invalid(format!("schedule {id} has no ScheduleExpression")))?
                    .to_owned(),
                function: function.to_owned(),
                event: serde_json::from_str(input).map_err(|e| {
                    invalid(format!("schedule {id}: Target.Input is not JSON: {e}"))
                })?,
            })
        })
        .collect()
}

/// The SQS queues, each with its redrive policy's dead-letter queue.
fn read_queues(template: &Value, name_prefix: &str) -> Result<Vec<LocalQueue>, LocalError> {
    resources_of(template, "AWS::SQS::Queue")
        .map(|(id, queue)| {
            let properties = &queue["Properties"];
            let fifo = properties["FifoQueue"] == true;
            let as_u32 = |value: &Value| value.as_u64().and_then(|n| u32::try_from(n).ok());
            let redrive = &properties["RedrivePolicy"];
            let dead_letters = if redrive.is_null() {
                None
            } else {
                let target = referenced(&redrive["deadLetterTargetArn"]).ok_or_else(|| {
                    invalid(format!("queue {id}: deadLetterTargetArn is not a GetAtt"))
                })?;
                let receives = as_u32(&redrive["maxReceiveCount"]).ok_or_else(|| {
                    invalid(format!("queue {id}: RedrivePolicy has no maxReceiveCount"))
                })?;
                Some((target.to_owned(), receives))
            };
            Ok(LocalQueue {
                logical_id: id.clone(),
                name: format!("{name_prefix}-{id}{}", if fifo { ".fifo" } else { "" }),
                fifo,
                visibility_timeout: as_u32(&properties["VisibilityTimeout"]),
                message_retention: as_u32(&properties["MessageRetentionPeriod"]),
                dead_letters,
            })
        })
        .collect()
}

/// The event source mappings from the template's queues to its functions.
fn read_event_sources(
    template: &Value,
    queues: &[LocalQueue],
    functions: &BTreeMap<String, LocalFunction>,
) -> Result<Vec<LocalEventSource>, LocalError> {
    resources_of(template, "AWS::Lambda::EventSourceMapping")
        .map(|(id, mapping)| {
            let properties = &mapping["Properties"];
            let queue = referenced(&properties["EventSourceArn"])
                .filter(|queue| queues.iter().any(|q| q.logical_id == *queue))
                .ok_or_else(|| {
                    invalid(format!("event source {id} reads no queue of the template"))
                })?;
            let function = referenced(&properties["FunctionName"])
                .filter(|function| functions.contains_key(*function))
                .ok_or_else(|| {
                    invalid(format!(
                        "event source {id} invokes no function of the template"
                    ))
                })?;
            let number = |value: &Value, default: u32| {
                value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(default)
            };
            Ok(LocalEventSource {
                queue: queue.to_owned(),
                function: function.to_owned(),
                // Lambda's defaults for SQS: batches of 10; scaling to
                // local's own concurrency limit stands in for the account's.
                batch_size: number(&properties["BatchSize"], 10),
                max_concurrency: number(&properties["ScalingConfig"]["MaximumConcurrency"], 1_000),
                reports_item_failures: properties["FunctionResponseTypes"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures")),
            })
        })
        .collect()
}

/// The body field of `RouteSelectionExpression: $request.body.<field>`.
fn read_selection_field(template: &Value) -> Result<String, LocalError> {
    let (_, api) = websocket_api_entry(template)?;
    let expression = api["Properties"]["RouteSelectionExpression"]
        .as_str()
        .ok_or_else(|| invalid("the API has no RouteSelectionExpression"))?;
    expression
        .strip_prefix("$request.body.")
        .filter(|f| !f.is_empty() && !f.contains('.'))
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("unsupported RouteSelectionExpression {expression}")))
}

/// The stage's `DefaultRouteSettings` throttling: both limits, or none.
fn read_route_limits(template: &Value) -> Option<RouteLimits> {
    let api = websocket_api(template).ok()?;
    let (_, stage) = resources_of(template, "AWS::ApiGatewayV2::Stage")
        .find(|(_, stage)| referenced(&stage["Properties"]["ApiId"]) == Some(api.as_str()))?;
    let settings = &stage["Properties"]["DefaultRouteSettings"];
    Some(RouteLimits {
        rate: settings["ThrottlingRateLimit"].as_f64()?,
        burst: u32::try_from(settings["ThrottlingBurstLimit"].as_u64()?).ok()?,
    })
}

fn read_tables(template: &Value, table_prefix: &str) -> Result<Vec<LocalTable>, LocalError> {
    resources_of(template, "AWS::DynamoDB::Table")
        .map(|(id, table)| {
            let properties = &table["Properties"];
            let (hash_key, hash_key_type) = key_of(properties, &properties["KeySchema"], "HASH")
                .ok_or_else(|| invalid(format!("table {id} has no defined HASH key")))?;
            let range_key = key_of(properties, &properties["KeySchema"], "RANGE");
            let indexes = properties["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|index| {
                    let name = index["IndexName"].as_str().unwrap_or_default().to_owned();
                    let (hash_key, hash_key_type) = key_of(properties, &index["KeySchema"], "HASH")
                        .ok_or_else(|| {
                            invalid(format!(
                                "index {name} of table {id} has no defined HASH key"
                            ))
                        })?;
                    let included = index["Projection"]["NonKeyAttributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect();
                    Ok(LocalIndex {
                        name,
                        hash_key,
                        hash_key_type,
                        included,
                    })
                })
                .collect::<Result<_, LocalError>>()?;
            Ok(LocalTable {
                logical_id: id.clone(),
                name: format!("{table_prefix}-{id}"),
                hash_key,
                hash_key_type,
                range_key,
                indexes,
            })
        })
        .collect()
}

/// The `HASH` or `RANGE` (`key_type`) attribute of `key_schema` and its
/// type, from the table's `properties`' attribute definitions.
fn key_of(properties: &Value, key_schema: &Value, key_type: &str) -> Option<(String, String)> {
    let key = key_schema
        .as_array()?
        .iter()
        .find(|k| k["KeyType"] == key_type)?["AttributeName"]
        .as_str()?;
    let key_type = properties["AttributeDefinitions"]
        .as_array()?
        .iter()
        .find(|d| d["AttributeName"] == key)?["AttributeType"]
        .as_str()?;
    Some((key.to_owned(), key_type.to_owned()))
}

/// The user pools, each with the app client that names it.
fn read_user_pools(template: &Value, name_prefix: &str) -> Result<Vec<LocalUserPool>, LocalError> {
    resources_of(template, "AWS::Cognito::UserPool")
        .map(|(id, pool)| {
            let policy = &pool["Properties"]["Policies"]["PasswordPolicy"];
            let password_policy = policy["MinimumLength"].as_u64().map(|length| {
                let required = |key: &str| policy[key].as_bool().unwrap_or(true);
                (
                    u32::try_from(length).unwrap_or(u32::MAX),
                    [
                        required("RequireLowercase"),
                        required("RequireUppercase"),
                        required("RequireNumbers"),
                        required("RequireSymbols"),
                    ],
                )
            });
            let (client_id, client) = resources_of(template, "AWS::Cognito::UserPoolClient")
                .find(|(_, client)| referenced(&client["Properties"]["UserPoolId"]) == Some(id))
                .ok_or_else(|| invalid(format!("user pool {id} has no app client")))?;
            let properties = &client["Properties"];
            Ok(LocalUserPool {
                logical_id: id.clone(),
                name: format!("{name_prefix}-{id}"),
                client_logical_id: client_id.clone(),
                client_name: properties["ClientName"]
                    .as_str()
                    .unwrap_or(client_id)
                    .to_owned(),
                auth_flows: properties["ExplicitAuthFlows"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                password_policy,
            })
        })
        .collect()
}

/// What a run creates from the template, which variables may refer to.
struct Created<'a> {
    tables: &'a [LocalTable],
    secrets: &'a [LocalSecret],
    queues: &'a [LocalQueue],
    user_pools: &'a [LocalUserPool],
}

impl Created<'_> {
    /// The local name a `Ref` to `reference` stands for: a table's,
    /// secret's or queue's name; a user pool's or client's id is known only
    /// once it exists, so it stays `${Id}` until then (see [`placeholder`]).
    fn resolve(&self, reference: &str) -> Option<String> {
        self.tables
            .iter()
            .find(|t| t.logical_id == reference)
            .map(|t| t.name.clone())
            .or_else(|| {
                self.secrets
                    .iter()
                    .find(|s| s.logical_id == reference)
                    .map(|s| s.name.clone())
            })
            .or_else(|| {
                self.queues
                    .iter()
                    .find(|q| q.logical_id == reference)
                    .map(|q| q.name.clone())
            })
            .or_else(|| {
                self.user_pools
                    .iter()
                    .flat_map(|pool| [&pool.logical_id, &pool.client_logical_id])
                    .find(|id| *id == reference)
                    .map(|id| placeholder(id))
            })
    }

    /// An `Fn::Sub` string: pseudo parameters as `local` has them, `${Id}`
    /// of what it creates resolved or left for later.
    fn substitute(&self, text: &str, region: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}')? + start;
            let name = &rest[start + 2..end];
            out.push_str(&match name {
                "AWS::Region" => region.to_owned(),
                "AWS::URLSuffix" => "amazonaws.com".to_owned(),
                _ => self.resolve(name)?,
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// How a variable names a resource whose id exists only once `local` made
/// it (a user pool's); the functions' environment replaces it.
pub fn placeholder(logical_id: &str) -> String {
    format!("${{{logical_id}}}")
}

/// The functions by logical id, each matched to its handler binary through
/// the parameter its code key comes from.
fn read_functions(
    template: &Value,
    created: &Created,
) -> Result<BTreeMap<String, LocalFunction>, LocalError> {
    resources_of(template, "AWS::Lambda::Function")
        .map(|(id, function)| {
            let properties = &function["Properties"];
            let key_parameter = properties["Code"]["S3Key"]["Ref"]
                .as_str()
                .ok_or_else(|| invalid(format!("function {id}: Code.S3Key is not a parameter")))?;
            let spec = FUNCTIONS
                .iter()
                .find(|spec| spec.code_key_parameter() == key_parameter)
                .ok_or_else(|| {
                    invalid(format!(
                        "function {id}: no handler binary for {key_parameter}"
                    ))
                })?;
            let local = LocalFunction {
                logical_id: id.clone(),
                binary: spec.name,
                environment: read_environment(id, properties, created)?,
                timeout: Duration::from_secs(properties["Timeout"].as_u64().unwrap_or(3)),
                memory_mb: properties["MemorySize"].as_u64().unwrap_or(128) as u32,
                log_format: properties["LoggingConfig"]["LogFormat"]
                    .as_str()
                    .map(str::to_owned),
            };
            Ok((id.clone(), local))
        })
        .collect()
}

/// A function's variables, `Ref`s to tables, secrets and queues resolved
/// to their local names (a secret's name serves as its id, as its ARN does
/// in AWS; a queue's name is replaced by its URL once it exists), and
/// `Fn::Sub` strings (a user pool's issuer) with the region `local` uses.
fn read_environment(
    id: &str,
    properties: &Value,
    created: &Created,
) -> Result<BTreeMap<String, String>, LocalError> {
    properties["Environment"]["Variables"]
        .as_object()
        .into_iter()
        .flatten()
        // local serves the management API itself and points every function
        // at it (see FunctionSettings).
        .filter(|(name, _)| *name != MANAGEMENT_ENDPOINT_VAR)
        .map(|(name, value)| {
            let resolved = match value {
                Value::String(text) => Some(text.clone()),
                other => match (other.get("Ref"), other.get("Fn::Sub")) {
                    (Some(Value::String(reference)), _) => created.resolve(reference),
                    (_, Some(Value::String(text))) => created.substitute(text, REGION_PLACEHOLDER),
                    _ => None,
                },
            };
            resolved
                .map(|resolved| (name.clone(), resolved))
                .ok_or_else(|| invalid(format!("function {id}: cannot resolve {name} = {value}")))
        })
        .collect()
}

/// Stands for the run's region in variables until the functions start
/// (`--dynamodb-endpoint` takes the user's).
pub const REGION_PLACEHOLDER: &str = "${AWS::Region}";

/// A route as the template gives it.
enum ReadRoute {
    Function(HttpRoute),
    Mock,
}

/// Every route: its API's logical id, its key, and where it goes,
/// following each route's `integrations/<id>` target to an `AWS_PROXY`
/// integration's function, or to a `MOCK` integration.
fn read_routes(
    template: &Value,
    functions: &BTreeMap<String, LocalFunction>,
) -> Result<Vec<(String, String, ReadRoute)>, LocalError> {
    resources_of(template, "AWS::ApiGatewayV2::Route")
        .map(|(id, route)| {
            let properties = &route["Properties"];
            let api = referenced(&properties["ApiId"])
                .ok_or_else(|| invalid(format!("route {id} has no ApiId Ref")))?;
            let key = properties["RouteKey"]
                .as_str()
                .ok_or_else(|| invalid(format!("route {id} has no RouteKey")))?;
            let integration_id = sub_references(&properties["Target"])
                .into_iter()
                .next()
                .ok_or_else(|| invalid(format!("route {id} has no integrations/ target")))?;
            let integration = &template["Resources"][&integration_id];
            match integration["Properties"]["IntegrationType"].as_str() {
                Some("AWS_PROXY") => {}
                Some("MOCK") => return Ok((api.to_owned(), key.to_owned(), ReadRoute::Mock)),
                _ => {
                    return Err(invalid(format!(
                        "route {id}: {integration_id} is neither an AWS_PROXY nor a MOCK integration"
                    )));
                }
            }
            let uri = &integration["Properties"]["IntegrationUri"];
            let function = sub_references(uri)
                .into_iter()
                .chain(referenced(uri).map(str::to_owned))
                .find(|reference| functions.contains_key(reference))
                .ok_or_else(|| {
                    invalid(format!(
                        "integration {integration_id} invokes no function of the template"
                    ))
                })?;
            let route = HttpRoute {
                function,
                signed_only: properties["AuthorizationType"] == "AWS_IAM",
            };
            Ok((api.to_owned(), key.to_owned(), ReadRoute::Function(route)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{self, StageName};

    /// A stage with every route: with history.
    fn app() -> LocalApp {
        let stage: StageName = "dev".parse().unwrap();
        let settings = crate::settings::StageSettings {
            history: Some(crate::settings::History {
                days: crate::settings::HistoryDays(7),
                max_per_request: crate::settings::HistoryMaxPerRequest(100),
            }),
            ..Default::default()
        };
        let template = serde_json::to_value(chat::template(&stage, &settings).unwrap()).unwrap();
        LocalApp::from_template(&template, "chatstack-dev").unwrap()
    }

    #[test]
    fn reads_routes_functions_and_tables_from_the_template() {
        let app = app();
        assert_eq!(app.selection_field, "action");
        let route_functions: Vec<_> = FUNCTIONS
            .iter()
            .filter(|spec| !spec.routes().is_empty())
            .collect();
        let route_count: usize = route_functions.iter().map(|spec| spec.routes().len()).sum();
        // The functions' routes, and the heartbeat's MOCK.
        assert_eq!(app.routes.len(), route_count + 1);
        assert_eq!(
            app.routes[chat_contract::HEARTBEAT_ROUTE],
            RouteTarget::Mock
        );
        assert!(app.http_routes.is_empty() && app.schedules.is_empty());
        for spec in route_functions {
            for route in spec.routes() {
                let function = format!("{}Function", spec.logical_prefix);
                assert_eq!(app.routes[route.key], RouteTarget::Function(function));
            }
            let id = &format!("{}Function", spec.logical_prefix);
            let function = &app.functions[id];
            assert_eq!(function.binary, spec.name);
            assert_eq!(
                function.timeout,
                Duration::from_secs(spec.timeout_seconds.into())
            );
            assert_eq!(function.memory_mb, spec.memory_mb);
            assert_eq!(function.log_format.as_deref(), Some("JSON"));
            assert_eq!(
                function.environment[chat_contract::TABLE_NAME_VAR],
                "chatstack-dev-ConnectionsTable"
            );
        }
        let table = |id: &str| app.tables.iter().find(|t| t.logical_id == id).unwrap();
        assert_eq!(
            table("ConnectionsTable").hash_key,
            chat_contract::CONNECTION_ID
        );
        assert_eq!(table("ConnectionsTable").range_key, None);
        let members = table("MembersTable");
        assert_eq!(members.hash_key, chat_contract::ROOM_KEY);
        assert_eq!(
            members.range_key,
            Some((chat_contract::CONNECTION_ID.to_owned(), "S".to_owned()))
        );
        let limits = app.route_limits.expect("the stage throttles its routes");
        assert!(limits.rate > 0.0 && limits.burst > 0, "{limits:?}");
    }

    #[test]
    fn reads_the_notify_endpoint_and_the_schedule() {
        let stage: StageName = "dev".parse().unwrap();
        let settings = crate::settings::Settings::parse(
            "[stages.dev.schedule]\nexpression = \"rate(2 minutes)\"\nmessage = \"hi\"\n",
            std::path::Path::new("chatstack.toml"),
        )
        .unwrap()
        .stage(&stage);
        let template = serde_json::to_value(chat::template(&stage, &settings).unwrap()).unwrap();
        let app = LocalApp::from_template(&template, "chatstack-dev").unwrap();
        assert_eq!(
            app.http_routes["POST /notify"],
            HttpRoute {
                function: "NotifyFunction".to_owned(),
                signed_only: true
            }
        );
        assert!(!app.routes.contains_key("POST /notify"));
        assert_eq!(app.functions["NotifyFunction"].binary, "notify");
        assert_eq!(app.schedules.len(), 1);
        let schedule = &app.schedules[0];
        assert_eq!(schedule.expression, "rate(2 minutes)");
        assert_eq!(schedule.function, "NotifyFunction");
        assert_eq!(schedule.event, serde_json::json!({"text": "hi"}));
        assert_eq!(
            app.route_limits,
            app_limits(),
            "the WebSocket stage's limits"
        );
    }

    fn app_limits() -> Option<RouteLimits> {
        app().route_limits
    }

    #[test]
    fn reads_the_fanout_queue_its_dead_letters_and_its_worker() {
        let app = app();
        let queue = app
            .queues
            .iter()
            .find(|q| q.logical_id == "FanoutQueue")
            .unwrap();
        assert_eq!(queue.name, "chatstack-dev-FanoutQueue.fifo");
        assert!(queue.fifo);
        assert_eq!(queue.visibility_timeout, Some(120));
        assert_eq!(
            queue.dead_letters,
            Some(("FanoutDeadLetterQueue".to_owned(), 5))
        );
        assert_eq!(
            app.event_sources,
            vec![LocalEventSource {
                queue: "FanoutQueue".to_owned(),
                function: "FanoutFunction".to_owned(),
                batch_size: 1,
                max_concurrency: 10,
                reports_item_failures: true,
            }]
        );
        assert_eq!(
            app.functions["SendMessageFunction"].environment[chat_contract::FANOUT_QUEUE_URL_VAR],
            "chatstack-dev-FanoutQueue.fifo"
        );
    }

    #[test]
    fn a_miswired_template_is_refused() {
        let stage: StageName = "dev".parse().unwrap();
        let mut template =
            serde_json::to_value(chat::template(&stage, &Default::default()).unwrap()).unwrap();
        template["Resources"]["SendMessageRoute"]["Properties"]["Target"] =
            serde_json::json!({"Fn::Sub": "integrations/${NoSuchIntegration}"});
        let error = LocalApp::from_template(&template, "x").unwrap_err();
        assert!(error.to_string().contains("SendMessageRoute"), "{error}");
    }

    #[test]
    fn route_selection_follows_api_gateway() {
        let app = app();
        assert_eq!(
            app.select_route(r#"{"action":"sendmessage","data":"x"}"#),
            Some("sendmessage")
        );
        assert_eq!(
            app.select_route(r#"{"action":"nosuchroute"}"#),
            Some("$default")
        );
        assert_eq!(
            app.select_route(r#"{"action":"$connect"}"#),
            Some("$default")
        );
        assert_eq!(app.select_route("not json"), Some("$default"));
        assert_eq!(app.select_route(r#"{"action":7}"#), Some("$default"));
    }
}
