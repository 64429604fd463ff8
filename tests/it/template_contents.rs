//! What the chat template contains: wiring and least privilege.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use chat_contract::{
    CONNECTION_ID, EXPIRES_AT, HISTORY_MAX_PER_REQUEST_VAR, HISTORY_RETENTION_SECONDS_VAR,
    HISTORY_TABLE_VAR, MANAGEMENT_ENDPOINT_VAR, TABLE_NAME_VAR,
};
use chatstack::chat::{self, ConnectionMethod, FUNCTIONS, StageName, TableAction};
use chatstack::settings::Settings;

/// Settings that add everything to dev: the notify endpoint, a schedule,
/// tokens and history; prod has the notify endpoint and history.
const EVERYTHING: &str = r#"
[stages.dev]
notify = true
authorization = true
[stages.dev.history]
days = 2
[stages.dev.schedule]
expression = "rate(1 hour)"
message = "Hourly <notice> \"quoted\""
[stages.prod]
notify = true
[stages.prod.history]
"#;

fn template_with(stage: &str, settings: &str) -> Value {
    let stage: StageName = stage.parse().unwrap();
    let settings = Settings::parse(settings, Path::new("chatstack.toml"))
        .unwrap()
        .stage(&stage);
    serde_json::to_value(chat::template(&stage, &settings).unwrap()).unwrap()
}

/// The template of `stage` with every function.
fn template(stage: &str) -> Value {
    template_with(stage, EVERYTHING)
}

/// The functions that serve WebSocket routes.
fn route_functions() -> impl Iterator<Item = &'static chat::FunctionSpec> {
    FUNCTIONS.iter().filter(|spec| !spec.routes().is_empty())
}

