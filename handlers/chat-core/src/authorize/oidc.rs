//! Tokens of an OpenID Connect identity provider (Cognito, Auth0, Okta,
//! Keycloak, ...): a JWS whose signature one of the issuer's published keys
//! checks (RS256 or ES256 only), for this app (`aud`, or a Cognito access
//! token's `client_id`), from this issuer, in date, naming a user.
//!
//! The keys are found through the issuer's discovery document
//! (`<issuer>/.well-known/openid-configuration`, its `jwks_uri`) and kept
//! for the execution environment. A token naming a key not kept makes the
//! authorizer read the keys again (the issuer rotated them), at most once
//! per [`KEY_REFETCH_INTERVAL`]: a flood of made-up key ids costs the
//! issuer one request per environment and interval, not one per token.
//! <https://openid.net/specs/openid-connect-discovery-1_0.html>

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Refused, Verifier};

/// How often, at most, the keys are read again for a token naming a key
/// not kept.
pub const KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys older than this are read again before use (one that was withdrawn
/// stops working within the hour); if the issuer cannot be reached then,
/// the kept ones go on serving.
const KEYS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;
/// Longer than any identity provider's token; a larger one is not parsed.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// A user name of more characters is refused.
const MAX_USER_NAME_CHARS: usize = 128;
/// Discovery documents and key sets are a few kilobytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// What Cognito's access tokens carry instead of `aud`.
const COGNITO_CLIENT_ID_CLAIM: &str = "client_id";
const COGNITO_TOKEN_USE_CLAIM: &str = "token_use";

/// Which tokens the stage accepts (from the authorizer's environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// Exactly as the tokens' `iss` and the discovery document say it.
    pub issuer: String,
    /// The app's client id.
    pub audience: String,
    /// The claim naming the user.
    pub user_claim: String,
    /// Claims that must have exactly these values.
    pub required_claims: Map<String, Value>,
    /// The user must be in one of these groups; `None`: anyone.
    pub groups: Option<Vec<String>>,
    /// The claim listing the user's groups.
    pub groups_claim: String,
    /// Where the discovery document is read.
    pub discovery_url: String,
}

impl OidcConfig {
    /// `<issuer>/.well-known/openid-configuration`, the issuer's trailing
    /// `/` removed first, as the discovery specification says.
    pub fn discovery_url_of(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }
}

/// Why an identity provider's token was refused. Never quotes the token,
/// nor a claim's value but the issuer's and a key id.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OidcRefusal {
    #[error("the token is over {MAX_TOKEN_BYTES} bytes")]
    Oversize,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted (only RS256 and ES256)")]
    Algorithm(String),
    #[error("the token's header lists critical extensions, which are not understood")]
    CriticalHeader,
    #[error("no key of the issuer has the token's key id {0:?}")]
    UnknownKey(String),
    #[error("the token names no key id and the issuer has no single key for its algorithm")]
    NoKeyId,
    #[error("the issuer's keys could not be read: {0}")]
    KeysUnavailable(String),
    #[error(
        "the token's signature does not match the issuer's key (tampered, or signed by another)"
    )]
    BadSignature,
    #[error("the key {0:?} is not for the token's algorithm")]
    KeyMismatch(String),
    #[error("the token is from issuer {0:?}, not the stage's")]
    WrongIssuer(String),
    #[error("the token is not for this app (its aud does not name the stage's audience)")]
    WrongAudience,
    #[error("the token's token_use is {0:?}: only id and access tokens are accepted")]
    TokenUse(String),
    #[error("the token has no exp: a token must expire")]
    NoExpiry,
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token has no {0} claim naming the user")]
    NoUser(String),
    #[error(
        "the {0} claim is not a user name: it must be text of 1 to {MAX_USER_NAME_CHARS} characters without control characters"
    )]
    BadUser(String),
    #[error("the token's {0} claim is missing or not the value the stage requires")]
    RequiredClaim(String),
    #[error("the user is in none of the stage's groups ({0} claim)")]
    NotInGroup(String),
}

