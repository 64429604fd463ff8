//! Someone told when the stage breaks: CloudWatch alarms on the functions,
//! the fan-out dead letters, API Gateway and the tables, sent to an
//! encrypted topic the stage makes (an e-mail address subscribed) or to a
//! topic of the user's; and a dashboard of the stage.
//!
//! A topic encrypted with the AWS managed key (`alias/aws/sns`) would take
//! no alarm: CloudWatch may not use that key, and its policy cannot be
//! changed. So the stage's topic has a key of its own whose policy lets
//! CloudWatch, for this account's alarms of this stage, encrypt with it.
//! <https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services>

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cfn::cloudwatch::{Alarm, Dashboard, Dimension, Metric, MetricDataQuery, MetricStat};
use crate::cfn::iam::{Effect, PolicyDocument, Principal, Statement};
use crate::cfn::kms::Key;
use crate::cfn::sns::{Subscription, Topic};
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, SubPart, Template, TemplateError,
};
use crate::settings::{AlarmDestination, Alarms, Threshold, Thresholds};

use super::StageName;

/// The output naming the topic alarms go to.
pub const ALARM_TOPIC_OUTPUT: &str = "AlarmTopicArn";
/// The output naming the stage's dashboard.
pub const DASHBOARD_OUTPUT: &str = "DashboardName";

/// Seconds each alarm looks at: five minutes.
const PERIOD: u32 = 300;

/// The names of a stage's alarms begin so (`chatstack status` lists them
/// by it; the key's policy names them by it).
pub fn alarm_prefix(stage: &StageName) -> String {
    format!("chatstack-{stage}-")
}

/// A function the alarms watch: its binary's name, its logical ids'
/// prefix, the function.
#[derive(Debug, Clone)]
pub struct WatchedFunction {
    pub name: &'static str,
    pub logical_prefix: &'static str,
    pub id: LogicalId,
}

/// What the alarms and the dashboard watch.
pub struct Watched<'a> {
    pub stage: &'a StageName,
    pub api: &'a LogicalId,
    pub functions: &'a [WatchedFunction],
    /// Each table, by logical id.
    pub tables: &'a [LogicalId],
    pub queue: &'a LogicalId,
    pub dead_letters: &'a LogicalId,
}

/// The alarms, where they go, and the dashboard.
pub fn add_monitoring(
    template: &mut Template,
    alarms: &Alarms,
    watched: &Watched,
) -> Result<(), TemplateError> {
    let topic: Expr = match &alarms.destination {
        AlarmDestination::Email(address) => add_topic(template, watched.stage, address)?,
        AlarmDestination::Topic(arn) => arn.as_str().into(),
    };
    let mut adder = AlarmAdder {
        template,
        prefix: alarm_prefix(watched.stage),
        stage: watched.stage,
        topic: topic.clone(),
    };
    adder.add_function_alarms(watched, alarms.thresholds)?;
    adder.add_dead_letters_alarm(watched, alarms.thresholds)?;
    adder.add_api_alarms(watched, alarms.thresholds)?;
    adder.add_table_alarms(watched, alarms.thresholds)?;
    if alarms.dashboard {
        add_dashboard(adder.template, watched)?;
    }
    adder.template.add_output(
        ALARM_TOPIC_OUTPUT,
        Output {
            description: "Where the stage's alarms are sent".to_owned(),
            value: topic,
        },
    )
}

