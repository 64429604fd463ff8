//! Stage settings: an optional `chatstack.toml` with one table per stage,
//! for what differs between stages without editing Rust.
//!
//! ```toml
//! [stages.prod]
//! notify = true                   # the signed POST /notify endpoint
//! authorization = true            # connecting takes a signed token (or a
//!                                 # table: an identity provider, see
//!                                 # authorization.rs)
//!
//! [stages.prod.schedule]          # a message pushed on a schedule
//! expression = "rate(1 hour)"     # or "cron(0 9 ? * MON-FRI *)"
//! message = "Stand-up in 10 minutes"
//!
//! [stages.prod.broadcast]         # large audiences (defaults shown)
//! direct_limit = 2000             # more recipients: split across workers
//! workers = 10                    # segments, and fanout workers at once
//!
//! [stages.prod.limits]            # what one client may do (default shown)
//! messages_per_minute = 60        # per connection; more are refused
//! connections_per_user = 10       # with tokens: more connections are refused
//!
//! [stages.prod.rooms]             # (the default shown)
//! presence_limit = 100            # rooms larger than this get no joined/left
//!
//! [stages.prod.throttling]        # every client together (defaults shown)
//! rate_limit = 100                # route requests a second, steady
//! burst_limit = 200               # and at once above that
//! ```
//!
//! No file, or no table for a stage, gives that stage the app of AWS's
//! guide exactly. Unknown keys, wrong types and bad values are refused
//! with the file, the key and the rule, before anything else happens.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::stage_name::StageName;

mod authorization;
mod operations;

pub use authorization::{
    Audience, Authorization, ClaimName, ClaimValue, GroupName, Issuer, Oidc, Provider,
};
pub use operations::{
    AlarmDestination, Alarms, CertificateArn, Domain, DomainName, ExecutionLevel, HostedZoneId,
    Logging, RetentionDays, Threshold, Thresholds,
};

/// Where settings are read from when no `--config` is given.
pub const DEFAULT_SETTINGS_FILE: &str = "chatstack.toml";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read the settings file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Every stage's settings, as read from the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    stages: BTreeMap<String, StageSettings>,
}

/// The file's shape: `[stages.<name>]` tables and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    stages: BTreeMap<StageKey, StageSettings>,
}

/// A stage name used as a table key, checked as stage names are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct StageKey(String);

impl TryFrom<String> for StageKey {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        name.parse::<StageName>()
            .map(|_| StageKey(name))
            .map_err(|error| error.to_string())
    }
}

/// What one stage adds to the app.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSettings {
    /// The `POST /notify` endpoint (IAM-signed) that pushes a message to
    /// every client or to chosen connections.
    #[serde(default)]
    pub notify: bool,
    /// A message pushed to every client on a schedule, through the notify
    /// function (which it adds, endpoint included).
    pub schedule: Option<Schedule>,
    /// Who may connect: anyone, holders of tokens the stage signs, or an
    /// identity provider's users; messages on a stage with users carry the
    /// sender's name.
    #[serde(default)]
    pub authorization: Authorization,
    /// When a broadcast is split across `fanout` workers, and how widely.
    #[serde(default)]
    pub broadcast: Broadcast,
    /// What one client may do.
    #[serde(default)]
    pub limits: Limits,
    /// How fast the stage's routes may be called, all clients together.
    #[serde(default)]
    pub throttling: Throttling,
    /// How rooms behave.
    #[serde(default)]
    pub rooms: Rooms,
    /// Each room's messages kept, numbered, for clients to catch up on;
    /// absent: none kept (the guide's behaviour).
    pub history: Option<History>,
    /// A custom domain clients connect to.
    pub domain: Option<Domain>,
    /// API Gateway's access and execution logs.
    pub logging: Option<Logging>,
    /// Alarms on the stage's health, and a dashboard.
    pub alarms: Option<Alarms>,
}

/// A stage's room history (`[stages.X.history]`, an empty table takes the
/// defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Days a message is kept.
    #[serde(default = "History::default_days")]
    pub days: HistoryDays,
    /// The most messages one `history` request is answered with.
    #[serde(default = "History::default_max_per_request")]
    pub max_per_request: HistoryMaxPerRequest,
}

