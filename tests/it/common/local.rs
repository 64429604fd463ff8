//! `chatstack local` as a test drives it: the real binary, started on a
//! free port and stopped with Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The connections table of stage dev.
pub const TABLE: &str = "chatstack-dev-ConnectionsTable";
/// The room-members table of a `chatstack local` stage `dev`.
pub const MEMBERS_TABLE: &str = "chatstack-dev-MembersTable";

/// A running `chatstack local`, stopped (Ctrl-C) when dropped.
pub struct Local {
    pub child: Child,
    pub output: Arc<Mutex<Vec<String>>>,
    pub url: String,
    pub dynamodb: String,
    /// The run's credentials file: the key the handlers sign with.
    pub credentials_file: String,
    pub pids: Vec<u32>,
}

pub fn field_after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    line.split_once(label)
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or(""))
}

/// The JSON lines a function of a local run logged (the messages of its
/// log file's events, as CloudWatch would hold them), Lambda's included.
pub fn logged_json(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let event: chatstack::logs::local::StoredEvent = serde_json::from_str(line).ok()?;
            serde_json::from_str(&event.message).ok()
        })
        .collect()
}

/// PATH with the test tools (moto_server) first.
pub fn tools_path() -> String {
    let bin = super::python_tool("moto_server");
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

impl Local {
    pub fn start() -> Local {
        Local::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Local {
        Local::start_in_env(extra, &[])
    }

    pub fn start_in_env(extra: &[&str], env: &[(&str, String)]) -> Local {
        Local::start_at(0, extra, env)
    }

    /// `local` on `port` (0: a free one).
    pub fn start_at(port: u16, extra: &[&str], env: &[(&str, String)]) -> Local {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatstack"));
        command
            .args(["local", "--port", &port.to_string(), "--handlers-dir"])
            .arg(format!("{}/handlers", super::ROOT))
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Local::launch(command)
    }

    /// `local` running the fake handlers of `handlers_dir/target/local`.
    pub fn start_with_fakes(handlers_dir: &std::path::Path, extra: &[&str]) -> Local {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatstack"));
        command
            .args(["local", "--port", "0", "--no-build", "--handlers-dir"])
            .arg(handlers_dir)
            .args(extra)
            // Else local looks for the binaries in the shared target dir.
            .env_remove("CARGO_TARGET_DIR");
        Local::launch(command)
    }

    pub fn launch(mut command: Command) -> Local {
        let mut child = command
            .env("PATH", tools_path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("chatstack local starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        // The first start builds the handlers.
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            if output
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.starts_with("Press Ctrl-C"))
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chatstack local exited with {status}: {:?}",
                    output.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "chatstack local did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let lines = output.lock().unwrap().clone();
        let find = |label: &str| {
            lines
                .iter()
                .find_map(|l| field_after(l, label))
                .unwrap_or_else(|| panic!("no {label} in {lines:?}"))
                .to_owned()
        };
        let pids = lines
            .iter()
            .filter_map(|l| field_after(l, " pid ")?.parse().ok())
            .collect();
        Local {
            url: find("WebSocket URL:"),
            dynamodb: find("DynamoDB:"),
            credentials_file: find("Credentials:"),
            pids,
            output: output.clone(),
            child,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// The run's directory (its logs, secret, credentials, user pool), as
    /// the banner's logs line names it.
    pub fn run_dir(&self) -> String {
        self.lines()
            .iter()
            .find_map(|l| field_after(l, "chatstack logs --local"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no logs line: {:?}", self.lines()))
    }

    /// What the authorizer logged: each line's `fields`, in order.
    pub fn authorizer_log(&self) -> Vec<serde_json::Value> {
        logged_json(&format!("{}/authorizer.log", self.run_dir()))
            .into_iter()
            .filter_map(|line| line.get("fields").cloned())
            .collect()
    }

    /// The raw text of the authorizer's log file.
    pub fn authorizer_log_text(&self) -> String {
        std::fs::read_to_string(format!("{}/authorizer.log", self.run_dir())).unwrap_or_default()
    }

    /// Ctrl-C, then wait for the exit.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "chatstack local did not stop on Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The token secret's file, which a stage with tokens names in its
    /// banner.
    pub fn secret_file(&self) -> String {
        self.lines()
            .iter()
            .find_map(|l| field_after(l, "--secret-file"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no token line: {:?}", self.lines()))
    }

    /// A token for `user`, minted as the banner says (`chatstack token
    /// --secret-file`).
    pub fn token_for(&self, user: &str) -> String {
        let minted = Command::new(env!("CARGO_BIN_EXE_chatstack"))
            .args([
                "token",
                "--secret-file",
                &self.secret_file(),
                "--user",
                user,
            ])
            .output()
            .expect("chatstack token runs");
        assert!(minted.status.success(), "{minted:?}");
        String::from_utf8(minted.stdout).unwrap().trim().to_owned()
    }

    /// The TCP ports `local` itself listens on (from /proc: its sockets'
    /// inodes, matched in the kernel's table of listening sockets).
    pub fn listening_ports(&self) -> Vec<u16> {
        let pid = self.child.id();
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("local's fds")
            .filter_map(|fd| {
                let target = std::fs::read_link(fd.ok()?.path()).ok()?;
                let target = target.to_string_lossy();
                Some(
                    target
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_owned(),
                )
            })
            .collect();
        let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .flat_map(|table| {
                std::fs::read_to_string(table)
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // local_address, ..., st (0A: LISTEN), ..., inode.
                let listening = fields.get(3) == Some(&"0A");
                let ours = fields
                    .get(9)
                    .is_some_and(|inode| inodes.iter().any(|i| i == inode));
                let port = fields.get(1)?.rsplit_once(':')?.1;
                (listening && ours)
                    .then(|| u16::from_str_radix(port, 16).ok())
                    .flatten()
            })
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The run's key (read from its credentials file as the AWS SDK reads
    /// one) and region (from the banner's AWS CLI hint), as the handlers
    /// sign with them.
    pub async fn credentials(&self) -> (aws_credential_types::Credentials, String) {
        let credentials = chatstack::local::services::read_credentials_file(std::path::Path::new(
            &self.credentials_file,
        ))
        .await
        .expect("the run's credentials file");
        let region = self
            .lines()
            .iter()
            .find_map(|l| {
                l.contains("Credentials:")
                    .then(|| field_after(l, "--region"))?
            })
            .expect("the banner's credentials line names the region")
            .to_owned();
        (credentials, region)
    }

    /// A DynamoDB client for the run's table, with the run's key.
    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        let (credentials, region) = self.credentials().await;
        chatstack::local::dynamo::client(&self.dynamodb, credentials, &region)
    }

    pub async fn table_ids(&self) -> Vec<String> {
        let client = self.dynamodb_client().await;
        let output = client.scan().table_name(TABLE).send().await.expect("scan");
        let mut ids: Vec<String> = output
            .items()
            .iter()
            .filter_map(|i| i.get("connectionId")?.as_s().ok().cloned())
            .collect();
        ids.sort();
        ids
    }

    /// Waits until the table holds exactly `count` ids.
    pub async fn await_ids(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ids = self.table_ids().await;
            if ids.len() == count {
                return ids;
            }
            assert!(
                Instant::now() < deadline,
                "table has {ids:?}, expected {count} ids"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.interrupt();
        }
    }
}
