//! What every view remembers of a pledge: enough to value its promised money and to undo its
//! allocations exactly once.
//!
//! # Valuing promises in another currency
//!
//! Receipts and allocations carry their reporting-currency value; a pledge and its contribution
//! agreement do not (no money has moved, so no rate was booked). The views value the pledged,
//! committed and outstanding amounts of a pledge in another currency at the pledge's own
//! **average booked receipt rate** (its receipts' reporting value ÷ their amount) once it has
//! received money, so a fully received pledge reports exactly what its receipts were booked
//! at; until then that portion is reported unrated (`reporting_complete = false`) rather than
//! at a rate nobody recorded. A pledge in the reporting currency is its own value.

use std::collections::BTreeMap;

use fundtrail_domain::money::mul_div_half_even;
use fundtrail_domain::{
    AllocationId, CountryCode, Currency, DonorId, Money, PledgeEvent, PledgeId, ProjectId,
};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::figure::{Part, Reporting};

/// One allocation of a pledge's money to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationDoc {
    #[serde(with = "codec::text")]
    pub project: ProjectId,
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    /// In the pledge's currency.
    #[serde(with = "codec::money")]
    pub amount: Money,
    /// In the project's currency.
    #[serde(with = "codec::money")]
    pub project_amount: Money,
    #[serde(with = "codec::money")]
    pub reporting_amount: Money,
    /// False once all of the allocation was returned or released, whichever came first.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub active: bool,
    /// What of it was taken back so far (returned in parts), in the pledge's currency, the
    /// project's and the reporting currency.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub amount_back: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub project_back: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reporting_back: i64,
    /// What the pledge released of it so far, and the value of that.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub released_amount: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub released_reporting: i64,
}

impl AllocationDoc {
    /// Takes back the allocation up to `through` (pledge, project and reporting minor units
    /// back in all), beyond what was already taken back: the part as a document of its own, or
    /// `None` when nothing more is back. The account's return and the pledge's release of the
    /// same part say the same, so whichever comes second changes nothing.
    fn take_back(&mut self, through: [i64; 3]) -> Option<AllocationDoc> {
        let whole = [
            self.amount.minor_units(),
            self.project_amount.minor_units(),
            self.reporting_amount.minor_units(),
        ];
        let back = [self.amount_back, self.project_back, self.reporting_back];
        let mut part = [0_i64; 3];
        for i in 0..3 {
            part[i] = through[i].min(whole[i]).saturating_sub(back[i]).max(0);
        }
        if !self.active || part.iter().all(|p| *p == 0) {
            return None;
        }
        self.amount_back = back[0].saturating_add(part[0]);
        self.project_back = back[1].saturating_add(part[1]);
        self.reporting_back = back[2].saturating_add(part[2]);
        self.active = [self.amount_back, self.project_back, self.reporting_back] != whole;
        Some(AllocationDoc {
            amount: Money::new(self.amount.currency(), part[0]),
            project_amount: Money::new(self.project_amount.currency(), part[1]),
            reporting_amount: Money::new(self.reporting_amount.currency(), part[2]),
            active: false,
            amount_back: 0,
            project_back: 0,
            reporting_back: 0,
            released_amount: 0,
            released_reporting: 0,
            ..self.clone()
        })
    }

    /// What is back once the account keeps `remaining` (project currency; `None`: nothing), in
    /// proportion, as the pledge works it out.
    fn through_returned(&self, remaining: Option<Money>) -> [i64; 3] {
        let whole = self.project_amount.minor_units();
        let through = whole.saturating_sub(remaining.map_or(0, |r| r.minor_units()));
        let of = |total: Money| mul_div_half_even(total.minor_units(), through, whole);
        [
            of(self.amount).unwrap_or(self.amount.minor_units()),
            through,
            of(self.reporting_amount).unwrap_or(self.reporting_amount.minor_units()),
        ]
    }

    /// The allocation as the donor gave it: in the pledge's currency.
    pub fn source_part(&self, reporting: Reporting) -> Part {
        reporting.booked(self.amount, self.reporting_amount)
    }

