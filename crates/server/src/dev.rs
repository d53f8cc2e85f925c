//! What `fundtrail dev` trusts and hands out: the development issuer kept in `.fundtrail/`,
//! and a ready token per profile, so the demo's people can be acted as without an identity
//! provider.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fundtrail_identity::{DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role};

/// The folder `fundtrail dev` keeps its keys and tokens in (beside its store and audit key).
pub const FOLDER: &str = ".fundtrail";
/// The public half of the development issuer's key, as servers trust it.
pub const JWKS: &str = ".fundtrail/jwks.json";
/// Where the profiles' tokens are written, `<profile>.jwt`.
pub const TOKENS: &str = ".fundtrail/tokens";
/// How long a development token is valid: long enough not to expire during a week's work,
/// short enough that a leaked one does not last.
pub const TOKEN_LIFETIME: Duration = Duration::from_hours(24 * 7);

/// The fund the demo runs.
const FUND: &str = "ITF Enhancing Human Security";

/// The development issuer: the key in `.fundtrail/identity.key`, made when missing.
pub fn issuer() -> anyhow::Result<Issuer> {
    Issuer::load_or_create(Path::new(FOLDER))
        .with_context(|| format!("setting up the development issuer in {FOLDER}"))
}

fn person(subject: &str, name: &str, roles: &[Role]) -> Principal {
    Principal {
        subject: subject.to_owned(),
        display_name: name.to_owned(),
        organisation: FUND.to_owned(),
        roles: roles.iter().copied().collect(),
        donor_id: None,
    }
}

/// The profiles `fundtrail dev` writes tokens for: the demo's people, and a donor's system.
pub fn profiles() -> Vec<(&'static str, Principal)> {
    vec![
        (
            "staff",
            person(
                "finance@itf.si",
                "Finance office",
                &[
                    Role::FinanceOfficer,
                    Role::ProgrammeOfficer,
                    Role::Administrator,
                    Role::Auditor,
                ],
            ),
        ),
        (
            "approver",
            person("director@itf.si", "Director", &[Role::Approver]),
        ),
        (
            "verifier",
            person("monitoring@itf.si", "Monitoring officer", &[Role::Verifier]),
        ),
        (
            "auditor",
            person("auditor@itf.si", "External auditor", &[Role::Auditor]),
        ),
        (
            "donor",
            Principal {
                subject: "integration@minbuza.nl".to_owned(),
                display_name: "Netherlands Ministry of Foreign Affairs integration".to_owned(),
                organisation: "Netherlands".to_owned(),
                roles: BTreeSet::from([Role::DonorIntegration]),
                donor_id: Some("XM-DAC-7".to_owned()),
            },
        ),
    ]
}

/// Writes a token for each profile into `dir` (readable by its owner only); returns the
/// files written, by profile.
pub fn write_tokens(issuer: &Issuer, dir: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (profile, principal) in profiles() {
        let token = issuer.issue(&principal, DEV_ISSUER, DEV_AUDIENCE, TOKEN_LIFETIME)?;
        let path = dir.join(format!("{profile}.jwt"));
        write_private(&path, token.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        written.push((profile, path));
    }
    Ok(written)
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A file made earlier keeps its mode through `open`; a token is a secret either way.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_profile_gets_a_token_the_server_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = Issuer::generate().unwrap();
        let written = write_tokens(&issuer, dir.path()).unwrap();
        let authenticator =
            fundtrail_identity::Authenticator::new(issuer.config(DEV_ISSUER, DEV_AUDIENCE))
                .await
                .unwrap();
        let profiles = profiles();
        assert_eq!(written.len(), profiles.len());
        for ((profile, path), (_, principal)) in written.iter().zip(&profiles) {
            let token = std::fs::read_to_string(path).unwrap();
            assert_eq!(
                authenticator.verify_bearer(token.trim()).as_ref(),
                Ok(principal),
                "{profile}"
            );
        }
        let staff = &profiles[0].1;
        assert!(staff.has(Role::FinanceOfficer) && !staff.has(Role::Approver));
    }
}