/// The resources of `kind` that belong to the WebSocket API.
fn of_websocket_api<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    resources_of_type(template, kind)
        .into_iter()
        .filter(|(_, r)| r["Properties"]["ApiId"] == json!({"Ref": "WebSocketApi"}))
        .collect()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn statements(template: &Value) -> Vec<(&String, &Value)> {
    resources_of_type(template, "AWS::IAM::Role")
        .into_iter()
        .flat_map(|(id, role)| {
            role["Properties"]["Policies"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
                .map(move |s| (id, s))
        })
        .collect()
}

/// The template of every stage the tests configure (`common::SETTINGS`),
/// and of one with every function (`EVERYTHING`'s dev).
fn every_configured_template() -> Vec<(&'static str, Value)> {
    let mut all = vec![("dev", template("dev"))];
    for stage in crate::common::CONFIGURED_STAGES {
        let name: StageName = stage.parse().unwrap();
        let settings = crate::common::stage_settings(&name);
        all.push((
            stage,
            serde_json::to_value(chat::template(&name, &settings).unwrap()).unwrap(),
        ));
    }
    all
}

#[test]
fn no_wildcard_resource_or_action_and_no_managed_policy() {
    for (stage, template) in every_configured_template() {
        let statements = statements(&template);
        assert!(!statements.is_empty());
        for (role, statement) in statements {
            for action in statement["Action"].as_array().unwrap() {
                assert!(
                    !action.as_str().unwrap().contains('*'),
                    "{stage} {role}: {action}"
                );
            }
            for resource in statement["Resource"].as_array().unwrap() {
                assert_ne!(resource, "*", "{stage} {role}");
            }
        }
        for (id, role) in resources_of_type(&template, "AWS::IAM::Role") {
            assert!(
                role["Properties"].get("ManagedPolicyArns").is_none(),
                "{stage} {id}"
            );
        }
    }
}

#[test]
fn every_log_group_is_kept_a_while_and_goes_with_the_stack_and_all_at_rest_is_encrypted() {
    for (stage, template) in every_configured_template() {
        let groups = resources_of_type(&template, "AWS::Logs::LogGroup");
        assert!(!groups.is_empty());
        for (id, group) in groups {
            assert!(
                group["Properties"]["RetentionInDays"].as_u64().is_some(),
                "{stage} {id}"
            );
            assert_eq!(group["DeletionPolicy"], "Delete", "{stage} {id}");
        }
        for (id, table) in resources_of_type(&template, "AWS::DynamoDB::Table") {
            assert_eq!(
                table["Properties"]["SSESpecification"]["SSEEnabled"], true,
                "{stage} {id}"
            );
        }
        for (id, queue) in resources_of_type(&template, "AWS::SQS::Queue") {
            assert_eq!(
                queue["Properties"]["SqsManagedSseEnabled"], true,
                "{stage} {id}"
            );
        }
        for (id, topic) in resources_of_type(&template, "AWS::SNS::Topic") {
            let key = &topic["Properties"]["KmsMasterKeyId"];
            assert!(
                key.get("Ref").is_some(),
                "{stage} {id}: a key of the stack's"
            );
        }
        for (id, key) in resources_of_type(&template, "AWS::KMS::Key") {
            assert_eq!(key["Properties"]["EnableKeyRotation"], true, "{stage} {id}");
        }
    }
}

/// Each role's actions, and the resources of its ManageConnections statement.
fn access_of(template: &Value, role: &str) -> (BTreeSet<String>, Vec<Value>) {
    let mut actions = BTreeSet::new();
    let mut manage = Vec::new();
    for (id, statement) in statements(template) {
        if id != role {
            continue;
        }
        for action in statement["Action"].as_array().unwrap() {
            let action = action.as_str().unwrap().to_owned();
            if action == "execute-api:ManageConnections" {
                manage.extend(statement["Resource"].as_array().unwrap().iter().cloned());
            }
            actions.insert(action);
        }
    }
    (actions, manage)
}

fn connections_arn(method: &str) -> Value {
    json!({"Fn::Sub": format!(
        "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{WebSocketApi}}/dev/{method}/@connections/*"
    )})
}

#[test]
fn each_function_gets_only_what_its_spec_declares() {
    let template = template("dev");
    for spec in FUNCTIONS {
        let role = format!("{}Role", spec.logical_prefix);
        let (actions, manage) = access_of(&template, &role);
        let mut expected: BTreeSet<String> = ["logs:CreateLogStream", "logs:PutLogEvents"]
            .map(str::to_owned)
            .into();
        expected.extend(spec.table_actions.iter().map(|a| format!("dynamodb:{a:?}")));
        expected.extend(
            spec.member_actions
                .iter()
                .chain(spec.history_actions)
                .map(|a| format!("dynamodb:{a:?}")),
        );
        if !spec.connection_methods.is_empty() {
            expected.insert("execute-api:ManageConnections".to_owned());
        }
        if spec.trigger == chat::Trigger::Authorizer {
            expected.insert("secretsmanager:GetSecretValue".to_owned());
        }
        // The client limits: counting a user's connections (with tokens)
        // and a sender's messages.
        match spec.enforces {
            chat::Enforces::Nothing => {}
            chat::Enforces::ConnectionsPerUser => {
                expected.insert("dynamodb:Query".to_owned());
            }
            chat::Enforces::MessagesPerMinute => {
                expected.insert("dynamodb:UpdateItem".to_owned());
            }
        }
        match spec.fanout {
            chat::FanoutPart::None => {}
            chat::FanoutPart::Splits => {
                expected.insert("sqs:SendMessage".to_owned());
            }
            chat::FanoutPart::Works => expected.extend(
                [
                    "sqs:SendMessage",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    // The jobs table (see the next test).
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                ]
                .map(str::to_owned),
            ),
        }
        assert_eq!(actions, expected, "{role}");
        let methods: Vec<Value> = spec
            .connection_methods
            .iter()
            .map(|m| connections_arn(&format!("{m:?}").to_uppercase()))
            .collect();
        assert_eq!(
            manage, methods,
            "{role} manages connections of this stage only"
        );
    }
}

#[test]
fn only_the_functions_that_post_may_manage_connections() {
    let template = template("dev");
    for spec in FUNCTIONS {
        let (actions, _) = access_of(&template, &format!("{}Role", spec.logical_prefix));
        let posts = spec.connection_methods.contains(&ConnectionMethod::Post)
            || spec.connection_methods.contains(&ConnectionMethod::Get);
        assert_eq!(
            actions.contains("execute-api:ManageConnections"),
            posts,
            "{}",
            spec.name
        );
        assert!(
            !actions.contains("dynamodb:Scan") || spec.table_actions.contains(&TableAction::Scan),
            "{} scans only if declared",
            spec.name
        );
    }
}

#[test]
fn table_and_log_grants_name_their_own_resources() {
    let template = template("dev");
    for (role, statement) in statements(&template) {
        let prefix = role.trim_end_matches("Role");
        let resources = statement["Resource"].as_array().unwrap();
        match statement["Action"][0].as_str().unwrap() {
            // The worker's record of finished jobs: the test below.
            _ if statement["Sid"] == "RecordFanoutJobs" => {}
            // $connect's count of a user's connections: that index only.
            _ if statement["Sid"] == "ConnectionsByUser" => {
                assert_eq!(role, "ConnectRole");
                assert_eq!(
                    resources,
                    &[json!({"Fn::Sub": "${ConnectionsTable.Arn}/index/ByUser"})]
                )
            }
            // The room memberships: that table only.
            _ if statement["Sid"] == "MembersTable" => {
                assert_eq!(resources, &[json!({"Fn::GetAtt": ["MembersTable", "Arn"]})])
            }
            // The rooms' messages: that table only.
            _ if statement["Sid"] == "HistoryTable" => {
                assert_eq!(resources, &[json!({"Fn::GetAtt": ["HistoryTable", "Arn"]})])
            }
            a if a.starts_with("dynamodb:") => {
                assert_eq!(
                    resources,
                    &[json!({"Fn::GetAtt": ["ConnectionsTable", "Arn"]})]
                )
            }
            a if a.starts_with("logs:") => assert_eq!(
                resources,
                &[json!({"Fn::GetAtt": [format!("{prefix}LogGroup"), "Arn"]})],
                "{role} writes only its own log group"
            ),
            _ => {}
        }
    }
}

#[test]
fn every_route_reaches_its_own_function_and_only_this_api_may_invoke_it() {
    let template = template("prod");
    let resources = &template["Resources"];
    let routes = of_websocket_api(&template, "AWS::ApiGatewayV2::Route");
    let keys: BTreeSet<_> = routes
        .iter()
        .map(|(_, r)| r["Properties"]["RouteKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        route_functions()
            .flat_map(|spec| spec.routes().iter())
            .map(|route| route.key)
            .chain([chat_contract::HEARTBEAT_ROUTE])
            .collect(),
        "every route of every function, and the heartbeat's"
    );
    // The heartbeat: a MOCK that API Gateway answers itself (200, no route
    // response), with no function and no permission.
    let heartbeat = &resources["HeartbeatRoute"]["Properties"];
    assert_eq!(heartbeat["RouteKey"], chat_contract::HEARTBEAT_ROUTE);
    assert_eq!(heartbeat["AuthorizationType"], "NONE");
    assert!(heartbeat.get("RouteResponseSelectionExpression").is_none());
    let mock = &resources["HeartbeatIntegration"]["Properties"];
    assert_eq!(mock["IntegrationType"], "MOCK");
    assert!(mock.get("IntegrationUri").is_none());
    assert_eq!(mock["TemplateSelectionExpression"], "\\$default");
    assert_eq!(
        mock["RequestTemplates"],
        json!({"$default": r#"{"statusCode": 200}"#})
    );
    assert!(resources.get("HeartbeatPermission").is_none());
    let routes = route_functions().flat_map(|spec| spec.routes().iter().map(move |r| (spec, r)));
    for (spec, spec_route) in routes {
        let prefix = spec_route.logical_prefix;
        let function = spec.logical_prefix;
        let route = &resources[format!("{prefix}Route")]["Properties"];
        assert_eq!(route["RouteKey"], spec_route.key);
        assert_eq!(route["AuthorizationType"], "NONE");
        assert_eq!(
            route["Target"],
            json!({"Fn::Sub": format!("integrations/${{{prefix}Integration}}")})
        );
        let integration = &resources[format!("{prefix}Integration")]["Properties"];
        assert_eq!(integration["IntegrationType"], "AWS_PROXY");
        assert_eq!(
            integration["IntegrationUri"],
            json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{function}Function.Arn}}/invocations"
            )})
        );
        let permission = &resources[format!("{prefix}Permission")]["Properties"];
        assert_eq!(
            permission["FunctionName"],
            json!({"Fn::GetAtt": [format!("{function}Function"), "Arn"]})
        );
        assert_eq!(
            permission["SourceArn"],
            json!({"Fn::Sub": format!(
                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{WebSocketApi}}/prod/{}",
                spec_route.key
            )})
        );
    }
    // The fan-out worker's event source invokes it with its own role: no
    // resource policy.
    let route_count: usize = route_functions().map(|spec| spec.routes().len()).sum();
    let others =
        resources_of_type(&template, "AWS::Lambda::Function").len() - route_functions().count() - 1;
    assert_eq!(
        resources_of_type(&template, "AWS::Lambda::Permission").len(),
        route_count + others,
        "one permission per route (and per other function the API invokes), each with a scoped SourceArn"
    );
}

