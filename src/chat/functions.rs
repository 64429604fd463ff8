//! The four functions of the app and what each may do.

use super::{ConnectionMethod, TableAction};

/// One Lambda function: its route, sizing and the access it needs.
#[derive(Debug)]
pub struct Handler {
    /// The binary's name in the `handlers/` workspace.
    pub name: &'static str,
    /// Prefix of its logical ids (`ConnectFunction`, `ConnectRole`, ...).
    pub logical_prefix: &'static str,
    pub route_key: &'static str,
    pub description: &'static str,
    pub memory_mb: u32,
    pub timeout_seconds: u32,
    pub table_actions: &'static [TableAction],
    pub connection_methods: &'static [ConnectionMethod],
}

impl Handler {
    /// The template parameter holding the S3 key of this function's zip.
    pub fn code_key_parameter(&self) -> String {
        format!("{}CodeKey", self.logical_prefix)
    }
}

pub static HANDLERS: [Handler; 4] = [
    Handler {
        name: "connect",
        logical_prefix: "Connect",
        route_key: "$connect",
        description: "chatstack $connect: records the connection id",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::PutItem],
        connection_methods: &[],
    },
    Handler {
        name: "disconnect",
        logical_prefix: "Disconnect",
        route_key: "$disconnect",
        description: "chatstack $disconnect: forgets the connection id",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[TableAction::DeleteItem],
        connection_methods: &[],
    },
    Handler {
        name: "sendmessage",
        logical_prefix: "SendMessage",
        route_key: "sendmessage",
        description: "chatstack sendmessage: posts a message to every connection",
        // More memory buys more CPU and network for the fan-out.
        memory_mb: 512,
        // API Gateway's integration timeout is 29 s; a longer run would be cut off.
        timeout_seconds: 29,
        // Scan for recipients, DeleteItem for the ones that are gone.
        table_actions: &[TableAction::Scan, TableAction::DeleteItem],
        connection_methods: &[ConnectionMethod::Post],
    },
    Handler {
        name: "default",
        logical_prefix: "Default",
        route_key: "$default",
        description: "chatstack $default: tells the caller how to use the API",
        memory_mb: 128,
        timeout_seconds: 10,
        table_actions: &[],
        // GetConnection for the caller's info, PostToConnection for the reply.
        connection_methods: &[ConnectionMethod::Get, ConnectionMethod::Post],
    },
];
