//! Who may connect to a stage (`authorization`): anyone (the guide's app),
//! holders of tokens the stage signs (`authorization = true`), or users of
//! an OpenID Connect identity provider (`[stages.X.authorization]` with
//! `issuer` and `audience`, or `cognito = true` for a user pool the stage
//! makes itself).
//!
//! ```toml
//! [stages.prod.authorization]
//! issuer = "https://example.eu.auth0.com/"   # tokens' `iss`, exactly
//! audience = "my-client-id"                  # the app's client id (`aud`)
//! user_claim = "email"                       # default "sub"
//! groups = ["chat-users"]                    # optional: one of these groups
//! required_claims = { email_verified = true } # optional: exact values
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Who may connect.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Authorization {
    /// Anyone who finds the URL, as in AWS's guide.
    #[default]
    Open,
    /// Holders of a token the stage signs (`chatstack token`).
    Tokens,
    /// Users of an OpenID Connect identity provider.
    Oidc(Oidc),
}

impl Authorization {
    /// Whether connections belong to named users (either kind of token).
    pub fn has_users(&self) -> bool {
        !matches!(self, Authorization::Open)
    }
}

/// An identity provider's tokens, and what they must say.
#[derive(Debug, Clone, PartialEq)]
pub struct Oidc {
    pub provider: Provider,
    /// The claim naming the user.
    pub user_claim: ClaimName,
    /// Claims that must have exactly these values.
    pub required_claims: BTreeMap<ClaimName, ClaimValue>,
    /// The user must be in at least one of these; `None`: anyone.
    pub groups: Option<Vec<GroupName>>,
    /// The claim listing the user's groups.
    pub groups_claim: ClaimName,
}

/// Where the tokens come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// An issuer of the user's own (Auth0, Okta, Google, Keycloak, a
    /// Cognito user pool made elsewhere, ...).
    Issuer { issuer: Issuer, audience: Audience },
    /// A Cognito user pool and app client the stage makes.
    CognitoPool,
}

/// `authorization = true | false`, or a table of the provider's settings.
impl<'de> Deserialize<'de> for Authorization {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;

        impl<'de> Visitor<'de> for Either {
            type Value = Authorization;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "true (tokens the stage signs), false, or a table with issuer and audience \
                     (or cognito = true)",
                )
            }

            fn visit_bool<E: de::Error>(self, tokens: bool) -> Result<Authorization, E> {
                Ok(if tokens {
                    Authorization::Tokens
                } else {
                    Authorization::Open
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Authorization, M::Error> {
                let table = ProviderTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Oidc::try_from(table)
                    .map(Authorization::Oidc)
                    .map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_any(Either)
    }
}

/// `[stages.X.authorization]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderTable {
    issuer: Option<Issuer>,
    audience: Option<Audience>,
    #[serde(default)]
    cognito: bool,
    user_claim: Option<ClaimName>,
    #[serde(default)]
    required_claims: BTreeMap<ClaimName, ClaimValue>,
    groups: Option<Vec<GroupName>>,
    groups_claim: Option<ClaimName>,
}

impl TryFrom<ProviderTable> for Oidc {
    type Error = String;

    fn try_from(table: ProviderTable) -> Result<Self, String> {
        let provider = match (table.cognito, table.issuer, table.audience) {
            (true, None, None) => Provider::CognitoPool,
            (true, _, _) => {
                return Err(
                    "cognito = true makes the stage's own user pool the issuer and its \
                            app client the audience: leave out issuer and audience"
                        .to_owned(),
                );
            }
            (false, Some(issuer), Some(audience)) => Provider::Issuer { issuer, audience },
            (false, _, _) => {
                return Err(
                    "an identity provider needs issuer (its URL, as its tokens' iss \
                            says it) and audience (your app's client id); or set cognito = true \
                            for a user pool of the stage's own"
                        .to_owned(),
                );
            }
        };
        if table.groups.as_ref().is_some_and(Vec::is_empty) {
            return Err(
                "groups is empty: name the groups a user must be in one of, or leave it out"
                    .to_owned(),
            );
        }
        let cognito = match &provider {
            Provider::CognitoPool => true,
            Provider::Issuer { issuer, .. } => issuer.is_cognito(),
        };
        let default_claim = |cognito_name: &str, other: &str| {
            ClaimName(if cognito { cognito_name } else { other }.to_owned())
        };
        Ok(Oidc {
            user_claim: table.user_claim.unwrap_or_else(|| match provider {
                // The name the pool's users are added under.
                Provider::CognitoPool => default_claim("cognito:username", "sub"),
                Provider::Issuer { .. } => ClaimName("sub".to_owned()),
            }),
            groups_claim: table
                .groups_claim
                .unwrap_or_else(|| default_claim("cognito:groups", "groups")),
            required_claims: table.required_claims,
            groups: table.groups,
            provider,
        })
    }
}

/// An issuer URL: `https://`, or `http://` on loopback (an issuer run for
/// local tests). Kept exactly as written: tokens' `iss` must equal it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Issuer(String);

impl Issuer {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A Cognito user pool's (`https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    fn is_cognito(&self) -> bool {
        self.0.starts_with("https://cognito-idp.")
    }
}

