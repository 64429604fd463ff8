//! Settings read from the environment once, at start-up.

use std::time::Duration;

use serde_json::Value;

use chat_contract::{
    CONNECTION_LIFETIME_SECONDS_VAR, CONNECTIONS_PER_USER_VAR, DEFAULT_PRESENCE_LIMIT,
    DIRECT_LIMIT_VAR, FANOUT_JOBS_TABLE_VAR, FANOUT_QUEUE_URL_VAR, FANOUT_SEGMENTS_VAR,
    HISTORY_MAX_PER_REQUEST_VAR, HISTORY_RETENTION_SECONDS_VAR, HISTORY_TABLE_VAR,
    MANAGEMENT_ENDPOINT_VAR, MEMBERS_TABLE_NAME_VAR, MESSAGES_PER_MINUTE_VAR, OIDC_AUDIENCE_VAR,
    OIDC_DISCOVERY_URL_VAR, OIDC_GROUPS_CLAIM_VAR, OIDC_GROUPS_VAR, OIDC_ISSUER_VAR,
    OIDC_REQUIRED_CLAIMS_VAR, OIDC_USER_CLAIM_VAR, PRESENCE_LIMIT_VAR, TABLE_NAME_VAR,
    TOKEN_SECRET_ARN_VAR,
};

use crate::authorize::OidcConfig;

use crate::fanout::FanoutConfig;
use crate::segments::SplitConfig;

