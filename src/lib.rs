//! chatstack: the serverless chat app of AWS's WebSocket guide as typed
//! infrastructure.
//!
//! - [`cfn`]: generic CloudFormation (templates, intrinsics, typed resources);
//! - [`chat`]: the chat app composed from it;
//! - [`deploy`]: deploy, diff and destroy through CloudFormation;
//! - [`local`]: the whole app on localhost;
//! - [`logs`]: the functions' logs, deployed or local;
//! - [`loopback`]: what every listener on 127.0.0.1 checks (`Host`, `Origin`);
//! - [`client`]: a terminal chat client;
//! - [`terminal`]: network text made safe to print;
//! - [`notify`]: server push through a stage's notify endpoint;
//! - [`handlers`]: building the Lambda workspace;
//! - [`settings`]: what each stage adds (`chatstack.toml`);
//! - [`sigv4`]: signing and checking SigV4 requests;
//! - [`tokens`]: connection tokens for stages that require them;
//! - [`web`]: the chat page;
//! - [`cli`]: the `chatstack` command.

pub mod cfn;
pub mod chat;
pub mod cli;
pub mod client;
pub mod deploy;
pub mod handlers;
pub mod local;
pub mod logs;
pub mod loopback;
pub mod notify;
pub mod settings;
pub mod sigv4;
pub mod terminal;
pub mod tokens;
pub mod web;
