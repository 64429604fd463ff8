//! A custom domain for a stage (`wss://chat.example.com`) and, if asked,
//! for its notify endpoint: a regional domain name with TLS 1.2 at least,
//! the API mapped at its root, and with a hosted zone the alias record.
//! The functions keep posting to the API's own host (`CallbackUrl`), so
//! the domain cannot break `@connections`.
//! <https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-custom-domain-names.html>

use crate::cfn::apigatewayv2::{ApiMapping, DomainName, DomainNameConfiguration};
use crate::cfn::route53::{AliasTarget, RecordSet};
use crate::cfn::{Expr, LogicalId, Output, Template, TemplateError};
use crate::settings::{CertificateArn, DomainName as Name, HostedZoneId};

/// The output of the `wss://` URL on the stage's domain.
pub const DOMAIN_URL_OUTPUT: &str = "DomainWebSocketUrl";
/// The output of the notify endpoint's URL on its domain.
pub const NOTIFY_DOMAIN_URL_OUTPUT: &str = "DomainNotifyUrl";
/// The output naming where the domain's DNS record must point, when the
/// stage adds no record itself.
pub const DOMAIN_TARGET_OUTPUT: &str = "DomainTarget";

/// What a domain serves: an API's stage.
pub struct Mapped<'a> {
    /// Prefix of the logical ids (`<prefix>Name`, `<prefix>Mapping`, `<prefix>Record`).
    pub logical_prefix: &'a str,
    pub api: &'a LogicalId,
    pub stage: &'a LogicalId,
}

/// A custom domain of the template.
#[derive(Debug)]
pub struct CustomDomain {
    id: LogicalId,
    name: String,
    /// Whether the stage points the name at the domain (a hosted zone).
    recorded: bool,
}

impl CustomDomain {
    pub fn add_to(
        template: &mut Template,
        name: &Name,
        certificate: &CertificateArn,
        hosted_zone: Option<&HostedZoneId>,
        mapped: Mapped,
    ) -> Result<Self, TemplateError> {
        let prefix = mapped.logical_prefix;
        let id = template.add(
            &format!("{prefix}Name"),
            DomainName {
                domain_name: name.as_str().to_owned(),
                domain_name_configurations: vec![DomainNameConfiguration {
                    certificate_arn: certificate.as_str().to_owned(),
                    endpoint_type: "REGIONAL".to_owned(),
                    security_policy: "TLS_1_2".to_owned(),
                }],
            },
        )?;
        template.add(
            &format!("{prefix}Mapping"),
            ApiMapping {
                api_id: mapped.api.into(),
                domain_name: (&id).into(),
                stage: mapped.stage.into(),
            },
        )?;
        if let Some(zone) = hosted_zone {
            template.add(
                &format!("{prefix}Record"),
                RecordSet {
                    hosted_zone_id: zone.as_str().to_owned(),
                    name: name.as_str().to_owned(),
                    record_type: "A".to_owned(),
                    alias_target: AliasTarget {
                        dns_name: Expr::GetAtt(id.clone(), "RegionalDomainName".to_owned()),
                        hosted_zone_id: Expr::GetAtt(id.clone(), "RegionalHostedZoneId".to_owned()),
                    },
                },
            )?;
        }
        Ok(CustomDomain {
            id,
            name: name.as_str().to_owned(),
            recorded: hosted_zone.is_some(),
        })
    }

    /// `output`: the URL on the domain (`scheme://name` and `path`).
    pub fn add_url_output(
        &self,
        template: &mut Template,
        output: &str,
        scheme: &str,
        path: &str,
    ) -> Result<(), TemplateError> {
        template.add_output(
            output,
            Output {
                description: format!("{scheme}:// on the custom domain"),
                value: format!("{scheme}://{}{path}", self.name).into(),
            },
        )
    }

    /// [`DOMAIN_TARGET_OUTPUT`]: where to point the name, when the stage
    /// adds no record of its own (no hosted zone).
    pub fn add_target_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        if self.recorded {
            return Ok(());
        }
        template.add_output(
            DOMAIN_TARGET_OUTPUT,
            Output {
                description: format!(
                    "Point {} here (a CNAME, or an alias A record in Route 53)",
                    self.name
                ),
                value: Expr::GetAtt(self.id.clone(), "RegionalDomainName".to_owned()),
            },
        )
    }
}
