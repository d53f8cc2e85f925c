//! Every event of the trust fund, whichever aggregate recorded it.

use crate::account::AccountEvent;
use crate::calendar::CalendarEvent;
use crate::country::CountryCode;
use crate::donor::DonorEvent;
use crate::matching::MatchingEvent;
use crate::pledge::PledgeEvent;
use crate::project::ProjectEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Donor(DonorEvent),
    Pledge(PledgeEvent),
    Matching(MatchingEvent),
    Project(ProjectEvent),
    Account(AccountEvent),
    Calendar(CalendarEvent),
}

impl Event {
    /// The country the event concerns, when it concerns one. The log keys events by it, so
    /// each country's events stay in order, and the per-country views are built from it.
    pub fn country(&self) -> Option<CountryCode> {
        match self {
            Event::Donor(_) | Event::Calendar(_) => None,
            Event::Pledge(event) => match event {
                PledgeEvent::Recorded { earmark, .. }
                | PledgeEvent::Amended { earmark, .. }
                | PledgeEvent::Withdrawn { earmark, .. }
                | PledgeEvent::AgreementSigned { earmark, .. }
                | PledgeEvent::ContributionReceived { earmark, .. }
                | PledgeEvent::ReceiptReversed { earmark, .. }
                | PledgeEvent::ReceiptRerated { earmark, .. }
                | PledgeEvent::ContributionRefunded { earmark, .. } => earmark.country(),
                PledgeEvent::ContributionAllocated { country, .. }
                | PledgeEvent::AllocationReleased { country, .. } => Some(*country),
            },
            Event::Matching(event) => match event {
                MatchingEvent::Opened { .. } | MatchingEvent::FundsReceived { .. } => None,
                MatchingEvent::MatchReserved { country, .. }
                | MatchingEvent::MatchConfirmed { country, .. }
                | MatchingEvent::MatchVoided { country, .. } => Some(*country),
            },
            Event::Project(event) => Some(match event {
                ProjectEvent::Registered { country, .. }
                | ProjectEvent::MilestonePlanned { country, .. }
                | ProjectEvent::ProgressReported { country, .. }
                | ProjectEvent::MilestoneVerified { country, .. }
                | ProjectEvent::MilestoneRejected { country, .. }
                | ProjectEvent::Closed { country, .. }
                | ProjectEvent::PartnerChanged { country, .. } => *country,
            }),
            Event::Account(event) => Some(match event {
                AccountEvent::Credited { country, .. }
                | AccountEvent::AllocationReturned { country, .. }
                | AccountEvent::Closed { country, .. }
                | AccountEvent::TrancheUnlocked { country, .. }
                | AccountEvent::DisbursementRequested { country, .. }
                | AccountEvent::DisbursementApproved { country, .. }
                | AccountEvent::DisbursementRejected { country, .. }
                | AccountEvent::DisbursementPaid { country, .. }
                | AccountEvent::DisbursementReversed { country, .. }
                | AccountEvent::DisbursementRefunded { country, .. } => *country,
            }),
        }
    }
}
