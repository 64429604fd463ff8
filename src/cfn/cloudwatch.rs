//! `AWS::CloudWatch::*`: alarms and a dashboard.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// A metric's dimension.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    pub name: String,
    pub value: Expr,
}

/// A metric of a namespace, with its dimensions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    pub metric_name: String,
    pub namespace: String,
    pub dimensions: Vec<Dimension>,
}

/// A metric with its statistic over a period.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    pub metric: Metric,
    /// Seconds.
    pub period: u32,
    pub stat: String,
}

/// One line of a metric-math alarm: a metric (`metric_stat`) or an
/// expression of the others' ids; the one that `return_data` is judged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub return_data: bool,
}

/// An alarm on one metric, or on metric math (`metrics`).
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-alarm.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    /// `GreaterThanOrEqualToThreshold`, ...
    pub comparison_operator: String,
    pub evaluation_periods: u32,
    pub threshold: f64,
    /// `notBreaching`: no data is no trouble.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricDataQuery>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarm_actions: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "OKActions")]
    pub ok_actions: Vec<Expr>,
}

impl ResourceProperties for Alarm {
    const TYPE: &'static str = "AWS::CloudWatch::Alarm";
}

/// A dashboard: its widgets as JSON.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-cloudwatch-dashboard.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_name: Option<String>,
    pub dashboard_body: Expr,
}

impl ResourceProperties for Dashboard {
    const TYPE: &'static str = "AWS::CloudWatch::Dashboard";
}
