//! The chat Lambdas. Each function is one binary, `src/bin/<function>.rs`,
//! whose `main` wires the clients it needs to a route of [`routes`]; the
//! chatstack CLI's function list names the same binaries (a test on its side
//! checks that they match). What the functions share:
//!
//! - [`message`]: the `sendmessage` payload and its limits;
//! - [`store`]: the connections table ([`store::ConnectionStore`], DynamoDB);
//! - [`history`]: each room's numbered messages, kept for catching up;
//! - [`poster`]: posting to connections ([`poster::Poster`], the management API);
//! - [`fanout`]: posting one message to many connections, bounded, with
//!   backoff on throttling;
//! - [`segments`]: broadcasts too large for one invocation, split across
//!   `fanout` workers through a FIFO queue;
//! - [`notify`]: server push, to everyone or to chosen connections;
//! - [`routes`]: what each route does, generic over store and poster;
//! - [`authorize`]: the `$connect` authorizer of stages that require tokens;
//! - [`config`] and [`runtime`]: what each `main` sets up once.

pub mod authorize;
pub mod config;
pub mod fanout;
pub mod history;
pub mod message;
pub mod notify;
pub mod poster;
pub mod protocol;
pub mod routes;
pub mod runtime;
pub mod segments;
pub mod store;

/// An error with its chain of causes: the SDK's own Display is terse
/// ("service error", "dispatch failure"); the causes say what happened.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