#[test]
fn functions_are_rust_on_arm64_with_code_from_parameters_and_own_log_group() {
    let template = template("dev");
    let functions = resources_of_type(&template, "AWS::Lambda::Function");
    assert_eq!(functions.len(), FUNCTIONS.len());
    for spec in FUNCTIONS {
        let prefix = spec.logical_prefix;
        let function = &template["Resources"][format!("{prefix}Function")]["Properties"];
        assert_eq!(function["Runtime"], "provided.al2023");
        assert_eq!(function["Architectures"], json!(["arm64"]));
        assert_eq!(function["Handler"], "bootstrap");
        assert_eq!(
            function["Code"],
            json!({"S3Bucket": {"Ref": "AssetsBucket"}, "S3Key": {"Ref": spec.code_key_parameter()}})
        );
        // The authorizer knows only its secret (checked on its own).
        let table = &function["Environment"]["Variables"][TABLE_NAME_VAR];
        if spec.trigger == chat::Trigger::Authorizer {
            assert!(table.is_null(), "{prefix}: {table}");
        } else {
            assert_eq!(table, &json!({"Ref": "ConnectionsTable"}));
        }
        // Functions that post get the stage's own management endpoint, with
        // the partition's URL suffix (China, GovCloud); the others need none.
        let endpoint = &function["Environment"]["Variables"][MANAGEMENT_ENDPOINT_VAR];
        if spec.connection_methods.is_empty() {
            assert!(endpoint.is_null(), "{prefix}: {endpoint}");
        } else {
            assert_eq!(
                endpoint,
                &json!({"Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev"})
            );
        }
        assert_eq!(
            function["LoggingConfig"]["LogGroup"],
            json!({"Ref": format!("{prefix}LogGroup")})
        );
        assert_eq!(function["Timeout"], spec.timeout_seconds);
        assert_eq!(function["MemorySize"], spec.memory_mb);
        assert!(
            (1..=29).contains(&spec.timeout_seconds),
            "{prefix}: API Gateway's integration timeout is 29 s"
        );
        let log_group = &template["Resources"][format!("{prefix}LogGroup")];
        assert!(
            log_group["Properties"]["RetentionInDays"]
                .as_u64()
                .is_some()
        );
        assert_eq!(log_group["DeletionPolicy"], "Delete");
        assert!(
            template["Parameters"]
                .get(spec.code_key_parameter())
                .is_some()
        );
    }
}

#[test]
fn history_is_a_table_of_rooms_by_number_written_by_sendmessage_and_notify_and_read_by_rooms() {
    let without = template_with("prod", "");
    let template = template("dev");
    let resources = &template["Resources"];
    let table = &resources["HistoryTable"];
    assert_eq!(table["DeletionPolicy"], "Delete", "deleted with the stack");
    let properties = &table["Properties"];
    assert_eq!(
        properties["KeySchema"],
        json!([
            {"AttributeName": "room", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"}
        ])
    );
    assert_eq!(
        properties["AttributeDefinitions"],
        json!([
            {"AttributeName": "room", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"}
        ])
    );
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        properties["TimeToLiveSpecification"],
        json!({"AttributeName": EXPIRES_AT, "Enabled": true})
    );
    assert_eq!(properties["SSESpecification"], json!({"SSEEnabled": true}));
    assert_eq!(
        template["Outputs"]["HistoryTableName"]["Value"],
        json!({"Ref": "HistoryTable"})
    );

    // Only the writer and the reader know of it, each with its own actions.
    for spec in FUNCTIONS {
        let role = format!("{}Role", spec.logical_prefix);
        let on_history: BTreeSet<String> = statements(&template)
            .into_iter()
            .filter(|(id, statement)| *id == &role && statement["Sid"] == "HistoryTable")
            .flat_map(|(_, statement)| statement["Action"].as_array().unwrap().clone())
            .map(|action| action.as_str().unwrap().to_owned())
            .collect();
        let expected: BTreeSet<String> = match spec.name {
            "sendmessage" | "notify" => ["dynamodb:UpdateItem", "dynamodb:PutItem"]
                .map(str::to_owned)
                .into(),
            "rooms" => ["dynamodb:GetItem", "dynamodb:Query"]
                .map(str::to_owned)
                .into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(on_history, expected, "{}", spec.name);
        let function = &resources[format!("{}Function", spec.logical_prefix)]["Properties"];
        let variables = &function["Environment"]["Variables"];
        if expected.is_empty() {
            assert!(variables.get(HISTORY_TABLE_VAR).is_none(), "{}", spec.name);
            continue;
        }
        assert_eq!(variables[HISTORY_TABLE_VAR], json!({"Ref": "HistoryTable"}));
        assert_eq!(variables[HISTORY_RETENTION_SECONDS_VAR], "172800", "2 days");
        assert_eq!(variables[HISTORY_MAX_PER_REQUEST_VAR], "100", "the default");
    }
    assert_eq!(
        resources["HistoryRoute"]["Properties"]["RouteKey"],
        chat_contract::HISTORY_ROUTE
    );
    assert_eq!(
        resources["HistoryIntegration"]["Properties"]["IntegrationUri"],
        resources["JoinIntegration"]["Properties"]["IntegrationUri"],
        "the rooms function answers it"
    );

    // A stage without history has none of it.
    let text = without.to_string();
    for absent in ["HistoryTable", "HistoryRoute", HISTORY_TABLE_VAR] {
        assert!(
            !text.contains(absent),
            "a stage without history has no {absent}"
        );
    }
}

#[test]
fn connections_table_is_on_demand_encrypted_with_ttl_and_stated_policies() {
    let template = template("dev");
    let table = &template["Resources"]["ConnectionsTable"];
    assert_eq!(table["DeletionPolicy"], "Delete");
    assert_eq!(table["UpdateReplacePolicy"], "Delete");
    let properties = &table["Properties"];
    assert_eq!(
        properties["KeySchema"],
        json!([{"AttributeName": CONNECTION_ID, "KeyType": "HASH"}])
    );
    // With tokens, an index by user name holding each id's expiry.
    assert_eq!(
        properties["AttributeDefinitions"],
        json!([
            {"AttributeName": CONNECTION_ID, "AttributeType": "S"},
            {"AttributeName": "userName", "AttributeType": "S"}
        ])
    );
    assert_eq!(
        properties["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": "ByUser",
            "KeySchema": [{"AttributeName": "userName", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [EXPIRES_AT]}
        }])
    );
    // Without tokens there are no users, and no index.
    let open = template_with("dev", "");
    let open_table = &open["Resources"]["ConnectionsTable"]["Properties"];
    assert_eq!(
        open_table["AttributeDefinitions"],
        json!([{"AttributeName": CONNECTION_ID, "AttributeType": "S"}])
    );
    assert!(open_table.get("GlobalSecondaryIndexes").is_none());
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        properties["TimeToLiveSpecification"],
        json!({"AttributeName": EXPIRES_AT, "Enabled": true})
    );
    assert_eq!(properties["SSESpecification"], json!({"SSEEnabled": true}));
}

