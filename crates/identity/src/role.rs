//! The roles of the fund's staff and systems.

use std::fmt;
use std::str::FromStr;

/// What a principal is trusted to do. A credential names its roles; the access table says which
/// roles may call which method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Records pledges, agreements, receipts and allocations; requests disbursements.
    FinanceOfficer,
    /// Approves, pays, rejects and reverses disbursements.
    Approver,
    /// Registers projects, plans milestones and reports progress.
    ProgrammeOfficer,
    /// Verifies or rejects reported progress.
    Verifier,
    /// A donor's own system: records and reads its donor's pledges, receipts and statement.
    DonorIntegration,
    /// Reads everything, changes nothing.
    Auditor,
    /// Registers donors, opens matching pools, signs checkpoints.
    Administrator,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::FinanceOfficer,
        Role::Approver,
        Role::ProgrammeOfficer,
        Role::Verifier,
        Role::DonorIntegration,
        Role::Auditor,
        Role::Administrator,
    ];

    /// The name credentials carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::FinanceOfficer => "finance_officer",
            Role::Approver => "approver",
            Role::ProgrammeOfficer => "programme_officer",
            Role::Verifier => "verifier",
            Role::DonorIntegration => "donor_integration",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role (the roles are {roles})", roles = role_list())]
pub struct UnknownRole(pub String);

fn role_list() -> String {
    Role::ALL.map(Role::as_str).join(", ")
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
    }

    #[test]
    fn names_are_exact() {
        // A role is a grant: a near miss is refused rather than guessed.
        for text in ["Approver", " approver", "approver ", "approvers", ""] {
            assert_eq!(text.parse::<Role>(), Err(UnknownRole(text.to_owned())));
        }
        let message = "root".parse::<Role>().unwrap_err().to_string();
        assert!(
            message.contains("`root`") && message.contains("finance_officer"),
            "{message}"
        );
    }
}
