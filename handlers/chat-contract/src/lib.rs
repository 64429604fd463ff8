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
/// The query-string parameter a client's token may arrive in.
pub const TOKEN_QUERY_PARAMETER: &str = "token";
/// The other way a token arrives, and the one browsers should use: as an
/// entry of `Sec-WebSocket-Protocol` (the only header a browser's
/// `WebSocket` can set), this prefix and then the token, beside
/// [`SUBPROTOCOL`] (`Sec-WebSocket-Protocol: chatstack.v1,
/// chatstack.token.<token>`). A URL's query ends up in browser history and
/// proxies' logs; the header does not.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "chatstack.token.";

/// The OpenID Connect issuer whose tokens the authorizer accepts (exactly
/// as its tokens' `iss` says it), set on the authorizer of stages that
/// trust an identity provider instead of signing tokens themselves.
pub const OIDC_ISSUER_VAR: &str = "CHATSTACK_OIDC_ISSUER";
/// The audience a token must be for: the app's client id (`aud`; for a
/// Cognito access token, `client_id`).
pub const OIDC_AUDIENCE_VAR: &str = "CHATSTACK_OIDC_AUDIENCE";
/// The claim that names the user (`sub` unless the settings say another).
pub const OIDC_USER_CLAIM_VAR: &str = "CHATSTACK_OIDC_USER_CLAIM";
/// Claims a token must carry with exactly these values: a JSON object.
pub const OIDC_REQUIRED_CLAIMS_VAR: &str = "CHATSTACK_OIDC_REQUIRED_CLAIMS";
/// Groups a user must be in at least one of: a JSON array; unset: any user.
pub const OIDC_GROUPS_VAR: &str = "CHATSTACK_OIDC_GROUPS";
/// The claim listing the user's groups.
pub const OIDC_GROUPS_CLAIM_VAR: &str = "CHATSTACK_OIDC_GROUPS_CLAIM";
/// Where the authorizer reads the issuer's discovery document instead of
/// `<issuer>/.well-known/openid-configuration`: set only by `chatstack
/// local`, whose user pool lives in moto while its tokens name Cognito.
pub const OIDC_DISCOVERY_URL_VAR: &str = "CHATSTACK_OIDC_DISCOVERY_URL";
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
/// Connections a fan-out worker posts to per job (one page of its segment).
pub const FANOUT_PAGE_SIZE: u32 = 100;

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

/// The WebSocket subprotocol of chatstack's JSON frames: a client that
/// asks for it (`Sec-WebSocket-Protocol`) gets a JSON object with a `type`
/// in every frame; `$connect` echoes it, as API Gateway requires. A client
/// that does not ask gets the guide's bare text.
pub const SUBPROTOCOL: &str = "chatstack.v1";

/// The route a client's heartbeat (`{"action":"heartbeat"}`) takes: a
/// `MOCK` integration, which keeps the connection from going idle without
/// invoking a function.
pub const HEARTBEAT_ROUTE: &str = "heartbeat";

/// How often the clients send a heartbeat, well inside API Gateway's
/// 10-minute idle timeout.
pub const HEARTBEAT_SECONDS: u64 = 300;

/// The heartbeat interval for a connection that goes idle after
/// `idle_timeout_seconds`: half of it, at most [`HEARTBEAT_SECONDS`], at
/// least a second.
pub fn heartbeat_seconds(idle_timeout_seconds: u64) -> u64 {
    (idle_timeout_seconds / 2).clamp(1, HEARTBEAT_SECONDS)
}
/// The query-string parameter naming the room a client joins as it
/// connects (`?room=NAME`).
pub const ROOM_QUERY_PARAMETER: &str = "room";
/// The room of a client that names none: every guide client meets there.
pub const DEFAULT_ROOM: &str = "general";
/// The longest room name, in bytes (its characters are ASCII).
pub const MAX_ROOM_NAME_BYTES: usize = 64;
/// The most rooms one connection may be in at once (its own item lists
/// them, so `$disconnect` knows which memberships to remove).
pub const MAX_ROOMS_PER_CONNECTION: usize = 20;
/// Partitions a room's members are spread over: `<room>#<shard>`, the
/// shard from the connection id. A 100,000-member room is 10 partitions of
/// about 10,000 items, each read by its own worker on a split broadcast.
pub const ROOM_SHARDS: u32 = 10;

/// The room-members table's partition key: `<room>#<shard>` (S).
pub const ROOM_KEY: &str = "roomKey";
/// The room a member item or connection item names (S).
pub const ROOM: &str = "room";
/// The connection item's string set of the rooms it is in.
pub const ROOMS: &str = "rooms";
/// The connection or member item's protocol: [`SUBPROTOCOL`] when the
/// client asked for it, absent for the guide's plain text.
pub const PROTOCOL: &str = "protocol";
/// The room-members table's name, set on the functions that read or write
/// memberships.
pub const MEMBERS_TABLE_NAME_VAR: &str = "CHATSTACK_MEMBERS_TABLE";
/// Listeners (`chatstack.v1` members) a room may have for them to hear
/// `joined` / `left` (`[stages.X.rooms] presence_limit`); past it, no
/// presence events.
pub const PRESENCE_LIMIT_VAR: &str = "CHATSTACK_PRESENCE_LIMIT";
/// [`PRESENCE_LIMIT_VAR`]'s default.
pub const DEFAULT_PRESENCE_LIMIT: u32 = 100;
/// The most members a `who` answer lists; past it, a count says how many.
pub const MAX_WHO_MEMBERS: usize = 100;

