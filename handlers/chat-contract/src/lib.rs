//! What the chatstack template and the chat Lambdas must agree on, written
//! once: the connections table's attribute names and the environment
//! variables the template (or `chatstack local`) sets on the functions.
//!
//! Both workspaces depend on this crate, so a rename here changes both
//! sides at once instead of breaking the deployed app.

/// The connections table's partition key: the API Gateway connection id (S).
pub const CONNECTION_ID: &str = "connectionId";
/// The connections table's TTL attribute: epoch seconds after which
/// DynamoDB deletes the item.
pub const EXPIRES_AT: &str = "expiresAt";

/// The connections table's name, set on every function.
pub const TABLE_NAME_VAR: &str = "TABLE_NAME";
/// Overrides the management API endpoint the functions post to (for
/// example `http://127.0.0.1:8080/dev` under `chatstack local`), instead of
/// the one built from the event.
pub const MANAGEMENT_ENDPOINT_VAR: &str = "CHATSTACK_MANAGEMENT_ENDPOINT";
/// The ARN of the secret the stage's tokens are signed with, set on the
/// authorizer (the only function that reads it).
pub const TOKEN_SECRET_ARN_VAR: &str = "CHATSTACK_TOKEN_SECRET_ARN";
/// The query-string parameter a client's token arrives in (browsers cannot
/// set headers on a WebSocket).
pub const TOKEN_QUERY_PARAMETER: &str = "token";
/// The authorizer context key holding the user name; API Gateway passes
/// the context on to every route of the connection.
pub const USER_NAME_CONTEXT_KEY: &str = "userName";
/// The connections table's attribute holding the user name, when the stage
/// requires tokens.
pub const USER_NAME: &str = "userName";

/// The URL of the FIFO queue a large broadcast is split into, set on the
/// functions that broadcast (which send a job per segment) and on the
/// `fanout` worker (which sends each segment's next page).
pub const FANOUT_QUEUE_URL_VAR: &str = "CHATSTACK_FANOUT_QUEUE_URL";
/// A broadcast to more connections than this is split across `fanout`
/// workers; one to this many or fewer is posted by the function itself.
pub const DIRECT_LIMIT_VAR: &str = "CHATSTACK_DIRECT_LIMIT";

/// The connections table's index by [`USER_NAME`] (stages with tokens).
pub const USER_INDEX: &str = "ByUser";

/// Connections one user may hold at once (`[stages.X.limits]
/// connections_per_user`), set on `$connect` on stages with tokens; unset:
/// no limit.
pub const CONNECTIONS_PER_USER_VAR: &str = "CHATSTACK_CONNECTIONS_PER_USER";

/// Messages one connection may send a minute (`[stages.X.limits]
/// messages_per_minute`), set on `sendmessage`; unset: no limit.
pub const MESSAGES_PER_MINUTE_VAR: &str = "CHATSTACK_MESSAGES_PER_MINUTE";
/// How many segments (DynamoDB parallel-scan segments, one worker chain
/// each) a split broadcast has.
pub const FANOUT_SEGMENTS_VAR: &str = "CHATSTACK_FANOUT_SEGMENTS";

/// The table of fan-out jobs that ran to the end, set on the `fanout`
/// worker: a copy of a job queued again after SQS's five-minute
/// deduplication window finds its job there and is dropped.
pub const FANOUT_JOBS_TABLE_VAR: &str = "CHATSTACK_FANOUT_JOBS_TABLE";
/// That table's partition key: a job's broadcast, segment and hop (S).
pub const JOB_ID: &str = "jobId";

/// Broadcasts to more connections than this are split across workers
/// (`[stages.X.broadcast] direct_limit`'s default): one invocation posts
/// 2,000 in about 1.3 s at 32 in flight and 20 ms a post.
pub const DEFAULT_DIRECT_LIMIT: u32 = 2_000;
/// Segments of a split broadcast, and so fan-out workers at once
/// (`[stages.X.broadcast] workers`' default).
pub const DEFAULT_WORKERS: u32 = 10;

/// API Gateway closes a WebSocket connection on a frame over 32 KB...
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
/// ...and on a message over 128 KB, however it is framed (the most one
/// message to a client can be).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// The line each segment of a split broadcast ends with: the `fanout`
/// function logs it, `chatstack logs` adds up its totals.
pub const SEGMENT_DONE_LOG: &str = "broadcast segment done";

/// The largest batch of jobs sent at once, in bytes: SQS limits the sum of
/// a `SendMessageBatch` as well as each message. 256 KiB holds in every
/// region and partition (SQS raised both limits to 1 MiB in 2025, not
/// everywhere at once).
pub const FANOUT_BATCH_BYTES: usize = 256 * 1024;
/// Consecutive jobs of a segment that only retry ids they could not reach
/// (API Gateway throttling them) before the segment gives up on those ids,
/// logs them as missed and reads on: a chain that keeps meeting 429s ends.
pub const FANOUT_MAX_RETRY_HOPS: u32 = 5;

/// How the functions' replies to a sender begin, so clients (the chat page)
/// can show them apart from chat messages: `$default`'s usage reply...
pub const USAGE_REPLY_PREFIX: &str = "Use the sendmessage route";
/// ...a message refused (bad JSON, no text, too large)...
pub const NOT_SENT_REPLY_PREFIX: &str = "Your message was not sent:";
/// ...and a broadcast that may be incomplete.
pub const INCOMPLETE_REPLY_PREFIX: &str = "Your message may not have reached everyone:";