impl History {
    fn default_days() -> HistoryDays {
        HistoryDays(chat_contract::DEFAULT_HISTORY_DAYS)
    }

    fn default_max_per_request() -> HistoryMaxPerRequest {
        HistoryMaxPerRequest(chat_contract::DEFAULT_HISTORY_MAX_PER_REQUEST)
    }

    /// How long a message is kept, in seconds.
    pub fn retention_seconds(&self) -> u64 {
        u64::from(self.days.0) * 24 * 60 * 60
    }
}

/// 1 to 365 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct HistoryDays(pub u32);

impl TryFrom<u32> for HistoryDays {
    type Error = String;

    fn try_from(days: u32) -> Result<Self, String> {
        within(
            "days",
            days,
            1..=365,
            "history is for catching up; every day kept is storage paid for",
        )
        .map(HistoryDays)
    }
}

/// 1 to 1,000 messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct HistoryMaxPerRequest(pub u32);

impl TryFrom<u32> for HistoryMaxPerRequest {
    type Error = String;

    fn try_from(most: u32) -> Result<Self, String> {
        within(
            "max_per_request",
            most,
            1..=1_000,
            "each request is one DynamoDB query of that many items, answered in one 128 KB frame",
        )
        .map(HistoryMaxPerRequest)
    }
}

/// How rooms behave on the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rooms {
    /// Members a room may have for its members to hear `joined` and
    /// `left`; a larger room is not told (each would be a broadcast).
    #[serde(default = "Rooms::default_presence_limit")]
    pub presence_limit: PresenceLimit,
}

impl Rooms {
    fn default_presence_limit() -> PresenceLimit {
        PresenceLimit(chat_contract::DEFAULT_PRESENCE_LIMIT)
    }
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms {
            presence_limit: Rooms::default_presence_limit(),
        }
    }
}

/// 1 to 1,000 members: a join in a room this large costs that many posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct PresenceLimit(pub u32);

impl TryFrom<u32> for PresenceLimit {
    type Error = String;

    fn try_from(limit: u32) -> Result<Self, String> {
        within(
            "presence_limit",
            limit,
            1..=1_000,
            "each join and leave in a room this large is a post to every member",
        )
        .map(PresenceLimit)
    }
}

/// The stage's route throttling: API Gateway's token bucket, applied to
/// every route before any function runs (the stage's
/// `DefaultRouteSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throttling {
    /// Requests a second, steady (`ThrottlingRateLimit`).
    #[serde(default = "Throttling::default_rate_limit")]
    pub rate_limit: RateLimit,
    /// Requests at once above the rate (`ThrottlingBurstLimit`).
    #[serde(default = "Throttling::default_burst_limit")]
    pub burst_limit: BurstLimit,
}

impl Throttling {
    /// Well under the account's 10,000 a second, so one chat app cannot
    /// starve the account's other APIs.
    fn default_rate_limit() -> RateLimit {
        RateLimit(100)
    }

    fn default_burst_limit() -> BurstLimit {
        BurstLimit(200)
    }
}

impl Default for Throttling {
    fn default() -> Self {
        Throttling {
            rate_limit: Throttling::default_rate_limit(),
            burst_limit: Throttling::default_burst_limit(),
        }
    }
}

/// 1 to 10,000 requests a second: API Gateway's default account-wide
/// quota per Region, which caps every stage's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct RateLimit(pub u32);

impl TryFrom<u32> for RateLimit {
    type Error = String;

    fn try_from(rate: u32) -> Result<Self, String> {
        within(
            "rate_limit",
            rate,
            1..=10_000,
            "API Gateway's account-wide quota, which caps the stage's",
        )
        .map(RateLimit)
    }
}

/// 1 to 5,000 requests at once: API Gateway's default account-wide burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct BurstLimit(pub u32);

impl TryFrom<u32> for BurstLimit {
    type Error = String;

