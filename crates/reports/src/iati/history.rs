//! The fund's projects as IATI sees them, folded from the event history: one activity per
//! project with its transactions, milestones and budget.
//!
//! Transactions follow what an IATI publisher reports for money passing through it:
//!
//! | event | type | sign |
//! |---|---|---|
//! | `ContributionAllocated` | 11 incoming commitment | + |
//! | `AllocationReleased` (the allocation taken back by the pledge) | 11 incoming commitment | − |
//! | `ProjectAccountCredited` | 1 incoming funds | + |
//! | `AllocationReturned` (the account gave the money back) | 1 incoming funds | − |
//! | `DisbursementApproved` | 2 outgoing commitment | + |
//! | `DisbursementRejected` after an approval | 2 outgoing commitment | − |
//! | `DisbursementPaid` | 3 disbursement | + |
//! | `DisbursementReversed`, `DisbursementRefunded` | 3 disbursement | − |
//!
//! Corrections are reported as negative transactions of the type they correct, dated when
//! they happened, as IATI's guidance asks for de-obligations and refunds; nothing already
//! published is rewritten, which matches the ledger itself.
//!
//! This is a fold of its own rather than the projections' per-country view: an activity lists
//! each transaction with its date and the organisations on both sides, and carries what a
//! project was registered with (sector, budget, dates, the partner's IATI identifier, each
//! milestone's title, tranche and due date), none of which the views keep once their figures
//! are added up. Events are decoded as the views decode them ([`decode_parts`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate};
use fundtrail_domain::{
    AccountEvent, AllocationId, CountryCode, DisbursementId, DonorEvent, DonorId, Event, Indicator,
    Money, Partner, PledgeEvent, ProjectEvent, ProjectId,
};
use fundtrail_projections::{FoldError, Mark, decode_parts};
use fundtrail_verifier::Envelope;
use uuid::Uuid;

/// IATI transaction types used by the fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransactionType {
    IncomingFunds = 1,
    OutgoingCommitment = 2,
    Disbursement = 3,
    IncomingCommitment = 11,
}

impl TransactionType {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The other side of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The IATI organisation identifier, when known.
    pub iati_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub kind: TransactionType,
    pub date: NaiveDate,
    /// Negative for a correction.
    pub value: Money,
    pub provider: Option<Party>,
    pub receiver: Option<Party>,
    pub description: String,
    /// The event that recorded it.
    pub event_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub number: u32,
    pub title: String,
    pub indicator: Indicator,
    pub target: u64,
    pub tranche: Money,
    pub due_on: NaiveDate,
    pub reported: Option<u64>,
    pub verified: Option<u64>,
    /// What verification released of the tranche (under the milestone's release rule).
    pub released: Option<Money>,
}

/// One project, as an IATI activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub project_id: ProjectId,
    pub country: CountryCode,
    pub partner: Partner,
    pub title: String,
    pub sector_code: u32,
    pub budget: Money,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub closed: bool,
    pub milestones: BTreeMap<u32, Milestone>,
    pub transactions: Vec<Transaction>,
    /// Donors whose money was allocated to the project.
    pub donors: BTreeSet<DonorId>,
    pub first_paid: Option<NaiveDate>,
    /// The commit time of the last event about the project, microseconds.
    pub updated_at: i64,
}

/// What the fold needs to know beyond the projects.
#[derive(Debug, Clone, Default)]
pub struct Fund {
    pub donors: BTreeMap<DonorId, String>,
    pub activities: BTreeMap<ProjectId, Activity>,
    /// The last position folded and its time.
    pub position: u64,
    pub recorded_at: i64,
    approved: HashSet<(ProjectId, DisbursementId)>,
    /// Each allocation in the project's and the pledge's currency, and what of it the pledge
    /// released so far in both.
    allocations: BTreeMap<AllocationId, Commitment>,
}

/// Which organisation is on the other side.
enum Side {
    Provider(Party),
    Receiver(Party),
}

impl Activity {
    fn push(
        &mut self,
        kind: TransactionType,
        date: NaiveDate,
        value: Money,
        event_id: Uuid,
        side: Side,
        description: String,
    ) {
        let (provider, receiver) = match side {
            Side::Provider(p) => (Some(p), None),
            Side::Receiver(r) => (None, Some(r)),
        };
        self.transactions.push(Transaction {
            kind,
            date,
            value,
            provider,
            receiver,
            description,
            event_id,
        });
    }

    fn partner(&self) -> Party {
        Party {
            iati_id: self.partner.iati_id.clone(),
            name: self.partner.name.clone(),
        }
    }
}

