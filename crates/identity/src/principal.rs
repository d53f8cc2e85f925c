//! Who a request acts for.

use std::collections::BTreeSet;

use crate::error::AuthError;
use crate::role::Role;

/// The prefix of the subjects the fund's own process managers act under.
pub const PROCESS_PREFIX: &str = "process:";

/// The longest subject accepted, in characters: the ledger records subjects as actors, which
/// are at most this long.
const MAX_SUBJECT_CHARS: usize = 200;

/// An authenticated caller: a member of staff, a donor's system, or one of the fund's process
/// managers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The stable identifier the identity provider (or the certificate's CN) gives the caller.
    pub subject: String,
    pub display_name: String,
    pub organisation: String,
    pub roles: BTreeSet<Role>,
    /// The donor a donor integration acts for; set exactly when it has that role.
    pub donor_id: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The form four-eyes rules compare subjects in: trimmed and lowercased.
    ///
    /// The domain's canonical form of an actor ([`fundtrail_domain::Actor::canonical`]), so the
    /// actor recorded, the one four-eyes rules compare and the one request ids are scoped by are
    /// one and the same. Unicode normalisation is not applied: subjects are issued by the
    /// identity provider, not typed by the caller, so one account never reaches us in two
    /// normalisation forms.
    pub fn canonical(subject: &str) -> String {
        fundtrail_domain::Actor::canonical(subject)
    }

    /// This principal's subject in canonical form.
    pub fn canonical_subject(&self) -> String {
        Self::canonical(&self.subject)
    }

    /// The principal a process manager acts under: `process:<reaction>`, with no roles. No
    /// credential can yield such a subject, so a caller can never pass for a process manager.
    pub fn process(reaction: &str) -> Principal {
        Principal {
            subject: format!("{PROCESS_PREFIX}{reaction}"),
            display_name: format!("process manager {reaction}"),
            organisation: String::new(),
            roles: BTreeSet::new(),
            donor_id: None,
        }
    }

    /// Whether this is a process manager rather than a caller.
    pub fn is_process(&self) -> bool {
        Self::canonical(&self.subject).starts_with(PROCESS_PREFIX)
    }

    /// Checks what every credential must satisfy, whatever carried it.
    pub(crate) fn validate(&self) -> Result<(), AuthError> {
        let subject = self.subject.trim();
        if subject.is_empty() {
            return Err(AuthError::invalid_claim("sub", "the subject is empty"));
        }
        if subject.chars().count() > MAX_SUBJECT_CHARS || subject.chars().any(char::is_control) {
            return Err(AuthError::invalid_claim(
                "sub",
                "a subject is at most 200 printable characters",
            ));
        }
        if self.is_process() {
            return Err(AuthError::ProcessSubject);
        }
        if self.organisation.trim().is_empty() {
            return Err(AuthError::invalid_claim("org", "the organisation is empty"));
        }
        match (&self.donor_id, self.has(Role::DonorIntegration)) {
            (None, true) => Err(AuthError::DonorIdRequired),
            (Some(_), false) => Err(AuthError::DonorIdWithoutRole),
            (Some(donor), true) if donor.trim().is_empty() => Err(AuthError::invalid_claim(
                "donor_id",
                "the donor id is empty",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(subject: &str, roles: &[Role]) -> Principal {
        Principal {
            subject: subject.to_owned(),
            display_name: subject.to_owned(),
            organisation: "Fund".to_owned(),
            roles: roles.iter().copied().collect(),
            donor_id: None,
        }
    }

    #[test]
    fn canonical_folds_case_and_surrounding_space() {
        assert_eq!(Principal::canonical("  Alice@Fund.ORG\t"), "alice@fund.org");
        assert_eq!(Principal::canonical("ÉLODIE"), "élodie");
        assert_ne!(Principal::canonical("alice"), Principal::canonical("alicé"));
    }

    #[test]
    fn process_principals_have_no_roles_and_are_recognised() {
        let process = Principal::process("matching");
        assert_eq!(process.subject, "process:matching");
        assert!(process.roles.is_empty());
        assert!(process.is_process());
        assert!(!staff("alice", &[Role::Approver]).is_process());
    }

    #[test]
    fn a_credential_cannot_name_a_process_in_any_case() {
        for subject in ["process:matching", " Process:matching", "PROCESS:x"] {
            assert_eq!(
                staff(subject, &[Role::Approver]).validate(),
                Err(AuthError::ProcessSubject)
            );
        }
    }

    #[test]
    fn donor_id_goes_with_the_donor_integration_role() {
        let mut donor = staff("svc-ukaid", &[Role::DonorIntegration]);
        assert_eq!(donor.validate(), Err(AuthError::DonorIdRequired));
        donor.donor_id = Some("GB-GOV-1".to_owned());
        assert_eq!(donor.validate(), Ok(()));

        let mut officer = staff("alice", &[Role::FinanceOfficer]);
        officer.donor_id = Some("GB-GOV-1".to_owned());
        assert_eq!(officer.validate(), Err(AuthError::DonorIdWithoutRole));
    }

    #[test]
    fn subjects_must_be_printable_and_short() {
        assert!(staff(" ", &[]).validate().is_err());
        assert!(staff("a\u{7}b", &[]).validate().is_err());
        assert!(staff(&"a".repeat(201), &[]).validate().is_err());
        assert!(staff(&"a".repeat(200), &[]).validate().is_ok());
    }
}
