//! A moto server (a real AWS emulator) on 127.0.0.1 for one test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// Installs the pinned test tools (tests/tools.sh at the repository root)
/// and returns the path of `name`. A missing tool fails the test.
pub fn python_tool(name: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "tests/tools.sh could not install the test tools (needs python3 with venv and pip, \
         and PyPI); install moto[server] by hand to run this test:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tool = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join(name);
    assert!(
        tool.is_file(),
        "{} is missing after tests/tools.sh",
        tool.display()
    );
    tool
}

/// SDK settings pointing at a local `endpoint`, with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(chat_core::runtime::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "local"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A running `moto_server`, stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let server = python_tool("moto_server");
        // Ask the OS for a free port, then hand it to moto.
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

    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A table keyed by `keys` (the partition key, then the sort key), all strings.
pub async fn create_keyed_table(client: &aws_sdk_dynamodb::Client, name: &str, keys: &[&str]) {
    let typed: Vec<_> = keys
        .iter()
        .map(|key| (*key, aws_sdk_dynamodb::types::ScalarAttributeType::S))
        .collect();
    create_typed_table(client, name, &typed).await;
}

/// A table keyed by `keys` (the partition key, then the sort key) of these types.
pub async fn create_typed_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    keys: &[(&str, aws_sdk_dynamodb::types::ScalarAttributeType)],
) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
    for (n, (key, attribute_type)) in keys.iter().enumerate() {
        let key_type = if n == 0 {
            aws_sdk_dynamodb::types::KeyType::Hash
        } else {
            aws_sdk_dynamodb::types::KeyType::Range
        };
        request = request
            .key_schema(
                aws_sdk_dynamodb::types::KeySchemaElement::builder()
                    .attribute_name(*key)
                    .key_type(key_type)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                aws_sdk_dynamodb::types::AttributeDefinition::builder()
                    .attribute_name(*key)
                    .attribute_type(attribute_type.clone())
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.expect("table created in moto");
}
