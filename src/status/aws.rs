//! [`StatusSource`] over AWS: CloudFormation for the stack, CloudWatch for
//! alarms and metrics, SQS for the fan-out queues, CloudWatch Logs for the
//! functions' errors.

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError;
use aws_sdk_sqs::types::QueueAttributeName;

use super::{AlarmInfo, ErrorLine, MetricQuery, StackInfo, StatusError, StatusSource};
use crate::aws::{CloudError, cloud_error, describe_stack, endpoint_of, stack_resources};
use crate::chat::StageName;
use crate::logs::FunctionLog;
use crate::logs::cloudwatch::StackLogs;

/// A deployed stage's account and region.
pub struct AwsStatus {
    cloudformation: aws_sdk_cloudformation::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sqs: aws_sdk_sqs::Client,
    logs: StackLogs,
    config: SdkConfig,
}

impl AwsStatus {
    pub fn new(config: &SdkConfig, stage: &StageName) -> Result<Self, StatusError> {
        Ok(AwsStatus {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            logs: StackLogs::new(config, stage).map_err(|e| StatusError::Local(e.to_string()))?,
            config: config.clone(),
        })
    }

    fn endpoint(&self, service: &str) -> String {
        endpoint_of(&self.config, service)
    }
}

/// Query `n` (its id `q<n>`) of GetMetricData: `query`'s statistic over
/// periods of `period` seconds.
fn data_query(n: usize, query: &MetricQuery, period: i32) -> MetricDataQuery {
    let dimensions = query
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(*name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(query.namespace)
        .metric_name(query.name)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(format!("q{n}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(query.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// The messages waiting in the queue at `url`, as SQS counts them
/// (a stage's queue, or a local run's in moto).
pub async fn approximate_messages(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<u64, aws_sdk_sqs::error::SdkError<GetQueueAttributesError>> {
    let name = QueueAttributeName::ApproximateNumberOfMessages;
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await?;
    Ok(output
        .attributes()
        .and_then(|a| a.get(&name))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

impl StatusSource for AwsStatus {
    async fn stack(&self, name: &str) -> Result<Option<StackInfo>, CloudError> {
        let endpoint = self.endpoint("cloudformation");
        let Some(stack) = describe_stack(&self.cloudformation, &endpoint, name).await? else {
            return Ok(None);
        };
        let Some(resources) = stack_resources(&self.cloudformation, &endpoint, name).await? else {
            return Ok(None);
        };
        Ok(Some(StackInfo {
            name: name.to_owned(),
            status: stack.status,
            reason: stack.status_reason,
            updated_ms: stack.updated_ms,
            outputs: stack.outputs,
            resources,
        }))
    }

    async fn alarms(&self, prefix: &str) -> Result<Vec<AlarmInfo>, CloudError> {
        let mut alarms = Vec::new();
        let mut pages = self
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| cloud_error(e, &self.endpoint("monitoring")))?;
            alarms.extend(page.metric_alarms().iter().map(|alarm| {
                AlarmInfo {
                    name: alarm.alarm_name().unwrap_or_default().to_owned(),
                    state: alarm
                        .state_value()
                        .unwrap_or(&StateValue::InsufficientData)
                        .as_str()
                        .to_owned(),
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                    since: alarm
                        .state_updated_timestamp()
                        .and_then(|t| t.to_millis().ok())
                        .map(super::epoch_rfc3339),
                }
            }));
        }
        Ok(alarms)
    }

    async fn metrics(
        &self,
        queries: &[MetricQuery],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Option<f64>>, CloudError> {
        // One data point for the whole window.
        let period = i32::try_from((end_ms - start_ms) / 1000)
            .unwrap_or(3600)
            .max(60);
        let data_queries: Vec<MetricDataQuery> = queries
            .iter()
            .enumerate()
            .map(|(n, query)| data_query(n, query, period))
            .collect();
        let mut values: Vec<Option<f64>> = vec![None; queries.len()];
        // GetMetricData takes 500 queries a call.
        for chunk in data_queries.chunks(500) {
            let mut pages = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(chunk.to_vec()))
                .start_time(DateTime::from_millis(start_ms))
                .end_time(DateTime::from_millis(end_ms))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| cloud_error(e, &self.endpoint("monitoring")))?;
                for result in page.metric_data_results() {
                    let n = result
                        .id()
                        .and_then(|id| id.strip_prefix('q'))
                        .and_then(|n| n.parse::<usize>().ok());
                    let Some(n) = n.filter(|n| *n < values.len()) else {
                        continue;
                    };
                    let maximum = queries[n].stat == "Maximum";
                    for point in result.values() {
                        values[n] = Some(match values[n] {
                            None => *point,
                            Some(before) if maximum => before.max(*point),
                            Some(before) => before + point,
                        });
                    }
                }
            }
        }
        Ok(values)
    }

    async fn queue_messages(&self, url: &str) -> Result<u64, CloudError> {
        approximate_messages(&self.sqs, url)
            .await
            .map_err(|e| cloud_error(e, &self.endpoint("sqs")))
    }

    async fn errors(
        &self,
        logs: &[FunctionLog],
        start_ms: i64,
        most: usize,
    ) -> Result<Vec<ErrorLine>, CloudError> {
        super::recent_errors(&self.logs, logs, start_ms, most).await
    }
}
