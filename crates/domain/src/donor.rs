//! Donors: governments, multilateral organisations and private donors who pledge to the fund.

use crate::aggregate::{Aggregate, VersionCounter, text};
use crate::error::{DomainError, Reason};
use crate::ids::DonorId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DonorKind {
    Government,
    Multilateral,
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DonorEvent {
    Registered {
        donor_id: DonorId,
        name: String,
        kind: DonorKind,
        matching_eligible: bool,
    },
    MatchingEligibilityChanged {
        donor_id: DonorId,
        matching_eligible: bool,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DonorCommand {
    Register {
        donor_id: DonorId,
        name: String,
        kind: DonorKind,
        matching_eligible: bool,
    },
    ChangeMatchingEligibility {
        matching_eligible: bool,
        reason: String,
    },
}

/// What the rest of the fund needs to know of a donor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorProfile {
    pub donor_id: DonorId,
    pub name: String,
    pub kind: DonorKind,
    pub matching_eligible: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Donor {
    profile: Option<DonorProfile>,
    version: VersionCounter,
}

impl Donor {
    pub fn stream(donor_id: &DonorId) -> String {
        format!("{}-{donor_id}", Self::CATEGORY)
    }

    pub fn profile(&self) -> Option<&DonorProfile> {
        self.profile.as_ref()
    }

    /// The registered donor, or the refusal a command naming an unknown donor gets.
    pub fn require(&self, donor_id: &DonorId) -> Result<&DonorProfile, DomainError> {
        self.profile.as_ref().ok_or_else(|| {
            DomainError::refused(
                Reason::DonorNotFound,
                format!("donor {donor_id} is not registered"),
            )
        })
    }
}

impl Aggregate for Donor {
    type Command = DonorCommand;
    type Event = DonorEvent;
    const CATEGORY: &'static str = "donor";

    fn evolve(&mut self, event: &DonorEvent) {
        self.version.advance();
        match event {
            DonorEvent::Registered {
                donor_id,
                name,
                kind,
                matching_eligible,
            } => {
                self.profile = Some(DonorProfile {
                    donor_id: donor_id.clone(),
                    name: name.clone(),
                    kind: *kind,
                    matching_eligible: *matching_eligible,
                });
            }
            DonorEvent::MatchingEligibilityChanged {
                matching_eligible, ..
            } => {
                if let Some(profile) = &mut self.profile {
                    profile.matching_eligible = *matching_eligible;
                }
            }
        }
    }

    fn decide(&self, command: DonorCommand) -> Result<Vec<DonorEvent>, DomainError> {
        match command {
            DonorCommand::Register {
                donor_id,
                name,
                kind,
                matching_eligible,
            } => {
                if self.profile.is_some() {
                    return Err(DomainError::refused(
                        Reason::DonorAlreadyRegistered,
                        format!("donor {donor_id} is already registered"),
                    ));
                }
                Ok(vec![DonorEvent::Registered {
                    donor_id,
                    name: text("name", &name, 200, true)?,
                    kind,
                    matching_eligible,
                }])
            }
            DonorCommand::ChangeMatchingEligibility {
                matching_eligible,
                reason,
            } => {
                let profile = self.profile.as_ref().ok_or_else(|| {
                    DomainError::refused(Reason::DonorNotFound, "the donor is not registered")
                })?;
                if profile.matching_eligible == matching_eligible {
                    return Err(DomainError::refused(
                        Reason::NothingToChange,
                        format!(
                            "donor {} is already {}",
                            profile.donor_id,
                            if matching_eligible {
                                "matching-eligible"
                            } else {
                                "not matching-eligible"
                            }
                        ),
                    ));
                }
                Ok(vec![DonorEvent::MatchingEligibilityChanged {
                    donor_id: profile.donor_id.clone(),
                    matching_eligible,
                    reason: text("reason", &reason, 500, true)?,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(matching_eligible: bool) -> DonorCommand {
        DonorCommand::Register {
            donor_id: DonorId::parse("XM-DAC-7").unwrap(),
            name: "Netherlands".into(),
            kind: DonorKind::Government,
            matching_eligible,
        }
    }

    fn registered(matching_eligible: bool) -> Donor {
        let events = Donor::default()
            .decide(register(matching_eligible))
            .unwrap();
        Donor::fold(&events)
    }

    #[test]
    fn registers_once() {
        let donor = registered(true);
        assert_eq!(
            donor.profile().map(|p| p.name.as_str()),
            Some("Netherlands")
        );
        let err = donor.decide(register(true)).unwrap_err();
        assert_eq!(err.reason(), Some(Reason::DonorAlreadyRegistered));
    }

    #[test]
    fn refuses_an_empty_name() {
        let err = Donor::default()
            .decide(DonorCommand::Register {
                donor_id: DonorId::parse("XM-DAC-7").unwrap(),
                name: "  ".into(),
                kind: DonorKind::Government,
                matching_eligible: false,
            })
            .unwrap_err();
        assert_eq!(err, DomainError::invalid("name", "must not be empty"));
    }

    #[test]
    fn changes_matching_eligibility_only_when_it_changes() {
        let donor = registered(false);
        let change = |eligible| DonorCommand::ChangeMatchingEligibility {
            matching_eligible: eligible,
            reason: "board decision".into(),
        };
        let events = donor.decide(change(true)).unwrap();
        let mut after = donor.clone();
        after.evolve(&events[0]);
        assert_eq!(after.profile().map(|p| p.matching_eligible), Some(true));
        assert_eq!(
            donor.decide(change(false)).unwrap_err().reason(),
            Some(Reason::NothingToChange)
        );
        assert_eq!(
            Donor::default().decide(change(true)).unwrap_err().reason(),
            Some(Reason::DonorNotFound)
        );
    }
}
