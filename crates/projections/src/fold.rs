//! Pieces every view's fold shares.

use std::collections::BTreeMap;

use fundtrail_domain::{CountryCode, Currency, DonorId, MatchingEvent, Money};

use crate::figure::{Figure, Part};

/// The value under `key`, inserted as the default first; the key is cloned only then.
pub(crate) fn entry<'a, K: Ord + Clone, V: Default>(
    map: &'a mut BTreeMap<K, V>,
    key: &K,
) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.clone(), V::default());
    }
    match map.get_mut(key) {
        Some(value) => value,
        None => unreachable!("the key was inserted above"),
    }
}

/// How a matching event moves money between reserved and confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchStep {
    Reserve,
    Confirm,
    Void,
}

impl MatchStep {
    pub(crate) fn apply(
        self,
        reserved: &mut Figure,
        confirmed: &mut Figure,
        currency: Currency,
        part: Part,
    ) {
        match self {
            Self::Reserve => reserved.add(currency, part),
            Self::Confirm => {
                reserved.sub(currency, part);
                confirmed.add(currency, part);
            }
            Self::Void => reserved.sub(currency, part),
        }
    }
}

/// A match reserved, confirmed or voided.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatchChange<'a> {
    pub country: CountryCode,
    pub contributing: &'a DonorId,
    pub matching: &'a DonorId,
    pub amount: Money,
    pub step: MatchStep,
}

pub(crate) fn match_change(event: &MatchingEvent) -> Option<MatchChange<'_>> {
    let (country, contributing, matching, amount, step) = match event {
        MatchingEvent::Opened { .. } | MatchingEvent::FundsReceived { .. } => return None,
        MatchingEvent::MatchReserved {
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            ..
        } => (
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            MatchStep::Reserve,
        ),
        MatchingEvent::MatchConfirmed {
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            ..
        } => (
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            MatchStep::Confirm,
        ),
        MatchingEvent::MatchVoided {
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            ..
        } => (
            country,
            contributing_donor_id,
            matching_donor_id,
            amount,
            MatchStep::Void,
        ),
    };
    Some(MatchChange {
        country: *country,
        contributing,
        matching,
        amount: *amount,
        step,
    })
}

/// Adds a part, or takes it back.
pub(crate) fn signed(figure: &mut Figure, currency: Currency, part: Part, add: bool) {
    if add {
        figure.add(currency, part);
    } else {
        figure.sub(currency, part);
    }
}