    fn try_from(burst: u32) -> Result<Self, String> {
        within(
            "burst_limit",
            burst,
            1..=5_000,
            "API Gateway's account-wide burst, which caps the stage's",
        )
        .map(BurstLimit)
    }
}

/// What one client may do on the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Messages one connection may send a minute; past it, `sendmessage`
    /// tells the sender to wait and broadcasts nothing.
    #[serde(default = "Limits::default_messages_per_minute")]
    pub messages_per_minute: MessagesPerMinute,
    /// Connections one user may hold at once, on a stage with tokens; past
    /// it, `$connect` refuses (429).
    #[serde(default = "Limits::default_connections_per_user")]
    pub connections_per_user: ConnectionsPerUser,
}

impl Limits {
    fn default_messages_per_minute() -> MessagesPerMinute {
        MessagesPerMinute(60)
    }

    fn default_connections_per_user() -> ConnectionsPerUser {
        ConnectionsPerUser(10)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            messages_per_minute: Limits::default_messages_per_minute(),
            connections_per_user: Limits::default_connections_per_user(),
        }
    }
}

/// 1 to 1,000 connections a user may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct ConnectionsPerUser(pub u32);

impl TryFrom<u32> for ConnectionsPerUser {
    type Error = String;

    fn try_from(limit: u32) -> Result<Self, String> {
        within(
            "connections_per_user",
            limit,
            1..=1_000,
            "a person's tabs and devices, not a fleet",
        )
        .map(ConnectionsPerUser)
    }
}

/// 1 to 6,000 messages a minute (100 a second: the default stage rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct MessagesPerMinute(pub u32);

impl TryFrom<u32> for MessagesPerMinute {
    type Error = String;

    fn try_from(limit: u32) -> Result<Self, String> {
        within(
            "messages_per_minute",
            limit,
            1..=6_000,
            "6000 a minute is 100 a second, the default rate of the whole stage",
        )
        .map(MessagesPerMinute)
    }
}

/// `value` when `range` holds it; else why not, naming `key`, the range and
/// the reason for it (`why`).
fn within(key: &str, value: u32, range: RangeInclusive<u32>, why: &str) -> Result<u32, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{key} is {value}: use {} to {} ({why})",
            range.start(),
            range.end()
        ))
    }
}

/// How broadcasts reach large audiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broadcast {
    /// A broadcast to more connections than this is split across workers;
    /// to this many or fewer, the receiving function posts it itself.
    #[serde(default = "Broadcast::default_direct_limit")]
    pub direct_limit: DirectLimit,
    /// Segments of a split broadcast, and so the most `fanout` workers at
    /// once (the queue's maximum concurrency).
    #[serde(default = "Broadcast::default_workers")]
    pub workers: Workers,
}

impl Broadcast {
    fn default_direct_limit() -> DirectLimit {
        DirectLimit(chat_contract::DEFAULT_DIRECT_LIMIT)
    }

    fn default_workers() -> Workers {
        Workers(chat_contract::DEFAULT_WORKERS)
    }
}

impl Default for Broadcast {
    fn default() -> Self {
        Broadcast {
            direct_limit: Broadcast::default_direct_limit(),
            workers: Broadcast::default_workers(),
        }
    }
}

/// Recipients one invocation posts to itself: 1 to 20,000 (at 32 posts in
/// flight and 20 ms each, 20,000 take about 13 s of the 29 s API Gateway
/// waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct DirectLimit(pub u32);

impl TryFrom<u32> for DirectLimit {
    type Error = String;

    fn try_from(limit: u32) -> Result<Self, String> {
        within(
            "direct_limit",
            limit,
            1..=20_000,
            "one invocation must post that many well inside API Gateway's 29 s",
        )
        .map(DirectLimit)
    }
}

/// Workers at once: 2 to 1,000, the range of an SQS event source's
/// maximum concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct Workers(pub u32);

impl TryFrom<u32> for Workers {
    type Error = String;

    fn try_from(workers: u32) -> Result<Self, String> {
        within(
            "workers",
            workers,
            2..=1_000,
            "the range of an SQS event source's maximum concurrency",
        )
        .map(Workers)
    }
}