    /// The allocation as the project holds it: in the project's currency.
    pub fn project_part(&self, reporting: Reporting) -> Part {
        reporting.booked(self.project_amount, self.reporting_amount)
    }
}

// Documents leave out what is usual, to keep the many pledge documents short.
#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes fields by reference"
)]
fn is_true(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

/// A pledge's promised amounts, valued as the module documentation says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PledgeFigures {
    pub pledged: Part,
    pub committed: Part,
    /// Pledged and not yet received, while the pledge is open.
    pub outstanding: Part,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PledgeDoc {
    #[serde(with = "codec::text")]
    pub donor: DonorId,
    #[serde(with = "codec::text")]
    pub currency: Currency,
    /// The earmarked country; `None` for unearmarked money, which belongs to no country until
    /// it is allocated.
    #[serde(with = "codec::text_opt", default)]
    pub country: Option<CountryCode>,
    pub pledged: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<i64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub received: i64,
    /// The receipts' reporting value.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub received_reporting: i64,
    /// Paid back to the donor.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refunded: i64,
    /// Set when a receipt had no value in the reporting currency: the booked rate is unknown.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unrated_receipts: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub withdrawn: bool,
    #[serde(
        with = "codec::text_keys",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocations: BTreeMap<AllocationId, AllocationDoc>,
}

/// What a pledge event did beyond changing the promised amounts.
#[derive(Debug)]
pub enum PledgeChange<'a> {
    None,
    /// Received money, or a correction of it: a reversal takes a receipt out (a negative part),
    /// a re-rating changes its value only (a part with no amount).
    Received(Part),
    /// Paid back to the donor.
    Refunded(Part),
    Allocated(&'a AllocationDoc),
    /// An allocation taken back, the first time (a release after a return changes nothing).
    Released(AllocationDoc),
}

impl PledgeDoc {
    pub fn recorded(donor: DonorId, amount: Money, country: Option<CountryCode>) -> Self {
        Self {
            donor,
            currency: amount.currency(),
            country,
            pledged: amount.minor_units(),
            agreement: None,
            received: 0,
            received_reporting: 0,
            refunded: 0,
            unrated_receipts: false,
            withdrawn: false,
            allocations: BTreeMap::new(),
        }
    }

    pub fn figures(&self, reporting: Reporting) -> PledgeFigures {
        let committed = self.agreement.unwrap_or(0).min(self.pledged);
        let outstanding = if self.withdrawn {
            0
        } else {
            self.pledged.saturating_sub(self.received).max(0)
        };
        PledgeFigures {
            pledged: self.value(self.pledged, reporting),
            committed: self.value(committed, reporting),
            outstanding: self.value(outstanding, reporting),
        }
    }

    fn value(&self, amount: i64, reporting: Reporting) -> Part {
        if self.currency == reporting.currency() {
            return Part::rated(amount, amount);
        }
        if self.received > 0
            && !self.unrated_receipts
            && let Some(value) = mul_div_half_even(amount, self.received_reporting, self.received)
        {
            return Part::rated(amount, value);
        }
        Part::unrated(amount)
    }

    /// Applies an event of this pledge (other than its recording).
    pub fn apply(&mut self, event: &PledgeEvent, reporting: Reporting) -> PledgeChange<'_> {
        match event {
            PledgeEvent::Recorded { .. } => PledgeChange::None,
            PledgeEvent::Amended { amount, .. } => {
                self.pledged = amount.minor_units();
                PledgeChange::None
            }
            PledgeEvent::Withdrawn { cancelled, .. } => {
                self.pledged = self.pledged.saturating_sub(cancelled.minor_units());
                self.withdrawn = true;
                PledgeChange::None
            }
            PledgeEvent::AgreementSigned { amount, .. } => {
                self.agreement = Some(amount.minor_units());
                PledgeChange::None
            }
            PledgeEvent::ContributionReceived {
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                self.received = self.received.saturating_add(part.amount);
                self.received_reporting = self.received_reporting.saturating_add(part.reporting);
                self.unrated_receipts |= part.unrated != 0;
                PledgeChange::Received(part)
            }
            PledgeEvent::ContributionAllocated {
                allocation_id,
                project_id,
                country,
                amount,
                project_amount,
                reporting_amount,
                ..
            } => {
                let doc = self
                    .allocations
                    .entry(*allocation_id)
                    .or_insert_with(|| AllocationDoc {
                        project: *project_id,
                        country: *country,
                        amount: *amount,
                        project_amount: *project_amount,
                        reporting_amount: *reporting_amount,
                        active: true,
                        amount_back: 0,
                        project_back: 0,
                        reporting_back: 0,
                        released_amount: 0,
                        released_reporting: 0,
                    });
                PledgeChange::Allocated(doc)
            }
            PledgeEvent::AllocationReleased {
                allocation_id,
                amount,
                reporting_amount,
                ..
            } => self
                .released(*allocation_id, *amount, *reporting_amount)
                .map_or(PledgeChange::None, PledgeChange::Released),
            PledgeEvent::ReceiptReversed {
                amount,
                reporting_amount,
                ..
            } => {
                let booked = reporting.booked(*amount, *reporting_amount);
                let part = Part::default().minus(booked);
                self.received = self.received.saturating_add(part.amount);
                self.received_reporting = self.received_reporting.saturating_add(part.reporting);
                PledgeChange::Received(part)
            }
            PledgeEvent::ReceiptRerated {
                amount,
                previous_reporting_amount,
                reporting_amount,
                ..
            } => {
                // The receipt's money stays; only its value changes.
                let before = reporting.booked(*amount, *previous_reporting_amount);
                let after = reporting.booked(*amount, *reporting_amount);
                let part = after.minus(before);
                self.received_reporting = self.received_reporting.saturating_add(part.reporting);
                PledgeChange::Received(part)
            }
            PledgeEvent::ContributionRefunded {
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                self.refunded = self.refunded.saturating_add(part.amount);
                PledgeChange::Refunded(part)
            }
        }
    }

    /// Takes back what the project account returned of an allocation (whole, or the part
    /// that leaves `remaining` on the account); `None` when that was taken back already.
    pub fn returned(
        &mut self,
        allocation_id: AllocationId,
        remaining: Option<Money>,
    ) -> Option<AllocationDoc> {
        let doc = self.allocations.get_mut(&allocation_id)?;
        let through = doc.through_returned(remaining);
        doc.take_back(through)
    }

    /// Takes back what the pledge released of an allocation (`amount` worth `reporting`, added
    /// to what it released before); `None` when that was taken back already.
    fn released(
        &mut self,
        allocation_id: AllocationId,
        amount: Money,
        reporting: Money,
    ) -> Option<AllocationDoc> {
        let doc = self.allocations.get_mut(&allocation_id)?;
        // The pledge releases in proportion to what the account returned; its own totals say
        // how far, and the project's currency follows in the same proportion.
        let amount_through = doc.released_amount.saturating_add(amount.minor_units());
        let reporting_through = doc
            .released_reporting
            .saturating_add(reporting.minor_units());
        doc.released_amount = amount_through;
        doc.released_reporting = reporting_through;
        let project_through = mul_div_half_even(
            doc.project_amount.minor_units(),
            amount_through,
            doc.amount.minor_units(),
        )
        .unwrap_or(doc.project_amount.minor_units());
        doc.take_back([amount_through, project_through, reporting_through])
    }
}

/// The pledge an event is about.
pub fn pledge_id(event: &PledgeEvent) -> PledgeId {
    match event {
        PledgeEvent::Recorded { pledge_id, .. }
        | PledgeEvent::Amended { pledge_id, .. }
        | PledgeEvent::Withdrawn { pledge_id, .. }
        | PledgeEvent::AgreementSigned { pledge_id, .. }
        | PledgeEvent::ContributionReceived { pledge_id, .. }
        | PledgeEvent::ContributionAllocated { pledge_id, .. }
        | PledgeEvent::AllocationReleased { pledge_id, .. }
        | PledgeEvent::ReceiptReversed { pledge_id, .. }
        | PledgeEvent::ReceiptRerated { pledge_id, .. }
        | PledgeEvent::ContributionRefunded { pledge_id, .. } => *pledge_id,
    }
}
