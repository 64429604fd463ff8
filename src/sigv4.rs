//! SigV4 through the `aws-sigv4` crate: signing a request (`chatstack
//! notify`), and checking one as AWS does (`chatstack local`'s notify
//! endpoint and management API, as API Gateway's `AWS_IAM` authorization
//! does, and the services local runs in moto).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use subtle::ConstantTimeEq;

/// The service name API Gateway's invoke requests are signed for.
pub const SERVICE: &str = "execute-api";

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const DATE_HEADER: &str = "x-amz-date";
const TOKEN_HEADER: &str = "x-amz-security-token";
/// How far a request's time may be from the server's: "a request must
/// reach AWS within five minutes of the time stamp in the request"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html>),
/// which bounds how long a captured request can be replayed.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
#[error("could not sign the request: {0}")]
pub struct SigningError(String);

/// A request to sign or check: what SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The full URL to sign, or the path and query to check.
    pub uri: &'a str,
    /// Headers besides the signature's own.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A header's value, by name in any case.
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// The headers that sign `request` with `credentials` for `region` at
/// `time`: `authorization`, `x-amz-date` and, for temporary credentials,
/// `x-amz-security-token`.
pub fn sign_request(
    request: Request<'_>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    sign_request_for(request, credentials, region, SERVICE, time)
}

/// The client a signed request goes out with: chatstack's TLS, a
/// timeout, and no redirects (a redirect would carry the signed request,
/// and its body, to a host the caller did not name).
pub fn signed_request_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::client::tls_config()?)
        .user_agent(concat!("chatstack/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| crate::aws::error_chain(&e))
}

/// `request` with the signature's headers.
pub fn with_signature(
    mut request: reqwest::RequestBuilder,
    signature: Vec<(String, String)>,
) -> reqwest::RequestBuilder {
    for (name, value) in signature {
        request = request.header(name, value);
    }
    request
}

/// As [`sign_request`], for another service than `execute-api` (deploy's
/// read of API Gateway's account settings signs for `apigateway`).
pub fn sign_request_for(
    request: Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SigningError> {
    let output = signature(request, credentials, region, service, time)?;
    Ok(output
        .output()
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

fn signature(
    request: Request<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<aws_sigv4::SigningOutput<aws_sigv4::http_request::SigningInstructions>, SigningError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.uri,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    sign(signable, &params).map_err(|e| SigningError(e.to_string()))
}

/// Why a request was refused (API Gateway answers 403 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Forbidden")]
    Unsigned,
    #[error("Authorization header requires {0}")]
    Malformed(&'static str),
    #[error("Signature expired: the request's time is more than 5 minutes from now")]
    Expired,
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("Credential should be scoped to correct service.")]
    WrongService,
    #[error("Credential should be scoped to a valid region.")]
    WrongRegion,
    #[error("The request signature we calculated does not match the signature you provided.")]
    Mismatch,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    access_key: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, Refusal> {
    let fields = header
        .strip_prefix(ALGORITHM)
        .ok_or(Refusal::Malformed("the AWS4-HMAC-SHA256 algorithm"))?;
    let field = |name: &str| {
        fields
            .split(',')
            .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
    };
    let credential = field("Credential").ok_or(Refusal::Malformed("a Credential"))?;
    let mut scope = credential.split('/');
    let (Some(access_key), Some(_date), Some(region), Some(service), Some("aws4_request")) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(Refusal::Malformed(
            "a Credential of key/date/region/service/aws4_request",
        ));
    };
    Ok(Authorization {
        access_key,
        region,
        service,
        signed_headers: field("SignedHeaders")
            .ok_or(Refusal::Malformed("SignedHeaders"))?
            .split(';')
            .collect(),
        signature: field("Signature").ok_or(Refusal::Malformed("a Signature"))?,
    })
}

/// `20261123T170000Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let digits = |range: std::ops::Range<usize>| text.get(range);
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        digits(0..4)?,
        digits(4..6)?,
        digits(6..8)?,
        digits(9..11)?,
        digits(11..13)?,
        digits(13..15)?
    );
    (text.len() == 16 && text.ends_with('Z'))
        .then(|| humantime::parse_rfc3339(&rfc3339).ok())
        .flatten()
}

/// Checks `request` (its headers include `authorization`, `x-amz-date` and
/// `host`) as API Gateway does for an `AWS_IAM` route: signed for
/// execute-api in `region`, recently, by the holder of `credentials`.
/// Without credentials to check against, nothing passes.
pub fn check_request(
    request: Request<'_>,
    credentials: Option<&Credentials>,
    region: &str,
    now: SystemTime,
) -> Result<(), Refusal> {
    check_request_for(request, credentials, region, &[SERVICE], now).map(|_| ())
}

/// [`check_request_for`] on a request as a server received it (`parts`
/// and its whole `body`).
pub fn check_received(
    parts: &axum::http::request::Parts,
    body: &[u8],
    credentials: Option<&Credentials>,
    region: &str,
    services: &[&str],
) -> Result<(), Refusal> {
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let request = Request {
        method: parts.method.as_str(),
        uri: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &headers,
        body,
    };
    check_request_for(request, credentials, region, services, SystemTime::now()).map(|_| ())
}

/// [`check_request`] for a request signed for one of `services`; the
/// service it was signed for.
pub fn check_request_for<'r>(
    request: Request<'r>,
    credentials: Option<&Credentials>,
    region: &str,
    services: &[&str],
    now: SystemTime,
) -> Result<&'r str, Refusal> {
    let authorization =
        parse_authorization(request.header("authorization").ok_or(Refusal::Unsigned)?)?;
    if !services.contains(&authorization.service) {
        return Err(Refusal::WrongService);
    }
    if authorization.region != region {
        return Err(Refusal::WrongRegion);
    }
    let time = signing_time(request.header(DATE_HEADER), now)?;
    let credentials = credentials
        .filter(|c| c.access_key_id() == authorization.access_key)
        .ok_or(Refusal::UnknownKey)?;
    verify_signature(request, &authorization, credentials, time)?;
    Ok(authorization.service)
}