impl StageSettings {
    /// Whether the stage has the notify function and its endpoint.
    pub fn has_notify(&self) -> bool {
        self.notify || self.schedule.is_some()
    }
}

/// A message pushed on a schedule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub expression: ScheduleExpression,
    pub message: ScheduledMessage,
    /// The time zone a cron expression is read in, so 09:00 stays 09:00
    /// local time across daylight saving (Scheduler's
    /// `ScheduleExpressionTimezone`); none: UTC.
    pub timezone: Option<Timezone>,
    /// Only this room's members get the message; none: every client.
    pub room: Option<RoomName>,
}

/// A room's name, checked against the one rule the handlers enforce too
/// ([`chat_contract::check_room_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RoomName(String);

impl RoomName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        chat_contract::check_room_name(&name)
            .map(|()| RoomName(name))
            .map_err(|refused| refused.to_string())
    }
}

impl std::str::FromStr for RoomName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        RoomName::try_from(name.to_owned())
    }
}

/// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`),
/// as EventBridge Scheduler takes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Timezone(String);

impl Timezone {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Timezone {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.parse::<chrono_tz::Tz>() {
            Ok(_) => Ok(Timezone(name)),
            Err(_) => Err(format!(
                "{name:?} is not an IANA time zone name: use one such as \"Europe/Berlin\", \
                 \"America/New_York\" or \"UTC\" (names are case-sensitive)"
            )),
        }
    }
}

/// An EventBridge Scheduler expression: `rate(N unit)` or a six-field
/// `cron(...)`.
/// <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html>
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ScheduleExpression {
    text: String,
    /// The period of a rate expression; `None` for cron.
    rate: Option<std::time::Duration>,
}

impl ScheduleExpression {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The period of a `rate(...)` expression; `None` for `cron(...)`.
    pub fn rate(&self) -> Option<std::time::Duration> {
        self.rate
    }
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for ScheduleExpression {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let rate = if let Some(inner) = inner(&text, "rate(") {
            Some(parse_rate(inner)?)
        } else if let Some(inner) = inner(&text, "cron(") {
            check_cron(inner)?;
            None
        } else {
            return Err(format!(
                "{text:?} is not a schedule: use rate(N minutes|hours|days), for example \
                 \"rate(1 hour)\", or cron(minutes hours day-of-month month day-of-week year), \
                 for example \"cron(0 9 ? * MON-FRI *)\" (one-time at(...) schedules are not \
                 supported)"
            ));
        };
        Ok(ScheduleExpression { text, rate })
    }
}

/// The text between `prefix` and a final `)`.
fn inner<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.strip_suffix(')')
}

fn parse_rate(inner: &str) -> Result<std::time::Duration, String> {
    const RULE: &str = "rate(N unit) takes a whole number N of at least 1 and a unit of \
                        minute, hour or day (singular for 1, plural otherwise), for example \
                        \"rate(1 hour)\" or \"rate(5 minutes)\"";
    let mut words = inner.split(' ');
    let (Some(value), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("rate({inner}): {RULE}"));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("rate({inner}): {RULE}"))?;
    let seconds = match (value, unit) {
        (1, "minute") | (2.., "minutes") => 60,
        (1, "hour") | (2.., "hours") => 3600,
        (1, "day") | (2.., "days") => 86_400,
        _ => return Err(format!("rate({inner}): {RULE}")),
    };
    Ok(std::time::Duration::from_secs(value * seconds))
}

