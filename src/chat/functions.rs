//! The app's functions, described once. The template, `chatstack local`,
//! deploy's assets and the tests all read this list; the handlers workspace
//! has one binary per entry (`handlers/chat-core/src/bin/<name>.rs`, checked
//! by `tests/it/functions.rs`). A new route with its own function is a new
//! entry here and a new binary there.

use super::{
    CONNECT_ROUTE, ConnectionMethod, FunctionProps, InvokedBy, TableAction, code_key_parameter,
};

/// A route of the WebSocket API: its key, and the prefix of its logical ids
/// (`<prefix>Route`, `<prefix>Integration`, `<prefix>Permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub key: &'static str,
    pub logical_prefix: &'static str,
    /// The route exists only on stages that keep history.
    pub needs_history: bool,
}

/// One Lambda function of the app: its binary, its route, its sizing and
/// the access it needs. Each becomes a [`super::LambdaFunction`].
#[derive(Debug)]
pub struct FunctionSpec {
    /// The binary's name in the handlers workspace, and the zip's folder.
    pub name: &'static str,
    /// Prefix of its logical ids (`ConnectFunction`, `ConnectRole`, ...).
    /// Changing it replaces every resource of the function.
    pub logical_prefix: &'static str,
    /// What invokes it.
    pub trigger: Trigger,
    pub description: &'static str,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    /// What it may do to the connections table...
    pub table_actions: &'static [TableAction],
    /// ...to the room-members table...
    pub member_actions: &'static [TableAction],
    /// ...and to the history table, on stages that keep one.
    pub history_actions: &'static [TableAction],
    /// Whether it tells rooms who joined and left (and so needs the
    /// stage's presence limit).
    pub announces_presence: bool,
    /// Which `@connections` management API methods it may call.
    pub connection_methods: &'static [ConnectionMethod],
    /// Its part in broadcasts too large for one invocation.
    pub fanout: FanoutPart,
    /// Which of the stage's client limits it enforces.
    pub enforces: Enforces,
}

/// A client limit of the stage's settings (`[stages.X.limits]`), and the
/// function that enforces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforces {
    Nothing,
    /// `connections_per_user`: counts the user's connections.
    ConnectionsPerUser,
    /// `messages_per_minute`: counts the sender's messages.
    MessagesPerMinute,
}

/// A function's part in split broadcasts (see [`super::FanoutQueue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutPart {
    None,
    /// Broadcasts, and splits large broadcasts: may queue jobs.
    Splits,
    /// Runs the jobs: receives them, and queues each segment's next job.
    Works,
}

/// What invokes a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Routes of the WebSocket API.
    WebSocketRoutes(&'static [RouteSpec]),
    /// The notify endpoint (and a stage's schedule), present only in stages
    /// whose settings ask for it.
    Notify,
    /// The `$connect` authorizer, present only in stages that require tokens.
    Authorizer,
    /// The fan-out queue's event source.
    FanoutQueue,
}

impl FunctionSpec {
    /// The template parameter holding the S3 key of this function's zip.
    pub fn code_key_parameter(&self) -> String {
        code_key_parameter(self.logical_prefix)
    }

