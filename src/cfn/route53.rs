//! `AWS::Route53::RecordSet`: a name pointing at an AWS endpoint.

use serde::Serialize;

use super::{Expr, ResourceProperties};

/// Where an alias record points.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasTarget {
    #[serde(rename = "DNSName")]
    pub dns_name: Expr,
    /// The target's own hosted zone (API Gateway's regional one).
    pub hosted_zone_id: Expr,
}

/// A record of a hosted zone.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-route53-recordset.html>
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordSet {
    pub hosted_zone_id: String,
    pub name: String,
    /// `A` for an alias to a regional endpoint.
    #[serde(rename = "Type")]
    pub record_type: String,
    pub alias_target: AliasTarget,
}

impl ResourceProperties for RecordSet {
    const TYPE: &'static str = "AWS::Route53::RecordSet";
}