#[test]
fn stage_deploys_itself_once_every_route_and_integration_exists() {
    let template = template("dev");
    assert!(
        resources_of_type(&template, "AWS::ApiGatewayV2::Deployment").is_empty(),
        "a Deployment resource would keep serving removed routes"
    );
    let depends: BTreeSet<_> = template["Resources"]["Stage"]["DependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let wired: BTreeSet<_> = of_websocket_api(&template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .chain(of_websocket_api(
            &template,
            "AWS::ApiGatewayV2::Integration",
        ))
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(depends, wired);
    let routes: usize = route_functions().map(|spec| spec.routes().len()).sum();
    assert_eq!(
        wired.len(),
        2 * (routes + 1),
        "a route and an integration each, the heartbeat's included"
    );
    let stage = &template["Resources"]["Stage"]["Properties"];
    assert_eq!(stage["AutoDeploy"], true);
    assert!(stage.get("DeploymentId").is_none());
    assert!(
        stage["DefaultRouteSettings"]["ThrottlingRateLimit"]
            .as_f64()
            .is_some()
    );
    assert!(
        stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]
            .as_u64()
            .is_some()
    );
}

#[test]
fn api_routes_on_the_action_field() {
    let template = template("dev");
    let api = &template["Resources"]["WebSocketApi"]["Properties"];
    assert_eq!(api["ProtocolType"], "WEBSOCKET");
    assert_eq!(api["RouteSelectionExpression"], "$request.body.action");
}

#[test]
fn outputs_give_both_urls_and_the_table() {
    let template = template("dev");
    let outputs = &template["Outputs"];
    assert_eq!(
        outputs["CallbackUrl"]["Value"],
        json!({"Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev"})
    );
    assert_eq!(
        outputs["WebSocketUrl"]["Value"],
        json!({"Fn::Sub": "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev"})
    );
    assert_eq!(
        outputs["ConnectionsTableName"]["Value"],
        json!({"Ref": "ConnectionsTable"})
    );
}

#[test]
fn without_settings_a_stage_has_neither_notify_nor_schedule() {
    for settings in ["", "[stages.other]\nnotify = true\n"] {
        let template = template_with("dev", settings);
        for kind in ["AWS::Scheduler::Schedule", "AWS::Lambda::Function"] {
            let ids: Vec<_> = resources_of_type(&template, kind)
                .into_iter()
                .map(|(id, _)| id.as_str())
                .collect();
            assert!(
                !ids.iter()
                    .any(|id| id.contains("Notify") || id.contains("Schedule")),
                "{ids:?}"
            );
        }
        assert_eq!(
            resources_of_type(&template, "AWS::ApiGatewayV2::Api").len(),
            1
        );
        assert!(template["Outputs"].get("NotifyUrl").is_none());
        assert!(template["Parameters"].get("NotifyCodeKey").is_none());
    }
}