fn day(micros: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

impl Fund {
    /// Folds one stored event in; unknown event types are passed over.
    pub fn apply(&mut self, envelope: &Envelope) -> Result<(), FoldError> {
        self.position = envelope.position;
        self.recorded_at = envelope.recorded_at;
        let mark = Mark {
            position: envelope.position,
            recorded_at: envelope.recorded_at,
        };
        let Some(event) = decode_parts(mark, &envelope.event_type, &envelope.payload)?.event else {
            return Ok(());
        };
        let on = day(envelope.recorded_at);
        let id = envelope.event_id;
        match event {
            Event::Donor(DonorEvent::Registered { donor_id, name, .. }) => {
                self.donors.insert(donor_id, name);
            }
            Event::Project(e) => self.project(e, envelope.recorded_at),
            Event::Pledge(PledgeEvent::ContributionAllocated {
                donor_id,
                project_id,
                allocation_id,
                amount,
                project_amount,
                ..
            }) => {
                self.allocations.insert(
                    allocation_id,
                    Commitment {
                        amount,
                        project_amount,
                        released: 0,
                        project_released: 0,
                    },
                );
                let party = Side::Provider(self.donor(&donor_id));
                if let Some(a) = self.touch(&project_id, envelope.recorded_at) {
                    a.donors.insert(donor_id);
                    let what = "Contribution allocated to the project".to_owned();
                    a.push(
                        TransactionType::IncomingCommitment,
                        on,
                        project_amount,
                        id,
                        party,
                        what,
                    );
                }
            }
            Event::Pledge(PledgeEvent::AllocationReleased {
                donor_id,
                project_id,
                allocation_id,
                amount,
                reason,
                ..
            }) => {
                // The release is in the pledge's currency; the commitment was in the
                // project's. A part released of an allocation returned in parts is its share.
                let value = self
                    .allocations
                    .get_mut(&allocation_id)
                    .map_or(amount, |allocation| allocation.release(amount));
                let party = Side::Provider(self.donor(&donor_id));
                if let Some(a) = self.touch(&project_id, envelope.recorded_at) {
                    let what = format!("Allocation released: {reason}");
                    a.push(
                        TransactionType::IncomingCommitment,
                        on,
                        negate(value),
                        id,
                        party,
                        what,
                    );
                }
            }
            Event::Pledge(_) | Event::Donor(_) | Event::Matching(_) | Event::Calendar(_) => {}
            Event::Account(e) => self.account(e, on, id, envelope.recorded_at),
        }
        Ok(())
    }

    fn donor(&self, donor_id: &DonorId) -> Party {
        Party {
            iati_id: Some(donor_id.to_string()),
            name: self
                .donors
                .get(donor_id)
                .cloned()
                .unwrap_or_else(|| donor_id.to_string()),
        }
    }

    fn touch(&mut self, project: &ProjectId, at: i64) -> Option<&mut Activity> {
        let activity = self.activities.get_mut(project)?;
        activity.updated_at = at;
        Some(activity)
    }

    fn project(&mut self, event: ProjectEvent, at: i64) {
        match event {
            ProjectEvent::Registered {
                project_id,
                country,
                partner,
                title,
                sector_code,
                budget,
                starts_on,
                ends_on,
                ..
            } => {
                self.activities.insert(
                    project_id,
                    Activity {
                        project_id,
                        country,
                        partner,
                        title,
                        sector_code,
                        budget,
                        starts_on,
                        ends_on,
                        closed: false,
                        milestones: BTreeMap::new(),
                        transactions: Vec::new(),
                        donors: BTreeSet::new(),
                        first_paid: None,
                        updated_at: at,
                    },
                );
            }
            ProjectEvent::MilestonePlanned {
                project_id,
                milestone,
                title,
                indicator,
                target,
                tranche,
                due_on,
                ..
            } => {
                if let Some(a) = self.touch(&project_id, at) {
                    a.milestones.insert(
                        milestone,
                        Milestone {
                            number: milestone,
                            title,
                            indicator,
                            target,
                            tranche,
                            due_on,
                            reported: None,
                            verified: None,
                            released: None,
                        },
                    );
                }
            }
            ProjectEvent::ProgressReported {
                project_id,
                milestone,
                actual,
                ..
            } => {
                if let Some(m) = self
                    .touch(&project_id, at)
                    .and_then(|a| a.milestones.get_mut(&milestone))
                {
                    m.reported = Some(actual);
                }
            }
            ProjectEvent::MilestoneVerified {
                project_id,
                milestone,
                actual,
                released,
                tranche,
                ..
            } => {
                if let Some(m) = self
                    .touch(&project_id, at)
                    .and_then(|a| a.milestones.get_mut(&milestone))
                {
                    m.verified = Some(actual);
                    // Verifications recorded before releases were released the whole tranche.
                    m.released = Some(released.unwrap_or(tranche));
                }
            }
            ProjectEvent::MilestoneRejected { .. } => {}
            ProjectEvent::Closed { project_id, .. } => {
                if let Some(a) = self.touch(&project_id, at) {
                    a.closed = true;
                }
            }
            // Transactions already folded keep the receiver they were paid to.
            ProjectEvent::PartnerChanged {
                project_id,
                partner,
                ..
            } => {
                if let Some(a) = self.touch(&project_id, at) {
                    a.partner = partner;
                }
            }
        }
    }

    fn account(&mut self, event: AccountEvent, on: NaiveDate, id: Uuid, at: i64) {
        use TransactionType::{Disbursement, IncomingFunds, OutgoingCommitment};
        match event {
            AccountEvent::Credited {
                project_id,
                donor_id,
                amount,
                ..
            } => {
                let party = Side::Provider(self.donor(&donor_id));
                if let Some(a) = self.touch(&project_id, at) {
                    let what = "Allocation credited to the project account".to_owned();
                    a.push(IncomingFunds, on, amount, id, party, what);
                }
            }
            AccountEvent::AllocationReturned {
                project_id,
                donor_id,
                amount,
                reason,
                ..
            } => {
                let party = Side::Provider(self.donor(&donor_id));
                if let Some(a) = self.touch(&project_id, at) {
                    let what = format!("Allocation returned to the fund: {reason}");
                    a.push(IncomingFunds, on, negate(amount), id, party, what);
                }
            }
            AccountEvent::DisbursementApproved {
                project_id,
                disbursement_id,
                amount,
                ..
            } => {
                self.approved.insert((project_id, disbursement_id));
                if let Some(a) = self.touch(&project_id, at) {
                    let party = Side::Receiver(a.partner());
                    let what = "Disbursement approved".to_owned();
                    a.push(OutgoingCommitment, on, amount, id, party, what);
                }
            }
            AccountEvent::DisbursementRejected {
                project_id,
                disbursement_id,
                amount,
                reason,
                ..
            } => {
                if self.approved.remove(&(project_id, disbursement_id))
                    && let Some(a) = self.touch(&project_id, at)
                {
                    let party = Side::Receiver(a.partner());
                    let what = format!("Approved disbursement rejected: {reason}");
                    a.push(OutgoingCommitment, on, negate(amount), id, party, what);
                }
            }
            AccountEvent::DisbursementPaid {
                project_id,
                amount,
                paid_on,
                ..
            } => {
                if let Some(a) = self.touch(&project_id, at) {
                    a.first_paid = Some(a.first_paid.map_or(paid_on, |d| d.min(paid_on)));
                    let party = Side::Receiver(a.partner());
                    let what = "Disbursement paid to the implementing partner".to_owned();
                    a.push(Disbursement, paid_on, amount, id, party, what);
                }
            }
            AccountEvent::DisbursementReversed {
                project_id,
                amount,
                reason,
                ..
            } => {
                if let Some(a) = self.touch(&project_id, at) {
                    let party = Side::Receiver(a.partner());
                    let what = format!("Payment reversed: {reason}");
                    a.push(Disbursement, on, negate(amount), id, party, what);
                }
            }
            AccountEvent::DisbursementRefunded {
                project_id,
                amount,
                refunded_on,
                reason,
                ..
            } => {
                if let Some(a) = self.touch(&project_id, at) {
                    let party = Side::Receiver(a.partner());
                    let what = format!("Refunded by the partner: {reason}");
                    a.push(Disbursement, refunded_on, negate(amount), id, party, what);
                }
            }
            // A close is reported through the returns recorded with it, each a transaction of
            // its own (a part of an allocation is its amount, like a whole one).
            AccountEvent::TrancheUnlocked { .. }
            | AccountEvent::DisbursementRequested { .. }
            | AccountEvent::Closed { .. } => {}
        }
    }
}

/// An allocation's commitment, and what of it the pledge released, part by part.
#[derive(Debug, Clone, Copy)]
struct Commitment {
    amount: Money,
    project_amount: Money,
    released: i64,
    project_released: i64,
}

impl Commitment {
    /// The project-currency value of releasing `part` (pledge currency) more: in proportion to
    /// what is released in all, so the parts add up to the commitment once all is released.
    fn release(&mut self, part: Money) -> Money {
        self.released = self.released.saturating_add(part.minor_units());
        let whole = self.amount.minor_units();
        let through = if self.released >= whole {
            self.project_amount.minor_units()
        } else {
            fundtrail_domain::money::mul_div_half_even(
                self.project_amount.minor_units(),
                self.released,
                whole,
            )
            .unwrap_or(self.project_amount.minor_units())
        };
        let value = through.saturating_sub(self.project_released).max(0);
        self.project_released = self.project_released.saturating_add(value);
        Money::new(self.project_amount.currency(), value)
    }
}

fn negate(money: Money) -> Money {
    Money::new(money.currency(), money.minor_units().saturating_neg())
}

#[cfg(test)]
mod tests {
    use fundtrail_domain::Currency;

    use super::*;

    #[test]
    fn parts_of_a_release_add_up_to_the_commitment() {
        // 1 000.00 EUR committed as 1 092.50 USD, released in three parts.
        let mut allocation = Commitment {
            amount: Money::new(Currency::EUR, 100_000),
            project_amount: Money::new(Currency::USD, 109_250),
            released: 0,
            project_released: 0,
        };
        let parts: Vec<i64> = [33_334, 33_333, 33_333]
            .into_iter()
            .map(|part| {
                allocation
                    .release(Money::new(Currency::EUR, part))
                    .minor_units()
            })
            .collect();
        assert_eq!(parts, [36_417, 36_417, 36_416]);
        assert_eq!(parts.iter().sum::<i64>(), 109_250);
        // Nothing is left to release.
        assert_eq!(
            allocation
                .release(Money::new(Currency::EUR, 1))
                .minor_units(),
            0
        );
    }
}
