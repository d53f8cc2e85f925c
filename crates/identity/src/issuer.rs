//! The development token issuer: an Ed25519 key that signs tokens for named principals, and
//! the JWKS servers check them with. Tests use it too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::config::{AuthConfig, JwksSource};
use crate::error::IdentityError;
use crate::principal::Principal;

/// The PKCS#8 (RFC 8410) encoding of an Ed25519 private key is this prefix and the seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
const KEY_FILE: &str = "identity.key";
const JWKS_FILE: &str = "jwks.json";

/// Signs bearer tokens with an Ed25519 key.
pub struct Issuer {
    seed: [u8; 32],
    encoding: EncodingKey,
    kid: String,
    jwks: String,
}

impl std::fmt::Debug for Issuer {
    // The key stays out of logs; its id names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// A new random key, kept in memory only.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
        Self::from_seed(seed)
    }

    fn from_seed(seed: [u8; 32]) -> Result<Self, IdentityError> {
        let encoding = EncodingKey::from_ed_der(&pkcs8(&seed));
        let signing = |e: jsonwebtoken::errors::Error| IdentityError::Signing(e.to_string());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::EdDSA).map_err(signing)?;
        // The RFC 7638 thumbprint: the same key always gets the same id, wherever it is loaded.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(signing)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = serde_json::to_string_pretty(&JwkSet { keys: vec![jwk] })
            .map_err(|e| IdentityError::Signing(e.to_string()))?;
        Ok(Self {
            seed,
            encoding,
            kid,
            jwks,
        })
    }

    /// The key kept in `dir/identity.key` (PKCS#8 PEM, readable by its owner only), made
    /// there when there is none; also writes the public half to `dir/jwks.json` for servers
    /// to trust. Processes starting together agree on one key.
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        std::fs::create_dir_all(dir).map_err(|source| write_error(dir, source))?;
        let key_path = dir.join(KEY_FILE);
        let issuer = match std::fs::read_to_string(&key_path) {
            Ok(text) => Self::from_pem(&text, &key_path)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Self::create(dir, &key_path)?
            }
            Err(source) => return Err(read_error(&key_path, source)),
        };
        replace_file(&dir.join(JWKS_FILE), issuer.jwks.as_bytes(), 0o644)?;
        Ok(issuer)
    }

    fn create(dir: &Path, key_path: &Path) -> Result<Self, IdentityError> {
        let issuer = Self::generate()?;
        let temporary = temporary_path(dir, KEY_FILE);
        write_new_file(&temporary, issuer.pem().as_bytes(), 0o600)?;
        // A hard link never replaces an existing file: of processes creating the key at once,
        // one wins and the others read the winner's key.
        let linked = std::fs::hard_link(&temporary, key_path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => Ok(issuer),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(key_path)
                    .map_err(|source| read_error(key_path, source))?;
                Self::from_pem(&text, key_path)
            }
            Err(source) => Err(write_error(key_path, source)),
        }
    }

    fn pem(&self) -> String {
        format!(
            "{PEM_BEGIN}\n{}\n{PEM_END}\n",
            STANDARD.encode(pkcs8(&self.seed))
        )
    }

    fn from_pem(text: &str, path: &Path) -> Result<Self, IdentityError> {
        let format = || IdentityError::KeyFormat {
            path: path.display().to_string(),
        };
        let body = text
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or_else(format)?;
        let body: String = body.split_whitespace().collect();
        let der = STANDARD.decode(body).map_err(|_| format())?;
        let seed = der
            .strip_prefix(PKCS8_ED25519_PREFIX.as_slice())
            .and_then(|seed| <[u8; 32]>::try_from(seed).ok())
            .ok_or_else(format)?;
        Self::from_seed(seed)
    }

    /// The JWKS holding this issuer's public key.
    pub fn jwks_json(&self) -> String {
        self.jwks.clone()
    }

    /// The id (`kid`) of this issuer's key.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// A token naming `principal`, valid from now for `ttl`. Refuses a principal no server
    /// would accept (a `process:` subject, a donor integration without its donor, …).
    pub fn issue(
        &self,
        principal: &Principal,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<String, IdentityError> {
        principal.validate().map_err(IdentityError::Principal)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| IdentityError::Signing(e.to_string()))?
            .as_secs();
        let mut claims = json!({
            "iss": issuer,
            "aud": audience,
            "sub": principal.subject,
            "name": principal.display_name,
            "org": principal.organisation,
            "roles": principal.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(ttl.as_secs()),
        });
        if let Some(donor) = &principal.donor_id {
            claims["donor_id"] = Value::String(donor.clone());
        }
        self.sign(&claims)
    }

    fn sign(&self, claims: &Value) -> Result<String, IdentityError> {
        self.sign_as(claims, Some(&self.kid))
    }

    /// Signs any claims under any key id; tests make tokens with it that `issue` would refuse.
    pub(crate) fn sign_as(
        &self,
        claims: &Value,
        kid: Option<&str>,
    ) -> Result<String, IdentityError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| IdentityError::Signing(e.to_string()))
    }

    /// A configuration trusting this issuer's key alone.
    pub fn config(&self, issuer: &str, audience: &str) -> AuthConfig {
        AuthConfig {
            jwks: Some(JwksSource::Keys(self.jwks_json())),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_seconds: AuthConfig::DEFAULT_LEEWAY_SECONDS,
            client_ca: None,
        }
    }
}

fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    [PKCS8_ED25519_PREFIX.as_slice(), seed.as_slice()].concat()
}

fn read_error(path: &Path, source: std::io::Error) -> IdentityError {
    IdentityError::Read {
        path: path.display().to_string(),
        source,
    }
}

fn write_error(path: &Path, source: std::io::Error) -> IdentityError {
    IdentityError::Write {
        path: path.display().to_string(),
        source,
    }
}

fn temporary_path(dir: &Path, name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()))
}

fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), IdentityError> {
    let err = |source| write_error(path, source);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(err)?;
    file.write_all(contents).map_err(err)?;
    file.sync_all().map_err(err)
}

/// Replaces `path` whole, so a reader never sees half a file.
fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), IdentityError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let temporary = temporary_path(dir, &name);
    write_new_file(&temporary, contents, mode)?;
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        write_error(path, source)
    })
}
