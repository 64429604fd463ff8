//! The app's functions, described once. The template, `chatstack local`,
//! deploy's assets and the tests all read this list; the handlers workspace
//! has one binary per entry (`handlers/chat-core/src/bin/<name>.rs`, checked
//! by `tests/it/functions.rs`). A new route with its own function is a new
//! entry here and a new binary there.

use super::{
    CONNECT_ROUTE, ConnectionMethod, FunctionProps, InvokedBy, TableAction, code_key_parameter,
};

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
    /// What it may do to the connections table.
    pub table_actions: &'static [TableAction],
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
    /// A route of the WebSocket API, by its route key.
    WebSocketRoute(&'static str),
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
                Trigger::WebSocketRoute(_) => InvokedBy::Route,
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
            Trigger::WebSocketRoute(_) | Trigger::FanoutQueue
        )
    }

    /// The WebSocket route it serves, if it serves one.
    pub fn route_key(&self) -> Option<&'static str> {
        match self.trigger {
            Trigger::WebSocketRoute(key) => Some(key),
            Trigger::Notify | Trigger::Authorizer | Trigger::FanoutQueue => None,
        }
    }
}

pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "connect",
        logical_prefix: "Connect",
        trigger: Trigger::WebSocketRoute(CONNECT_ROUTE),
        description: "chatstack $connect: records the connection id",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::PutItem],
        connection_methods: &[],
        fanout: FanoutPart::None,
        enforces: Enforces::ConnectionsPerUser,
    },
    FunctionSpec {
        name: "disconnect",
        logical_prefix: "Disconnect",
        trigger: Trigger::WebSocketRoute("$disconnect"),
        description: "chatstack $disconnect: forgets the connection id",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::DeleteItem],
        connection_methods: &[],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
    },
    FunctionSpec {
        name: "sendmessage",
        logical_prefix: "SendMessage",
        trigger: Trigger::WebSocketRoute("sendmessage"),
        description: "chatstack sendmessage: posts a message to every connection",
        // More memory buys more CPU and network for the fan-out.
        memory_mb: 512,
        // API Gateway's integration timeout is 29 s; a longer run would be cut off.
        timeout_seconds: 29,
        // Scan for recipients, DeleteItem for the ones that are gone
        // (counting the sender's messages is granted with the limit).
        table_actions: &[TableAction::Scan, TableAction::DeleteItem],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Splits,
        enforces: Enforces::MessagesPerMinute,
    },
    FunctionSpec {
        name: "default",
        logical_prefix: "Default",
        trigger: Trigger::WebSocketRoute("$default"),
        description: "chatstack $default: tells the caller how to use the API",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[],
        // GetConnection for the caller's info, PostToConnection for the reply.
        connection_methods: &[ConnectionMethod::Get, ConnectionMethod::Post],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
    },
    FunctionSpec {
        name: "notify",
        logical_prefix: "Notify",
        trigger: Trigger::Notify,
        description: "chatstack notify: pushes a message to every connection, or to chosen ones",
        memory_mb: 512,
        // An HTTP API waits at most 30 s for its integration.
        timeout_seconds: 29,
        // GetItem to tell unknown ids from gone ones.
        table_actions: &[
            TableAction::Scan,
            TableAction::GetItem,
            TableAction::DeleteItem,
        ],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Splits,
        enforces: Enforces::Nothing,
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
        connection_methods: &[],
        fanout: FanoutPart::None,
        enforces: Enforces::Nothing,
    },
    FunctionSpec {
        name: "fanout",
        logical_prefix: "Fanout",
        trigger: Trigger::FanoutQueue,
        description: "chatstack fanout: posts one page of a large broadcast per queued job",
        memory_mb: 512,
        timeout_seconds: super::fanout::WORKER_TIMEOUT_SECONDS,
        // Scan its segment, DeleteItem for the ones that are gone.
        table_actions: &[TableAction::Scan, TableAction::DeleteItem],
        connection_methods: &[ConnectionMethod::Post],
        fanout: FanoutPart::Works,
        enforces: Enforces::Nothing,
    },
];