/// Where the discovery document and the keys come from: HTTPS in Lambda,
/// a fake in tests.
pub trait DocumentSource: Send + Sync {
    /// The JSON document at `url`.
    fn get_json(&self, url: &str) -> impl Future<Output = Result<Value, String>> + Send;
}

/// Checks identity providers' tokens, keeping the issuer's keys.
pub struct OidcVerifier<S> {
    config: OidcConfig,
    source: S,
    keys: tokio::sync::Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    /// From the discovery document, read once.
    jwks_uri: Option<String>,
    keys: Vec<IssuerKey>,
    /// When the keys were last read.
    fetched_at: Option<SystemTime>,
    /// When reading them was last tried, whatever came of it.
    tried_at: Option<SystemTime>,
}

#[derive(Clone)]
struct IssuerKey {
    id: Option<String>,
    algorithm: Algorithm,
    key: Arc<DecodingKey>,
}

/// What a token's header says of how it was signed.
struct TokenHeader {
    algorithm: Algorithm,
    key_id: Option<String>,
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

impl KeyCache {
    fn may_fetch(&self, now: SystemTime) -> bool {
        self.tried_at
            .is_none_or(|tried| elapsed(tried, now) >= KEY_REFETCH_INTERVAL)
    }

    fn is_stale(&self, now: SystemTime) -> bool {
        self.fetched_at
            .is_none_or(|fetched| elapsed(fetched, now) >= KEYS_MAX_AGE)
    }

    /// The key `header` names, when kept.
    fn find(&self, header: &TokenHeader) -> Result<IssuerKey, OidcRefusal> {
        match &header.key_id {
            Some(id) => {
                let key = self
                    .keys
                    .iter()
                    .find(|key| key.id.as_deref() == Some(id))
                    .ok_or_else(|| OidcRefusal::UnknownKey(id.clone()))?;
                if key.algorithm == header.algorithm {
                    Ok(key.clone())
                } else {
                    Err(OidcRefusal::KeyMismatch(id.clone()))
                }
            }
            None => {
                let mut fitting = self
                    .keys
                    .iter()
                    .filter(|key| key.algorithm == header.algorithm);
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key.clone()),
                    _ => Err(OidcRefusal::NoKeyId),
                }
            }
        }
    }
}

impl<S: DocumentSource> OidcVerifier<S> {
    pub fn new(config: OidcConfig, source: S) -> Self {
        OidcVerifier {
            config,
            source,
            keys: tokio::sync::Mutex::new(KeyCache::default()),
        }
    }