fn check_cron(inner: &str) -> Result<(), String> {
    let fields: Vec<&str> = inner.split(' ').collect();
    let rule = "cron(...) takes six fields separated by single spaces: minutes hours \
                day-of-month month day-of-week year, with '?' in exactly one of \
                day-of-month and day-of-week, for example \"cron(0 9 ? * MON-FRI *)\"";
    if fields.len() != 6 {
        return Err(format!("cron({inner}) has {} fields: {rule}", fields.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ",-*/?#".contains(c);
    if let Some(field) = fields
        .iter()
        .find(|f| f.is_empty() || !f.chars().all(allowed))
    {
        return Err(format!(
            "cron({inner}): field {field:?} is not valid: {rule}"
        ));
    }
    if (fields[2] == "?") == (fields[4] == "?") {
        return Err(format!("cron({inner}): {rule}"));
    }
    for (field, value) in CRON_FIELDS.iter().zip(&fields) {
        check_cron_field(field, value)
            .map_err(|why| format!("cron({inner}): the {} field {value:?} {why}", field.name))?;
    }
    Ok(())
}

/// One field of a Scheduler cron expression: its range, names and the
/// special characters it takes besides `* , - /`.
struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// `?`, `L`, `W` (day of month), `#` (day of week).
    special: &'static str,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// <https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based>
const CRON_FIELDS: [CronField; 6] = [
    CronField {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        special: "",
    },
    CronField {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
        special: "",
    },
    CronField {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        special: "?LW",
    },
    CronField {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
        special: "",
    },
    CronField {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: WEEKDAYS,
        special: "?L#",
    },
    CronField {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
        special: "",
    },
];

impl CronField {
    /// A value: a number in range or (month, day of week) a name.
    fn value(&self, text: &str) -> Result<u32, String> {
        if let Some(n) = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            return Ok(self.min + n as u32);
        }
        let names = if self.names.is_empty() {
            String::new()
        } else {
            format!(" or {}-{}", self.names[0], self.names[self.names.len() - 1])
        };
        match text.parse::<u32>() {
            Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
            _ => Err(format!(
                "is not valid: {} go from {} to {}{names}",
                self.name, self.min, self.max
            )),
        }
    }
}

fn check_cron_field(field: &CronField, value: &str) -> Result<(), String> {
    if value == "?" || (value == "L" && field.special.contains('L')) {
        return if field.special.contains(value) {
            Ok(())
        } else {
            Err(format!(
                "is not valid: {value} is for day-of-month or day-of-week"
            ))
        };
    }
    for item in value.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step
            && !step.parse::<u32>().is_ok_and(|n| n >= 1)
        {
            return Err(format!(
                "is not valid: the increment after / must be a whole number of at least 1, not {step:?}"
            ));
        }
        if range == "*" {
            continue;
        }
        if field.special.contains('#')
            && let Some((day, nth)) = range.split_once('#')
        {
            field.value(day)?;
            if !matches!(nth, "1" | "2" | "3" | "4" | "5") {
                return Err(format!(
                    "is not valid: after # comes which week of the month, 1 to 5, not {nth:?}"
                ));
            }
            continue;
        }
        let range = if field.special.contains('W') {
            range.strip_suffix('W').unwrap_or(range)
        } else {
            range
        };
        let range = if field.special.contains('L') && range.len() > 1 {
            range.strip_suffix('L').unwrap_or(range)
        } else {
            range
        };
        match range.split_once('-') {
            Some((from, to)) => {
                field.value(from)?;
                field.value(to)?;
            }
            None => {
                field.value(range)?;
            }
        }
    }
    Ok(())
}

/// A scheduled message: text, at most [`ScheduledMessage::MAX_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ScheduledMessage(String);

impl ScheduledMessage {
    /// The message is written into the template, which CloudFormation
    /// takes inline only up to 51,200 bytes: a notice, not a document.
    pub const MAX_BYTES: usize = 4096;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScheduledMessage {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("the message is empty: write the text to push".to_owned());
        }
        if text.len() > Self::MAX_BYTES {
            return Err(format!(
                "the message is {} bytes; a scheduled message may have at most {} (it is \
                 written into the template; push longer texts with chatstack notify)",
                text.len(),
                Self::MAX_BYTES
            ));
        }
        Ok(ScheduledMessage(text))
    }
}