/// The request's `x-amz-date`, if it is within [`MAX_CLOCK_SKEW`] of `now`.
fn signing_time(date: Option<&str>, now: SystemTime) -> Result<SystemTime, Refusal> {
    let time = date
        .and_then(parse_amz_date)
        .ok_or(Refusal::Malformed("an x-amz-date header"))?;
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(Refusal::Expired);
    }
    Ok(time)
}

/// Signs `request` again as its `authorization` says it was signed, with
/// `credentials` at `time`, and compares the signatures.
fn verify_signature(
    request: Request<'_>,
    authorization: &Authorization<'_>,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<(), Refusal> {
    // The headers the client signed, as it passed them to its signer: the
    // signer adds the date and token itself.
    let mut signed = Vec::new();
    for name in &authorization.signed_headers {
        if *name == DATE_HEADER || *name == TOKEN_HEADER {
            continue;
        }
        signed.push((*name, request.header(name).ok_or(Refusal::Mismatch)?));
    }
    let expected = signature(
        Request {
            headers: &signed,
            ..request
        },
        credentials,
        authorization.region,
        authorization.service,
        time,
    )
    .map_err(|_| Refusal::Mismatch)?;
    // In constant time, so the comparison tells nothing of how much of a
    // guessed signature was right.
    let matches: bool = expected
        .signature()
        .as_bytes()
        .ct_eq(authorization.signature.as_bytes())
        .into();
    if matches {
        Ok(())
    } else {
        Err(Refusal::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(secret: &str) -> Credentials {
        Credentials::new("AKIDLOCAL", secret, None, None, "test")
    }

    /// What a server sees of a request signed for `url`.
    fn received(
        signed: &[(String, String)],
        extra: &[(&'static str, &'static str)],
    ) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = signed.to_vec();
        headers.push(("host".into(), "127.0.0.1:9000".into()));
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        headers
    }

    fn check(
        headers: &[(String, String)],
        body: &[u8],
        secret: &str,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        check_request(
            Request {
                method: "POST",
                uri: "/notify",
                headers: &headers,
                body,
            },
            Some(&credentials(secret)),
            "us-east-1",
            now,
        )
    }

    /// The headers that sign a POST of `body` to the notify endpoint for
    /// `region`.
    fn signed_for(region: &str, body: &[u8], now: SystemTime) -> Vec<(String, String)> {
        sign_request(
            Request {
                method: "POST",
                uri: "http://127.0.0.1:9000/notify",
                headers: &[("content-type", "application/json")],
                body,
            },
            &credentials("s3cret"),
            region,
            now,
        )
        .unwrap()
    }

    #[test]
    fn a_signed_request_passes_and_any_change_is_refused() {
        let now = SystemTime::now();
        let body = br#"{"text":"hi"}"#;
        let signed = signed_for("us-east-1", body, now);
        let headers = received(&signed, &[("content-type", "application/json")]);
        assert_eq!(check(&headers, body, "s3cret", now), Ok(()));
        assert_eq!(
            check(&headers, br#"{"text":"ho"}"#, "s3cret", now),
            Err(Refusal::Mismatch),
            "another body"
        );
        assert_eq!(
            check(&headers, body, "other", now),
            Err(Refusal::Mismatch),
            "another secret"
        );
        // AWS's five minutes, either way.
        assert_eq!(
            check(&headers, body, "s3cret", now + Duration::from_secs(4 * 60)),
            Ok(())
        );
        for skewed in [
            now + Duration::from_secs(6 * 60),
            now - Duration::from_secs(6 * 60),
        ] {
            assert_eq!(
                check(&headers, body, "s3cret", skewed),
                Err(Refusal::Expired)
            );
        }
        let unsigned = received(&[], &[("content-type", "application/json")]);
        assert_eq!(
            check(&unsigned, body, "s3cret", now),
            Err(Refusal::Unsigned)
        );
        let mut other_key = headers.clone();
        for (name, value) in &mut other_key {
            if name == "authorization" {
                *value = value.replace("AKIDLOCAL", "AKIDOTHER");
            }
        }
        assert_eq!(
            check(&other_key, body, "s3cret", now),
            Err(Refusal::UnknownKey)
        );
        assert!(
            check_request(
                Request {
                    method: "POST",
                    uri: "/notify",
                    headers: &[],
                    body
                },
                None,
                "us-east-1",
                now
            )
            .is_err()
        );
        // Signed for another region: API Gateway's own refusal.
        let elsewhere = signed_for("eu-west-1", body, now);
        let headers = received(&elsewhere, &[("content-type", "application/json")]);
        assert_eq!(
            check(&headers, body, "s3cret", now),
            Err(Refusal::WrongRegion)
        );
    }

    #[test]
    fn a_request_passes_only_when_signed_for_a_service_it_is_checked_for() {
        let now = SystemTime::now();
        let body = br#"{"TableName":"t"}"#;
        let request = Request {
            method: "POST",
            uri: "/",
            headers: &[("content-type", "application/x-amz-json-1.0")],
            body,
        };
        let signed = signature(
            Request {
                uri: "http://127.0.0.1:9000/",
                ..request
            },
            &credentials("s3cret"),
            "us-east-1",
            "dynamodb",
            now,
        )
        .unwrap();
        let signed: Vec<(String, String)> = signed
            .output()
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let headers = received(&signed, &[("content-type", "application/x-amz-json-1.0")]);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let checked = |services: &[&str]| {
            check_request_for(
                Request {
                    headers: &headers,
                    ..request
                },
                Some(&credentials("s3cret")),
                "us-east-1",
                services,
                now,
            )
        };
        assert_eq!(checked(&["sqs", "dynamodb"]), Ok("dynamodb"));
        assert_eq!(checked(&["sqs"]), Err(Refusal::WrongService));
        assert_eq!(checked(&[SERVICE]), Err(Refusal::WrongService));
    }

    #[test]
    fn amz_dates_parse() {
        let time = parse_amz_date("20261123T170000Z").unwrap();
        assert_eq!(
            humantime::format_rfc3339(time).to_string(),
            "2026-11-23T17:00:00Z"
        );
        assert!(parse_amz_date("2026-11-23").is_none());
    }
}
