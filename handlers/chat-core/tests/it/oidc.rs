//! The authorizer with an OpenID Connect issuer: tokens signed with the
//! fixtures' keys (`tests/fixtures/oidc`), the issuer's documents served by
//! a fake that counts what it is asked, every refusal and the key cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chat_core::authorize::{
    self, DocumentSource, KEY_REFETCH_INTERVAL, OidcConfig, OidcRefusal, OidcVerifier, Refused,
    Verifier,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://idp.example.com/tenant/";
const DISCOVERY: &str = "https://idp.example.com/tenant/.well-known/openid-configuration";
const JWKS: &str = "https://idp.example.com/tenant/keys";
const AUDIENCE: &str = "chat-app";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/oidc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).unwrap()
}

/// An issuer's documents by URL, counting each read; one can be made to fail.
#[derive(Default)]
struct FakeIssuer {
    documents: Mutex<HashMap<String, Value>>,
    reads: Mutex<Vec<String>>,
}

impl FakeIssuer {
    fn publishing(keys: &[&str]) -> FakeIssuer {
        let issuer = FakeIssuer::default();
        issuer.serve(
            DISCOVERY,
            json!({"issuer": ISSUER, "jwks_uri": JWKS, "id_token_signing_alg_values_supported": ["RS256"]}),
        );
        issuer.publish(keys);
        issuer
    }

    fn serve(&self, url: &str, document: Value) {
        self.documents
            .lock()
            .unwrap()
            .insert(url.to_owned(), document);
    }

    fn publish(&self, keys: &[&str]) {
        let keys: Vec<Value> = keys.iter().map(|name| jwk(name)).collect();
        self.serve(JWKS, json!({ "keys": keys }));
    }

    fn go_down(&self) {
        self.documents.lock().unwrap().clear();
    }

    fn reads_of(&self, url: &str) -> usize {
        self.reads
            .lock()
            .unwrap()
            .iter()
            .filter(|read| *read == url)
            .count()
    }
}

impl DocumentSource for &FakeIssuer {
    async fn get_json(&self, url: &str) -> Result<Value, String> {
        self.reads.lock().unwrap().push(url.to_owned());
        self.documents
            .lock()
            .unwrap()
            .get(url)
            .cloned()
            .ok_or_else(|| format!("{url} answered 503"))
    }
}

fn config() -> OidcConfig {
    OidcConfig {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        user_claim: "sub".to_owned(),
        required_claims: Map::new(),
        groups: None,
        groups_claim: "groups".to_owned(),
        discovery_url: OidcConfig::discovery_url_of(ISSUER),
    }
}

fn epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of a good id token for `user`, an hour to live from `now`.
fn claims(user: &str, now: SystemTime) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user,
        "iat": epoch(now),
        "exp": epoch(now) + 3600,
    })
}

/// `claims` signed with the fixture key `key` (`rsa-a`, `rsa-b`: RS256;
/// `ec`: ES256), its header naming `kid`.
fn signed_as(key: &str, kid: Option<&str>, claims: &Value) -> String {
    let (algorithm, encoding) = if key == "ec" {
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(fixture("ec.pem").as_bytes()),
        )
    } else {
        let pem = fixture(&format!("{key}.pem"));
        (Algorithm::RS256, EncodingKey::from_rsa_pem(pem.as_bytes()))
    };
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &encoding.unwrap()).unwrap()
}

fn signed(key: &str, claims: &Value) -> String {
    signed_as(key, Some(key), claims)
}