impl AlarmAdder<'_> {
    /// Each function's errors and throttles.
    fn add_function_alarms(
        &mut self,
        watched: &Watched,
        thresholds: Thresholds,
    ) -> Result<(), TemplateError> {
        for function in watched.functions {
            let dimension = vec![dimension("FunctionName", (&function.id).into())];
            let name = function.name;
            let logs = format!(
                "chatstack logs --stage {} --function {name} --filter ERROR --since 15m",
                watched.stage
            );
            self.add(AlarmSpec {
                logical_id: format!("{}ErrorsAlarm", function.logical_prefix),
                name: format!("{name}-errors"),
                description: format!(
                    "The {name} function failed {} or more times in 5 minutes. Look at: {logs}",
                    thresholds.function_errors.0
                ),
                watch: Watch::Metric(lambda_metric("Errors", dimension.clone())),
                threshold: thresholds.function_errors,
            })?;
            self.add(AlarmSpec {
                logical_id: format!("{}ThrottlesAlarm", function.logical_prefix),
                name: format!("{name}-throttles"),
                description: format!(
                    "Lambda throttled the {name} function {} or more times in 5 minutes: the \
                     account's concurrency in this region is used up. Look at: chatstack status \
                     --stage {}; ask for more concurrency (Service Quotas), or lower the stage's \
                     broadcast workers",
                    thresholds.function_throttles.0, watched.stage
                ),
                watch: Watch::Metric(lambda_metric("Throttles", dimension)),
                threshold: thresholds.function_throttles,
            })?;
        }
        Ok(())
    }

    /// Jobs set aside in the fan-out dead-letter queue.
    fn add_dead_letters_alarm(
        &mut self,
        watched: &Watched,
        thresholds: Thresholds,
    ) -> Result<(), TemplateError> {
        self.add(AlarmSpec {
            logical_id: "FanoutDeadLettersAlarm".to_owned(),
            name: "fanout-dead-letters".to_owned(),
            description: format!(
                "A large broadcast's job failed five times and was set aside in the fan-out \
                 dead-letter queue (kept 14 days): some clients missed a message. Look at: \
                 chatstack logs --stage {} --function fanout --filter ERROR --since 1h",
                watched.stage
            ),
            watch: Watch::Metric(MetricStat {
                metric: Metric {
                    metric_name: "ApproximateNumberOfMessagesVisible".to_owned(),
                    namespace: "AWS/SQS".to_owned(),
                    dimensions: vec![dimension(
                        "QueueName",
                        Expr::GetAtt(watched.dead_letters.clone(), "QueueName".to_owned()),
                    )],
                },
                period: PERIOD,
                stat: "Maximum".to_owned(),
            }),
            threshold: thresholds.dead_letters,
        })
    }

    /// API Gateway's integration and execution errors.
    fn add_api_alarms(
        &mut self,
        watched: &Watched,
        thresholds: Thresholds,
    ) -> Result<(), TemplateError> {
        let api_dimensions = api_dimensions(watched);
        self.add(AlarmSpec {
            logical_id: "ApiIntegrationErrorsAlarm".to_owned(),
            name: "api-integration-errors".to_owned(),
            description: format!(
                "API Gateway got no answer from a function (an error or a timeout) {} or more \
                 times in 5 minutes: clients saw 'Internal server error'. Look at: chatstack logs \
                 --stage {} --access --since 15m (the lines' integrationError and routeKey), then \
                 that function's own logs",
                thresholds.integration_errors.0, watched.stage
            ),
            watch: Watch::Metric(api_metric("IntegrationError", &api_dimensions, "Sum")),
            threshold: thresholds.integration_errors,
        })?;
        self.add(AlarmSpec {
            logical_id: "ApiExecutionErrorsAlarm".to_owned(),
            name: "api-execution-errors".to_owned(),
            description: format!(
                "API Gateway itself failed {} or more times in 5 minutes. Look at: chatstack logs \
                 --stage {} --access, and the AWS Health Dashboard for API Gateway in this region",
                thresholds.execution_errors.0, watched.stage
            ),
            watch: Watch::Metric(api_metric("ExecutionError", &api_dimensions, "Sum")),
            threshold: thresholds.execution_errors,
        })
    }

    /// Each table's throttled reads and writes.
    fn add_table_alarms(
        &mut self,
        watched: &Watched,
        thresholds: Thresholds,
    ) -> Result<(), TemplateError> {
        for table in watched.tables {
            self.add(AlarmSpec {
                logical_id: format!("{table}ThrottlesAlarm"),
                name: format!("{table}-throttles"),
                description: format!(
                    "DynamoDB throttled reads or writes of {table} {} or more times in 5 minutes: \
                     a partition is hot (one very busy room) or the account's table limits are \
                     reached. Look at: chatstack status --stage {}, and the table's metrics",
                    thresholds.table_throttles.0, watched.stage
                ),
                watch: Watch::Sum(table_throttles(table)),
                threshold: thresholds.table_throttles,
            })?;
        }
        Ok(())
    }
}

/// The topic the stage makes for `address`, and the key it is encrypted with.
fn add_topic(
    template: &mut Template,
    stage: &StageName,
    address: &str,
) -> Result<Expr, TemplateError> {
    let key = template.add(
        "AlarmKey",
        Resource::new(Key {
            description: Some(format!(
                "chatstack {stage}: encrypts the alarm topic; CloudWatch may use it for this stage's alarms"
            )),
            enable_key_rotation: true,
            key_policy: alarm_key_policy(stage),
            pending_window_in_days: Some(7),
        })
        .retention(RetentionPolicy::Delete),
    )?;
    let topic = template.add(
        "AlarmTopic",
        Topic {
            display_name: Some(format!("chatstack {stage} alarms")),
            kms_master_key_id: Some((&key).into()),
        },
    )?;
    template.add(
        "AlarmEmail",
        Subscription {
            topic_arn: (&topic).into(),
            protocol: "email".to_owned(),
            endpoint: address.to_owned(),
        },
    )?;
    Ok((&topic).into())
}