/// Posts in flight at once during a broadcast (default 32).
pub const CONCURRENCY_VAR: &str = "SEND_CONCURRENCY";
/// Milliseconds one post may take (default 3000).
pub const POST_TIMEOUT_VAR: &str = "POST_TIMEOUT_MS";
/// Connections a `fanout` worker posts to per job (default 100).
pub const PAGE_SIZE_VAR: &str = "FANOUT_PAGE_SIZE";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "environment variable {0} is not set (the chatstack template sets it on every function)"
    )]
    Missing(&'static str),
    #[error("environment variable {name} is {value:?}; expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// The table name, from `lookup` (normally `std::env::var`).
pub fn table_name(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    required(&lookup, TABLE_NAME_VAR)
}

/// The room-members table's name.
pub fn members_table_name(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    required(&lookup, MEMBERS_TABLE_NAME_VAR)
}

/// Members a room may have for presence events to be sent in it.
pub fn presence_limit(lookup: impl Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    Ok(optional_limit(&lookup, PRESENCE_LIMIT_VAR)?.unwrap_or(DEFAULT_PRESENCE_LIMIT))
}

/// The management API endpoint (`https://{api}.execute-api.{region}.{suffix}/{stage}`),
/// set by the template on the functions that post, so the partition's URL
/// suffix and the API's own host are used, never a custom domain.
pub fn management_endpoint(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    required(&lookup, MANAGEMENT_ENDPOINT_VAR)
}

/// The fan-out jobs table, set on the `fanout` worker.
pub fn fanout_jobs_table(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    required(&lookup, FANOUT_JOBS_TABLE_VAR)
}

/// The fan-out queue's URL, set on the functions that broadcast.
pub fn fanout_queue_url(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    required(&lookup, FANOUT_QUEUE_URL_VAR)
}

/// When and how broadcasts are split, defaults overridden by the environment.
pub fn split_config(lookup: impl Fn(&str) -> Option<String>) -> Result<SplitConfig, ConfigError> {
    let defaults = SplitConfig::default();
    let whole = "a whole number above 0";
    let direct_limit = positive(&lookup, DIRECT_LIMIT_VAR, whole)?;
    let segments = positive(&lookup, FANOUT_SEGMENTS_VAR, whole)?;
    let page_size = positive(&lookup, PAGE_SIZE_VAR, whole)?;
    let to_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(SplitConfig {
        direct_limit: direct_limit.map_or(defaults.direct_limit, |n| n as usize),
        segments: segments.map_or(defaults.segments, to_u32),
        page_size: page_size.map_or(defaults.page_size, to_u32),
    })
}

/// Connections one user may hold; `None` (unset): no limit.
pub fn connections_per_user(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, ConfigError> {
    optional_limit(&lookup, CONNECTIONS_PER_USER_VAR)
}

/// Messages one connection may send a minute; `None` (unset): no limit.
pub fn messages_per_minute(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<u32>, ConfigError> {
    optional_limit(&lookup, MESSAGES_PER_MINUTE_VAR)
}

fn optional_limit(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u32>, ConfigError> {
    let limit = positive(lookup, name, "a whole number above 0")?;
    Ok(limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// The stage's history settings: `None` when it keeps none (no table set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    pub table: String,
    pub retention: Duration,
    pub max_per_request: u32,
}

/// The history table and settings, when the template set them.
pub fn history(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<HistoryConfig>, ConfigError> {
    let Some(table) = lookup(HISTORY_TABLE_VAR).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let whole = "a whole number above 0";
    let retention = positive(&lookup, HISTORY_RETENTION_SECONDS_VAR, whole)?
        .ok_or(ConfigError::Missing(HISTORY_RETENTION_SECONDS_VAR))?;
    let max_per_request = optional_limit(&lookup, HISTORY_MAX_PER_REQUEST_VAR)?
        .unwrap_or(chat_contract::DEFAULT_HISTORY_MAX_PER_REQUEST);
    Ok(Some(HistoryConfig {
        table,
        retention: Duration::from_secs(retention),
        max_per_request,
    }))
}

/// How long API Gateway keeps a connection: two hours, unless `chatstack
/// local --max-lifetime` says otherwise.
pub fn connection_lifetime(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Duration, ConfigError> {
    let seconds = positive(
        &lookup,
        CONNECTION_LIFETIME_SECONDS_VAR,
        "a whole number above 0",
    )?;
    Ok(seconds.map_or(crate::store::CONNECTION_LIFETIME, Duration::from_secs))
}

/// Which tokens the authorizer accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The stage's own, signed with the secret of this ARN.
    Signed { secret_arn: String },
    /// An OpenID Connect identity provider's.
    Oidc(OidcConfig),
}

/// The authorizer's settings: an issuer's ([`OIDC_ISSUER_VAR`] and what
/// goes with it) when set, else the stage's token secret.
pub fn authorization(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Authorization, ConfigError> {
    let Some(issuer) = lookup(OIDC_ISSUER_VAR).filter(|issuer| !issuer.is_empty()) else {
        return Ok(Authorization::Signed {
            secret_arn: required(&lookup, TOKEN_SECRET_ARN_VAR)?,
        });
    };
    let discovery_url = lookup(OIDC_DISCOVERY_URL_VAR)
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| OidcConfig::discovery_url_of(&issuer));
    crate::authorize::check_url(&discovery_url).map_err(|_| ConfigError::Invalid {
        name: OIDC_DISCOVERY_URL_VAR,
        value: discovery_url.clone(),
        expected: "an https:// URL (http:// only to loopback)",
    })?;
    let json = |name: &'static str, expected: &'static str| -> Result<Option<Value>, ConfigError> {
        lookup(name)
            .map(|text| {
                serde_json::from_str(&text).map_err(|_| ConfigError::Invalid {
                    name,
                    value: text.clone(),
                    expected,
                })
            })
            .transpose()
    };
    let required_claims = match json(OIDC_REQUIRED_CLAIMS_VAR, "a JSON object")? {
        None => serde_json::Map::new(),
        Some(Value::Object(claims)) => claims,
        Some(other) => return Err(invalid(OIDC_REQUIRED_CLAIMS_VAR, other, "a JSON object")),
    };
    const GROUPS: &str = "a JSON array of group names";
    let groups = match json(OIDC_GROUPS_VAR, GROUPS)? {
        None => None,
        Some(value) => Some(
            serde_json::from_value::<Vec<String>>(value.clone())
                .ok()
                .filter(|groups| !groups.is_empty())
                .ok_or_else(|| invalid(OIDC_GROUPS_VAR, value, GROUPS))?,
        ),
    };
    Ok(Authorization::Oidc(OidcConfig {
        audience: required(&lookup, OIDC_AUDIENCE_VAR)?,
        user_claim: lookup(OIDC_USER_CLAIM_VAR)
            .filter(|claim| !claim.is_empty())
            .unwrap_or_else(|| "sub".to_owned()),
        required_claims,
        groups,
        groups_claim: lookup(OIDC_GROUPS_CLAIM_VAR)
            .filter(|claim| !claim.is_empty())
            .unwrap_or_else(|| "groups".to_owned()),
        discovery_url,
        issuer,
    }))
}

fn invalid(name: &'static str, value: Value, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        expected,
    }
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    match lookup(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name)),
    }
}

fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            name,
            value,
            expected,
        }),
    }
}

