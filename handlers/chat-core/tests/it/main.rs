//! The integration tests of chat-core, one binary (modules share `support`).

mod support;

mod authorize;
mod dynamo_moto;
mod history;
mod history_moto;
mod management_api;
mod oidc;
mod rooms;
mod routes;
mod segments;
mod startup;
