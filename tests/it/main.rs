//! The integration tests of the chatstack package, one binary: each module
//! was a test crate of its own, and each linked the whole crate with its AWS
//! SDKs again. Modules share the helpers in `common`.

mod common;

mod aws_endpoints;
mod broadcast_e2e;
mod browser;
mod cfn_lint;
mod checkov;
mod cli_errors;
mod cost_cli;
mod deploy_fake;
mod deploy_moto;
mod deploy_script;
mod deployer_policy;
mod features;
mod functions;
mod heartbeat_e2e;
mod history_e2e;
mod local_e2e;
mod logs_fake;
mod logs_local;
mod logs_moto;
mod notify_fake;
mod oidc_e2e;
mod reserved_stage;
mod rooms_e2e;
mod snapshots;
mod status_fake;
mod status_moto;
mod synth_cli;
mod template_contents;
mod users_moto;
mod web_fake;