/// The broadcast pacing, defaults overridden by the environment.
pub fn fanout_config(lookup: impl Fn(&str) -> Option<String>) -> Result<FanoutConfig, ConfigError> {
    let defaults = FanoutConfig::default();
    let concurrency = positive(&lookup, CONCURRENCY_VAR, "a whole number above 0")?;
    let timeout_ms = positive(&lookup, POST_TIMEOUT_VAR, "milliseconds, above 0")?;
    Ok(FanoutConfig {
        concurrency: concurrency.map_or(defaults.concurrency, |n| n as usize),
        post_timeout: timeout_ms.map_or(defaults.post_timeout, Duration::from_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn missing_table_name_says_which_variable() {
        let error = table_name(env(&[])).unwrap_err();
        assert_eq!(error, ConfigError::Missing("TABLE_NAME"));
        assert!(error.to_string().contains("TABLE_NAME is not set"));
        assert_eq!(table_name(env(&[("TABLE_NAME", "")])), Err(error));
        assert_eq!(table_name(env(&[("TABLE_NAME", "t")])).unwrap(), "t");
    }

    #[test]
    fn rooms_settings_have_defaults_and_checks() {
        assert_eq!(
            members_table_name(env(&[])),
            Err(ConfigError::Missing("CHATSTACK_MEMBERS_TABLE"))
        );
        assert_eq!(presence_limit(env(&[])), Ok(DEFAULT_PRESENCE_LIMIT));
        assert_eq!(
            presence_limit(env(&[("CHATSTACK_PRESENCE_LIMIT", "5")])),
            Ok(5)
        );
        assert!(presence_limit(env(&[("CHATSTACK_PRESENCE_LIMIT", "x")])).is_err());
    }

    #[test]
    fn history_is_off_without_its_table_and_checked_with_it() {
        assert_eq!(history(env(&[])), Ok(None));
        let table = ("CHATSTACK_HISTORY_TABLE", "h");
        assert_eq!(
            history(env(&[table])),
            Err(ConfigError::Missing("CHATSTACK_HISTORY_RETENTION_SECONDS"))
        );
        let on = history(env(&[
            table,
            ("CHATSTACK_HISTORY_RETENTION_SECONDS", "60"),
            ("CHATSTACK_HISTORY_MAX_PER_REQUEST", "5"),
        ]));
        assert_eq!(
            on,
            Ok(Some(HistoryConfig {
                table: "h".into(),
                retention: Duration::from_secs(60),
                max_per_request: 5
            }))
        );
        assert!(history(env(&[table, ("CHATSTACK_HISTORY_RETENTION_SECONDS", "0")])).is_err());
    }

    #[test]
    fn the_connection_lifetime_is_two_hours_unless_local_shortens_it() {
        assert_eq!(connection_lifetime(env(&[])), Ok(Duration::from_secs(7200)));
        assert_eq!(
            connection_lifetime(env(&[("CHATSTACK_CONNECTION_LIFETIME_SECONDS", "30")])),
            Ok(Duration::from_secs(30))
        );
    }

    #[test]
    fn the_authorizer_takes_an_issuer_or_else_the_token_secret() {
        use chat_contract::*;
        assert_eq!(
            authorization(env(&[(TOKEN_SECRET_ARN_VAR, "arn:s")])),
            Ok(Authorization::Signed {
                secret_arn: "arn:s".to_owned()
            })
        );
        assert_eq!(
            authorization(env(&[])),
            Err(ConfigError::Missing(TOKEN_SECRET_ARN_VAR))
        );
        let Ok(Authorization::Oidc(oidc)) = authorization(env(&[
            (OIDC_ISSUER_VAR, "https://idp.example.com/t/"),
            (OIDC_AUDIENCE_VAR, "app"),
        ])) else {
            panic!("an issuer makes an OIDC authorizer");
        };
        assert_eq!(oidc.user_claim, "sub");
        assert_eq!(oidc.groups, None);
        assert_eq!(
            oidc.discovery_url,
            "https://idp.example.com/t/.well-known/openid-configuration"
        );
        let Ok(Authorization::Oidc(oidc)) = authorization(env(&[
            (OIDC_ISSUER_VAR, "https://idp.example.com"),
            (OIDC_AUDIENCE_VAR, "app"),
            (OIDC_USER_CLAIM_VAR, "email"),
            (OIDC_REQUIRED_CLAIMS_VAR, r#"{"email_verified":true}"#),
            (OIDC_GROUPS_VAR, r#"["chat"]"#),
            (OIDC_GROUPS_CLAIM_VAR, "cognito:groups"),
            (
                OIDC_DISCOVERY_URL_VAR,
                "http://127.0.0.1:9/pool/.well-known/openid-configuration",
            ),
        ])) else {
            panic!("a full OIDC configuration");
        };
        assert_eq!(oidc.user_claim, "email");
        assert_eq!(oidc.required_claims["email_verified"], true);
        assert_eq!(oidc.groups, Some(vec!["chat".to_owned()]));
        assert_eq!(oidc.groups_claim, "cognito:groups");
        assert!(oidc.discovery_url.starts_with("http://127.0.0.1:9/"));

        let issuer = (OIDC_ISSUER_VAR, "https://idp.example.com");
        let audience = (OIDC_AUDIENCE_VAR, "app");
        assert_eq!(
            authorization(env(&[issuer])),
            Err(ConfigError::Missing(OIDC_AUDIENCE_VAR))
        );
        for (name, value) in [
            (OIDC_REQUIRED_CLAIMS_VAR, "[1]"),
            (OIDC_REQUIRED_CLAIMS_VAR, "{"),
            (OIDC_GROUPS_VAR, "[]"),
            (OIDC_GROUPS_VAR, r#"{"a":1}"#),
            (
                OIDC_DISCOVERY_URL_VAR,
                "http://idp.example.com/.well-known/openid-configuration",
            ),
        ] {
            assert!(
                matches!(
                    authorization(env(&[issuer, audience, (name, value)])),
                    Err(ConfigError::Invalid { name: n, .. }) if n == name
                ),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn missing_management_endpoint_says_which_variable() {
        let error = management_endpoint(env(&[])).unwrap_err();
        assert_eq!(error, ConfigError::Missing("CHATSTACK_MANAGEMENT_ENDPOINT"));
        let endpoint = "https://a1.execute-api.cn-north-1.amazonaws.com.cn/dev";
        assert_eq!(
            management_endpoint(env(&[("CHATSTACK_MANAGEMENT_ENDPOINT", endpoint)])).unwrap(),
            endpoint
        );
    }

    #[test]
    fn fanout_defaults_and_overrides() {
        assert_eq!(fanout_config(env(&[])).unwrap(), FanoutConfig::default());
        let config = fanout_config(env(&[
            ("SEND_CONCURRENCY", "4"),
            ("POST_TIMEOUT_MS", "250"),
        ]))
        .unwrap();
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.post_timeout, Duration::from_millis(250));
    }

    #[test]
    fn split_defaults_and_overrides() {
        assert_eq!(split_config(env(&[])).unwrap(), SplitConfig::default());
        let config = split_config(env(&[
            ("CHATSTACK_DIRECT_LIMIT", "50"),
            ("CHATSTACK_FANOUT_SEGMENTS", "4"),
            ("FANOUT_PAGE_SIZE", "25"),
        ]))
        .unwrap();
        assert_eq!(
            config,
            SplitConfig {
                direct_limit: 50,
                segments: 4,
                page_size: 25
            }
        );
        assert!(matches!(
            split_config(env(&[("CHATSTACK_FANOUT_SEGMENTS", "0")])),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(
            fanout_queue_url(env(&[])),
            Err(ConfigError::Missing("CHATSTACK_FANOUT_QUEUE_URL"))
        );
    }

    #[test]
    fn bad_fanout_values_are_refused() {
        for (name, value) in [
            ("SEND_CONCURRENCY", "0"),
            ("SEND_CONCURRENCY", "many"),
            ("POST_TIMEOUT_MS", "-5"),
        ] {
            assert!(matches!(
                fanout_config(env(&[(name, value)])),
                Err(ConfigError::Invalid { .. })
            ));
        }
    }
}