/// The history table's name (`[stages.X.history]`), set on the functions
/// that store a room's messages or read them back; unset: the stage keeps
/// no history.
pub const HISTORY_TABLE_VAR: &str = "CHATSTACK_HISTORY_TABLE";
/// How long a room's messages are kept, in seconds (`days` of the stage's
/// history setting; `chatstack local --history-retention` shortens it).
pub const HISTORY_RETENTION_SECONDS_VAR: &str = "CHATSTACK_HISTORY_RETENTION_SECONDS";
/// The most messages one `history` request is answered with
/// (`max_per_request`).
pub const HISTORY_MAX_PER_REQUEST_VAR: &str = "CHATSTACK_HISTORY_MAX_PER_REQUEST";
/// The route of `{"action":"history","room":R,"after":SEQ,"limit":N}`.
pub const HISTORY_ROUTE: &str = "history";
/// The history table's sort key: a message's number in its room (N),
/// counting from 1; the partition key is [`ROOM`].
pub const SEQ: &str = "seq";
/// The [`SEQ`] of a room's counter item, which holds the last number given
/// ([`LAST_SEQ`]); messages count from 1, after it.
pub const COUNTER_SEQ: u64 = 0;
/// The counter item's attribute: the last [`SEQ`] given in its room (N).
pub const LAST_SEQ: &str = "lastSeq";
/// Days a room's messages are kept when the stage's history names none.
pub const DEFAULT_HISTORY_DAYS: u32 = 7;
/// Messages one `history` request may get when the stage names no maximum.
pub const DEFAULT_HISTORY_MAX_PER_REQUEST: u32 = 100;

/// How long API Gateway keeps a connection open, in seconds, when it is
/// not its two hours: set only by `chatstack local --max-lifetime`, so the
/// functions tell clients the expiry the emulated gateway enforces.
pub const CONNECTION_LIFETIME_SECONDS_VAR: &str = "CHATSTACK_CONNECTION_LIFETIME_SECONDS";

/// Which of [`ROOM_SHARDS`] partitions of a room a connection's membership
/// is kept in: FNV-1a of the id, the same in every process and build.
pub fn shard_of(connection_id: &str) -> u32 {
    let hash = connection_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % ROOM_SHARDS
}

/// The members table's partition key ([`ROOM_KEY`]) of `room`'s `shard`.
pub fn room_key(room: &str, shard: u32) -> String {
    format!("{room}#{shard}")
}

/// The members table's partition key of `room`'s listeners: its
/// `chatstack.v1` members, who hear `joined` and `left`, each also kept
/// here, so an announcement reads only them.
pub fn listeners_key(room: &str) -> String {
    format!("{room}#listeners")
}

/// Why a room name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomNameError {
    Empty,
    TooLong { bytes: usize },
    BadCharacter { character: char },
}

impl std::fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = "a room name is 1 to 64 letters, digits, '-', '_' or '.'";
        match self {
            RoomNameError::Empty => write!(f, "the room name is empty ({rule})"),
            RoomNameError::TooLong { bytes } => {
                write!(f, "the room name is {bytes} bytes long ({rule})")
            }
            RoomNameError::BadCharacter { character } => {
                write!(f, "the room name holds {character:?} ({rule})")
            }
        }
    }
}

impl std::error::Error for RoomNameError {}

/// Checks a room name against the one rule every side enforces: 1 to
/// [`MAX_ROOM_NAME_BYTES`] ASCII letters, digits, `-`, `_` and `.` (so a
/// name is safe in a URL, a log line and a DynamoDB key, and `#`, which
/// joins a room to its shard, cannot appear).
pub fn check_room_name(name: &str) -> Result<(), RoomNameError> {
    if name.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(RoomNameError::BadCharacter { character });
    }
    if name.len() > MAX_ROOM_NAME_BYTES {
        return Err(RoomNameError::TooLong { bytes: name.len() });
    }
    Ok(())
}

/// Whether a URL's host (as `Url::host_str` gives it: an IPv6 address in
/// brackets) is this machine: `localhost` or a loopback address. Plain
/// `http://` is taken only there (an issuer run by tests or by `chatstack
/// local`); the settings and the authorizer apply the same rule.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_one_rule() {
        for good in [
            "general",
            "a",
            "team-7_eu.west",
            &"x".repeat(64),
            DEFAULT_ROOM,
        ] {
            assert_eq!(check_room_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_room_name(""), Err(RoomNameError::Empty));
        assert_eq!(
            check_room_name(&"x".repeat(65)),
            Err(RoomNameError::TooLong { bytes: 65 })
        );
        for (bad, character) in [("a#1", '#'), ("a b", ' '), ("café", 'é'), ("x/y", '/')] {
            assert_eq!(
                check_room_name(bad),
                Err(RoomNameError::BadCharacter { character }),
                "{bad}"
            );
        }
        let reason = check_room_name("a b").unwrap_err().to_string();
        assert!(reason.contains("1 to 64 letters"), "{reason}");
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // Fixed values: a shard that moved between builds would hide the
        // members written before a deploy.
        assert_eq!(shard_of(""), 0x811c_9dc5 % ROOM_SHARDS);
        assert_eq!(shard_of("a"), 0xe40c_292c % ROOM_SHARDS);
        let mut counts = [0u32; ROOM_SHARDS as usize];
        for n in 0..10_000 {
            counts[shard_of(&format!("L{n:07}Cid=")) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(room_key("general", 3), "general#3");
    }

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "[::1]"] {
            assert!(super::is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "example.com",
            "10.0.0.1",
            "[::2]",
            "localhost.example.com",
            "127.0.0.1.nip.io",
        ] {
            assert!(!super::is_loopback_host(host), "{host}");
        }
    }
}