/// The account administers the key (as every key's default policy says,
/// so IAM policies govern it); CloudWatch may encrypt with it for this
/// account's alarms of this stage, and do nothing else.
fn alarm_key_policy(stage: &StageName) -> PolicyDocument {
    let account_root = Expr::sub([
        "arn:".into(),
        Pseudo::Partition.into(),
        ":iam::".into(),
        Pseudo::AccountId.into(),
        ":root".into(),
    ]);
    let alarms = Expr::sub([
        "arn:".into(),
        Pseudo::Partition.into(),
        ":cloudwatch:".into(),
        Pseudo::Region.into(),
        ":".into(),
        Pseudo::AccountId.into(),
        SubPart::Text(format!(":alarm:{}*", alarm_prefix(stage))),
    ]);
    PolicyDocument::new(vec![
        Statement {
            sid: Some("AccountAdministers".to_owned()),
            effect: Effect::Allow,
            principal: Some(Principal::Aws(account_root)),
            action: vec!["kms:*".to_owned()],
            resource: vec!["*".into()],
            condition: BTreeMap::new(),
        },
        Statement {
            sid: Some("StageAlarmsEncrypt".to_owned()),
            effect: Effect::Allow,
            principal: Some(Principal::Service(vec![
                "cloudwatch.amazonaws.com".to_owned(),
            ])),
            action: vec!["kms:Decrypt".to_owned(), "kms:GenerateDataKey*".to_owned()],
            resource: vec!["*".into()],
            condition: BTreeMap::from([
                (
                    "StringEquals".to_owned(),
                    BTreeMap::from([(
                        "aws:SourceAccount".to_owned(),
                        Expr::Pseudo(Pseudo::AccountId),
                    )]),
                ),
                (
                    "ArnLike".to_owned(),
                    BTreeMap::from([("aws:SourceArn".to_owned(), alarms)]),
                ),
            ]),
        },
    ])
}

/// What an alarm judges: one metric, or the sum of several.
enum Watch {
    Metric(MetricStat),
    Sum(Vec<MetricStat>),
}

struct AlarmSpec {
    logical_id: String,
    /// After the stage's prefix.
    name: String,
    description: String,
    watch: Watch,
    threshold: Threshold,
}

struct AlarmAdder<'a> {
    template: &'a mut Template,
    prefix: String,
    stage: &'a StageName,
    topic: Expr,
}

impl AlarmAdder<'_> {
    /// An alarm raised when the watched value reaches the threshold in
    /// five minutes (no data: all is well), sent to the topic when raised
    /// and when it clears.
    fn add(&mut self, spec: AlarmSpec) -> Result<(), TemplateError> {
        let mut alarm = Alarm {
            alarm_name: Some(format!("{}{}", self.prefix, spec.name)),
            alarm_description: Some(format!("chatstack {}: {}", self.stage, spec.description)),
            comparison_operator: "GreaterThanOrEqualToThreshold".to_owned(),
            evaluation_periods: 1,
            threshold: f64::from(spec.threshold.0),
            treat_missing_data: Some("notBreaching".to_owned()),
            metric_name: None,
            namespace: None,
            dimensions: Vec::new(),
            statistic: None,
            period: None,
            metrics: Vec::new(),
            alarm_actions: vec![self.topic.clone()],
            ok_actions: vec![self.topic.clone()],
        };
        match spec.watch {
            Watch::Metric(stat) => {
                alarm.metric_name = Some(stat.metric.metric_name);
                alarm.namespace = Some(stat.metric.namespace);
                alarm.dimensions = stat.metric.dimensions;
                alarm.statistic = Some(stat.stat);
                alarm.period = Some(stat.period);
            }
            Watch::Sum(stats) => {
                let ids: Vec<String> = (0..stats.len()).map(|n| format!("m{n}")).collect();
                alarm.metrics = stats
                    .into_iter()
                    .zip(&ids)
                    .map(|(stat, id)| MetricDataQuery {
                        id: id.clone(),
                        metric_stat: Some(stat),
                        expression: None,
                        label: None,
                        return_data: false,
                    })
                    .chain([MetricDataQuery {
                        id: "total".to_owned(),
                        metric_stat: None,
                        expression: Some(ids.join(" + ")),
                        label: Some("throttled".to_owned()),
                        return_data: true,
                    }])
                    .collect();
            }
        }
        self.template.add(&spec.logical_id, alarm)?;
        Ok(())
    }
}

fn dimension(name: &str, value: Expr) -> Dimension {
    Dimension {
        name: name.to_owned(),
        value,
    }
}

fn lambda_metric(name: &str, dimensions: Vec<Dimension>) -> MetricStat {
    MetricStat {
        metric: Metric {
            metric_name: name.to_owned(),
            namespace: "AWS/Lambda".to_owned(),
            dimensions,
        },
        period: PERIOD,
        stat: "Sum".to_owned(),
    }
}

