//! `chatstack cost`: what a stage costs a month, from its metrics (the
//! last days, scaled to 30) or from a workload the user describes, priced
//! with the published on-demand prices named and dated here. Only what
//! grows with use is counted: API Gateway's messages (each 32 KB a unit)
//! and connection minutes, Lambda's requests and arm64 GB-seconds,
//! DynamoDB's on-demand request units, SQS FIFO requests.

use std::io::{self, Write};

use serde::Serialize;

use crate::chat::{FUNCTIONS, StageName};
use crate::status::{MetricQuery, StatusError, StatusSource};

/// When and where the prices below were read.
pub const PRICES_AS_OF: &str = "December 2026, US East (N. Virginia), on-demand, as published on \
     aws.amazon.com/api-gateway/pricing, /lambda/pricing, /dynamodb/pricing/on-demand and /sqs/pricing";

/// A price: dollars per `per` units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub usd: f64,
    pub per: f64,
    pub unit: &'static str,
}

/// WebSocket messages, the first billion a month (each 32 KB a message).
pub const API_MESSAGES: Price = Price {
    usd: 1.00,
    per: 1e6,
    unit: "million messages",
};
/// Past a billion a month.
pub const API_MESSAGES_PAST_A_BILLION: Price = Price {
    usd: 0.80,
    per: 1e6,
    unit: "million messages",
};
pub const CONNECTION_MINUTES: Price = Price {
    usd: 0.25,
    per: 1e6,
    unit: "million connection minutes",
};
pub const LAMBDA_REQUESTS: Price = Price {
    usd: 0.20,
    per: 1e6,
    unit: "million requests",
};
/// arm64 (Graviton), the first 7.5 billion GB-seconds a month.
pub const LAMBDA_ARM_GB_SECONDS: Price = Price {
    usd: 0.000_013_333_4,
    per: 1.0,
    unit: "GB-second",
};
pub const DYNAMODB_WRITES: Price = Price {
    usd: 0.625,
    per: 1e6,
    unit: "million write request units",
};
pub const DYNAMODB_READS: Price = Price {
    usd: 0.125,
    per: 1e6,
    unit: "million read request units",
};
pub const SQS_FIFO_REQUESTS: Price = Price {
    usd: 0.50,
    per: 1e6,
    unit: "million requests",
};

/// What a month uses of each priced thing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Billed messages, to and from clients.
    pub api_messages: f64,
    pub connection_minutes: f64,
    pub lambda_requests: f64,
    pub lambda_gb_seconds: f64,
    pub write_units: f64,
    pub read_units: f64,
    pub sqs_requests: f64,
    /// What the numbers rest on, said with the estimate.
    pub assumptions: Vec<String>,
}

/// A month of use as the user describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Connections opened in the month.
    pub connections: f64,
    /// How long each stays open (at most 120: API Gateway's two hours).
    pub minutes_per_connection: f64,
    /// Messages clients send in the month.
    pub messages: f64,
    /// Members each message reaches.
    pub room_size: f64,
    pub message_bytes: f64,
    /// The stage keeps history (`[stages.X.history]`).
    pub history: bool,
    /// The stage has an authorizer (`authorization`).
    pub authorizer: bool,
    /// `[stages.X.broadcast] direct_limit`.
    pub direct_limit: f64,
}

/// API Gateway meters a message in 32 KB units.
const MESSAGE_UNIT_BYTES: f64 = 32.0 * 1024.0;
/// A member item read to broadcast, and a connection item.
const ITEM_BYTES: f64 = 150.0;
/// Recipients a fan-out job posts to, and segments of a split broadcast.
const PAGE: f64 = chat_contract::FANOUT_PAGE_SIZE as f64;
const SEGMENTS: f64 = chat_contract::DEFAULT_WORKERS as f64;
/// How often the page and `chatstack chat` send a heartbeat.
const HEARTBEAT_SECONDS: f64 = chat_contract::HEARTBEAT_SECONDS as f64;

fn memory_gb(name: &str) -> f64 {
    FUNCTIONS
        .iter()
        .find(|spec| spec.name == name)
        .map_or(0.125, |spec| f64::from(spec.memory_mb) / 1024.0)
}