#[test]
fn the_notify_endpoint_takes_only_signed_posts_and_only_it_may_invoke_notify() {
    let template = template_with("prod", EVERYTHING);
    let resources = &template["Resources"];
    let api = &resources["NotifyApi"]["Properties"];
    assert_eq!(api["ProtocolType"], "HTTP");
    let routes: Vec<_> = resources_of_type(&template, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .filter(|(_, r)| r["Properties"]["ApiId"] == json!({"Ref": "NotifyApi"}))
        .collect();
    assert_eq!(
        routes.len(),
        1,
        "one route: nothing else of the API is reachable"
    );
    let route = &routes[0].1["Properties"];
    assert_eq!(route["RouteKey"], "POST /notify");
    assert_eq!(route["AuthorizationType"], "AWS_IAM");
    let integration = &resources["NotifyIntegration"]["Properties"];
    assert_eq!(integration["PayloadFormatVersion"], "2.0");
    assert_eq!(
        integration["IntegrationUri"],
        json!({"Fn::GetAtt": ["NotifyFunction", "Arn"]})
    );
    let route_arn = json!({"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${NotifyApi}/*/POST/notify"});
    assert_eq!(
        resources["NotifyPermission"]["Properties"]["SourceArn"],
        route_arn
    );
    assert_eq!(template["Outputs"]["NotifyRouteArn"]["Value"], route_arn);
    assert_eq!(
        template["Outputs"]["NotifyUrl"]["Value"],
        json!({"Fn::Sub": "https://${NotifyApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/notify"})
    );
    assert_eq!(
        resources["NotifyStage"]["Properties"]["StageName"],
        "$default"
    );
    assert!(
        resources.get("PushSchedule").is_none(),
        "prod has no schedule"
    );
}

#[test]
fn the_schedule_invokes_notify_through_a_role_that_may_do_nothing_else() {
    let template = template("dev");
    let resources = &template["Resources"];
    let schedule = &resources["PushSchedule"]["Properties"];
    assert_eq!(schedule["ScheduleExpression"], "rate(1 hour)");
    assert_eq!(schedule["FlexibleTimeWindow"]["Mode"], "OFF");
    let target = &schedule["Target"];
    assert_eq!(
        target["Arn"],
        json!({"Fn::GetAtt": ["NotifyFunction", "Arn"]})
    );
    assert_eq!(
        target["RoleArn"],
        json!({"Fn::GetAtt": ["PushScheduleRole", "Arn"]})
    );
    let input: Value = serde_json::from_str(target["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"text": "Hourly <notice> \"quoted\""}));

    let role = &resources["PushScheduleRole"]["Properties"];
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"],
        json!([{
            "Effect": "Allow",
            "Principal": {"Service": ["scheduler.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        }])
    );
    let policies = role["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(
        policies[0]["PolicyDocument"]["Statement"],
        json!([{
            "Sid": "InvokeNotify",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [{"Fn::GetAtt": ["NotifyFunction", "Arn"]}]
        }])
    );
}

#[test]
fn with_authorization_connect_takes_a_token_checked_against_a_generated_secret() {
    let template = template("dev");
    let resources = &template["Resources"];
    let secret = &resources["TokenSecret"]["Properties"];
    assert!(
        secret.get("SecretString").is_none(),
        "the value is generated, never written"
    );
    assert!(
        secret["GenerateSecretString"]["PasswordLength"]
            .as_u64()
            .unwrap()
            >= 32
    );

    let connect = &resources["ConnectRoute"]["Properties"];
    assert_eq!(connect["AuthorizationType"], "CUSTOM");
    assert_eq!(connect["AuthorizerId"], json!({"Ref": "ConnectAuthorizer"}));
    for other in ["DisconnectRoute", "SendMessageRoute", "DefaultRoute"] {
        assert_eq!(
            resources[other]["Properties"]["AuthorizationType"], "NONE",
            "{other}"
        );
    }
    let authorizer = &resources["ConnectAuthorizer"]["Properties"];
    assert_eq!(authorizer["AuthorizerType"], "REQUEST");
    // A token may come in the query or in Sec-WebSocket-Protocol: naming
    // either as the identity source would refuse the other (401).
    assert!(authorizer.get("IdentitySource").is_none(), "{authorizer}");
    assert_eq!(
        resources["AuthorizerPermission"]["Properties"]["SourceArn"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/authorizers/${ConnectAuthorizer}"})
    );
    // The authorizer reads that one secret and writes its logs, nothing else.
    let (actions, _) = access_of(&template, "AuthorizerRole");
    assert_eq!(
        actions,
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "secretsmanager:GetSecretValue"
        ]
        .map(str::to_owned)
        .into()
    );
    let read: Vec<_> = statements(&template)
        .into_iter()
        .filter(|(_, s)| s["Action"] == json!(["secretsmanager:GetSecretValue"]))
        .collect();
    assert_eq!(read.len(), 1, "only the authorizer reads the secret");
    assert_eq!(read[0].1["Resource"], json!([{"Ref": "TokenSecret"}]));
    assert_eq!(
        resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"],
        json!({"CHATSTACK_TOKEN_SECRET_ARN": {"Ref": "TokenSecret"}})
    );
    assert_eq!(
        template["Outputs"]["TokenSecretArn"]["Value"],
        json!({"Ref": "TokenSecret"})
    );

    let open = template_with("prod", EVERYTHING);
    assert!(open["Resources"].get("TokenSecret").is_none());
    assert_eq!(
        open["Resources"]["ConnectRoute"]["Properties"]["AuthorizationType"],
        "NONE"
    );
}

#[test]
fn large_broadcasts_go_through_a_fifo_queue_to_a_bounded_worker_with_dead_letters() {
    let template = template_with(
        "dev",
        "[stages.dev]\nnotify = true\n[stages.dev.broadcast]\ndirect_limit = 500\nworkers = 25\n",
    );
    let resources = &template["Resources"];
    let queue = &resources["FanoutQueue"]["Properties"];
    assert_eq!(queue["FifoQueue"], true);
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    assert_eq!(
        queue["RedrivePolicy"],
        json!({"deadLetterTargetArn": {"Fn::GetAtt": ["FanoutDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5})
    );
    let worker_timeout = resources["FanoutFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    assert!(
        queue["VisibilityTimeout"].as_u64().unwrap() >= 6 * worker_timeout,
        "a job stays hidden while its worker may still run"
    );
    assert_eq!(
        resources["FanoutDeadLetterQueue"]["Properties"]["FifoQueue"],
        true
    );
    for queue in ["FanoutQueue", "FanoutDeadLetterQueue"] {
        // SQS requires a FIFO queue's name to end in .fifo.
        let name = &resources[queue]["Properties"]["QueueName"]["Fn::Join"][1];
        assert_eq!(name.as_array().unwrap().last().unwrap(), ".fifo", "{queue}");
    }

    let sources = resources_of_type(&template, "AWS::Lambda::EventSourceMapping");
    assert_eq!(sources.len(), 1);
    let source = &sources[0].1["Properties"];
    assert_eq!(source["FunctionName"], json!({"Ref": "FanoutFunction"}));
    assert_eq!(
        source["EventSourceArn"],
        json!({"Fn::GetAtt": ["FanoutQueue", "Arn"]})
    );
    assert_eq!(source["BatchSize"], 1);
    assert_eq!(source["ScalingConfig"]["MaximumConcurrency"], 25);
    assert_eq!(
        source["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );

    // Only the worker, which queues its segment's next page, may loop.
    for (id, function) in resources_of_type(&template, "AWS::Lambda::Function") {
        let expected = (id == "FanoutFunction").then(|| json!("Allow"));
        assert_eq!(
            function["Properties"].get("RecursiveLoop").cloned(),
            expected,
            "{id}"
        );
    }
    // The functions that broadcast, and only they, know the queue and the rule.
    for spec in FUNCTIONS {
        let variables = &resources[format!("{}Function", spec.logical_prefix)]["Properties"]["Environment"]
            ["Variables"];
        let knows = spec.fanout != chat::FanoutPart::None;
        assert_eq!(
            variables.get("CHATSTACK_FANOUT_QUEUE_URL").is_some(),
            knows,
            "{}",
            spec.name
        );
        if knows {
            assert_eq!(
                variables["CHATSTACK_FANOUT_QUEUE_URL"],
                json!({"Ref": "FanoutQueue"})
            );
            assert_eq!(variables["CHATSTACK_DIRECT_LIMIT"], "500");
            assert_eq!(variables["CHATSTACK_FANOUT_SEGMENTS"], "25");
        }
    }
    // Every queue grant names this queue alone.
    for (role, statement) in statements(&template) {
        let actions = statement["Action"].as_array().unwrap();
        if actions
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("sqs:"))
        {
            assert_eq!(
                statement["Resource"],
                json!([{"Fn::GetAtt": ["FanoutQueue", "Arn"]}]),
                "{role}"
            );
        }
    }
    assert_eq!(
        template["Outputs"]["FanoutDeadLetterQueueUrl"]["Value"],
        json!({"Ref": "FanoutDeadLetterQueue"})
    );
}

#[test]
fn scheduled_pushes_start_at_most_five_minutes_late_and_never_run_twice() {
    let template = template("dev");
    let resources = &template["Resources"];
    let retry = &resources["PushSchedule"]["Properties"]["Target"]["RetryPolicy"];
    let invoke = &resources["NotifyAsyncInvokeConfig"];
    assert_eq!(invoke["Type"], "AWS::Lambda::EventInvokeConfig");
    let invoke = &invoke["Properties"];
    assert_eq!(invoke["FunctionName"], json!({"Ref": "NotifyFunction"}));
    assert_eq!(invoke["Qualifier"], "$LATEST");
    // Scheduler's queue, then Lambda's: five minutes between them.
    let waited = retry["MaximumEventAgeInSeconds"].as_u64().unwrap()
        + invoke["MaximumEventAgeInSeconds"].as_u64().unwrap();
    assert_eq!(waited, 300);
    assert_eq!(
        invoke["MaximumRetryAttempts"], 0,
        "a partial push is not run again"
    );
    // Only a stage with a schedule invokes notify asynchronously.
    assert!(
        template_with("prod", EVERYTHING)["Resources"]
            .get("NotifyAsyncInvokeConfig")
            .is_none()
    );
}

#[test]
fn a_schedule_timezone_is_passed_to_scheduler() {
    let settings = "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * MON-FRI *)\"\n\
                    message = \"Stand-up\"\ntimezone = \"Europe/Berlin\"\n";
    let schedule = &template_with("dev", settings)["Resources"]["PushSchedule"]["Properties"];
    assert_eq!(schedule["ScheduleExpressionTimezone"], "Europe/Berlin");
    assert!(
        template("dev")["Resources"]["PushSchedule"]["Properties"]
            .get("ScheduleExpressionTimezone")
            .is_none(),
        "none given: Scheduler's default, UTC"
    );
}

#[test]
fn only_the_worker_records_jobs_and_only_in_the_jobs_table() {
    let template = template("dev");
    let resources = &template["Resources"];
    let jobs_arn = json!({"Fn::GetAtt": ["FanoutJobsTable", "Arn"]});
    for spec in FUNCTIONS {
        let role = format!("{}Role", spec.logical_prefix);
        let statements: Vec<&Value> = resources[&role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            .collect();
        let on_jobs: Vec<&&Value> = statements
            .iter()
            .filter(|s| s["Resource"].as_array().unwrap().contains(&jobs_arn))
            .collect();
        if spec.fanout != chat::FanoutPart::Works {
            assert!(on_jobs.is_empty(), "{role}");
            continue;
        }
        assert_eq!(on_jobs.len(), 1, "{role}");
        assert_eq!(
            on_jobs[0]["Action"],
            json!(["dynamodb:GetItem", "dynamodb:PutItem"])
        );
        assert_eq!(on_jobs[0]["Resource"], json!([jobs_arn]));
        let variables = &resources[format!("{}Function", spec.logical_prefix)]["Properties"]["Environment"]
            ["Variables"];
        assert_eq!(
            variables[chat_contract::FANOUT_JOBS_TABLE_VAR],
            json!({"Ref": "FanoutJobsTable"})
        );
    }
    let table = &resources["FanoutJobsTable"]["Properties"];
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        chat_contract::EXPIRES_AT
    );
    assert_eq!(
        table["KeySchema"][0]["AttributeName"],
        chat_contract::JOB_ID
    );
}

const PROVIDERS: &str = r#"
[stages.idp.authorization]
issuer = "https://login.example.com/realms/chat"
audience = "chat-web"
groups = ["staff", "guests"]
required_claims = { email_verified = true, tier = "pro", level = 3 }
[stages.pool.authorization]
cognito = true
[stages.pool.limits]
connections_per_user = 3
"#;

/// An identity provider's keys are public: the authorizer may write its
/// logs and do nothing else.
fn assert_the_authorizer_only_writes_its_logs(template: &Value) {
    let (actions, _) = access_of(template, "AuthorizerRole");
    assert_eq!(
        actions,
        ["logs:CreateLogStream", "logs:PutLogEvents"]
            .map(str::to_owned)
            .into()
    );
}

#[test]
fn an_identity_providers_stage_trusts_its_issuer_with_no_secret_and_no_aws_access() {
    let template = template_with("idp", PROVIDERS);
    let resources = &template["Resources"];
    assert!(resources.get("TokenSecret").is_none());
    assert!(resources.get("UserPool").is_none());
    assert_eq!(
        resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"],
        json!({
            "CHATSTACK_OIDC_ISSUER": "https://login.example.com/realms/chat",
            "CHATSTACK_OIDC_AUDIENCE": "chat-web",
            "CHATSTACK_OIDC_USER_CLAIM": "sub",
            "CHATSTACK_OIDC_GROUPS": "[\"staff\",\"guests\"]",
            "CHATSTACK_OIDC_GROUPS_CLAIM": "groups",
            "CHATSTACK_OIDC_REQUIRED_CLAIMS": "{\"email_verified\":true,\"level\":3,\"tier\":\"pro\"}",
        })
    );
    assert_the_authorizer_only_writes_its_logs(&template);
    assert_eq!(resources["ConnectAuthorizer"]["Properties"]["Name"], "oidc");
    assert!(
        resources["ConnectAuthorizer"]["Properties"]
            .get("IdentitySource")
            .is_none()
    );
    assert_eq!(
        resources["ConnectRoute"]["Properties"]["AuthorizationType"],
        "CUSTOM"
    );
    // Users have names: the per-user connection cap's index is there.
    assert!(
        resources["ConnectionsTable"]["Properties"]["GlobalSecondaryIndexes"]
            .as_array()
            .is_some_and(|indexes| indexes.iter().any(|index| index["IndexName"] == "ByUser"))
    );
    assert_eq!(
        template["Outputs"]["OidcIssuer"]["Value"],
        "https://login.example.com/realms/chat"
    );
    assert!(template["Outputs"].get("TokenSecretArn").is_none());
}

#[test]
fn a_cognito_stage_has_its_own_closed_pool_and_a_public_client_as_issuer_and_audience() {
    let template = template_with("pool", PROVIDERS);
    let resources = &template["Resources"];
    let pool = &resources["UserPool"];
    assert_eq!(pool["Type"], "AWS::Cognito::UserPool");
    assert_eq!(pool["DeletionPolicy"], "Delete");
    let pool = &pool["Properties"];
    assert_eq!(
        pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], true,
        "no self sign-up: users are added with chatstack users add"
    );
    assert!(
        pool["Policies"]["PasswordPolicy"]["MinimumLength"]
            .as_u64()
            .unwrap()
            >= 12
    );
    let client = &resources["UserPoolClient"]["Properties"];
    assert_eq!(client["UserPoolId"], json!({"Ref": "UserPool"}));
    assert_eq!(client["GenerateSecret"], false, "a public client");
    assert_eq!(client["PreventUserExistenceErrors"], "ENABLED");
    assert!(
        client["ExplicitAuthFlows"]
            .as_array()
            .unwrap()
            .contains(&json!("ALLOW_USER_PASSWORD_AUTH")),
        "chatstack token signs in with a password"
    );
    let issuer =
        json!({"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"});
    let variables = &resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        variables,
        &json!({
            "CHATSTACK_OIDC_ISSUER": issuer,
            "CHATSTACK_OIDC_AUDIENCE": {"Ref": "UserPoolClient"},
            "CHATSTACK_OIDC_USER_CLAIM": "cognito:username",
        })
    );
    assert_the_authorizer_only_writes_its_logs(&template);
    let outputs = &template["Outputs"];
    assert_eq!(outputs["UserPoolId"]["Value"], json!({"Ref": "UserPool"}));
    assert_eq!(
        outputs["UserPoolClientId"]["Value"],
        json!({"Ref": "UserPoolClient"})
    );
    assert_eq!(outputs["OidcIssuer"]["Value"], issuer);
    assert_eq!(
        resources["ConnectFunction"]["Properties"]["Environment"]["Variables"]["CHATSTACK_CONNECTIONS_PER_USER"],
        "3"
    );
}

const OPERATED: &str = r#"
[stages.live]
notify = true
[stages.live.domain]
name = "chat.example.com"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
hosted_zone_id = "Z0123456789ABCDEFGHIJ"
notify_name = "notify.example.com"
[stages.live.logging]
access = true
source_ip = true
retention_days = 90
execution = "INFO"
[stages.live.alarms]
email = "ops@example.com"
function_errors = 3
[stages.bare.domain]
name = "chat.example.org"
certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
[stages.bare.logging]
access = true
[stages.bare.alarms]
topic_arn = "arn:aws:sns:eu-west-1:123456789012:oncall"
dashboard = false
"#;

#[test]
fn a_custom_domain_serves_the_stage_over_tls_1_2_with_the_record_when_the_zone_is_given() {
    let template = template_with("live", OPERATED);
    let resources = &template["Resources"];
    let domain = &resources["CustomDomainName"]["Properties"];
    assert_eq!(domain["DomainName"], "chat.example.com");
    assert_eq!(
        domain["DomainNameConfigurations"],
        json!([{
            "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
            "EndpointType": "REGIONAL",
            "SecurityPolicy": "TLS_1_2",
        }])
    );
    assert_eq!(
        resources["CustomDomainMapping"]["Properties"],
        json!({"ApiId": {"Ref": "WebSocketApi"}, "DomainName": {"Ref": "CustomDomainName"}, "Stage": {"Ref": "Stage"}})
    );
    let record = &resources["CustomDomainRecord"]["Properties"];
    assert_eq!(record["Type"], "A");
    assert_eq!(record["HostedZoneId"], "Z0123456789ABCDEFGHIJ");
    assert_eq!(
        record["AliasTarget"],
        json!({
            "DNSName": {"Fn::GetAtt": ["CustomDomainName", "RegionalDomainName"]},
            "HostedZoneId": {"Fn::GetAtt": ["CustomDomainName", "RegionalHostedZoneId"]},
        })
    );
    assert_eq!(
        resources["NotifyDomainMapping"]["Properties"],
        json!({"ApiId": {"Ref": "NotifyApi"}, "DomainName": {"Ref": "NotifyDomainName"}, "Stage": {"Ref": "NotifyStage"}})
    );
    let outputs = &template["Outputs"];
    assert_eq!(
        outputs["DomainWebSocketUrl"]["Value"],
        "wss://chat.example.com"
    );
    assert_eq!(
        outputs["DomainNotifyUrl"]["Value"],
        "https://notify.example.com/notify"
    );
    assert!(
        outputs.get("DomainTarget").is_none(),
        "the record points it"
    );
    // The functions still post to the API's own host.
    assert!(
        outputs["CallbackUrl"]["Value"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains(".execute-api.")
    );

    let bare = template_with("bare", OPERATED);
    assert!(bare["Resources"].get("CustomDomainRecord").is_none());
    assert!(bare["Resources"].get("NotifyDomainName").is_none());
    assert_eq!(
        bare["Outputs"]["DomainTarget"]["Value"],
        json!({"Fn::GetAtt": ["CustomDomainName", "RegionalDomainName"]})
    );
}

#[test]
fn access_logs_are_json_lines_kept_as_asked_and_name_the_caller_only_when_asked() {
    let template = template_with("live", OPERATED);
    let resources = &template["Resources"];
    let group = &resources["AccessLogGroup"];
    assert_eq!(group["DeletionPolicy"], "Delete");
    assert_eq!(group["Properties"]["RetentionInDays"], 90);
    assert_eq!(
        group["Properties"]["LogGroupName"],
        json!({"Fn::Sub": "/aws/apigateway/${AWS::StackName}/access"})
    );
    let stage = &resources["Stage"]["Properties"];
    assert_eq!(
        stage["AccessLogSettings"]["DestinationArn"],
        json!({"Fn::GetAtt": ["AccessLogGroup", "Arn"]})
    );
    let format: Value =
        serde_json::from_str(stage["AccessLogSettings"]["Format"].as_str().unwrap()).unwrap();
    for (field, variable) in [
        ("connectionId", "$context.connectionId"),
        ("routeKey", "$context.routeKey"),
        ("eventType", "$context.eventType"),
        ("status", "$context.status"),
        ("requestId", "$context.requestId"),
        ("integrationLatency", "$context.integration.latency"),
        ("integrationStatus", "$context.integration.status"),
        ("integrationError", "$context.integration.error"),
        ("authorizerError", "$context.authorizer.error"),
        ("user", "$context.authorizer.userName"),
        ("sourceIp", "$context.identity.sourceIp"),
    ] {
        assert_eq!(format[field], variable, "{field}");
    }
    let settings = &stage["DefaultRouteSettings"];
    assert_eq!(settings["LoggingLevel"], "INFO");
    assert_eq!(settings["DataTraceEnabled"], false, "never whole messages");
    assert_eq!(
        template["Outputs"]["AccessLogGroupName"]["Value"],
        json!({"Ref": "AccessLogGroup"})
    );

    let bare = template_with("bare", OPERATED);
    let format = bare["Resources"]["Stage"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !format.contains("sourceIp"),
        "the IP only when asked: {format}"
    );
    assert_eq!(
        bare["Resources"]["AccessLogGroup"]["Properties"]["RetentionInDays"],
        30
    );
    assert!(
        bare["Resources"]["Stage"]["Properties"]["DefaultRouteSettings"]
            .get("LoggingLevel")
            .is_none()
    );
    let plain = template_with("prod", EVERYTHING);
    assert!(plain["Resources"].get("AccessLogGroup").is_none());
    assert!(
        plain["Resources"]["Stage"]["Properties"]
            .get("AccessLogSettings")
            .is_none()
    );
}

#[test]
fn every_function_the_queue_the_api_and_each_table_have_alarms_sent_to_an_encrypted_topic() {
    let template = template_with("live", OPERATED);
    let resources = &template["Resources"];
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let functions = resources_of_type(&template, "AWS::Lambda::Function");
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(alarms.len(), 2 * functions.len() + 3 + tables.len());
    for (id, alarm) in &alarms {
        let properties = &alarm["Properties"];
        assert!(
            properties["AlarmName"]
                .as_str()
                .unwrap()
                .starts_with("chatstack-live-"),
            "{id}"
        );
        assert_eq!(
            properties["AlarmActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{id}"
        );
        assert_eq!(
            properties["OKActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{id}"
        );
        assert_eq!(properties["TreatMissingData"], "notBreaching", "{id}");
        assert!(
            properties["AlarmDescription"]
                .as_str()
                .unwrap()
                .contains("Look at: chatstack "),
            "{id}: says what to look at"
        );
    }
    for (id, _) in &functions {
        let prefix = id.trim_end_matches("Function");
        let errors = &resources[format!("{prefix}ErrorsAlarm")]["Properties"];
        assert_eq!(errors["MetricName"], "Errors");
        assert_eq!(errors["Threshold"], 3.0, "function_errors = 3");
        assert_eq!(
            errors["Dimensions"],
            json!([{"Name": "FunctionName", "Value": {"Ref": id}}])
        );
        assert_eq!(
            resources[format!("{prefix}ThrottlesAlarm")]["Properties"]["MetricName"],
            "Throttles"
        );
    }
    let dead_letters = &resources["FanoutDeadLettersAlarm"]["Properties"];
    assert_eq!(
        dead_letters["Dimensions"],
        json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FanoutDeadLetterQueue", "QueueName"]}}])
    );
    for (alarm, metric) in [
        ("ApiIntegrationErrorsAlarm", "IntegrationError"),
        ("ApiExecutionErrorsAlarm", "ExecutionError"),
    ] {
        let properties = &resources[alarm]["Properties"];
        assert_eq!(properties["MetricName"], metric);
        assert_eq!(
            properties["Dimensions"],
            json!([{"Name": "ApiId", "Value": {"Ref": "WebSocketApi"}}, {"Name": "Stage", "Value": "live"}])
        );
    }
    for (id, _) in &tables {
        let metrics = &resources[format!("{id}ThrottlesAlarm")]["Properties"]["Metrics"];
        assert_eq!(metrics[2]["Expression"], "m0 + m1", "{id}");
        assert_eq!(
            metrics[0]["MetricStat"]["Metric"]["Dimensions"],
            json!([{"Name": "TableName", "Value": {"Ref": id}}])
        );
    }

    // The topic is encrypted with a key CloudWatch may use for this
    // stage's alarms only.
    assert_eq!(
        resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"],
        json!({"Ref": "AlarmKey"})
    );
    let key = &resources["AlarmKey"]["Properties"];
    assert_eq!(key["EnableKeyRotation"], true);
    let cloudwatch = &key["KeyPolicy"]["Statement"][1];
    assert_eq!(
        cloudwatch["Principal"],
        json!({"Service": ["cloudwatch.amazonaws.com"]})
    );
    assert_eq!(
        cloudwatch["Action"],
        json!(["kms:Decrypt", "kms:GenerateDataKey*"])
    );
    assert_eq!(
        cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:chatstack-live-*"})
    );
    assert_eq!(
        cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"})
    );
    assert_eq!(
        resources["AlarmEmail"]["Properties"],
        json!({"Endpoint": "ops@example.com", "Protocol": "email", "TopicArn": {"Ref": "AlarmTopic"}})
    );
    assert_eq!(
        template["Outputs"]["DashboardName"]["Value"],
        "chatstack-live"
    );
    assert!(
        resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .contains("\"ConnectCount\",\"ApiId\",\"${WebSocketApi}\"")
    );

    // A topic of the user's: no key, no topic, no dashboard when asked.
    let bare = template_with("bare", OPERATED);
    for absent in ["AlarmKey", "AlarmTopic", "AlarmEmail", "Dashboard"] {
        assert!(bare["Resources"].get(absent).is_none(), "{absent}");
    }
    for (id, alarm) in resources_of_type(&bare, "AWS::CloudWatch::Alarm") {
        assert_eq!(
            alarm["Properties"]["AlarmActions"],
            json!(["arn:aws:sns:eu-west-1:123456789012:oncall"]),
            "{id}"
        );
    }
    let plain = template_with("prod", EVERYTHING);
    assert!(resources_of_type(&plain, "AWS::CloudWatch::Alarm").is_empty());
}
