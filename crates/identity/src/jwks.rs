//! Reading a JSON Web Key Set into the keys tokens may be signed with.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A public key and the one algorithm tokens signed with it may use. Pinning the algorithm to
/// the key keeps a token from choosing how it is checked.
pub(crate) struct TrustedKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The signing keys of a JWKS document. Keys this service cannot or must not use (encryption
/// keys, symmetric keys, unknown curves) are skipped with a warning rather than failing the
/// whole set, since identity providers publish such keys beside their signing keys.
pub(crate) fn parse(document: &str) -> Result<Vec<TrustedKey>, String> {
    let value: serde_json::Value =
        serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
    let entries = value
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("no `keys` array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let kid = entry.get("kid").and_then(serde_json::Value::as_str);
        if entry.get("use").is_some_and(|u| u != "sig") {
            continue;
        }
        match trusted(entry) {
            Ok(key) => keys.push(key),
            Err(reason) => tracing::warn!(kid, reason, "skipping a key of the JWKS"),
        }
    }
    if keys.is_empty() {
        return Err("it holds no usable signing key (EdDSA, ES256, ES384, RS* or PS*)".to_owned());
    }
    Ok(keys)
}

fn trusted(entry: &serde_json::Value) -> Result<TrustedKey, String> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).map_err(|e| e.to_string())?;
    let stated = jwk.common.key_algorithm;
    let (algorithm, key) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(params) => {
            if params.curve != EllipticCurve::Ed25519 {
                return Err(format!("curve {:?} is not supported", params.curve));
            }
            // The verifier reads exactly 32 bytes; a shorter `x` must not reach it.
            let x = URL_SAFE_NO_PAD
                .decode(&params.x)
                .map_err(|_| "`x` is not base64url")?;
            if x.len() != 32 {
                return Err("an Ed25519 `x` is 32 bytes".to_owned());
            }
            let key = DecodingKey::from_ed_components(&params.x).map_err(|e| e.to_string())?;
            (pinned(stated, &[Algorithm::EdDSA])?, key)
        }
        AlgorithmParameters::EllipticCurve(params) => {
            let allowed = match params.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                ref other => return Err(format!("curve {other:?} is not supported")),
            };
            let key =
                DecodingKey::from_ec_components(&params.x, &params.y).map_err(|e| e.to_string())?;
            (pinned(stated, &[allowed])?, key)
        }
        AlgorithmParameters::RSA(params) => {
            let key = DecodingKey::from_rsa_components(&params.n, &params.e)
                .map_err(|e| e.to_string())?;
            let algorithm = pinned(
                stated,
                &[
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
            )?;
            (algorithm, key)
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("a symmetric key in a key set is never trusted".to_owned());
        }
        _ => return Err("unsupported key type".to_owned()),
    };
    Ok(TrustedKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
    })
}

/// The algorithm a key is used with: the one it states, if allowed for its type, or else the
/// first allowed (RS256 for RSA keys that state none, as `OpenID` Connect assumes).
fn pinned(stated: Option<KeyAlgorithm>, allowed: &[Algorithm]) -> Result<Algorithm, String> {
    let Some(stated) = stated else {
        return Ok(allowed[0]);
    };
    allowed
        .iter()
        .copied()
        .find(|algorithm| KeyAlgorithm::from(*algorithm) == stated)
        .ok_or_else(|| format!("algorithm {stated:?} does not fit the key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn one(key: &serde_json::Value) -> Result<Vec<TrustedKey>, String> {
        parse(&serde_json::json!({ "keys": [key] }).to_string())
    }

    #[test]
    fn an_ed25519_key_is_pinned_to_eddsa() {
        let keys = one(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "a"}))
            .unwrap();
        assert_eq!(keys[0].algorithm, Algorithm::EdDSA);
        assert_eq!(keys[0].kid.as_deref(), Some("a"));
    }

    #[test]
    fn a_short_ed25519_key_is_skipped() {
        let err = one(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}));
        assert!(err.is_err());
    }

    #[test]
    fn symmetric_and_encryption_keys_are_never_trusted() {
        assert!(one(&serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).is_err());
        assert!(
            one(&serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "use": "enc"}))
                .is_err()
        );
    }

    #[test]
    fn a_stated_algorithm_must_fit_the_key() {
        let mismatched =
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "alg": "RS256"});
        assert!(one(&mismatched).is_err());
    }

    #[test]
    fn unusable_keys_are_skipped_beside_usable_ones() {
        let document = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "XYZ"},
            {"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "good"},
        ]});
        let keys = parse(&document.to_string()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("good"));
    }

    #[test]
    fn rsa_keys_default_to_rs256() {
        // A 2048-bit modulus is not needed to check the mapping; the components only decode.
        let n = URL_SAFE_NO_PAD.encode([0xc5_u8; 256]);
        let keys = one(&serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB"})).unwrap();
        assert_eq!(keys[0].algorithm, Algorithm::RS256);
        let keys =
            one(&serde_json::json!({"kty": "RSA", "n": n, "e": "AQAB", "alg": "PS256"})).unwrap();
        assert_eq!(keys[0].algorithm, Algorithm::PS256);
    }

    #[test]
    fn documents_without_keys_are_refused() {
        assert!(parse("[]").is_err());
        assert!(parse("{\"keys\": []}").is_err());
        assert!(parse("not json").is_err());
    }
}
