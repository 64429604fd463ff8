//! A moto server (a real AWS emulator) on 127.0.0.1 for one test.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{python_tool, scratch_dir};

/// A running `moto_server`, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    /// An empty home directory for clients, so no user AWS config applies.
    pub home: PathBuf,
}

impl Moto {
    pub fn start() -> Moto {
        let server = python_tool("moto_server");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", server.display()));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            home: scratch_dir(&format!("moto_home_{port}")),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The environment that points the AWS SDK (ours or boto3) at this server.
    pub fn env(&self) -> [(&'static str, String); 5] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Runs the `chatstack` binary against this server, with no AWS config
    /// files of the machine's user.
    pub fn chatstack(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_chatstack"))
            .args(args)
            .envs(self.env())
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .output()
            .expect("chatstack runs")
    }

    /// Runs the `chatstack` binary against this server with `input` on
    /// standard input (a password).
    pub fn chatstack_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatstack"));
        command.args(args).envs(self.env()).env("HOME", &self.home);
        super::run_with_input(command, input)
    }

    /// The SDK's configuration for this server, with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(chatstack::aws::https_client())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await
    }

    /// `chatstack deploy --stage STAGE --yes` of the stand-in zips under
    /// `zips`, with `settings` written to a `chatstack.toml` beside them
    /// when given; it must succeed. Its output.
    pub fn deploy(&self, stage: &str, zips: &std::path::Path, settings: Option<&str>) -> Output {
        let mut args = vec![
            "deploy".to_owned(),
            "--stage".to_owned(),
            stage.to_owned(),
            "--yes".to_owned(),
            "--no-build".to_owned(),
            "--assets-dir".to_owned(),
            zips.display().to_string(),
        ];
        if let Some(settings) = settings {
            let config = zips.join("chatstack.toml");
            std::fs::write(&config, settings).unwrap();
            args.extend(["--config".to_owned(), config.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.chatstack(&args);
        assert!(output.status.success(), "deploy {stage}: {output:?}");
        output
    }

    /// Writes a stand-in zip of every function under `dir`, its content
    /// naming the function and `version` (deploy uploads them unopened).
    pub fn write_zips(dir: &std::path::Path, version: &str) {
        for name in chatstack::chat::FUNCTIONS.iter().map(|spec| spec.name) {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(
                dir.join(name).join("bootstrap.zip"),
                format!("{name} {version}"),
            )
            .unwrap();
        }
    }

    /// Runs a boto3 snippet against this server (boto3 comes with moto) and
    /// returns what it prints.
    pub fn boto3(&self, script: &str) -> String {
        let python = python_tool("python");
        let output: Output = Command::new(&python)
            .arg("-c")
            .arg(format!(
                "import boto3, json\nkw = dict(endpoint_url={:?}, region_name='us-east-1', \
                 aws_access_key_id='test', aws_secret_access_key='test')\n{script}",
                self.endpoint
            ))
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "boto3 script failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