impl Workload {
    /// The month's usage, by the stage's own design: each connection a
    /// `$connect` and a `$disconnect` (and an authorizer run), each message
    /// a `sendmessage` reading the room's members and posting to each, a
    /// heartbeat every [`chat_contract::HEARTBEAT_SECONDS`] of each
    /// connection, rooms larger than `direct_limit` split
    /// into fan-out jobs of a page each.
    pub fn usage(&self) -> Usage {
        let units = (self.message_bytes / MESSAGE_UNIT_BYTES).ceil().max(1.0);
        let minutes = self.connections * self.minutes_per_connection;
        let heartbeats = minutes * 60.0 / HEARTBEAT_SECONDS;
        let split = self.room_size > self.direct_limit;
        // A split broadcast: each segment at least one job, a job a page.
        let jobs = if split {
            self.messages * (self.room_size / PAGE).ceil().max(SEGMENTS)
        } else {
            0.0
        };
        let per_connection_invocations = if self.authorizer { 3.0 } else { 2.0 };
        // Durations assumed: a few DynamoDB calls of single-digit
        // milliseconds each (the functions' own work is under a
        // millisecond: README, "Performance"), and posting 20 ms a
        // recipient, 32 at once (the fan-out benchmark's figure).
        let post_seconds = self.room_size * 0.020 / 32.0;
        let sendmessage_seconds = 0.015 + if split { 0.010 } else { post_seconds };
        let gb_seconds = self.connections
            * (0.030 * memory_gb("connect")
                + 0.020 * memory_gb("disconnect")
                + if self.authorizer {
                    0.020 * memory_gb("authorizer")
                } else {
                    0.0
                })
            + self.messages * sendmessage_seconds * memory_gb("sendmessage")
            + jobs * (PAGE * 0.020 / 32.0 + 0.030) * memory_gb("fanout");
        let member_read_units = ((self.room_size * ITEM_BYTES) / 4096.0).ceil().max(1.0) / 2.0;
        let history_writes = if self.history { 2.0 } else { 0.0 };
        Usage {
            api_messages: self.messages * units * (1.0 + self.room_size) + heartbeats,
            connection_minutes: minutes,
            lambda_requests: self.connections * per_connection_invocations
                + self.messages
                + jobs,
            lambda_gb_seconds: gb_seconds,
            // Connect: the connection and its membership; disconnect:
            // both deleted; a message: the sender's rate counter, and
            // its history; a job: its record.
            write_units: self.connections * 4.0 + self.messages * (1.0 + history_writes) + jobs,
            // A message: the sender's connection, the room's members.
            read_units: self.messages * (0.5 + member_read_units),
            // Each job queued, received and deleted.
            sqs_requests: jobs * 3.0,
            assumptions: vec![
                format!(
                    "{} connections of {} minutes, {} messages of {} bytes to rooms of {}",
                    self.connections,
                    self.minutes_per_connection,
                    self.messages,
                    self.message_bytes,
                    self.room_size
                ),
                format!("a heartbeat every {HEARTBEAT_SECONDS} seconds of each connection"),
                "connect 30 ms, disconnect 20 ms, an authorizer run 20 ms, sendmessage 15 ms and 20 ms a \
                 recipient, 32 at once"
                    .to_owned(),
            ],
        }
    }
}

/// One line of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostLine {
    pub service: &'static str,
    pub item: &'static str,
    pub quantity: f64,
    pub price: String,
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub lines: Vec<CostLine>,
    pub total_usd: f64,
    pub prices_as_of: &'static str,
    pub assumptions: Vec<String>,
    pub not_counted: &'static str,
}

const NOT_COUNTED: &str = "free tiers, data transfer out, CloudWatch (logs ingested and kept, \
     alarms at $0.10 a month each, a dashboard at $3), KMS ($1 a month for the alarm topic's key), \
     Secrets Manager ($0.40 a month for a token secret), Route 53, storage (history: $0.25 per GB-month)";

fn line(service: &'static str, item: &'static str, quantity: f64, price: Price) -> CostLine {
    CostLine {
        service,
        item,
        quantity,
        price: format!("${} per {}", dollars(price.usd), price.unit),
        usd: quantity / price.per * price.usd,
    }
}

/// A price as it is published: cents to two places, finer prices whole.
fn dollars(usd: f64) -> String {
    let cents = usd * 100.0;
    if (cents - cents.round()).abs() < 1e-9 {
        format!("{usd:.2}")
    } else {
        usd.to_string()
    }
}

