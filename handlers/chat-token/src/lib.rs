//! Connection tokens: short, URL-safe, carrying a user name and an expiry,
//! signed with HMAC-SHA256 under the stage's secret.
//!
//! `v1.<payload>.<signature>`: the payload is `<user>:<expiry>` (expiry in
//! Unix seconds) in unpadded base64url, the signature HMAC-SHA256 over
//! `v1.<payload>` in the same encoding. The CLI mints them, the stage's
//! authorizer checks them; both depend on this crate, so they cannot
//! disagree on the format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const VERSION: &str = "v1";
/// Longer than any token this crate mints (a 32-byte name and a 64-bit
/// expiry, encoded, stay under 150): anything longer is refused unread.
pub const MAX_TOKEN_BYTES: usize = 256;
/// HMAC-SHA256's output.
const SIGNATURE_BYTES: usize = 32;
/// The longest user name.
pub const MAX_USER_BYTES: usize = 32;
/// The longest a token may live.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The shortest: a token expired (or about to) by the time it is used is a
/// mistake, not a token.
pub const MIN_TTL: Duration = Duration::from_secs(60);

/// Why a token or user name was refused. The text never repeats the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is over {MAX_TOKEN_BYTES} bytes")]
    Oversize,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match (tampered, or signed with another secret)")]
    BadSignature,
    #[error("the token expired")]
    Expired,
    /// Longer than any token `mint` makes: signed by something else with
    /// the secret (a leaked secret's forgery, a tool without the cap).
    #[error("the token's expiry is more than 30 days away")]
    ExpiryTooFar,
    #[error("invalid user name {0:?}: use 1 to {MAX_USER_BYTES} letters, digits, '.', '-' or '_'")]
    BadUser(String),
    #[error("a token may live at most 30 days")]
    TtlTooLong,
    #[error("a token must live at least a minute (--ttl 1m or more)")]
    TtlTooShort,
    #[error("the signing secret is empty")]
    EmptySecret,
}

/// A user name: 1 to 32 ASCII letters, digits, `.`, `-` or `_`, so it is
/// safe in a URL, a log line and a chat message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for UserName {
    type Err = TokenError;

    fn from_str(name: &str) -> Result<Self, TokenError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_USER_BYTES
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if valid {
            Ok(UserName(name.to_owned()))
        } else {
            Err(TokenError::BadUser(name.to_owned()))
        }
    }
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user: UserName,
    /// Unix seconds.
    pub expires_at: u64,
}

