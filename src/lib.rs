//! chatstack: the serverless chat app of AWS's WebSocket guide as typed
//! infrastructure.
//!
//! - [`cfn`]: generic CloudFormation (templates, intrinsics, typed resources);
//! - [`chat`]: the chat app composed from it;
//! - [`cli`]: the `chatstack` command.

pub mod cfn;
pub mod chat;
pub mod cli;
pub mod deploy;