    /// The key to check a token with `header` against: a kept one, or
    /// after reading the keys again when it is not kept (or they are old)
    /// and the last try is [`KEY_REFETCH_INTERVAL`] ago.
    async fn key_for(
        &self,
        header: &TokenHeader,
        now: SystemTime,
    ) -> Result<IssuerKey, OidcRefusal> {
        let mut cache = self.keys.lock().await;
        let kept = cache.find(header);
        let missing = matches!(kept, Err(OidcRefusal::UnknownKey(_) | OidcRefusal::NoKeyId));
        if !(missing || cache.is_stale(now)) || !cache.may_fetch(now) {
            return kept;
        }
        cache.tried_at = Some(now);
        match self.fetch_keys(&mut cache.jwks_uri).await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "read the issuer's keys");
                cache.keys = keys;
                cache.fetched_at = Some(now);
            }
            Err(reason) => {
                tracing::warn!(%reason, "could not read the issuer's keys");
                if cache.keys.is_empty() {
                    return Err(OidcRefusal::KeysUnavailable(reason));
                }
            }
        }
        cache.find(header)
    }

    /// The issuer's signing keys: its discovery document (once) says where
    /// they are; keys of other kinds or uses are passed over.
    async fn fetch_keys(&self, jwks_uri: &mut Option<String>) -> Result<Vec<IssuerKey>, String> {
        let uri = match jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                *jwks_uri = Some(uri.clone());
                uri
            }
        };
        let set = self.source.get_json(&uri).await?;
        let keys = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{uri} has no \"keys\" array"))?;
        Ok(keys.iter().filter_map(signing_key).collect())
    }

    /// The `jwks_uri` of the discovery document, which must name the
    /// configured issuer.
    async fn discover(&self) -> Result<String, String> {
        let url = &self.config.discovery_url;
        let document = self.source.get_json(url).await?;
        let issuer = document.get("issuer").and_then(Value::as_str);
        if issuer != Some(self.config.issuer.as_str()) {
            return Err(format!(
                "the discovery document {url} names issuer {issuer:?}, not {:?}",
                self.config.issuer
            ));
        }
        let uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the discovery document {url} has no jwks_uri"))?;
        check_url(uri)?;
        Ok(uri.to_owned())
    }

    /// What the claims say of the user, after the signature held.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<String, OidcRefusal> {
        let config = &self.config;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if issuer != config.issuer {
            return Err(OidcRefusal::WrongIssuer(issuer.to_owned()));
        }
        check_times(claims, now)?;
        check_audience(claims, &config.audience)?;
        for (name, required) in &config.required_claims {
            if claims.get(name) != Some(required) {
                return Err(OidcRefusal::RequiredClaim(name.clone()));
            }
        }
        if let Some(groups) = &config.groups {
            let member_of = |group: &str| groups.iter().any(|wanted| wanted == group);
            let in_one = match claims.get(&config.groups_claim) {
                Some(Value::Array(held)) => held.iter().filter_map(Value::as_str).any(member_of),
                Some(Value::String(held)) => member_of(held),
                _ => false,
            };
            if !in_one {
                return Err(OidcRefusal::NotInGroup(config.groups_claim.clone()));
            }
        }
        user_name(claims, &config.user_claim)
    }
}

impl<S: DocumentSource> Verifier for OidcVerifier<S> {
    async fn verify(&self, token: &str, now: SystemTime) -> Result<String, Refused> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(OidcRefusal::Oversize.into());
        }
        // The algorithm is decided here, before any key is looked at: a
        // token cannot choose `none`, or HMAC keyed with a public key.
        let header = read_header(token)?;
        let key = self.key_for(&header, now).await?;
        let mut validation = Validation::new(header.algorithm);
        // The claims are checked below, against `now`.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|error| signature_refusal(&error, &key))?;
        Ok(self.check_claims(&decoded.claims, now)?)
    }
}

/// The algorithm (RS256 or ES256 only) and key id of a token's header.
fn read_header(token: &str) -> Result<TokenHeader, OidcRefusal> {
    let malformed = |what: &str| OidcRefusal::Malformed(what.to_owned());
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not a JWT (three parts separated by dots)"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("its header is not base64url"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|_| malformed("its header is not a JSON object"))?;
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(other) => return Err(OidcRefusal::Algorithm(other.to_owned())),
        None => return Err(malformed("its header has no alg")),
    };
    if header.contains_key("crit") {
        return Err(OidcRefusal::CriticalHeader);
    }
    Ok(TokenHeader {
        algorithm,
        key_id: header.get("kid").and_then(Value::as_str).map(str::to_owned),
    })
}

fn signature_refusal(error: &jsonwebtoken::errors::Error, key: &IssuerKey) -> OidcRefusal {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidSignature => OidcRefusal::BadSignature,
        ErrorKind::InvalidAlgorithm => OidcRefusal::KeyMismatch(key.id.clone().unwrap_or_default()),
        other => OidcRefusal::Malformed(format!("{other:?}")),
    }
}