/// The month's cost of `usage`.
pub fn estimate(usage: &Usage) -> Estimate {
    let billion = 1e9;
    let first = usage.api_messages.min(billion);
    let past = (usage.api_messages - billion).max(0.0);
    let mut lines = vec![line("API Gateway", "messages", first, API_MESSAGES)];
    if past > 0.0 {
        lines.push(line(
            "API Gateway",
            "messages past a billion",
            past,
            API_MESSAGES_PAST_A_BILLION,
        ));
    }
    lines.extend([
        line(
            "API Gateway",
            "connection minutes",
            usage.connection_minutes,
            CONNECTION_MINUTES,
        ),
        line("Lambda", "requests", usage.lambda_requests, LAMBDA_REQUESTS),
        line(
            "Lambda",
            "arm64 compute (GB-seconds)",
            usage.lambda_gb_seconds,
            LAMBDA_ARM_GB_SECONDS,
        ),
        line(
            "DynamoDB",
            "write request units",
            usage.write_units,
            DYNAMODB_WRITES,
        ),
        line(
            "DynamoDB",
            "read request units",
            usage.read_units,
            DYNAMODB_READS,
        ),
        line(
            "SQS FIFO",
            "requests",
            usage.sqs_requests,
            SQS_FIFO_REQUESTS,
        ),
    ]);
    Estimate {
        total_usd: lines.iter().map(|l| l.usd).sum(),
        lines,
        prices_as_of: PRICES_AS_OF,
        assumptions: usage.assumptions.clone(),
        not_counted: NOT_COUNTED,
    }
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a metric read from the stage adds to a month's usage.
#[derive(Debug, Clone, Copy)]
enum Adds {
    ApiMessages,
    /// Connections, each lasting the minutes assumed.
    Connections,
    LambdaRequests,
    /// Milliseconds of a function of this much memory.
    LambdaMilliseconds {
        memory_gb: f64,
    },
    WriteUnits,
    ReadUnits,
    SqsRequests,
}

impl Adds {
    fn to(self, usage: &mut Usage, value: f64, minutes_per_connection: f64) {
        match self {
            Adds::ApiMessages => usage.api_messages += value,
            Adds::Connections => usage.connection_minutes += value * minutes_per_connection,
            Adds::LambdaRequests => usage.lambda_requests += value,
            Adds::LambdaMilliseconds { memory_gb } => {
                usage.lambda_gb_seconds += value / 1000.0 * memory_gb;
            }
            Adds::WriteUnits => usage.write_units += value,
            Adds::ReadUnits => usage.read_units += value,
            Adds::SqsRequests => usage.sqs_requests += value,
        }
    }
}

/// A month's usage from the stage's metrics over the last `days`, scaled
/// to 30 days: API Gateway's messages (as counted, each taken as one unit)
/// and connections (times `minutes_per_connection`: no metric gives
/// connection minutes), each function's invocations and duration (times
/// its memory), each table's consumed units, the fan-out queue's sends,
/// receives and deletes.
pub async fn usage_from_metrics<S: StatusSource>(
    source: &S,
    stage: &StageName,
    now_ms: i64,
    days: u32,
    minutes_per_connection: f64,
) -> Result<Usage, StatusError> {
    let stack = crate::status::deployed_stack(source, stage).await?;
    let mut wanted: Vec<(MetricQuery, Adds)> = Vec::new();
    // A stack whose API was never made (moto's, or one half created)
    // still has its functions and tables counted.
    let api = stack.physical(crate::chat::WEBSOCKET_API_ID);
    if let Some(api) = api {
        wanted.push((
            MetricQuery::api("MessageCount", api, stage),
            Adds::ApiMessages,
        ));
        wanted.push((
            MetricQuery::api("ConnectCount", api, stage),
            Adds::Connections,
        ));
    }
    for (spec, function) in stack.functions() {
        let of_function = |metric| {
            MetricQuery::sum(
                "AWS/Lambda",
                metric,
                vec![("FunctionName", function.clone())],
            )
        };
        let memory_gb = f64::from(spec.memory_mb) / 1024.0;
        wanted.push((of_function("Invocations"), Adds::LambdaRequests));
        wanted.push((
            of_function("Duration"),
            Adds::LambdaMilliseconds { memory_gb },
        ));
    }
    let tables = stack
        .resources
        .iter()
        .filter(|(_, physical, kind)| kind == "AWS::DynamoDB::Table" && !physical.is_empty());
    for (_, table, _) in tables {
        let of_table =
            |metric| MetricQuery::sum("AWS/DynamoDB", metric, vec![("TableName", table.clone())]);
        wanted.push((of_table("ConsumedWriteCapacityUnits"), Adds::WriteUnits));
        wanted.push((of_table("ConsumedReadCapacityUnits"), Adds::ReadUnits));
    }
    // A queue's physical id is its URL; its metrics name it by its name.
    let queue = stack
        .physical(crate::chat::FANOUT_QUEUE_ID)
        .and_then(|url| url.rsplit('/').next());
    if let Some(queue) = queue {
        for metric in [
            "NumberOfMessagesSent",
            "NumberOfMessagesReceived",
            "NumberOfMessagesDeleted",
        ] {
            let query = MetricQuery::sum("AWS/SQS", metric, vec![("QueueName", queue.to_owned())]);
            wanted.push((query, Adds::SqsRequests));
        }
    }
    let queries: Vec<MetricQuery> = wanted.iter().map(|(query, _)| query.clone()).collect();
    let values = source
        .metrics(&queries, now_ms - i64::from(days) * DAY_MS, now_ms)
        .await?;
    let scale = 30.0 / f64::from(days);
    let mut usage = Usage::default();
    for ((_, adds), value) in wanted.iter().zip(values) {
        adds.to(
            &mut usage,
            value.unwrap_or(0.0) * scale,
            minutes_per_connection,
        );
    }
    usage.assumptions = vec![
        format!("the last {days} days' metrics, times 30/{days}"),
        format!(
            "{minutes_per_connection} minutes a connection (no metric counts connection minutes: \
             --minutes-per-connection)"
        ),
        "every message under 32 KB (one billed unit)".to_owned(),
    ];
    if api.is_none() {
        usage.assumptions.push(format!(
            "stack {} names no WebSocket API (WebSocketApi): API Gateway not counted",
            stack.name
        ));
    }
    Ok(usage)
}

/// The estimate as text.
pub fn write_text(out: &mut dyn Write, title: &str, estimate: &Estimate) -> io::Result<()> {
    writeln!(out, "{title}")?;
    for line in &estimate.lines {
        writeln!(
            out,
            "  {:<12} {:<28} {:>16} x {:<42} ${:>10.2}",
            line.service,
            line.item,
            format_quantity(line.quantity),
            line.price,
            line.usd
        )?;
    }
    writeln!(out, "  {:<103} ${:>10.2}", "Total", estimate.total_usd)?;
    writeln!(out, "Prices: {}.", estimate.prices_as_of)?;
    writeln!(out, "Assumed: {}.", estimate.assumptions.join("; "))?;
    writeln!(out, "Not counted: {}.", estimate.not_counted)
}

/// A quantity readably: whole below ten thousand, else with its order.
fn format_quantity(quantity: f64) -> String {
    match quantity {
        q if q >= 1e9 => format!("{:.2} billion", q / 1e9),
        q if q >= 1e6 => format!("{:.2} million", q / 1e6),
        q if q >= 1e4 => format!("{:.1} thousand", q / 1e3),
        q => format!("{q:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-6
    }

    fn usd(estimate: &Estimate, item: &str) -> f64 {
        estimate
            .lines
            .iter()
            .find(|line| line.item == item)
            .map(|line| line.usd)
            .unwrap_or_else(|| panic!("no line {item}: {estimate:?}"))
    }

    #[test]
    fn each_line_is_its_quantity_at_its_price_and_the_total_their_sum() {
        let estimate = estimate(&Usage {
            api_messages: 3e6,
            connection_minutes: 2e6,
            lambda_requests: 5e6,
            lambda_gb_seconds: 1e5,
            write_units: 4e6,
            read_units: 8e6,
            sqs_requests: 2e6,
            assumptions: vec!["given".to_owned()],
        });
        for (item, expected) in [
            ("messages", 3.00),
            ("connection minutes", 0.50),
            ("requests", 1.00),
            ("arm64 compute (GB-seconds)", 1.333_34),
            ("write request units", 2.50),
            ("read request units", 1.00),
        ] {
            assert!(
                close(usd(&estimate, item), expected),
                "{item}: {estimate:?}"
            );
        }
        let sqs = estimate
            .lines
            .iter()
            .find(|l| l.service == "SQS FIFO")
            .unwrap();
        assert!(close(sqs.usd, 1.00));
        assert!(
            close(estimate.total_usd, 10.333_34),
            "{}",
            estimate.total_usd
        );
        assert_eq!(estimate.assumptions, ["given"]);
        assert!(
            !estimate
                .lines
                .iter()
                .any(|l| l.item == "messages past a billion")
        );
    }

    #[test]
    fn messages_past_a_billion_are_priced_at_the_second_tier() {
        let estimate = estimate(&Usage {
            api_messages: 1.5e9,
            ..Usage::default()
        });
        assert!(close(usd(&estimate, "messages"), 1000.0));
        assert!(close(usd(&estimate, "messages past a billion"), 400.0));
        assert!(close(estimate.total_usd, 1400.0));
    }

    fn workload() -> Workload {
        Workload {
            connections: 1000.0,
            minutes_per_connection: 30.0,
            messages: 10_000.0,
            room_size: 10.0,
            message_bytes: 40_000.0,
            history: false,
            authorizer: false,
            direct_limit: 2000.0,
        }
    }

    #[test]
    fn a_workload_counts_messages_in_32_kb_units_both_ways_and_heartbeats() {
        let usage = workload().usage();
        // 40,000 bytes are two units, sent once and received by 10; a
        // heartbeat every 5 minutes of 30,000 connection minutes.
        assert!(close(usage.api_messages, 10_000.0 * 2.0 * 11.0 + 6000.0));
        assert!(close(usage.connection_minutes, 30_000.0));
        assert!(close(usage.lambda_requests, 2000.0 + 10_000.0));
        assert!(close(usage.write_units, 4000.0 + 10_000.0));
        assert!(close(usage.read_units, 10_000.0));
        assert!(close(usage.sqs_requests, 0.0));
        assert!(usage.lambda_gb_seconds > 0.0);

        let small = Workload {
            message_bytes: 300.0,
            ..workload()
        }
        .usage();
        assert!(close(small.api_messages, 10_000.0 * 11.0 + 6000.0));
    }

    #[test]
    fn history_and_an_authorizer_add_their_writes_and_runs() {
        let plain = workload().usage();
        let full = Workload {
            history: true,
            authorizer: true,
            ..workload()
        }
        .usage();
        assert!(close(full.lambda_requests - plain.lambda_requests, 1000.0));
        assert!(close(full.write_units - plain.write_units, 20_000.0));
        assert!(full.lambda_gb_seconds > plain.lambda_gb_seconds);
    }

    #[test]
    fn rooms_past_the_direct_limit_go_through_fanout_jobs_of_a_page() {
        let split = |room_size: f64, direct_limit: f64| {
            Workload {
                messages: 100.0,
                room_size,
                direct_limit,
                ..workload()
            }
            .usage()
        };
        let direct = split(2000.0, 2000.0);
        assert!(close(direct.sqs_requests, 0.0));
        // 2,001 members: 21 pages; each job queued, received and deleted.
        let paged = split(2001.0, 2000.0);
        assert!(close(paged.sqs_requests, 100.0 * 21.0 * 3.0));
        assert!(close(paged.lambda_requests, 2000.0 + 100.0 + 2100.0));
        assert!(close(paged.write_units, 4000.0 + 100.0 + 2100.0));
        // Fewer pages than segments: each segment is still a job.
        let small = split(500.0, 100.0);
        assert!(close(small.sqs_requests, 100.0 * 10.0 * 3.0));
    }

    #[test]
    fn quantities_read_as_their_order() {
        assert_eq!(format_quantity(9999.4), "9999");
        assert_eq!(format_quantity(12_345.0), "12.3 thousand");
        assert_eq!(format_quantity(2_500_000.0), "2.50 million");
        assert_eq!(format_quantity(1.5e9), "1.50 billion");
    }

    #[test]
    fn the_text_names_the_prices_their_date_and_what_is_left_out() {
        let mut out = Vec::new();
        write_text(&mut out, "A month:", &estimate(&workload().usage())).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("A month:\n  API Gateway  messages"),
            "{text}"
        );
        assert!(text.contains("$1.00 per million messages"), "{text}");
        assert!(text.contains("$0.20 per million requests"), "{text}");
        assert!(text.contains("$0.625 per million write"), "{text}");
        assert!(text.contains("$0.0000133334 per GB-second"), "{text}");
        assert!(text.contains("Prices: December 2026, US East"), "{text}");
        assert!(
            text.contains("Assumed: 1000 connections of 30 minutes"),
            "{text}"
        );
        assert!(text.contains("Not counted: free tiers"), "{text}");
        assert!(text.lines().any(|l| l.trim_start().starts_with("Total")));
    }
}