/// serde's `invalid type: string "10", expected u32` in the settings'
/// terms: what the key takes, what was found, and how to write it.
fn in_plain_words(message: &str) -> String {
    let Some(start) = message.find("invalid type: ") else {
        return message.to_owned();
    };
    let rest = &message[start + "invalid type: ".len()..];
    let Some((found, after)) = rest.split_once(", expected ") else {
        return message.to_owned();
    };
    let expected_end = after.find('\n').unwrap_or(after.len());
    let (expected, tail) = after.split_at(expected_end);
    let (wanted, hint) = match expected.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => {
            ("a whole number", " (write numbers without quotes)")
        }
        "a boolean" => ("true or false", " (without quotes)"),
        "a string" | "a borrowed string" => ("text in double quotes", ""),
        other => (other, ""),
    };
    format!(
        "{}expected {wanted}, found {}{hint}{tail}",
        &message[..start],
        found.replacen("string ", "the text ", 1)
    )
}

impl Settings {
    /// The settings in `path`, which must exist; without a path, those in
    /// [`DEFAULT_SETTINGS_FILE`] if it exists, else none.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        let (path, required) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_SETTINGS_FILE), false),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Settings::parse(&text, path),
            Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
                Ok(Settings::default())
            }
            Err(source) => Err(SettingsError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let file: SettingsFile = toml::from_str(text).map_err(|error| SettingsError::Invalid {
            path: path.to_owned(),
            message: in_plain_words(error.to_string().trim_end()),
        })?;
        Ok(Settings {
            stages: file
                .stages
                .into_iter()
                .map(|(stage, settings)| (stage.0, settings))
                .collect(),
        })
    }

    /// The settings of `stage`: its table, or the defaults.
    pub fn stage(&self, stage: &StageName) -> StageSettings {
        self.stages.get(stage.as_str()).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(text, Path::new("chatstack.toml")).map_err(|e| e.to_string())
    }

    fn stage(name: &str) -> StageName {
        name.parse().unwrap()
    }

    #[test]
    fn a_stage_table_sets_that_stage_only() {
        let settings = parse(
            "[stages.prod]\nnotify = true\n\n[stages.prod.schedule]\n\
             expression = \"rate(5 minutes)\"\nmessage = \"hello\"\n",
        )
        .unwrap();
        let prod = settings.stage(&stage("prod"));
        assert!(prod.notify);
        let schedule = prod.schedule.unwrap();
        assert_eq!(schedule.expression.as_str(), "rate(5 minutes)");
        assert_eq!(
            schedule.expression.rate(),
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(schedule.message.as_str(), "hello");
        assert_eq!(settings.stage(&stage("dev")), StageSettings::default());
        assert_eq!(parse("").unwrap(), Settings::default());
    }

    #[test]
    fn a_schedules_room_follows_the_room_rule() {
        let with_room = |room: &str| {
            parse(&format!(
                "[stages.dev.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"hi\"\nroom = \"{room}\"\n"
            ))
        };
        let dev = with_room("ops").unwrap().stage(&stage("dev"));
        assert_eq!(dev.schedule.unwrap().room.unwrap().as_str(), "ops");
        let error = with_room("no room").unwrap_err().to_string();
        assert!(error.contains("1 to 64 letters"), "{error}");
    }

    #[test]
    fn a_schedule_alone_brings_the_notify_function() {
        let settings = parse(
            "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * MON-FRI *)\"\nmessage = \"hi\"\n",
        )
        .unwrap();
        let dev = settings.stage(&stage("dev"));
        assert!(!dev.notify);
        assert!(dev.has_notify());
        assert_eq!(dev.schedule.unwrap().expression.rate(), None);
    }

    #[test]
    fn the_client_limits_have_defaults_and_bounds() {
        let dev = parse("[stages.dev]\nnotify = true\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(dev.limits.messages_per_minute.0, 60);
        assert_eq!(dev.rooms.presence_limit.0, 100);
        let rooms = parse("[stages.dev.rooms]\npresence_limit = 7\n")
            .unwrap()
            .stage(&"dev".parse().unwrap());
        assert_eq!(rooms.rooms.presence_limit.0, 7);
        for bad in ["presence_limit = 0", "presence_limit = 1001"] {
            let error = parse(&format!("[stages.dev.rooms]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("use 1 to 1000"), "{bad}: {error}");
        }
        let set = parse("[stages.dev.limits]\nmessages_per_minute = 5\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(set.limits.messages_per_minute.0, 5);
        assert_eq!(dev.limits.connections_per_user.0, 10);
        for (text, rule) in [
            ("connections_per_user = 0", "use 1 to 1000"),
            ("connections_per_user = 1001", "use 1 to 1000"),
            ("messages_per_minute = 0", "use 1 to 6000"),
            ("messages_per_minute = 6001", "use 1 to 6000"),
            ("messages = 3", "unknown field"),
        ] {
            let error = parse(&format!("[stages.dev.limits]\n{text}\n")).unwrap_err();
            assert!(error.contains(rule), "{text}: {error}");
        }
    }

    #[test]
    fn history_is_off_unless_asked_for_and_has_defaults_and_bounds() {
        let dev = parse("[stages.dev]\nnotify = true\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(dev.history, None);
        let defaults = parse("[stages.dev.history]\n")
            .unwrap()
            .stage(&stage("dev"))
            .history
            .unwrap();
        assert_eq!((defaults.days.0, defaults.max_per_request.0), (7, 100));
        assert_eq!(defaults.retention_seconds(), 7 * 86_400);
        let set = parse("[stages.dev.history]\ndays = 30\nmax_per_request = 20\n")
            .unwrap()
            .stage(&stage("dev"))
            .history
            .unwrap();
        assert_eq!((set.days.0, set.max_per_request.0), (30, 20));
        for (text, rule) in [
            ("days = 0", "use 1 to 365"),
            ("days = 366", "use 1 to 365"),
            ("max_per_request = 0", "use 1 to 1000"),
            ("max_per_request = 1001", "use 1 to 1000"),
            ("retention = 3", "unknown field"),
        ] {
            let error = parse(&format!("[stages.dev.history]\n{text}\n")).unwrap_err();
            assert!(error.contains(rule), "{text}: {error}");
            assert!(error.contains("line 2"), "{text}: {error}");
        }
    }

    #[test]
    fn throttling_has_defaults_and_the_account_quotas_as_bounds() {
        let dev = parse("[stages.dev]\nnotify = true\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(
            (dev.throttling.rate_limit.0, dev.throttling.burst_limit.0),
            (100, 200)
        );
        let set = parse("[stages.dev.throttling]\nrate_limit = 20\nburst_limit = 5\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(
            (set.throttling.rate_limit.0, set.throttling.burst_limit.0),
            (20, 5)
        );
        for (text, rule) in [
            ("rate_limit = 0", "use 1 to 10000"),
            ("rate_limit = 10001", "use 1 to 10000"),
            ("burst_limit = 0", "use 1 to 5000"),
            ("burst_limit = 5001", "use 1 to 5000"),
            ("rate = 3", "unknown field"),
        ] {
            let error = parse(&format!("[stages.dev.throttling]\n{text}\n")).unwrap_err();
            assert!(error.contains(rule), "{text}: {error}");
        }
    }

    #[test]
    fn broadcast_settings_have_defaults_and_limits() {
        let dev = parse("[stages.dev]\nnotify = true\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(dev.broadcast, Broadcast::default());
        assert_eq!(
            (dev.broadcast.direct_limit.0, dev.broadcast.workers.0),
            (2_000, 10)
        );
        let set = parse("[stages.dev.broadcast]\ndirect_limit = 100\nworkers = 4\n")
            .unwrap()
            .stage(&stage("dev"));
        assert_eq!(
            (set.broadcast.direct_limit.0, set.broadcast.workers.0),
            (100, 4)
        );
        for (text, rule) in [
            ("workers = 1", "use 2 to 1000"),
            ("workers = 1001", "use 2 to 1000"),
            ("direct_limit = 0", "use 1 to 20000"),
            ("direct_limit = 20001", "use 1 to 20000"),
            ("segments = 3", "unknown field"),
        ] {
            let error = parse(&format!("[stages.dev.broadcast]\n{text}\n")).unwrap_err();
            assert!(error.contains(rule), "{text}: {error}");
        }
    }

    /// Each mistake is refused with the file, the key's line and the rule.
    #[test]
    fn mistakes_are_refused_naming_the_file_the_key_and_the_rule() {
        let cases = [
            ("[stages.dev]\nnotfy = true\n", "notfy", "unknown field"),
            (
                "[stages.dev]\nnotify = \"yes\"\n",
                "notify",
                "expected true or false, found the text \"yes\" (without quotes)",
            ),
            (
                "[stages.dev.broadcast]\nworkers = \"10\"\n",
                "workers",
                "expected a whole number, found the text \"10\" (write numbers without quotes)",
            ),
            ("[stage.dev]\nnotify = true\n", "stage", "unknown field"),
            (
                "[stages.\"a b\"]\nnotify = true\n",
                "a b",
                "invalid stage name",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"every hour\"\nmessage = \"m\"\n",
                "expression",
                "is not a schedule",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"rate(1 hours)\"\nmessage = \"m\"\n",
                "expression",
                "singular for 1",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"rate(0 minutes)\"\nmessage = \"m\"\n",
                "expression",
                "at least 1",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 * * MON *)\"\nmessage = \"m\"\n",
                "expression",
                "exactly one of",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 * *)\"\nmessage = \"m\"\n",
                "expression",
                "has 4 fields",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"rate(1 hour)\"\n",
                "schedule",
                "missing field `message`",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \" \"\n",
                "message",
                "empty",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(61 9 ? * MON-FRI *)\"\nmessage = \"m\"\n",
                "expression",
                "the minutes field \"61\" is not valid: minutes go from 0 to 59",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * FUNDAY *)\"\nmessage = \"m\"\n",
                "expression",
                "the day-of-week field \"FUNDAY\" is not valid: day-of-week go from 1 to 7 or SUN-SAT",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 25 * * ? *)\"\nmessage = \"m\"\n",
                "expression",
                "the hours field \"25\" is not valid: hours go from 0 to 23",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 ? 13 MON *)\"\nmessage = \"m\"\n",
                "expression",
                "the month field \"13\"",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0/0 9 ? * MON *)\"\nmessage = \"m\"\n",
                "expression",
                "increment after /",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * MON#6 *)\"\nmessage = \"m\"\n",
                "expression",
                "after # comes which week",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * MON-FRI *)\"\nmessage = \"m\"\ntimezone = \"Europe/Berlín\"\n",
                "timezone",
                "not an IANA time zone name",
            ),
            (
                "[stages.dev.schedule]\nexpression = \"cron(0 9 ? * MON-FRI *)\"\nmessage = \"m\"\ntimezone = \"europe/berlin\"\n",
                "timezone",
                "case-sensitive",
            ),
        ];
        for (text, key, rule) in cases {
            let error = parse(text).expect_err(text);
            assert!(error.starts_with("chatstack.toml: "), "{error}");
            assert!(error.contains(key), "{text:?}: no {key:?} in {error}");
            assert!(error.contains(rule), "{text:?}: no {rule:?} in {error}");
        }
        let long = format!(
            "[stages.dev.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"{}\"\n",
            "x".repeat(ScheduledMessage::MAX_BYTES + 1)
        );
        assert!(parse(&long).unwrap_err().contains("at most 4096"));
    }

    #[test]
    fn cron_fields_take_what_scheduler_takes() {
        for good in [
            "cron(0 9 ? * MON-FRI *)",
            "cron(0/15 * * * ? *)",
            "cron(0 18 ? * 6L 2026)",
            "cron(0 8 1W * ? *)",
            "cron(0 10 ? * 2#1 *)",
            "cron(0 12 L * ? *)",
            "cron(30 1,13 ? JAN-MAR SUN *)",
            "cron(5-10 0 1-15/2 * ? 2026-2030)",
        ] {
            assert!(
                ScheduleExpression::try_from(good.to_owned()).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn a_named_settings_file_must_exist() {
        let dir = std::env::temp_dir().join(format!("chatstack-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("nope.toml");
        let error = Settings::load(Some(&missing)).unwrap_err().to_string();
        assert!(error.contains("nope.toml"), "{error}");
    }
}
