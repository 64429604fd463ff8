//! [`LogSource`] over CloudWatch Logs: the stage's log groups are the
//! stack's `AWS::Logs::LogGroup` resources (ListStackResources), their
//! events come from FilterLogEvents.

use aws_config::SdkConfig;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use super::{EventPage, EventQuery, FunctionLog, LogEvent, LogSource, LogsError, ReadError};
use crate::aws::{cloud_error, endpoint_of, stack_resources};
use crate::chat::{ACCESS_LOG_GROUP_ID, FUNCTIONS, FunctionLogs, StageName};

const LOG_GROUP_TYPE: &str = "AWS::Logs::LogGroup";

/// The log groups of one stage's stack.
#[derive(Debug, Clone)]
pub struct StackLogs {
    cloudformation: aws_sdk_cloudformation::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    stage: StageName,
    stack: String,
    cloudformation_endpoint: String,
    logs_endpoint: String,
    /// API Gateway's access log instead of the functions' logs.
    access: bool,
}

/// The name `logs` shows the access log's lines under.
pub const ACCESS_LOG: &str = "access";

impl StackLogs {
    pub fn new(config: &SdkConfig, stage: &StageName) -> Result<Self, LogsError> {
        Ok(StackLogs {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            stage: stage.clone(),
            stack: stage.stack_name()?,
            cloudformation_endpoint: endpoint_of(config, "cloudformation"),
            logs_endpoint: endpoint_of(config, "logs"),
            access: false,
        })
    }

    /// The stage's access log (`[stages.X.logging] access = true`) instead.
    pub fn access_log(mut self) -> Self {
        self.access = true;
        self
    }
}

/// The access log group among a stack's resources, as the one log shown.
pub fn access_log_of(
    resources: &[(String, String, String)],
    stage: &StageName,
) -> Result<Vec<FunctionLog>, LogsError> {
    resources
        .iter()
        .find(|(id, _, kind)| id == ACCESS_LOG_GROUP_ID && kind == LOG_GROUP_TYPE)
        .map(|(_, group, _)| {
            vec![FunctionLog {
                function: ACCESS_LOG.to_owned(),
                group: group.clone(),
            }]
        })
        .ok_or_else(|| LogsError::NoAccessLog {
            stage: stage.to_string(),
        })
}

/// Each function's log group among a stack's resources (logical id,
/// physical id, type), in the order of [`FUNCTIONS`].
pub fn function_logs_of(resources: &[(String, String, String)]) -> Vec<FunctionLog> {
    FUNCTIONS
        .iter()
        .filter_map(|spec| {
            let logical_id = FunctionLogs::logical_id(spec.logical_prefix);
            let (_, group, _) = resources
                .iter()
                .find(|(id, _, kind)| *id == logical_id && kind == LOG_GROUP_TYPE)?;
            Some(FunctionLog {
                function: spec.name.to_owned(),
                group: group.clone(),
            })
        })
        .collect()
}

impl LogSource for StackLogs {
    async fn function_logs(&self) -> Result<Vec<FunctionLog>, LogsError> {
        let resources = stack_resources(
            &self.cloudformation,
            &self.cloudformation_endpoint,
            &self.stack,
        )
        .await?
        .ok_or_else(|| LogsError::NoStack {
            stack: self.stack.clone(),
            stage: self.stage.to_string(),
        })?;
        if self.access {
            access_log_of(&resources, &self.stage)
        } else {
            Ok(function_logs_of(&resources))
        }
    }

    async fn filter_events(&self, query: &EventQuery<'_>) -> Result<EventPage, ReadError> {
        let result = self
            .logs
            .filter_log_events()
            .log_group_name(query.group)
            .start_time(query.start_ms)
            .set_end_time(query.end_ms)
            .set_filter_pattern(query.filter.map(str::to_owned))
            .set_next_token(query.next_token.map(str::to_owned))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let message = error.message().unwrap_or_default().to_owned();
                return Err(match error.code() {
                    Some("ResourceNotFoundException") => ReadError::NoGroup,
                    Some("AccessDeniedException") => ReadError::AccessDenied(message),
                    Some("ThrottlingException") => ReadError::Throttled(message),
                    _ => ReadError::Failed(cloud_error(error, &self.logs_endpoint)),
                });
            }
        };
        Ok(EventPage {
            events: output
                .events()
                .iter()
                .map(|e| LogEvent {
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    event_id: e.event_id().unwrap_or_default().to_owned(),
                    stream: e.log_stream_name().unwrap_or_default().to_owned(),
                    message: e.message().unwrap_or_default().to_owned(),
                })
                .collect(),
            next_token: output.next_token().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_log_is_the_stacks_access_log_group_or_the_setting_is_named() {
        let stage: StageName = "prod".parse().unwrap();
        let resources = [(
            "AccessLogGroup".to_owned(),
            "/aws/apigateway/chatstack-prod/access".to_owned(),
            LOG_GROUP_TYPE.to_owned(),
        )];
        assert_eq!(
            access_log_of(&resources, &stage).unwrap(),
            [FunctionLog {
                function: "access".to_owned(),
                group: "/aws/apigateway/chatstack-prod/access".to_owned(),
            }]
        );
        let error = access_log_of(&resources[..0], &stage)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("stage prod keeps no access log")
                && error.contains("[stages.prod.logging]"),
            "{error}"
        );
    }

    #[test]
    fn the_groups_are_the_functions_log_group_resources() {
        let resource = |id: &str, physical: &str, kind: &str| {
            (id.to_owned(), physical.to_owned(), kind.to_owned())
        };
        let resources = [
            resource(
                "SendMessageLogGroup",
                "/aws/lambda/chatstack-dev-sendmessage",
                LOG_GROUP_TYPE,
            ),
            resource(
                "ConnectLogGroup",
                "/aws/lambda/chatstack-dev-connect",
                LOG_GROUP_TYPE,
            ),
            resource(
                "ConnectFunction",
                "chatstack-dev-connect",
                "AWS::Lambda::Function",
            ),
            resource("SomethingLogGroup", "/other", LOG_GROUP_TYPE),
        ];
        let functions: Vec<(String, String)> = function_logs_of(&resources)
            .into_iter()
            .map(|log| (log.function, log.group))
            .collect();
        assert_eq!(
            functions,
            [
                (
                    "connect".to_owned(),
                    "/aws/lambda/chatstack-dev-connect".to_owned()
                ),
                (
                    "sendmessage".to_owned(),
                    "/aws/lambda/chatstack-dev-sendmessage".to_owned()
                ),
            ]
        );
    }
}
