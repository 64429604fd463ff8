//! What running a stage in production adds: a custom domain, API Gateway's
//! own logs, and alarms with a dashboard.
//!
//! ```toml
//! [stages.prod.domain]
//! name = "chat.example.com"
//! certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/..."
//! hosted_zone_id = "Z0123456789ABCDEFGHIJ"    # optional: the alias record
//! notify_name = "notify.example.com"          # optional: the notify endpoint's
//!
//! [stages.prod.logging]
//! access = true            # JSON access logs
//! source_ip = false        # the caller's IP address only if asked (personal data)
//! retention_days = 30
//! execution = "ERROR"      # optional: API Gateway's execution logs, ERROR or INFO
//!
//! [stages.prod.alarms]
//! email = "ops@example.com"   # or topic_arn = "arn:aws:sns:..."
//! ```

use serde::Deserialize;

/// A custom domain for the stage (`[stages.X.domain]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// The name clients connect to: `wss://<name>`.
    pub name: DomainName,
    /// An ACM certificate for the name, in the stage's own region.
    pub certificate_arn: CertificateArn,
    /// A Route 53 hosted zone holding the name: the stage adds the alias
    /// record; none: point the name at the domain's target yourself.
    pub hosted_zone_id: Option<HostedZoneId>,
    /// A name for the notify endpoint too (the certificate must cover it).
    pub notify_name: Option<DomainName>,
}

/// A DNS name: two or more labels of letters, digits and `-`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DomainName(String);

impl DomainName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DomainName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        const RULE: &str = "a domain name is two or more labels of 1 to 63 lower-case letters, \
                            digits or '-' (not first or last), 253 characters at most, for \
                            example chat.example.com";
        let labels: Vec<&str> = name.split('.').collect();
        let label_ok = |label: &&str| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(format!("{name:?} is not a domain name: {RULE}"));
        }
        Ok(DomainName(name))
    }
}

/// An ACM certificate's ARN: `arn:<partition>:acm:<region>:<account>:certificate/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CertificateArn {
    text: String,
    partition: String,
    region: String,
}

impl CertificateArn {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

impl TryFrom<String> for CertificateArn {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let shaped = match parts.as_slice() {
            ["arn", partition, "acm", region, account, resource] => {
                partition.starts_with("aws")
                    && !region.is_empty()
                    && account.len() == 12
                    && account.chars().all(|c| c.is_ascii_digit())
                    && resource
                        .strip_prefix("certificate/")
                        .is_some_and(|id| !id.is_empty())
            }
            _ => false,
        };
        if !shaped {
            return Err(format!(
                "{text:?} is not an ACM certificate ARN: it looks like \
                 arn:aws:acm:REGION:ACCOUNT:certificate/ID (ACM's console shows it)"
            ));
        }
        Ok(CertificateArn {
            partition: parts[1].to_owned(),
            region: parts[3].to_owned(),
            text,
        })
    }
}

/// A Route 53 hosted zone id (`Z` and up to 31 upper-case letters and digits).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HostedZoneId(String);

impl HostedZoneId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostedZoneId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, String> {
        let shaped = id.len() <= 32
            && id.starts_with('Z')
            && id.len() > 1
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if shaped {
            Ok(HostedZoneId(id))
        } else {
            Err(format!(
                "{id:?} is not a Route 53 hosted zone id: it looks like Z0123456789ABCDEFGHIJ \
                 (without /hostedzone/)"
            ))
        }
    }
}

/// API Gateway's own logs of the stage (`[stages.X.logging]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// JSON access logs: one line per connection, message and disconnection.
    #[serde(default)]
    pub access: bool,
    /// The caller's IP address in the access log (personal data in many
    /// places): only when asked.
    #[serde(default)]
    pub source_ip: bool,
    /// Days the access log is kept.
    #[serde(default = "RetentionDays::default_days")]
    pub retention_days: RetentionDays,
    /// API Gateway's execution logs, at this level; none: off.
    pub execution: Option<ExecutionLevel>,
}

impl Default for Logging {
    /// Neither access nor execution logs.
    fn default() -> Self {
        Logging {
            access: false,
            source_ip: false,
            retention_days: RetentionDays::default_days(),
            execution: None,
        }
    }
}

impl Logging {
    /// Whether the stage needs the account's API Gateway CloudWatch role.
    pub fn needs_account_role(&self) -> bool {
        self.access || self.execution.is_some()
    }
}

/// Execution logging's level: errors only, or every request's steps too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ExecutionLevel {
    #[serde(rename = "ERROR")]
    Error,
    #[serde(rename = "INFO")]
    Info,
}

impl ExecutionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionLevel::Error => "ERROR",
            ExecutionLevel::Info => "INFO",
        }
    }
}

/// A retention CloudWatch Logs takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct RetentionDays(pub u32);

