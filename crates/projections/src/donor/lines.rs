//! The lines of a donor statement: each receipt of the donor's money (with the matching it
//! earned), each allocation of it to a project, and each disbursement its money funded.
//!
//! Each line is a document of its own (kinds `receipt`, `allocation` and `disbursement`, key
//! `<donor>/<id>`), so an event rewrites the one line it changes, never a donor's whole list.
//!
//! # Which disbursements a donor's money funded
//!
//! A project account pools the allocations of several donors, and a payment does not say whose
//! money it spent. A disbursement is attributed to the donors in proportion to what each had
//! credited to the account, net of returns, when it was paid (kind `shares`, key the project):
//! a donor with 60 of the 100 credited funded 60% of every payment made then. Shares are
//! rounded half to even per donor, so across donors they may differ from the payment by a
//! minor unit each. A reversal or a refund takes back the same proportion of each donor's
//! share as of the payment.
//!
//! A store written before these lines existed has none for its earlier history: rebuilding the
//! view (`projections rebuild --view donor_statements`) writes them all.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use foldhash::HashMap;
use fundtrail_domain::money::mul_div_half_even;
use fundtrail_domain::{
    AccountEvent, AllocationId, CountryCode, DisbursementId, DonorId, MatchingEvent, Money,
    PledgeEvent, PledgeId, ProjectId, ReceiptId,
};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::doc::{Doc, RestoreError, StoredDoc};
use crate::fold::entry;
use crate::pledge::PledgeDoc;

pub(crate) const KIND_RECEIPT: &str = "receipt";
pub(crate) const KIND_ALLOCATION: &str = "allocation";
pub(crate) const KIND_DISBURSEMENT: &str = "disbursement";
pub(crate) const KIND_SHARES: &str = "shares";

/// One receipt of the donor's money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    #[serde(with = "codec::text")]
    pub pledge: PledgeId,
    /// The earmarked country; `None` for unearmarked money.
    #[serde(with = "codec::text_opt", default)]
    pub country: Option<CountryCode>,
    #[serde(with = "codec::text")]
    pub value_date: NaiveDate,
    #[serde(with = "codec::money")]
    pub amount: Money,
    /// Its value as last booked (a re-rating replaces it).
    #[serde(with = "codec::money")]
    pub reporting_amount: Money,
    #[serde(default)]
    pub bank_reference: String,
    /// Reversed: it no longer counts as received.
    #[serde(default)]
    pub reversed: bool,
    /// The matching it earned, in the pool's currency; `None` while nothing was matched.
    #[serde(default)]
    pub matching: Option<MatchLine>,
}

/// The matching a receipt earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchLine {
    #[serde(with = "codec::money")]
    pub reserved: Money,
    #[serde(with = "codec::money")]
    pub confirmed: Money,
}

/// One allocation of the donor's money to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationLine {
    #[serde(with = "codec::text")]
    pub pledge: PledgeId,
    #[serde(with = "codec::text")]
    pub project: ProjectId,
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    /// The day it was recorded (an allocation has no value date of its own).
    #[serde(with = "codec::text")]
    pub recorded_on: NaiveDate,
    /// In the pledge's currency.
    #[serde(with = "codec::money")]
    pub amount: Money,
    /// In the project's currency.
    #[serde(with = "codec::money")]
    pub project_amount: Money,
    #[serde(with = "codec::money")]
    pub reporting_amount: Money,
    /// What of it went back to the fund so far, in the pledge's currency.
    #[serde(default)]
    pub returned: i64,
}