fn mac(secret: &[u8]) -> Result<Hmac<Sha256>, TokenError> {
    if secret.is_empty() {
        return Err(TokenError::EmptySecret);
    }
    // HMAC takes keys of any length.
    Hmac::<Sha256>::new_from_slice(secret).map_err(|_| TokenError::EmptySecret)
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A token for `user`, valid for `ttl` from `now`, signed with `secret`.
pub fn mint(
    secret: &[u8],
    user: &UserName,
    ttl: Duration,
    now: SystemTime,
) -> Result<String, TokenError> {
    if ttl > MAX_TTL {
        return Err(TokenError::TtlTooLong);
    }
    if ttl < MIN_TTL {
        return Err(TokenError::TtlTooShort);
    }
    let expires_at = unix_seconds(now) + ttl.as_secs();
    let payload = URL_SAFE_NO_PAD.encode(format!("{user}:{expires_at}"));
    let signed = format!("{VERSION}.{payload}");
    let mut mac = mac(secret)?;
    mac.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{signed}.{signature}"))
}

/// The claims of `token` if `secret` signed it and it has not expired at
/// `now`, and its expiry is at most [`MAX_TTL`] away (the cap `mint`
/// keeps, enforced where tokens are taken). The signature is checked (in
/// constant time) before the payload is read.
pub fn verify(secret: &[u8], token: &str, now: SystemTime) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Oversize);
    }
    let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (version, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
    if version != VERSION {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .filter(|signature| signature.len() == SIGNATURE_BYTES)
        .ok_or(TokenError::Malformed)?;
    let mut mac = mac(secret)?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let payload = std::str::from_utf8(&payload).map_err(|_| TokenError::Malformed)?;
    let (user, expires_at) = payload.rsplit_once(':').ok_or(TokenError::Malformed)?;
    let user: UserName = user.parse().map_err(|_| TokenError::Malformed)?;
    let expires_at: u64 = expires_at.parse().map_err(|_| TokenError::Malformed)?;
    if unix_seconds(now) >= expires_at {
        return Err(TokenError::Expired);
    }
    if expires_at > unix_seconds(now).saturating_add(MAX_TTL.as_secs()) {
        return Err(TokenError::ExpiryTooFar);
    }
    Ok(Claims { user, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"a secret of the stage";

    fn alice() -> UserName {
        "alice".parse().unwrap()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_453_200)
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let token = mint(SECRET, &alice(), Duration::from_secs(3600), now()).unwrap();
        assert!(token.starts_with("v1.") && token.len() < 100, "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "URL-safe: {token}"
        );
        let claims = verify(SECRET, &token, now()).unwrap();
        assert_eq!(claims.user, alice());
        assert_eq!(claims.expires_at, 1_795_453_200 + 3600);
        let later = now() + Duration::from_secs(3599);
        assert!(verify(SECRET, &token, later).is_ok());
        let expired = now() + Duration::from_secs(3600);
        assert_eq!(verify(SECRET, &token, expired), Err(TokenError::Expired));
    }

    /// A token for alice expiring at `expires_at`, signed with SECRET
    /// without `mint`'s checks (as a forger holding the secret would).
    fn signed_with_expiry(expires_at: u64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!("alice:{expires_at}"));
        let signed = format!("{VERSION}.{payload}");
        let mut mac = mac(SECRET).unwrap();
        mac.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn a_validly_signed_expiry_past_the_cap_is_refused() {
        let issued = unix_seconds(now());
        let at_cap = signed_with_expiry(issued + MAX_TTL.as_secs());
        assert_eq!(
            verify(SECRET, &at_cap, now()).unwrap().user.as_str(),
            "alice"
        );
        let past_cap = signed_with_expiry(issued + MAX_TTL.as_secs() + 1);
        assert_eq!(
            verify(SECRET, &past_cap, now()),
            Err(TokenError::ExpiryTooFar)
        );
        let forever = signed_with_expiry(u64::MAX);
        assert_eq!(
            verify(SECRET, &forever, now()),
            Err(TokenError::ExpiryTooFar)
        );
    }

    #[test]
    fn tampered_tokens_and_other_secrets_are_refused() {
        let token = mint(SECRET, &alice(), Duration::from_secs(3600), now()).unwrap();
        assert_eq!(
            verify(b"another secret", &token, now()),
            Err(TokenError::BadSignature)
        );
        // Another user with the old signature.
        let (_, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mallory = URL_SAFE_NO_PAD.encode(format!("mallory:{}", 1_795_453_200 + 3600));
        let forged = format!("v1.{mallory}.{signature}");
        assert_eq!(
            verify(SECRET, &forged, now()),
            Err(TokenError::BadSignature)
        );
        // A later expiry with the old signature.
        let longer = URL_SAFE_NO_PAD.encode(format!("alice:{}", u64::MAX));
        let extended = format!("v1.{longer}.{signature}");
        assert_eq!(
            verify(SECRET, &extended, now()),
            Err(TokenError::BadSignature)
        );
        // One flipped character of the signature.
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(
            verify(SECRET, &flipped, now()),
            Err(TokenError::BadSignature | TokenError::Malformed)
        ));
    }

    #[test]
    fn malformed_and_oversize_tokens_are_refused() {
        for token in [
            "",
            "v1",
            "v1.",
            "v1..",
            "v2.YWxpY2U6MQ.x",
            "v1.!!!.abc",
            "not a token",
        ] {
            assert_eq!(
                verify(SECRET, token, now()),
                Err(TokenError::Malformed),
                "{token:?}"
            );
        }
        let huge = "v1.".to_owned() + &"A".repeat(MAX_TOKEN_BYTES);
        assert_eq!(verify(SECRET, &huge, now()), Err(TokenError::Oversize));
        // Correctly signed, but not a name and a number inside.
        let payload = URL_SAFE_NO_PAD.encode("no colon here");
        let signed = format!("v1.{payload}");
        let mut mac = mac(SECRET).unwrap();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(
            verify(SECRET, &format!("{signed}.{signature}"), now()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn user_names_and_lifetimes_are_checked() {
        for bad in [
            "",
            "a b",
            "ä",
            "<script>",
            &"x".repeat(MAX_USER_BYTES + 1),
            "a:b",
        ] {
            assert!(bad.parse::<UserName>().is_err(), "{bad:?}");
        }
        for good in ["a", "alice_01", "Bob.Smith-2", &"x".repeat(MAX_USER_BYTES)] {
            assert!(good.parse::<UserName>().is_ok(), "{good:?}");
        }
        assert_eq!(
            mint(SECRET, &alice(), MAX_TTL + Duration::from_secs(1), now()),
            Err(TokenError::TtlTooLong)
        );
        for short in [Duration::ZERO, MIN_TTL - Duration::from_secs(1)] {
            assert_eq!(
                mint(SECRET, &alice(), short, now()),
                Err(TokenError::TtlTooShort)
            );
        }
        assert!(mint(SECRET, &alice(), MIN_TTL, now()).is_ok());
        assert_eq!(
            mint(b"", &alice(), MIN_TTL, now()),
            Err(TokenError::EmptySecret)
        );
    }

    proptest! {
        /// Whatever arrives in the query string, checking it never panics,
        /// and only a token this secret signed passes.
        #[test]
        fn verifying_any_text_never_panics(token in ".{0,300}") {
            let result = verify(SECRET, &token, now());
            prop_assert!(result.is_err());
        }

        #[test]
        fn verifying_token_shaped_text_never_panics(
            payload in "[A-Za-z0-9_-]{0,80}",
            signature in "[A-Za-z0-9_-]{0,60}",
        ) {
            let token = format!("v1.{payload}.{signature}");
            prop_assert!(verify(SECRET, &token, now()).is_err());
        }

        #[test]
        fn every_valid_name_round_trips(
            user in "[A-Za-z0-9._-]{1,32}",
            ttl in 60u64..=2_592_000,
        ) {
            let user: UserName = user.parse().unwrap();
            let token = mint(SECRET, &user, Duration::from_secs(ttl), now()).unwrap();
            prop_assert!(token.len() <= MAX_TOKEN_BYTES);
            let claims = verify(SECRET, &token, now()).unwrap();
            prop_assert_eq!(claims.user, user);
        }
    }
}