/// A JWK the authorizer can check signatures with: an RSA key (RS256) or a
/// P-256 key (ES256) for signatures; anything else is not used.
fn signing_key(jwk: &Value) -> Option<IssuerKey> {
    let jwk = Jwk::deserialize(jwk).ok()?;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    Some(IssuerKey {
        id: jwk.common.key_id.clone(),
        algorithm,
        key: Arc::new(DecodingKey::from_jwk(&jwk).ok()?),
    })
}

fn number_claim(claims: &Map<String, Value>, name: &str) -> Option<f64> {
    claims.get(name).and_then(Value::as_f64)
}

fn check_times(claims: &Map<String, Value>, now: SystemTime) -> Result<(), OidcRefusal> {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let leeway = LEEWAY_SECONDS as f64;
    let expiry = number_claim(claims, "exp").ok_or(OidcRefusal::NoExpiry)?;
    if expiry + leeway <= now {
        return Err(OidcRefusal::Expired);
    }
    if number_claim(claims, "nbf").is_some_and(|not_before| not_before > now + leeway) {
        return Err(OidcRefusal::NotYetValid);
    }
    Ok(())
}

/// `aud` names the app (a string, or a list holding it); a Cognito access
/// token, which has no `aud`, names it in `client_id`.
fn check_audience(claims: &Map<String, Value>, audience: &str) -> Result<(), OidcRefusal> {
    let in_aud = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
        _ => false,
    };
    let token_use = claims.get(COGNITO_TOKEN_USE_CLAIM).and_then(Value::as_str);
    let for_this_app = match token_use {
        None | Some("id") => in_aud,
        Some("access") => {
            in_aud || claims.get(COGNITO_CLIENT_ID_CLAIM).and_then(Value::as_str) == Some(audience)
        }
        Some(other) => return Err(OidcRefusal::TokenUse(other.to_owned())),
    };
    if for_this_app {
        Ok(())
    } else {
        Err(OidcRefusal::WrongAudience)
    }
}

/// The user's name from `claim`. A Cognito access token carries the user
/// name as `username` where its id token says `cognito:username`.
fn user_name(claims: &Map<String, Value>, claim: &str) -> Result<String, OidcRefusal> {
    let access_token =
        claims.get(COGNITO_TOKEN_USE_CLAIM).and_then(Value::as_str) == Some("access");
    let value = match claims.get(claim) {
        None if access_token && claim == "cognito:username" => claims.get("username"),
        value => value,
    }
    .ok_or_else(|| OidcRefusal::NoUser(claim.to_owned()))?;
    let name = value
        .as_str()
        .filter(|name| {
            let chars = name.chars().count();
            (1..=MAX_USER_NAME_CHARS).contains(&chars) && !name.chars().any(char::is_control)
        })
        .ok_or_else(|| OidcRefusal::BadUser(claim.to_owned()))?;
    Ok(name.to_owned())
}

/// `https://`, or `http://` to loopback only (an issuer run for tests or
/// by `chatstack local`): keys must not travel where they can be swapped.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if chat_contract::is_loopback_host(host) => Ok(()),
        _ => Err(format!(
            "{url}: keys are read over https:// only (http:// to loopback)"
        )),
    }
}

/// Documents over HTTPS: rustls with ring and the system's roots, a
/// timeout, no redirects (a redirect could lead keys elsewhere), a size cap.
pub struct HttpDocuments {
    client: reqwest::Client,
}

impl HttpDocuments {
    pub fn new() -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_native_certs::load_native_certs().certs {
            // A certificate the store cannot take is left out, as browsers do.
            let _ = roots.add(certificate);
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("chatstack-authorizer")
            .build()
            .map_err(|e| crate::describe(&e))?;
        Ok(HttpDocuments { client })
    }
}

impl DocumentSource for HttpDocuments {
    async fn get_json(&self, url: &str) -> Result<Value, String> {
        check_url(url)?;
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {}", crate::describe(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("{url}: {}", crate::describe(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} is over {MAX_DOCUMENT_BYTES} bytes"));
            }
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
    }
}