/// The donor's share of one disbursement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisbursementLine {
    #[serde(with = "codec::text")]
    pub project: ProjectId,
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    #[serde(with = "codec::text")]
    pub paid_on: NaiveDate,
    #[serde(default)]
    pub bank_reference: String,
    /// The whole payment, in the account's currency.
    #[serde(with = "codec::money")]
    pub amount: Money,
    /// The donor's share of it, and of its reporting value.
    #[serde(with = "codec::money")]
    pub share: Money,
    #[serde(with = "codec::money")]
    pub share_reporting: Money,
    /// What of the share was reversed or refunded since, in the account's currency.
    #[serde(default)]
    pub reversed: i64,
    #[serde(default)]
    pub refunded: i64,
}

/// What each donor has credited to one project account, net of returns, in its currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectShares {
    #[serde(with = "codec::text_keys", default)]
    pub credited: BTreeMap<DonorId, i64>,
}

impl ProjectShares {
    fn total(&self) -> i64 {
        self.credited
            .values()
            .fold(0_i64, |sum, v| sum.saturating_add(*v))
    }
}

#[derive(Debug, Clone, Default)]
struct LinesDirty {
    receipts: BTreeSet<(DonorId, ReceiptId)>,
    allocations: BTreeSet<(DonorId, AllocationId)>,
    disbursements: BTreeSet<(DonorId, DisbursementId)>,
    shares: BTreeSet<ProjectId>,
}

/// Every donor's statement lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lines {
    pub(crate) receipts: BTreeMap<DonorId, BTreeMap<ReceiptId, ReceiptLine>>,
    pub(crate) allocations: BTreeMap<DonorId, BTreeMap<AllocationId, AllocationLine>>,
    pub(crate) disbursements: BTreeMap<DonorId, BTreeMap<DisbursementId, DisbursementLine>>,
    shares: HashMap<ProjectId, ProjectShares>,
    dirty: LinesDirty,
}

