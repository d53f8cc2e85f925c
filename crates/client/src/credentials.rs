//! Which token the client acts with: a token given, a profile `fundtrail dev` wrote, or the
//! staff profile when there is one.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use fundtrail_identity::Credentials;

/// Where `fundtrail dev` writes a token per profile, `<profile>.jwt`, relative to the folder
/// it runs in.
pub const TOKENS_DIR: &str = ".fundtrail/tokens";
/// The profile used when no token or profile is named and its file exists.
pub const DEFAULT_PROFILE: &str = "staff";
/// A token to act with.
pub const TOKEN_ENV: &str = "FUNDTRAIL_TOKEN";
/// A file holding the token to act with.
pub const TOKEN_FILE_ENV: &str = "FUNDTRAIL_TOKEN_FILE";

/// The file a profile's token is kept in.
pub fn profile_path(profile: &str) -> PathBuf {
    Path::new(TOKENS_DIR).join(format!("{profile}.jwt"))
}

/// The credentials to act with. In order: `token`; `profile`'s file; `FUNDTRAIL_TOKEN`; the
/// file `FUNDTRAIL_TOKEN_FILE` names; the staff profile's file if it exists; none.
pub fn resolve(token: Option<&str>, profile: Option<&str>) -> anyhow::Result<Credentials> {
    resolve_with(token, profile, |name| std::env::var(name).ok())
}

/// [`resolve`] with the environment read through `var`, so tests need not change the
/// process's.
pub fn resolve_with(
    token: Option<&str>,
    profile: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Credentials> {
    if let Some(token) = token {
        return bearer(token, "--token");
    }
    if let Some(profile) = profile {
        let valid = !profile.is_empty()
            && profile
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !profile.starts_with('.');
        if !valid {
            return Err(anyhow!(
                "profile {profile:?}: name one of the files in {TOKENS_DIR}, e.g. staff"
            ));
        }
        let path = profile_path(profile);
        if !path.exists() {
            return Err(anyhow!(
                "no token for profile {profile}: {} does not exist. `fundtrail dev` writes the \
                 profiles staff, approver, verifier, auditor and donor",
                path.display()
            ));
        }
        return read(&path);
    }
    if let Some(token) = var(TOKEN_ENV).filter(|t| !t.trim().is_empty()) {
        return bearer(&token, TOKEN_ENV);
    }
    if let Some(path) = var(TOKEN_FILE_ENV).filter(|p| !p.trim().is_empty()) {
        return read(Path::new(path.trim()));
    }
    let staff = profile_path(DEFAULT_PROFILE);
    if staff.exists() {
        return read(&staff);
    }
    Ok(Credentials::none())
}

fn read(path: &Path) -> anyhow::Result<Credentials> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token in {}", path.display()))?;
    bearer(&token, &path.display().to_string())
}

fn bearer(token: &str, origin: &str) -> anyhow::Result<Credentials> {
    Credentials::bearer(token).map_err(|error| anyhow!("{origin}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_token_wins_then_the_profile_then_the_environment() {
        let env = |name: &str| (name == TOKEN_ENV).then(|| "from.env.token".to_owned());
        assert!(resolve_with(Some("a.b.c"), None, env).unwrap().has_token());
        assert!(resolve_with(None, None, env).unwrap().has_token());
        assert!(resolve_with(Some("not a token"), None, env).is_err());
    }

    #[test]
    fn a_token_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jwt");
        std::fs::write(&path, "a.b.c\n").unwrap();
        let env = |name: &str| (name == TOKEN_FILE_ENV).then(|| path.display().to_string());
        assert!(resolve_with(None, None, env).unwrap().has_token());
        let missing = |name: &str| (name == TOKEN_FILE_ENV).then(|| "/nonexistent/t".to_owned());
        assert!(resolve_with(None, None, missing).is_err());
    }

    #[test]
    fn profiles_name_files_in_the_tokens_folder_only() {
        for bad in ["", "../staff", "a/b", ".hidden"] {
            assert!(resolve_with(None, Some(bad), |_| None).is_err(), "{bad:?}");
        }
        let missing = resolve_with(None, Some("nobody-has-this"), |_| None).unwrap_err();
        assert!(missing.to_string().contains("fundtrail dev"), "{missing}");
    }
}