impl RetentionDays {
    /// What CloudWatch Logs' `RetentionInDays` takes.
    const TAKEN: [u32; 22] = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ];

    fn default_days() -> RetentionDays {
        RetentionDays(30)
    }
}

impl TryFrom<u32> for RetentionDays {
    type Error = String;

    fn try_from(days: u32) -> Result<Self, String> {
        if RetentionDays::TAKEN.contains(&days) {
            Ok(RetentionDays(days))
        } else {
            let taken: Vec<String> = RetentionDays::TAKEN.iter().map(u32::to_string).collect();
            Err(format!(
                "retention_days is {days}: CloudWatch Logs keeps logs for {} days",
                taken.join(", ")
            ))
        }
    }
}

/// Alarms on the stage's health and where they go (`[stages.X.alarms]`),
/// with a dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarms {
    pub destination: AlarmDestination,
    pub thresholds: Thresholds,
    /// A CloudWatch dashboard of the stage.
    pub dashboard: bool,
}

/// Where alarms are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmDestination {
    /// An encrypted topic the stage makes, with this address subscribed.
    Email(String),
    /// A topic of the user's own.
    Topic(String),
}

/// How much of each trouble in five minutes raises its alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// A function's errors (each function has its alarm).
    pub function_errors: Threshold,
    /// A function's throttled invocations.
    pub function_throttles: Threshold,
    /// Jobs in the fan-out dead-letter queue.
    pub dead_letters: Threshold,
    /// API Gateway's integration errors (a function failed or timed out).
    pub integration_errors: Threshold,
    /// API Gateway's execution errors (its own failures).
    pub execution_errors: Threshold,
    /// A table's throttled reads and writes.
    pub table_throttles: Threshold,
}

impl Thresholds {
    fn one() -> Threshold {
        Threshold(1)
    }

    fn five() -> Threshold {
        Threshold(5)
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            function_errors: Thresholds::one(),
            function_throttles: Thresholds::one(),
            dead_letters: Thresholds::one(),
            integration_errors: Thresholds::five(),
            execution_errors: Thresholds::one(),
            table_throttles: Thresholds::one(),
        }
    }
}

/// 1 to 1,000,000 in five minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct Threshold(pub u32);

impl TryFrom<u32> for Threshold {
    type Error = String;

    fn try_from(count: u32) -> Result<Self, String> {
        if (1..=1_000_000).contains(&count) {
            Ok(Threshold(count))
        } else {
            Err(format!(
                "a threshold is {count}: use 1 to 1000000 (how many in five minutes raise the alarm)"
            ))
        }
    }
}

/// `[stages.X.alarms]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmsTable {
    email: Option<String>,
    topic_arn: Option<String>,
    #[serde(default = "default_true")]
    dashboard: bool,
    function_errors: Option<Threshold>,
    function_throttles: Option<Threshold>,
    dead_letters: Option<Threshold>,
    integration_errors: Option<Threshold>,
    execution_errors: Option<Threshold>,
    table_throttles: Option<Threshold>,
}

fn default_true() -> bool {
    true
}

impl<'de> Deserialize<'de> for Alarms {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = AlarmsTable::deserialize(deserializer)?;
        let destination = match (table.email, table.topic_arn) {
            (Some(email), None) => AlarmDestination::Email(check_email(email)?),
            (None, Some(arn)) => AlarmDestination::Topic(check_topic_arn(arn)?),
            _ => {
                return Err(serde::de::Error::custom(
                    "alarms need one destination: email = \"ops@example.com\" (the stage makes \
                     an encrypted topic and subscribes it), or topic_arn = \"arn:aws:sns:...\" \
                     (a topic of yours)",
                ));
            }
        };
        let defaults = Thresholds::default();
        Ok(Alarms {
            destination,
            thresholds: Thresholds {
                function_errors: table.function_errors.unwrap_or(defaults.function_errors),
                function_throttles: table
                    .function_throttles
                    .unwrap_or(defaults.function_throttles),
                dead_letters: table.dead_letters.unwrap_or(defaults.dead_letters),
                integration_errors: table
                    .integration_errors
                    .unwrap_or(defaults.integration_errors),
                execution_errors: table.execution_errors.unwrap_or(defaults.execution_errors),
                table_throttles: table.table_throttles.unwrap_or(defaults.table_throttles),
            },
            dashboard: table.dashboard,
        })
    }
}

fn check_email<E: serde::de::Error>(email: String) -> Result<String, E> {
    let shaped = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
    }) && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.len() <= 254;
    if shaped {
        Ok(email)
    } else {
        Err(E::custom(format!(
            "email {email:?} is not an address: write one such as ops@example.com"
        )))
    }
}