impl TryFrom<String> for Issuer {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = reqwest::Url::parse(&text).map_err(|e| {
            format!("issuer {text:?} is not a URL ({e}): write the issuer's URL, as its tokens' iss says it")
        })?;
        let host = url.host_str().unwrap_or_default();
        match url.scheme() {
            "https" if !host.is_empty() => {}
            "http" if chat_contract::is_loopback_host(host) => {}
            _ => {
                return Err(format!(
                    "issuer {text:?} must be https:// (http:// only on loopback, for local \
                     tests): the authorizer reads the issuer's keys from there"
                ));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "issuer {text:?} has a query or fragment, which an OpenID Connect issuer has not"
            ));
        }
        Ok(Issuer(text))
    }
}

/// The app's client id, as a token's `aud` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Audience(String);

impl Audience {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Audience {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        plain_text("audience", &text, 256).map(|()| Audience(text))
    }
}

/// The name of a claim (`sub`, `email`, `cognito:username`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub struct ClaimName(String);

impl ClaimName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClaimName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        plain_text("a claim name", &text, 256).map(|()| ClaimName(text))
    }
}

/// A group's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String")]
pub struct GroupName(String);

impl TryFrom<String> for GroupName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        plain_text("a group name", &text, 256).map(|()| GroupName(text))
    }
}

/// What a required claim must be: text, a whole number, or true/false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ClaimValue {
    Flag(bool),
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for ClaimValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;

        impl Visitor<'_> for Scalar {
            type Value = ClaimValue;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text, a whole number or true/false (the claim's exact value)")
            }

            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Flag(flag))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Number(number))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<ClaimValue, E> {
                i64::try_from(number)
                    .map(ClaimValue::Number)
                    .map_err(|_| E::custom("the number is too large"))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Text(text.to_owned()))
            }
        }

        deserializer.deserialize_any(Scalar)
    }
}

