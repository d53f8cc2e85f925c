//! Bank references the whole fund books once.
//!
//! A bank credit is one receipt, whichever pledge it is booked on, and an outgoing transfer
//! (a disbursement's payment, a refund to a donor) is one payment. Checking that within one
//! stream would let the same credit be booked on two pledges by two officers at once, so the
//! events name the references they take ([`Event::claims`]) and give back
//! ([`Event::releases`]), and the store holds each taken reference for one stream at a time,
//! deciding races in commit order. A reversed receipt gives its bank reference back, so the
//! credit can be booked again where it belongs; payments keep theirs, since a bounced
//! transfer is paid again under a new reference.
//!
//! A receipt is matched by one pool at a time in the same way: a reserved match claims the
//! receipt for its pool, so two pools (a year's and the next, or staff and the process
//! manager at once) never match the same money, and a voided match gives it back.

use crate::account::AccountEvent;
use crate::error::{DomainError, Reason};
use crate::event::Event;
use crate::matching::MatchingEvent;
use crate::pledge::PledgeEvent;

/// What a reference identifies at the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// Money in: the bank's reference of a credit to the fund's account.
    Credit,
    /// Money out: the reference of a transfer from the fund's account.
    Payment,
}

impl ReferenceKind {
    const fn prefix(self) -> &'static str {
        match self {
            ReferenceKind::Credit => "bank-credit:",
            ReferenceKind::Payment => "bank-payment:",
        }
    }

    /// The store's key for `reference`: the same reference however it was typed (case,
    /// surrounding and repeated spaces).
    pub fn claim(self, reference: &str) -> String {
        let words: Vec<&str> = reference.split_whitespace().collect();
        format!("{}{}", self.prefix(), words.join(" ").to_uppercase())
    }
}

impl Event {
    /// The references this event books for the whole fund.
    pub fn claims(&self) -> Vec<String> {
        match self {
            Event::Pledge(PledgeEvent::ContributionReceived { bank_reference, .. }) => {
                vec![ReferenceKind::Credit.claim(bank_reference)]
            }
            Event::Pledge(PledgeEvent::ContributionRefunded {
                payment_reference, ..
            }) => vec![ReferenceKind::Payment.claim(payment_reference)],
            Event::Account(AccountEvent::DisbursementPaid { bank_reference, .. }) => {
                vec![ReferenceKind::Payment.claim(bank_reference)]
            }
            Event::Matching(MatchingEvent::MatchReserved { receipt_id, .. }) => {
                vec![match_claim(receipt_id)]
            }
            _ => Vec::new(),
        }
    }

    /// The references this event gives back.
    pub fn releases(&self) -> Vec<String> {
        match self {
            Event::Pledge(PledgeEvent::ReceiptReversed { bank_reference, .. }) => {
                vec![ReferenceKind::Credit.claim(bank_reference)]
            }
            Event::Matching(MatchingEvent::MatchVoided { receipt_id, .. }) => {
                vec![match_claim(receipt_id)]
            }
            _ => Vec::new(),
        }
    }
}

/// The refusal of a command whose reference the store found held by another stream.
/// `None` for a claim that is not a bank reference. The holder is not named: the caller may
/// be a donor's integration, which has no business learning of others' pledges.
pub fn already_booked(claim: &str) -> Option<DomainError> {
    if let Some(receipt) = claim.strip_prefix(MATCH_PREFIX) {
        return Some(DomainError::refused(
            Reason::MatchAlreadyReserved,
            format!("receipt {receipt} is already matched by another pool; void that match first"),
        ));
    }
    let (reason, what, reference) =
        if let Some(r) = claim.strip_prefix(ReferenceKind::Credit.prefix()) {
            (Reason::DuplicateBankReference, "bank credit", r)
        } else if let Some(r) = claim.strip_prefix(ReferenceKind::Payment.prefix()) {
            (Reason::DuplicatePaymentReference, "payment", r)
        } else {
            return None;
        };
    Some(DomainError::refused(
        reason,
        format!("{what} {reference} is already booked in the fund; a reference is booked once"),
    ))
}

const MATCH_PREFIX: &str = "match-receipt:";

/// The store's key for the match of `receipt_id`, held by the pool that reserved it.
fn match_claim(receipt_id: &crate::ids::ReceiptId) -> String {
    format!("{MATCH_PREFIX}{receipt_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_one_claim_however_it_is_typed() {
        assert_eq!(
            ReferenceKind::Credit.claim("  ch-00 42 "),
            ReferenceKind::Credit.claim("CH-00  42")
        );
        assert_ne!(
            ReferenceKind::Credit.claim("CH-0042"),
            ReferenceKind::Payment.claim("CH-0042")
        );
        assert_ne!(
            ReferenceKind::Credit.claim("CH-0042"),
            ReferenceKind::Credit.claim("CH-00420")
        );
    }

    #[test]
    fn a_held_claim_is_refused_with_its_reason() {
        let credit = already_booked(&ReferenceKind::Credit.claim("x-1")).unwrap();
        assert_eq!(
            credit.reason().map(Reason::code),
            Some("DUPLICATE_BANK_REFERENCE")
        );
        assert!(credit.to_string().contains("X-1"), "{credit}");
        let payment = already_booked(&ReferenceKind::Payment.claim("x-1")).unwrap();
        assert_eq!(
            payment.reason().map(Reason::code),
            Some("DUPLICATE_PAYMENT_REFERENCE")
        );
        assert!(already_booked("other:x").is_none());
        let matched = already_booked("match-receipt:r-1").unwrap();
        assert_eq!(
            matched.reason().map(Reason::code),
            Some("MATCH_ALREADY_RESERVED")
        );
    }
}