/// A WebSocket API's metrics are by API and stage.
fn api_dimensions(watched: &Watched) -> Vec<Dimension> {
    vec![
        dimension("ApiId", watched.api.into()),
        dimension("Stage", watched.stage.as_str().into()),
    ]
}

fn api_metric(name: &str, dimensions: &[Dimension], stat: &str) -> MetricStat {
    MetricStat {
        metric: Metric {
            metric_name: name.to_owned(),
            namespace: "AWS/ApiGateway".to_owned(),
            dimensions: dimensions.to_vec(),
        },
        period: PERIOD,
        stat: stat.to_owned(),
    }
}

/// A table's throttled reads and writes (on-demand tables are throttled
/// too, by a partition's limits or the account's).
fn table_throttles(table: &LogicalId) -> Vec<MetricStat> {
    ["ReadThrottleEvents", "WriteThrottleEvents"]
        .into_iter()
        .map(|name| MetricStat {
            metric: Metric {
                metric_name: name.to_owned(),
                namespace: "AWS/DynamoDB".to_owned(),
                dimensions: vec![dimension("TableName", table.into())],
            },
            period: PERIOD,
            stat: "Sum".to_owned(),
        })
        .collect()
}

/// A dashboard's body refers to resources by `${...}` of `Fn::Sub`: each
/// value that names one is written as a marker, then the body is cut there.
struct Markers(Vec<SubPart>);

impl Markers {
    fn mark(&mut self, part: SubPart) -> Value {
        self.0.push(part);
        Value::String(format!("@@{}@@", self.0.len() - 1))
    }

    /// `body` as an `Fn::Sub` with the marked parts in place.
    fn substitute(self, body: &Value) -> Expr {
        let text = body.to_string();
        let parts = text.split("@@").enumerate().map(|(n, piece)| {
            if n % 2 == 0 {
                SubPart::Text(piece.to_owned())
            } else {
                piece
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| self.0.get(index).cloned())
                    .unwrap_or_else(|| SubPart::Text(piece.to_owned()))
            }
        });
        Expr::sub(parts)
    }
}

/// The stage on one screen: connections, messages, errors, latency, the
/// fan-out backlog.
fn add_dashboard(template: &mut Template, watched: &Watched) -> Result<(), TemplateError> {
    let mut markers = Markers(Vec::new());
    let api = markers.mark(watched.api.into());
    let region = markers.mark(Pseudo::Region.into());
    let stage = watched.stage.as_str();
    let api_metric = |name: &str, stat: &str| json!(["AWS/ApiGateway", name, "ApiId", api, "Stage", stage, {"stat": stat}]);
    let function_errors: Vec<Value> = watched
        .functions
        .iter()
        .map(|function| {
            let name = markers.mark((&function.id).into());
            json!(["AWS/Lambda", "Errors", "FunctionName", name, {"stat": "Sum", "label": function.name}])
        })
        .collect();
    let queue = markers.mark(SubPart::GetAtt(
        watched.queue.clone(),
        "QueueName".to_owned(),
    ));
    let dead_letters = markers.mark(SubPart::GetAtt(
        watched.dead_letters.clone(),
        "QueueName".to_owned(),
    ));
    let widget = |n: usize, title: &str, metrics: Vec<Value>| {
        json!({
            "type": "metric",
            "x": (n % 2) * 12,
            "y": (n / 2) * 6,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "period": 300,
                "metrics": metrics,
            }
        })
    };
    let mut errors = vec![
        api_metric("IntegrationError", "Sum"),
        api_metric("ExecutionError", "Sum"),
        api_metric("ClientError", "Sum"),
    ];
    errors.extend(function_errors);
    let body = json!({
        "widgets": [
            widget(0, "Connections", vec![api_metric("ConnectCount", "Sum")]),
            widget(1, "Messages (to and from clients)", vec![api_metric("MessageCount", "Sum")]),
            widget(2, "Errors", errors),
            widget(3, "Integration latency (ms)", vec![
                api_metric("IntegrationLatency", "p50"),
                api_metric("IntegrationLatency", "p99"),
            ]),
            widget(4, "Fan-out backlog and dead letters", vec![
                json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, {"stat": "Maximum", "label": "backlog"}]),
                json!(["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dead_letters, {"stat": "Maximum", "label": "dead letters"}]),
            ]),
        ]
    });
    let name = format!("chatstack-{stage}");
    template.add(
        "Dashboard",
        Dashboard {
            dashboard_name: Some(name.clone()),
            dashboard_body: markers.substitute(&body),
        },
    )?;
    template.add_output(
        DASHBOARD_OUTPUT,
        Output {
            description: "The stage's CloudWatch dashboard".to_owned(),
            value: name.into(),
        },
    )
}