/// `text` is 1 to `most` characters without control characters.
fn plain_text(what: &str, text: &str, most: usize) -> Result<(), String> {
    let chars = text.chars().count();
    if chars == 0 || chars > most || text.chars().any(char::is_control) {
        Err(format!(
            "{what} {text:?} must be 1 to {most} characters without control characters"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::settings::Settings;

    fn authorization(table: &str) -> Result<Authorization, String> {
        let text = format!("[stages.dev]\n{table}\n");
        Settings::parse(&text, Path::new("chatstack.toml"))
            .map(|settings| settings.stage(&"dev".parse().unwrap()).authorization)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn true_false_or_a_provider() {
        assert_eq!(authorization(""), Ok(Authorization::Open));
        assert_eq!(
            authorization("authorization = false"),
            Ok(Authorization::Open)
        );
        assert_eq!(
            authorization("authorization = true"),
            Ok(Authorization::Tokens)
        );
        let Ok(Authorization::Oidc(oidc)) = authorization(
            "[stages.dev.authorization]\nissuer = \"https://idp.example.com/\"\naudience = \"app\"",
        ) else {
            panic!("an issuer and an audience make a provider");
        };
        assert_eq!(
            oidc.provider,
            Provider::Issuer {
                issuer: Issuer("https://idp.example.com/".to_owned()),
                audience: Audience("app".to_owned()),
            }
        );
        assert_eq!(oidc.user_claim.as_str(), "sub");
        assert_eq!(oidc.groups_claim.as_str(), "groups");
        assert!(oidc.required_claims.is_empty() && oidc.groups.is_none());
        assert!(Authorization::Oidc(oidc).has_users());
        assert!(Authorization::Tokens.has_users());
        assert!(!Authorization::Open.has_users());
    }

    #[test]
    fn cognito_names_users_by_their_user_name_and_groups_by_cognitos_claim() {
        let Ok(Authorization::Oidc(pool)) =
            authorization("[stages.dev.authorization]\ncognito = true")
        else {
            panic!("cognito = true");
        };
        assert_eq!(pool.provider, Provider::CognitoPool);
        assert_eq!(pool.user_claim.as_str(), "cognito:username");
        assert_eq!(pool.groups_claim.as_str(), "cognito:groups");
        // A pool made elsewhere: its groups claim is Cognito's; its users
        // are named by sub unless user_claim says otherwise.
        let Ok(Authorization::Oidc(elsewhere)) = authorization(
            "[stages.dev.authorization]\nissuer = \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc\"\naudience = \"app\"",
        ) else {
            panic!("a Cognito issuer");
        };
        assert_eq!(elsewhere.user_claim.as_str(), "sub");
        assert_eq!(elsewhere.groups_claim.as_str(), "cognito:groups");
    }

    #[test]
    fn issuers_on_loopback_may_be_plain_http() {
        for issuer in [
            "http://127.0.0.1:8123/",
            "http://localhost:9000/realms/test",
            "http://[::1]:80",
        ] {
            let table =
                format!("[stages.dev.authorization]\nissuer = \"{issuer}\"\naudience = \"app\"");
            assert!(authorization(&table).is_ok(), "{issuer}");
        }
    }

    /// Each mistake is refused with the file, the line and the rule.
    #[test]
    fn mistakes_are_refused_with_the_line_and_the_rule() {
        let cases = [
            (
                "authorization = \"yes\"",
                "true (tokens the stage signs), false, or a table",
            ),
            (
                "[stages.dev.authorization]\nissuer = \"http://idp.example.com/\"\naudience = \"a\"",
                "must be https://",
            ),
            (
                "[stages.dev.authorization]\nissuer = \"idp.example.com\"\naudience = \"a\"",
                "is not a URL",
            ),
            (
                "[stages.dev.authorization]\nissuer = \"https://idp.example.com/?x=1\"\naudience = \"a\"",
                "query or fragment",
            ),
            (
                "[stages.dev.authorization]\nissuer = \"https://idp.example.com/\"",
                "needs issuer",
            ),
            (
                "[stages.dev.authorization]\ncognito = true\naudience = \"a\"",
                "leave out issuer and audience",
            ),
            (
                "[stages.dev.authorization]\ncognito = true\ngroups = []",
                "groups is empty",
            ),
            (
                "[stages.dev.authorization]\ncognito = true\nuser_claim = \"\"",
                "a claim name \"\" must be 1 to 256 characters",
            ),
            (
                "[stages.dev.authorization]\ncognito = true\naudiences = \"a\"",
                "unknown field `audiences`",
            ),
            (
                "[stages.dev.authorization]\ncognito = true\nrequired_claims = { roles = [\"a\"] }",
                "expected text, a whole number or true/false",
            ),
        ];
        for (table, rule) in cases {
            let error = authorization(table).expect_err(table);
            assert!(error.starts_with("chatstack.toml: "), "{error}");
            assert!(error.contains("line "), "{table}: no line in {error}");
            assert!(error.contains(rule), "{table}: no {rule:?} in {error}");
        }
    }
}