fn check_topic_arn<E: serde::de::Error>(arn: String) -> Result<String, E> {
    let parts: Vec<&str> = arn.split(':').collect();
    let shaped = matches!(
        parts.as_slice(),
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && !name.is_empty()
    );
    if shaped {
        Ok(arn)
    } else {
        Err(E::custom(format!(
            "topic_arn {arn:?} is not an SNS topic ARN: it looks like \
             arn:aws:sns:REGION:ACCOUNT:NAME"
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::settings::{Settings, StageSettings};

    fn stage(text: &str) -> Result<StageSettings, String> {
        Settings::parse(text, Path::new("chatstack.toml"))
            .map(|settings| settings.stage(&"dev".parse().unwrap()))
            .map_err(|e| e.to_string())
    }

    const CERTIFICATE: &str = "arn:aws-cn:acm:cn-north-1:123456789012:certificate/abc";

    #[test]
    fn the_production_tables_take_their_values_and_defaults() {
        let settings = stage(&format!(
            "[stages.dev.domain]\nname = \"chat.example.com\"\ncertificate_arn = \"{CERTIFICATE}\"\n\
             [stages.dev.logging]\naccess = true\n\
             [stages.dev.alarms]\nemail = \"ops@example.com\"\ntable_throttles = 10\n"
        ))
        .unwrap();
        let domain = settings.domain.unwrap();
        assert_eq!(domain.name.as_str(), "chat.example.com");
        assert_eq!(domain.certificate_arn.partition(), "aws-cn");
        assert_eq!(domain.certificate_arn.region(), "cn-north-1");
        assert_eq!(domain.hosted_zone_id, None);
        let logging = settings.logging.unwrap();
        assert!(logging.access && !logging.source_ip && logging.needs_account_role());
        assert_eq!(logging.retention_days, RetentionDays(30));
        assert_eq!(logging.execution, None);
        let alarms = settings.alarms.unwrap();
        assert_eq!(
            alarms.destination,
            AlarmDestination::Email("ops@example.com".to_owned())
        );
        assert!(alarms.dashboard);
        assert_eq!(alarms.thresholds.table_throttles, Threshold(10));
        assert_eq!(alarms.thresholds.integration_errors, Threshold(5));
        assert_eq!(alarms.thresholds.function_errors, Threshold(1));
        let none = stage("[stages.dev]\nnotify = true\n").unwrap();
        assert!(none.domain.is_none() && none.logging.is_none() && none.alarms.is_none());
        assert!(!Logging::default().needs_account_role());
    }

    #[test]
    fn mistakes_are_refused_with_the_line_and_the_rule() {
        let domain = |fields: &str| format!("[stages.dev.domain]\n{fields}\n");
        let cases = [
            (
                domain(&format!("name = \"Chat.Example.com\"\ncertificate_arn = \"{CERTIFICATE}\"")),
                "is not a domain name",
            ),
            (
                domain(&format!("name = \"localhost\"\ncertificate_arn = \"{CERTIFICATE}\"")),
                "two or more labels",
            ),
            (
                domain("name = \"chat.example.com\"\ncertificate_arn = \"arn:aws:iam::123456789012:certificate/x\""),
                "is not an ACM certificate ARN",
            ),
            (
                domain(&format!(
                    "name = \"chat.example.com\"\ncertificate_arn = \"{CERTIFICATE}\"\nhosted_zone_id = \"/hostedzone/Z1\""
                )),
                "is not a Route 53 hosted zone id",
            ),
            (
                "[stages.dev.logging]\naccess = true\nretention_days = 10\n".to_owned(),
                "CloudWatch Logs keeps logs for 1, 3, 5, 7, 14, 30",
            ),
            (
                "[stages.dev.logging]\nexecution = \"DEBUG\"\n".to_owned(),
                "unknown variant `DEBUG`",
            ),
            (
                "[stages.dev.alarms]\nfunction_errors = 2\n".to_owned(),
                "alarms need one destination",
            ),
            (
                "[stages.dev.alarms]\nemail = \"a@b.c\"\ntopic_arn = \"arn:aws:sns:eu-west-1:123456789012:t\"\n"
                    .to_owned(),
                "alarms need one destination",
            ),
            (
                "[stages.dev.alarms]\nemail = \"ops at example\"\n".to_owned(),
                "is not an address",
            ),
            (
                "[stages.dev.alarms]\ntopic_arn = \"arn:aws:sqs:eu-west-1:123456789012:q\"\n".to_owned(),
                "is not an SNS topic ARN",
            ),
            (
                "[stages.dev.alarms]\nemail = \"a@b.c\"\ndead_letters = 0\n".to_owned(),
                "use 1 to 1000000",
            ),
            (
                "[stages.dev.alarms]\nemail = \"a@b.c\"\nfunction_error = 2\n".to_owned(),
                "unknown field `function_error`",
            ),
        ];
        for (text, rule) in cases {
            let error = stage(&text).expect_err(&text);
            assert!(error.starts_with("chatstack.toml: "), "{error}");
            assert!(error.contains("line "), "{text}: no line in {error}");
            assert!(error.contains(rule), "{text}: no {rule:?} in {error}");
        }
    }
}
