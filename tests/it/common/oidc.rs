//! An OpenID Connect issuer on loopback (`tests/oidc_issuer.py`): discovery,
//! keys, and tokens minted by PyJWT, a library the authorizer does not use.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// A running issuer, stopped when dropped.
pub struct Issuer {
    child: Child,
    port: u16,
}

impl Issuer {
    pub fn start() -> Issuer {
        let script = format!("{}/tests/oidc_issuer.py", super::ROOT);
        let mut child = Command::new(super::python_tool("python"))
            .arg(&script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {script}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("the issuer's output"))
            .read_line(&mut line)
            .expect("the issuer prints its port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the issuer printed {line:?}, not its port"));
        Issuer { child, port }
    }

    /// Its URL, as its tokens' `iss` and the stage's settings name it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `[stages.dev.authorization]` trusting this issuer for `audience`.
    pub fn settings(&self, audience: &str, extra: &str) -> String {
        format!(
            "[stages.dev.authorization]\nissuer = \"{}\"\naudience = \"{audience}\"\n{extra}\n",
            self.url()
        )
    }

    /// Claims of a good token of this issuer for `user` (as
    /// `preferred_username`), for `audience`, ten minutes to live.
    pub fn claims(&self, user: &str, audience: &str) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        json!({
            "iss": self.url(),
            "aud": audience,
            "sub": format!("id-of-{user}"),
            "preferred_username": user,
            "iat": now,
            "exp": now + 600,
        })
    }

    /// A token of `claims` signed with the issuer's `key` (`rsa-1`, `ec-1`,
    /// a rotated one, or `unpublished`), its header naming `kid`; `alg`
    /// `none` or `HS256` forges one.
    pub fn mint(&self, claims: &Value, key: &str, kid: &str, alg: Option<&str>) -> String {
        let mut request = json!({"claims": claims, "key": key, "kid": kid});
        if let Some(alg) = alg {
            request["alg"] = json!(alg);
        }
        self.post("/mint", &request)["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// A good token for `user` signed with `rsa-1`.
    pub fn token_for(&self, user: &str, audience: &str) -> String {
        self.mint(&self.claims(user, audience), "rsa-1", "rsa-1", None)
    }

    /// Publishes a new RSA key `kid`.
    pub fn rotate(&self, kid: &str) {
        self.post("/rotate", &json!({"kid": kid}));
    }

    /// How often the key set was read.
    pub fn key_reads(&self) -> u64 {
        self.request("GET", "/reads", None)["jwks"]
            .as_u64()
            .expect("a count")
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        self.request("POST", path, Some(body))
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the issuer listens");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (_, json) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: {answer}"));
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{method} {path}: {e}: {json}"))
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