/// The day of a commit time (microseconds since the Unix epoch).
fn day_of(recorded_at: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(recorded_at)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// `part` of `whole` of `amount`, rounded half to even; all of it when the ratio is undefined.
fn share_of(amount: i64, part: i64, whole: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    mul_div_half_even(amount, part, whole).unwrap_or(amount)
}

impl Lines {
    pub(crate) fn on_pledge(
        &mut self,
        recorded_at: i64,
        event: &PledgeEvent,
        pledges: &HashMap<PledgeId, PledgeDoc>,
    ) {
        match event {
            PledgeEvent::ContributionReceived {
                pledge_id,
                donor_id,
                receipt_id,
                amount,
                value_date,
                reporting_amount,
                bank_reference,
                earmark,
                ..
            } => {
                entry(&mut self.receipts, donor_id).insert(
                    *receipt_id,
                    ReceiptLine {
                        pledge: *pledge_id,
                        country: earmark.country(),
                        value_date: *value_date,
                        amount: *amount,
                        reporting_amount: *reporting_amount,
                        bank_reference: bank_reference.clone(),
                        reversed: false,
                        matching: None,
                    },
                );
                self.dirty.receipts.insert((donor_id.clone(), *receipt_id));
            }
            PledgeEvent::ReceiptReversed {
                donor_id,
                receipt_id,
                ..
            } => {
                if let Some(line) = self.receipt(donor_id, *receipt_id) {
                    line.reversed = true;
                }
            }
            PledgeEvent::ReceiptRerated {
                donor_id,
                receipt_id,
                reporting_amount,
                ..
            } => {
                if let Some(line) = self.receipt(donor_id, *receipt_id) {
                    line.reporting_amount = *reporting_amount;
                }
            }
            PledgeEvent::ContributionAllocated {
                pledge_id,
                donor_id,
                allocation_id,
                project_id,
                country,
                amount,
                project_amount,
                reporting_amount,
                ..
            } => {
                entry(&mut self.allocations, donor_id)
                    .entry(*allocation_id)
                    .or_insert_with(|| AllocationLine {
                        pledge: *pledge_id,
                        project: *project_id,
                        country: *country,
                        recorded_on: day_of(recorded_at),
                        amount: *amount,
                        project_amount: *project_amount,
                        reporting_amount: *reporting_amount,
                        returned: 0,
                    });
                self.dirty
                    .allocations
                    .insert((donor_id.clone(), *allocation_id));
            }
            PledgeEvent::AllocationReleased {
                pledge_id,
                donor_id,
                allocation_id,
                ..
            } => self.sync_returned(donor_id, *pledge_id, *allocation_id, pledges),
            PledgeEvent::Recorded { .. }
            | PledgeEvent::Amended { .. }
            | PledgeEvent::Withdrawn { .. }
            | PledgeEvent::AgreementSigned { .. }
            | PledgeEvent::ContributionRefunded { .. } => {}
        }
    }

    fn receipt(&mut self, donor: &DonorId, receipt: ReceiptId) -> Option<&mut ReceiptLine> {
        let line = self.receipts.get_mut(donor)?.get_mut(&receipt)?;
        self.dirty.receipts.insert((donor.clone(), receipt));
        Some(line)
    }

    /// The allocation's line says what its pledge took back of it: the pledge document works
    /// out partial returns and releases once, and the line follows it.
    fn sync_returned(
        &mut self,
        donor: &DonorId,
        pledge: PledgeId,
        allocation: AllocationId,
        pledges: &HashMap<PledgeId, PledgeDoc>,
    ) {
        let Some(back) = pledges
            .get(&pledge)
            .and_then(|p| p.allocations.get(&allocation))
            .map(|a| a.amount_back)
        else {
            return;
        };
        if let Some(line) = self
            .allocations
            .get_mut(donor)
            .and_then(|lines| lines.get_mut(&allocation))
            && line.returned != back
        {
            line.returned = back;
            self.dirty.allocations.insert((donor.clone(), allocation));
        }
    }

    pub(crate) fn on_matching(&mut self, event: &MatchingEvent) {
        let (donor, receipt, amount, step) = match event {
            MatchingEvent::MatchReserved {
                contributing_donor_id,
                receipt_id,
                amount,
                ..
            } => (contributing_donor_id, receipt_id, amount, 0),
            MatchingEvent::MatchConfirmed {
                contributing_donor_id,
                receipt_id,
                amount,
                ..
            } => (contributing_donor_id, receipt_id, amount, 1),
            MatchingEvent::MatchVoided {
                contributing_donor_id,
                receipt_id,
                amount,
                ..
            } => (contributing_donor_id, receipt_id, amount, 2),
            MatchingEvent::Opened { .. } | MatchingEvent::FundsReceived { .. } => return,
        };
        let Some(line) = self.receipt(donor, *receipt) else {
            return;
        };
        let zero = Money::zero(amount.currency());
        let m = line.matching.get_or_insert(MatchLine {
            reserved: zero,
            confirmed: zero,
        });
        // A match in another currency than the receipt's earlier ones (a pool reconfigured)
        // is not mixed in: the line keeps the first.
        if m.reserved.currency() != amount.currency() {
            return;
        }
        let units = amount.minor_units();
        let (reserved, confirmed) = (m.reserved.minor_units(), m.confirmed.minor_units());
        let (reserved, confirmed) = match step {
            0 => (reserved.saturating_add(units), confirmed),
            1 => (
                reserved.saturating_sub(units),
                confirmed.saturating_add(units),
            ),
            _ => (reserved.saturating_sub(units), confirmed),
        };
        m.reserved = Money::new(amount.currency(), reserved);
        m.confirmed = Money::new(amount.currency(), confirmed);
    }

    pub(crate) fn on_account(
        &mut self,
        event: &AccountEvent,
        pledges: &HashMap<PledgeId, PledgeDoc>,
    ) {
        match event {
            AccountEvent::Credited {
                project_id,
                donor_id,
                amount,
                ..
            } => {
                let shares = self.shares.entry(*project_id).or_default();
                let credited = entry(&mut shares.credited, donor_id);
                *credited = credited.saturating_add(amount.minor_units());
                self.dirty.shares.insert(*project_id);
            }
            AccountEvent::AllocationReturned {
                project_id,
                donor_id,
                pledge_id,
                allocation_id,
                amount,
                ..
            } => {
                let shares = self.shares.entry(*project_id).or_default();
                let credited = entry(&mut shares.credited, donor_id);
                *credited = credited.saturating_sub(amount.minor_units());
                self.dirty.shares.insert(*project_id);
                self.sync_returned(donor_id, *pledge_id, *allocation_id, pledges);
            }
            AccountEvent::DisbursementPaid {
                project_id,
                country,
                disbursement_id,
                amount,
                reporting_amount,
                paid_on,
                bank_reference,
                ..
            } => {
                let Some(shares) = self.shares.get(project_id) else {
                    return;
                };
                let total = shares.total();
                for (donor, credited) in &shares.credited {
                    if *credited <= 0 || total <= 0 {
                        continue;
                    }
                    let line = DisbursementLine {
                        project: *project_id,
                        country: *country,
                        paid_on: *paid_on,
                        bank_reference: bank_reference.clone(),
                        amount: *amount,
                        share: Money::new(
                            amount.currency(),
                            share_of(amount.minor_units(), *credited, total),
                        ),
                        share_reporting: Money::new(
                            reporting_amount.currency(),
                            share_of(reporting_amount.minor_units(), *credited, total),
                        ),
                        reversed: 0,
                        refunded: 0,
                    };
                    entry(&mut self.disbursements, donor).insert(*disbursement_id, line);
                    self.dirty
                        .disbursements
                        .insert((donor.clone(), *disbursement_id));
                }
            }
            AccountEvent::DisbursementReversed {
                project_id,
                disbursement_id,
                amount,
                ..
            } => self.take_back(*project_id, *disbursement_id, *amount, true),
            AccountEvent::DisbursementRefunded {
                project_id,
                disbursement_id,
                amount,
                ..
            } => self.take_back(*project_id, *disbursement_id, *amount, false),
            AccountEvent::Closed { .. }
            | AccountEvent::TrancheUnlocked { .. }
            | AccountEvent::DisbursementRequested { .. }
            | AccountEvent::DisbursementApproved { .. }
            | AccountEvent::DisbursementRejected { .. } => {}
        }
    }

    /// Takes `back` of a payment off each donor's share, in the proportion of the payment.
    fn take_back(
        &mut self,
        project: ProjectId,
        disbursement: DisbursementId,
        back: Money,
        reversed: bool,
    ) {
        let Some(shares) = self.shares.get(&project) else {
            return;
        };
        for donor in shares.credited.keys() {
            let Some(line) = self
                .disbursements
                .get_mut(donor)
                .and_then(|lines| lines.get_mut(&disbursement))
            else {
                continue;
            };
            let part = share_of(
                line.share.minor_units(),
                back.minor_units(),
                line.amount.minor_units(),
            );
            let field = if reversed {
                &mut line.reversed
            } else {
                &mut line.refunded
            };
            *field = field.saturating_add(part);
            self.dirty
                .disbursements
                .insert((donor.clone(), disbursement));
        }
    }

    pub(crate) fn take_changes(&mut self, docs: &mut Vec<Doc>) -> Result<(), serde_json::Error> {
        let dirty = std::mem::take(&mut self.dirty);
        for (donor, id) in &dirty.receipts {
            if let Some(line) = self.receipts.get(donor).and_then(|l| l.get(id)) {
                docs.push(Doc::of(KIND_RECEIPT, format!("{donor}/{id}"), line)?);
            }
        }
        for (donor, id) in &dirty.allocations {
            if let Some(line) = self.allocations.get(donor).and_then(|l| l.get(id)) {
                docs.push(Doc::of(KIND_ALLOCATION, format!("{donor}/{id}"), line)?);
            }
        }
        for (donor, id) in &dirty.disbursements {
            if let Some(line) = self.disbursements.get(donor).and_then(|l| l.get(id)) {
                docs.push(Doc::of(KIND_DISBURSEMENT, format!("{donor}/{id}"), line)?);
            }
        }
        for id in &dirty.shares {
            if let Some(shares) = self.shares.get(id) {
                docs.push(Doc::of(KIND_SHARES, id, shares)?);
            }
        }
        Ok(())
    }

    pub(crate) fn clear_changes(&mut self) {
        self.dirty = LinesDirty::default();
    }

    pub(crate) fn all_docs(&self, docs: &mut Vec<Doc>) -> Result<(), serde_json::Error> {
        fn each<K: std::fmt::Display, V: Serialize>(
            docs: &mut Vec<Doc>,
            kind: &'static str,
            lines: &BTreeMap<DonorId, BTreeMap<K, V>>,
        ) -> Result<(), serde_json::Error> {
            for (donor, lines) in lines {
                for (id, line) in lines {
                    docs.push(Doc::of(kind, format!("{donor}/{id}"), line)?);
                }
            }
            Ok(())
        }
        each(docs, KIND_RECEIPT, &self.receipts)?;
        each(docs, KIND_ALLOCATION, &self.allocations)?;
        each(docs, KIND_DISBURSEMENT, &self.disbursements)?;
        for (id, shares) in &self.shares {
            docs.push(Doc::of(KIND_SHARES, id, shares)?);
        }
        Ok(())
    }

    /// Takes a stored document of one of the lines' kinds; `Ok(false)` for another kind.
    pub(crate) fn restore(&mut self, doc: &StoredDoc) -> Result<bool, RestoreError> {
        fn split<K>(doc: &StoredDoc) -> Result<(DonorId, K), RestoreError>
        where
            K: std::str::FromStr,
            K::Err: std::fmt::Display,
        {
            let (donor, id) = doc
                .key
                .split_once('/')
                .ok_or_else(|| doc.error("the key is not <donor>/<id>"))?;
            let donor: DonorId = donor.parse().map_err(|e| doc.error(e))?;
            let id: K = id.parse().map_err(|e| doc.error(e))?;
            Ok((donor, id))
        }
        match doc.kind.as_str() {
            KIND_RECEIPT => {
                let (donor, id) = split::<ReceiptId>(doc)?;
                entry(&mut self.receipts, &donor).insert(id, doc.value()?);
            }
            KIND_ALLOCATION => {
                let (donor, id) = split::<AllocationId>(doc)?;
                entry(&mut self.allocations, &donor).insert(id, doc.value()?);
            }
            KIND_DISBURSEMENT => {
                let (donor, id) = split::<DisbursementId>(doc)?;
                entry(&mut self.disbursements, &donor).insert(id, doc.value()?);
            }
            KIND_SHARES => {
                self.shares.insert(doc.key()?, doc.value()?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stored_with_only_its_required_fields_reads_back() {
        let receipt: ReceiptLine = serde_json::from_str(
            r#"{"pledge":"01900000-0000-7000-8000-00000000001a","value_date":"2024-01-31",
                "amount":["GBP",5000000],"reporting_amount":["USD",6365000]}"#,
        )
        .unwrap();
        assert_eq!(receipt.country, None);
        assert!(!receipt.reversed && receipt.matching.is_none());
        assert!(receipt.bank_reference.is_empty());
        let shares: ProjectShares = serde_json::from_str("{}").unwrap();
        assert_eq!(shares.total(), 0);
    }

    #[test]
    fn shares_round_half_to_even_and_never_divide_by_zero() {
        assert_eq!(share_of(100_000, 60, 100), 60_000);
        assert_eq!(share_of(5, 1, 2), 2);
        assert_eq!(share_of(7, 1, 2), 4);
        assert_eq!(share_of(100, 1, 0), 0);
    }
}