    /// The function construct's props.
    pub fn props(&self) -> FunctionProps<'static> {
        FunctionProps {
            name: self.name,
            logical_prefix: self.logical_prefix,
            description: self.description,
            memory_mb: self.memory_mb,
            timeout_seconds: self.timeout_seconds,
            invoked_by: match self.trigger {
                Trigger::WebSocketRoutes(_) => InvokedBy::Route,
                Trigger::Notify => InvokedBy::EndpointAndSchedule,
                Trigger::Authorizer => InvokedBy::Authorizer,
                Trigger::FanoutQueue => InvokedBy::Queue,
            },
            // A worker queues its segment's next page on the queue that
            // invokes it, a loop ended by the scan's last page.
            feeds_its_own_queue: self.fanout == FanoutPart::Works,
        }
    }

    /// Whether every stage has it; the others come with a stage's settings.
    pub fn in_every_stage(&self) -> bool {
        matches!(
            self.trigger,
            Trigger::WebSocketRoutes(_) | Trigger::FanoutQueue
        )
    }

    /// The WebSocket routes it serves (none for the other triggers).
    pub fn routes(&self) -> &'static [RouteSpec] {
        match self.trigger {
            Trigger::WebSocketRoutes(routes) => routes,
            Trigger::Notify | Trigger::Authorizer | Trigger::FanoutQueue => &[],
        }
    }
}

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "connect",
        logical_prefix: "Connect",
        trigger: Trigger::WebSocketRoutes(&[RouteSpec {
            key: CONNECT_ROUTE,
            logical_prefix: "Connect",
            needs_history: false,
        }]),
        description: "chatstack $connect: records the connection id in its first room",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::PutItem],
        // Its membership; the room's members, to tell them it joined.
        member_actions: &[TableAction::PutItem, TableAction::Query],
        history_actions: &[],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::None,
        enforces: Enforces::ConnectionsPerUser,
        announces_presence: true,
    },
    FunctionSpec {
        name: "disconnect",
        logical_prefix: "Disconnect",
        trigger: Trigger::WebSocketRoutes(&[RouteSpec {
            key: "$disconnect",
            logical_prefix: "Disconnect",
            needs_history: false,
        }]),
        description: "chatstack $disconnect: forgets the connection id and its rooms",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::DeleteItem],
        member_actions: &[TableAction::DeleteItem, TableAction::Query],
        history_actions: &[],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
        announces_presence: true,
    },
    FunctionSpec {
        name: "sendmessage",
        logical_prefix: "SendMessage",
        trigger: Trigger::WebSocketRoutes(&[RouteSpec {
            key: "sendmessage",
            logical_prefix: "SendMessage",
            needs_history: false,
        }]),
        description: "chatstack sendmessage: posts a message to the members of a room",
        // More memory buys more CPU and network for the fan-out.
        memory_mb: 512,
        // API Gateway's integration timeout is 29 s; a longer run would be cut off.
        timeout_seconds: 29,
        // GetItem for the sender's rooms, DeleteItem for the recipients
        // that are gone (counting the sender's messages is granted with
        // the limit); Query for the room's members.
        table_actions: &[TableAction::GetItem, TableAction::DeleteItem],
        member_actions: &[TableAction::Query, TableAction::DeleteItem],
        // The room's counter (UpdateItem) and the message (PutItem).
        history_actions: &[TableAction::UpdateItem, TableAction::PutItem],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Splits,
        enforces: Enforces::MessagesPerMinute,
        announces_presence: false,
    },
    FunctionSpec {
        name: "rooms",
        logical_prefix: "Rooms",
        trigger: Trigger::WebSocketRoutes(&[
            RouteSpec {
                key: "join",
                logical_prefix: "Join",
                needs_history: false,
            },
            RouteSpec {
                key: "leave",
                logical_prefix: "Leave",
                needs_history: false,
            },
            RouteSpec {
                key: "who",
                logical_prefix: "Who",
                needs_history: false,
            },
            RouteSpec {
                key: chat_contract::HISTORY_ROUTE,
                logical_prefix: "History",
                needs_history: true,
            },
        ]),
        description: "chatstack rooms: join, leave and who",
        memory_mb: 128,
        timeout_seconds: 10,
        // The connection's set of rooms (GetItem, UpdateItem); its
        // memberships; the room's members. Room actions count against the
        // message limit.
        table_actions: &[TableAction::GetItem, TableAction::UpdateItem],
        member_actions: &[
            TableAction::PutItem,
            TableAction::DeleteItem,
            TableAction::Query,
        ],
        // A room's last number for a join's answer (GetItem), its
        // messages for a history request (Query).
        history_actions: &[TableAction::GetItem, TableAction::Query],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::None,
        enforces: Enforces::MessagesPerMinute,
        announces_presence: true,
    },
    FunctionSpec {
        name: "default",
        logical_prefix: "Default",
        trigger: Trigger::WebSocketRoutes(&[RouteSpec {
            key: "$default",
            logical_prefix: "Default",
            needs_history: false,
        }]),
        description: "chatstack $default: tells the caller how to use the API",
        memory_mb: 128,
        timeout_seconds: 10,
        // GetItem for the caller's protocol.
        table_actions: &[TableAction::GetItem],
        member_actions: &[],
        history_actions: &[],
        // GetConnection for the caller's info, PostToConnection for the reply.
        connection_methods: &[ConnectionMethod::Get, ConnectionMethod::Post],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
        announces_presence: false,
    },
    FunctionSpec {
        name: "notify",
        logical_prefix: "Notify",
        trigger: Trigger::Notify,
        description: "chatstack notify: pushes a message to every connection, a room, or chosen ones",
        memory_mb: 512,
        // An HTTP API waits at most 30 s for its integration.
        timeout_seconds: 29,
        // GetItem to tell unknown ids from gone ones.
        table_actions: &[
            TableAction::Scan,
            TableAction::GetItem,
            TableAction::DeleteItem,
        ],
        member_actions: &[TableAction::Query, TableAction::DeleteItem],
        // A push to a room is kept as its messages are: the counter
        // (UpdateItem) and the message (PutItem).
        history_actions: &[TableAction::UpdateItem, TableAction::PutItem],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Splits,
        enforces: Enforces::Nothing,
        announces_presence: false,
    },
    FunctionSpec {
        name: "authorizer",
        logical_prefix: "Authorizer",
        trigger: Trigger::Authorizer,
        description: "chatstack $connect authorizer: lets in clients with a valid token",
        memory_mb: 128,
        timeout_seconds: 10,
        // It reads the token secret (granted by the secret), nothing else.
        table_actions: &[],
        member_actions: &[],
        history_actions: &[],
        connection_methods: &[],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
        announces_presence: false,
    },
    FunctionSpec {
        name: "fanout",
        logical_prefix: "Fanout",
        trigger: Trigger::FanoutQueue,
        description: "chatstack fanout: posts one page of a large broadcast per queued job",
        memory_mb: 512,
        timeout_seconds: super::fanout::WORKER_TIMEOUT_SECONDS,
        // Scan its segment or Query its room's shard, DeleteItem for the
        // ones that are gone.
        table_actions: &[TableAction::Scan, TableAction::DeleteItem],
        member_actions: &[TableAction::Query, TableAction::DeleteItem],
        history_actions: &[],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Works,
        enforces: Enforces::Nothing,
        announces_presence: false,
    },
];
