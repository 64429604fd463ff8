//! chatstack: the serverless chat app of AWS's WebSocket guide as typed
//! infrastructure.
//!
//! - [`aws`]: the AWS layer every command shares (config, HTTPS, errors, stacks);
//! - [`cfn`]: generic CloudFormation (templates, intrinsics, typed resources);
//! - [`chat`]: the chat app composed from it;
//! - [`deploy`]: deploy, diff and destroy through CloudFormation;
//! - [`local`]: the whole app on localhost;
//! - [`logs`]: the functions' logs, deployed or local;
//! - [`loopback`]: what every listener on 127.0.0.1 checks (`Host`, `Origin`);
//! - [`client`]: a terminal chat client;
//! - [`cost`]: a stage's month, estimated from its metrics or a workload;
//! - [`terminal`]: network text made safe to print;
//! - [`notify`]: server push through a stage's notify endpoint;
//! - [`handlers`]: building the Lambda workspace;
//! - [`settings`]: what each stage adds (`chatstack.toml`);
//! - [`stage_name`]: stage names and the stacks they name (a leaf: no imports);
//! - [`status`]: a stage (or a local run) on one screen;
//! - [`sigv4`]: signing and checking SigV4 requests;
//! - [`tokens`]: connection tokens for stages that require them;
//! - [`users`]: a stage's own user pool (its users, signing in);
//! - [`web`]: the chat page;
//! - [`cli`]: the `chatstack` command.

pub mod aws;
pub mod cfn;
pub mod chat;
pub mod cli;
pub mod client;
pub mod cost;
pub mod deploy;
pub mod handlers;
pub mod local;
pub mod logs;
pub mod loopback;
pub mod notify;
pub mod settings;
pub mod sigv4;
pub mod stage_name;
pub mod status;
pub mod terminal;
pub mod tokens;
pub mod users;
pub mod web;

/// The layers of ARCHITECTURE.md, kept: a forbidden import fails here.
#[cfg(test)]
mod layers {
    use std::path::{Path, PathBuf};

    /// The Rust files under `src/<dir>` (or the file `src/<dir>.rs`), with
    /// their code lines (comments left out, since docs may name anything).
    fn code_of(module: &str) -> Vec<(PathBuf, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![src.join(format!("{module}.rs"))];
        let mut dirs = vec![src.join(module)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files
            .into_iter()
            .filter_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                let code: Vec<&str> = text
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .collect();
                Some((path, code.join("\n")))
            })
            .collect()
    }

    fn assert_no_mention(modules: &[&str], forbidden: &[&str], why: &str) {
        for module in modules {
            let files = code_of(module);
            assert!(!files.is_empty(), "no source for module {module}");
            for (path, code) in files {
                for word in forbidden {
                    assert!(
                        !code.contains(word),
                        "{} uses {word}: {why}",
                        path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn only_the_cli_uses_deploy() {
        assert_no_mention(
            &[
                "aws", "cfn", "chat", "local", "logs", "notify", "tokens", "users", "web",
                "settings", "status", "cost", "client", "loopback", "terminal", "sigv4",
                "handlers",
            ],
            &["crate::deploy"],
            "the shared AWS plumbing is crate::aws; deploy is for deploy, diff and destroy",
        );
    }

    #[test]
    fn the_code_map_names_every_source_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
        let mut dirs = vec![root.join("src"), root.join("handlers")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if name != "target" && name != "events" {
                        dirs.push(path);
                    }
                } else if name.ends_with(".rs")
                    && !["mod.rs", "lib.rs", "main.rs"].contains(&name.as_str())
                {
                    assert!(
                        map.contains(&format!("`{name}`")),
                        "ARCHITECTURE.md's code map does not name {}",
                        path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn settings_and_stage_names_sit_below_the_app() {
        assert_no_mention(
            &["settings"],
            &["crate::chat", "crate::local", "crate::aws"],
            "chat reads settings, never the other way round",
        );
        assert_no_mention(&["stage_name"], &["crate::"], "stage names are a leaf");
    }

    #[test]
    fn cfn_knows_nothing_of_chat() {
        assert_no_mention(
            &["cfn"],
            &[
                "crate::chat",
                "chat_contract",
                "crate::settings",
                "crate::local",
            ],
            "cfn is generic CloudFormation",
        );
    }
}