/// A token made by hand: `header` and `claims` as base64url JSON, then
/// `signature`.
fn forged(header: Value, claims: &Value, signature: &[u8]) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.{}",
        part(&header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn verdict(
    verifier: &impl Verifier,
    token: &str,
    now: SystemTime,
) -> Result<String, Refused> {
    verifier.verify(token, now).await
}

fn refusal(result: Result<String, Refused>) -> OidcRefusal {
    match result {
        Err(Refused::Oidc(refusal)) => refusal,
        other => panic!("expected an OIDC refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_signed_by_the_issuers_keys_name_their_user() {
    let issuer = FakeIssuer::publishing(&["rsa-a", "ec"]);
    let verifier = OidcVerifier::new(config(), &issuer);
    let now = SystemTime::now();
    let rs256 = signed("rsa-a", &claims("alice", now));
    assert_eq!(
        verdict(&verifier, &rs256, now).await,
        Ok("alice".to_owned())
    );
    let es256 = signed("ec", &claims("bob", now));
    assert_eq!(verdict(&verifier, &es256, now).await, Ok("bob".to_owned()));
    // The discovery document and the keys were read once, for both.
    assert_eq!(issuer.reads_of(DISCOVERY), 1);
    assert_eq!(issuer.reads_of(JWKS), 1);

    // Through the authorizer's answer, as API Gateway sees it.
    let event = crate::authorize::offering(
        authorizer_event(),
        &format!("chatstack.v1, chatstack.token.{rs256}"),
    );
    let answer = authorize::authorize(&verifier, &event, now).await;
    assert_eq!(answer["principalId"], "alice");
    assert_eq!(answer["context"], json!({"userName": "alice"}));
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");
}

fn authorizer_event() -> aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest {
    let path = format!("{}/tests/events/authorize.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["queryStringParameters"] = json!({});
    event["multiValueQueryStringParameters"] = json!({});
    serde_json::from_value(event).unwrap()
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused_with_its_reason() {
    let issuer = FakeIssuer::publishing(&["rsa-a", "ec"]);
    let verifier = OidcVerifier::new(config(), &issuer);
    let now = SystemTime::now();
    let good = claims("alice", now);
    let with = |changes: Value| {
        let mut claims = good.clone();
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };
    let valid = signed("rsa-a", &good);
    let (header, _, signature) = {
        let mut parts = valid.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let tampered_claims = URL_SAFE_NO_PAD.encode(with(json!({"sub": "mallory"})).to_string());
    let hmac_with_public_key = {
        // The classic confusion: HS256 keyed with the issuer's public key.
        let secret = jwk("rsa-a")["n"].as_str().unwrap().to_owned();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-a".to_owned());
        jsonwebtoken::encode(
            &header,
            &good,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String, OidcRefusal)> = vec![
        (
            "expired",
            signed("rsa-a", &with(json!({"exp": epoch(now) - 120}))),
            OidcRefusal::Expired,
        ),
        (
            "not yet valid",
            signed("rsa-a", &with(json!({"nbf": epoch(now) + 600}))),
            OidcRefusal::NotYetValid,
        ),
        (
            "for another app",
            signed("rsa-a", &with(json!({"aud": "another-app"}))),
            OidcRefusal::WrongAudience,
        ),
        (
            "from another issuer",
            signed("rsa-a", &with(json!({"iss": "https://evil.example.com/"}))),
            OidcRefusal::WrongIssuer("https://evil.example.com/".to_owned()),
        ),
        (
            "unknown key",
            signed_as("rsa-b", Some("rsa-b"), &good),
            OidcRefusal::UnknownKey("rsa-b".to_owned()),
        ),
        (
            "another key under a known id",
            signed_as("rsa-b", Some("rsa-a"), &good),
            OidcRefusal::BadSignature,
        ),
        (
            "alg none",
            forged(json!({"alg": "none", "kid": "rsa-a"}), &good, b""),
            OidcRefusal::Algorithm("none".to_owned()),
        ),
        (
            "HMAC with the public key",
            hmac_with_public_key,
            OidcRefusal::Algorithm("HS256".to_owned()),
        ),
        (
            "tampered",
            format!("{header}.{tampered_claims}.{signature}"),
            OidcRefusal::BadSignature,
        ),
        (
            "an RS256 token naming the EC key",
            signed_as("rsa-a", Some("ec"), &good),
            OidcRefusal::KeyMismatch("ec".to_owned()),
        ),
        (
            "no exp",
            signed("rsa-a", &with(json!({"exp": null}))),
            OidcRefusal::NoExpiry,
        ),
        (
            "no user",
            signed("rsa-a", &with(json!({"sub": null}))),
            OidcRefusal::NoUser("sub".to_owned()),
        ),
        (
            "a user name with a control character",
            signed("rsa-a", &with(json!({"sub": "eve\u{1b}[2J"}))),
            OidcRefusal::BadUser("sub".to_owned()),
        ),
        (
            "a refresh token",
            signed("rsa-a", &with(json!({"token_use": "refresh"}))),
            OidcRefusal::TokenUse("refresh".to_owned()),
        ),
        (
            "critical header extensions",
            forged(
                json!({"alg": "RS256", "kid": "rsa-a", "crit": ["b64"]}),
                &good,
                b"x",
            ),
            OidcRefusal::CriticalHeader,
        ),
        (
            "not a JWT",
            "v1.abc".to_owned(),
            OidcRefusal::Malformed(String::new()),
        ),
    ];
    for (what, token, expected) in cases {
        let refused = refusal(verdict(&verifier, &token, now).await);
        match (&refused, &expected) {
            (OidcRefusal::Malformed(_), OidcRefusal::Malformed(_)) => {}
            _ => assert_eq!(refused, expected, "{what}"),
        }
        let said = Refused::from(refused).to_string();
        assert!(
            !said.contains(&token),
            "{what}: the reason quotes the token"
        );
    }
    // Thirty seconds of clock skew are allowed either way.
    let just_expired = signed("rsa-a", &with(json!({"exp": epoch(now) - 10})));
    assert!(verdict(&verifier, &just_expired, now).await.is_ok());
    let nearly_valid = signed("rsa-a", &with(json!({"nbf": epoch(now) + 10})));
    assert!(verdict(&verifier, &nearly_valid, now).await.is_ok());
    // An audience in a list is found there.
    let listed = signed("rsa-a", &with(json!({"aud": ["other", AUDIENCE]})));
    assert!(verdict(&verifier, &listed, now).await.is_ok());
}

#[tokio::test]
async fn cognito_access_tokens_name_the_app_in_client_id_and_the_user_in_username() {
    let issuer = FakeIssuer::publishing(&["rsa-a"]);
    let verifier = OidcVerifier::new(
        OidcConfig {
            user_claim: "cognito:username".to_owned(),
            ..config()
        },
        &issuer,
    );
    let now = SystemTime::now();
    let id_token = json!({"iss": ISSUER, "aud": AUDIENCE, "token_use": "id",
        "cognito:username": "alice", "sub": "1b2c", "exp": epoch(now) + 60});
    assert_eq!(
        verdict(&verifier, &signed("rsa-a", &id_token), now).await,
        Ok("alice".to_owned())
    );
    let access = json!({"iss": ISSUER, "client_id": AUDIENCE, "token_use": "access",
        "username": "alice", "sub": "1b2c", "exp": epoch(now) + 60});
    assert_eq!(
        verdict(&verifier, &signed("rsa-a", &access), now).await,
        Ok("alice".to_owned())
    );
    let other_client = json!({"iss": ISSUER, "client_id": "another", "token_use": "access",
        "username": "alice", "exp": epoch(now) + 60});
    assert_eq!(
        refusal(verdict(&verifier, &signed("rsa-a", &other_client), now).await),
        OidcRefusal::WrongAudience
    );
    // An id token cannot claim the app through client_id.
    let id_with_client = json!({"iss": ISSUER, "client_id": AUDIENCE, "token_use": "id",
        "cognito:username": "alice", "exp": epoch(now) + 60});
    assert_eq!(
        refusal(verdict(&verifier, &signed("rsa-a", &id_with_client), now).await),
        OidcRefusal::WrongAudience
    );
}

#[tokio::test]
async fn required_claims_and_groups_are_enforced() {
    let issuer = FakeIssuer::publishing(&["rsa-a"]);
    let mut required = Map::new();
    required.insert("email_verified".to_owned(), json!(true));
    let verifier = OidcVerifier::new(
        OidcConfig {
            required_claims: required,
            groups: Some(vec!["chat".to_owned(), "staff".to_owned()]),
            groups_claim: "cognito:groups".to_owned(),
            user_claim: "email".to_owned(),
            ..config()
        },
        &issuer,
    );
    let now = SystemTime::now();
    let user = |verified: Value, groups: Value| {
        let mut claims = claims("1b2c", now);
        claims["email"] = json!("alice@example.com");
        claims["email_verified"] = verified;
        claims["cognito:groups"] = groups;
        signed("rsa-a", &claims)
    };
    assert_eq!(
        verdict(&verifier, &user(json!(true), json!(["staff"])), now).await,
        Ok("alice@example.com".to_owned())
    );
    assert_eq!(
        refusal(verdict(&verifier, &user(json!("true"), json!(["staff"])), now).await),
        OidcRefusal::RequiredClaim("email_verified".to_owned())
    );
    assert_eq!(
        refusal(verdict(&verifier, &user(json!(true), json!(["guests"])), now).await),
        OidcRefusal::NotInGroup("cognito:groups".to_owned())
    );
    assert_eq!(
        refusal(verdict(&verifier, &user(json!(true), Value::Null), now).await),
        OidcRefusal::NotInGroup("cognito:groups".to_owned())
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_and_unknown_ids_cannot_hammer_the_issuer() {
    let issuer = FakeIssuer::publishing(&["rsa-a"]);
    let verifier = OidcVerifier::new(config(), &issuer);
    let start = SystemTime::now();
    let old = signed("rsa-a", &claims("alice", start));
    assert!(verdict(&verifier, &old, start).await.is_ok());
    assert_eq!(issuer.reads_of(JWKS), 1);

    // A flood of made-up key ids within the interval: one read at most.
    for n in 0..50 {
        let at = start + Duration::from_millis(100 * n);
        let made_up = signed_as("rsa-b", Some(&format!("kid-{n}")), &claims("eve", at));
        assert_eq!(
            refusal(verdict(&verifier, &made_up, at).await),
            OidcRefusal::UnknownKey(format!("kid-{n}"))
        );
    }
    assert_eq!(
        issuer.reads_of(JWKS),
        1,
        "the first read was under {KEY_REFETCH_INTERVAL:?} ago: no new read"
    );

    // The issuer rotates: a token of the new key is refused until the
    // interval has passed since the last read, then let in.
    issuer.publish(&["rsa-a", "rsa-b"]);
    let soon = start + KEY_REFETCH_INTERVAL / 2;
    let new = signed("rsa-b", &claims("bob", soon));
    assert!(verdict(&verifier, &new, soon).await.is_err());
    let later = start + KEY_REFETCH_INTERVAL + Duration::from_secs(1);
    assert_eq!(verdict(&verifier, &new, later).await, Ok("bob".to_owned()));
    assert_eq!(issuer.reads_of(JWKS), 2);
    assert_eq!(issuer.reads_of(DISCOVERY), 1, "jwks_uri is kept");
    // The old key still works without another read.
    assert!(verdict(&verifier, &old, later).await.is_ok());
    assert_eq!(issuer.reads_of(JWKS), 2);
}

#[tokio::test]
async fn an_unreachable_issuer_refuses_at_first_and_old_keys_serve_on() {
    let issuer = FakeIssuer::default();
    let verifier = OidcVerifier::new(config(), &issuer);
    let now = SystemTime::now();
    let token = signed("rsa-a", &claims("alice", now));
    assert!(matches!(
        refusal(verdict(&verifier, &token, now).await),
        OidcRefusal::KeysUnavailable(reason) if reason.contains("503")
    ));
    // Up again: the next try after the interval reads the keys.
    let up = FakeIssuer::publishing(&["rsa-a"]);
    *issuer.documents.lock().unwrap() = up.documents.lock().unwrap().clone();
    let later = now + KEY_REFETCH_INTERVAL;
    assert!(verdict(&verifier, &token, later).await.is_ok());
    // Past the hour the keys are read again; if the issuer is down then,
    // the kept keys go on checking tokens.
    issuer.go_down();
    let much_later = later + Duration::from_secs(2 * 60 * 60);
    let fresh = signed("rsa-a", &claims("alice", much_later));
    assert_eq!(
        verdict(&verifier, &fresh, much_later).await,
        Ok("alice".to_owned())
    );
    assert_eq!(issuer.reads_of(DISCOVERY), 2, "one failed read, one good");
}

#[tokio::test]
async fn the_discovery_document_must_name_the_issuer_and_an_https_key_set() {
    let now = SystemTime::now();
    let token = signed("rsa-a", &claims("alice", now));
    for (document, said) in [
        (
            json!({"issuer": "https://impostor.example.com/", "jwks_uri": JWKS}),
            "names issuer",
        ),
        (
            json!({"issuer": ISSUER, "jwks_uri": "http://idp.example.com/keys"}),
            "https://",
        ),
        (json!({"issuer": ISSUER}), "no jwks_uri"),
    ] {
        let issuer = FakeIssuer::publishing(&["rsa-a"]);
        issuer.serve(DISCOVERY, document);
        let verifier = OidcVerifier::new(config(), &issuer);
        match refusal(verdict(&verifier, &token, now).await) {
            OidcRefusal::KeysUnavailable(reason) => assert!(reason.contains(said), "{reason}"),
            other => panic!("{said}: {other:?}"),
        }
        assert_eq!(issuer.reads_of(JWKS), 0, "{said}: keys not read");
    }
}

#[tokio::test]
async fn keys_for_encryption_or_other_algorithms_are_not_used() {
    let issuer = FakeIssuer::publishing(&[]);
    let mut encryption = jwk("rsa-a");
    encryption["use"] = json!("enc");
    let mut ps256 = jwk("ec");
    ps256["alg"] = json!("ES384");
    issuer.serve(
        JWKS,
        json!({"keys": [encryption, ps256, {"kty": "oct", "k": "c2VjcmV0"}]}),
    );
    let verifier = OidcVerifier::new(config(), &issuer);
    let now = SystemTime::now();
    for key in ["rsa-a", "ec"] {
        let token = signed(key, &claims("alice", now));
        assert_eq!(
            refusal(verdict(&verifier, &token, now).await),
            OidcRefusal::UnknownKey(key.to_owned())
        );
    }
}

#[tokio::test]
async fn a_token_without_a_key_id_uses_the_issuers_only_key_for_its_algorithm() {
    let issuer = FakeIssuer::publishing(&["rsa-a", "ec"]);
    let verifier = OidcVerifier::new(config(), &issuer);
    let now = SystemTime::now();
    let token = signed_as("rsa-a", None, &claims("alice", now));
    assert_eq!(
        verdict(&verifier, &token, now).await,
        Ok("alice".to_owned())
    );
    issuer.publish(&["rsa-a", "rsa-b"]);
    let two = OidcVerifier::new(config(), &issuer);
    assert_eq!(
        refusal(verdict(&two, &token, now).await),
        OidcRefusal::NoKeyId
    );
}
