//! Bearer tokens: checking one against the trusted keys and reading its claims.

use std::collections::BTreeSet;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::jwks::TrustedKey;
use crate::principal::Principal;
use crate::role::Role;

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct Expectations {
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
}

impl Expectations {
    fn validation(&self, key: &TrustedKey) -> Validation {
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_seconds;
        validation
    }
}

/// Checks `token` against `keys`; `Err(UnknownKey)` when no key fits it, which a caller may
/// answer by reloading the keys.
pub(crate) fn verify(
    token: &str,
    keys: &[TrustedKey],
    expect: &Expectations,
) -> Result<Principal, AuthError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    let header = decode_header(token).map_err(refusal)?;
    let candidates: Vec<&TrustedKey> = match &header.kid {
        Some(kid) => keys
            .iter()
            .filter(|key| key.kid.as_deref() == Some(kid.as_str()))
            .collect(),
        None => keys
            .iter()
            .filter(|key| key.algorithm == header.alg)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(AuthError::UnknownKey);
    }
    let mut refused = AuthError::BadSignature;
    for key in candidates {
        if key.algorithm != header.alg {
            refused = AuthError::WrongAlgorithm;
            continue;
        }
        match decode::<Value>(token, &key.key, &expect.validation(key)) {
            Ok(data) => return principal(data.claims),
            Err(error) => match refusal(error) {
                // Another key under the same kid (or none) may still verify it.
                AuthError::BadSignature => {}
                other => return Err(other),
            },
        }
    }
    Err(refused)
}

fn refusal(error: jsonwebtoken::errors::Error) -> AuthError {
    match error.into_kind() {
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim),
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::invalid_claim(&claim, "it has the wrong type")
        }
        ErrorKind::InvalidToken => {
            AuthError::Malformed("it is not three dot-separated parts".to_owned())
        }
        ErrorKind::Base64(_) => AuthError::Malformed("a part is not base64url".to_owned()),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed("a part is not a JSON object".to_owned())
        }
        // A bad signature, or a trusted key that cannot check this token.
        _ => AuthError::BadSignature,
    }
}

fn string<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(AuthError::invalid_claim(name, "it must be a string")),
    }
}

fn required<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, AuthError> {
    string(claims, name)?.ok_or_else(|| AuthError::MissingClaim(name.to_owned()))
}

/// The principal a verified token's claims describe.
pub(crate) fn principal(claims: Value) -> Result<Principal, AuthError> {
    let Value::Object(claims) = claims else {
        return Err(AuthError::Malformed(
            "the claims are not a JSON object".to_owned(),
        ));
    };
    let subject = required(&claims, "sub")?.trim().to_owned();
    let organisation = required(&claims, "org")?.trim().to_owned();
    let display_name = string(&claims, "name")?
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(&subject)
        .to_owned();
    let roles = match claims.get("roles") {
        None => return Err(AuthError::MissingClaim("roles".to_owned())),
        Some(Value::Array(names)) => names
            .iter()
            .map(|name| match name {
                Value::String(name) => Ok(name.parse::<Role>()?),
                _ => Err(AuthError::invalid_claim("roles", "it must list role names")),
            })
            .collect::<Result<BTreeSet<Role>, AuthError>>()?,
        Some(_) => {
            return Err(AuthError::invalid_claim(
                "roles",
                "it must be an array of role names",
            ));
        }
    };
    let donor_id = string(&claims, "donor_id")?.map(|id| id.trim().to_owned());
    let principal = Principal {
        subject,
        display_name,
        organisation,
        roles,
        donor_id,
    };
    principal.validate()?;
    Ok(principal)
}
