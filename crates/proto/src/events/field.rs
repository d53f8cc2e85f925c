//! How each kind of domain value sits in a payload field, and is checked again on the way back.
//!
//! A value's domain type decides its wire form, so an event's mapping only names its fields.

use chrono::NaiveDate;
use fundtrail_domain::{
    Actor, AllocationId, CountryCode, DisbursementId, DomainError, DonorId, DonorKind, Earmark,
    ExchangeRate, Indicator, MatchRatio, MatchingPoolId, Money, Partner, PledgeId, ProjectId,
    ReceiptId,
};
use uuid::Uuid;

use crate::v1;
use crate::wire::{self, date_text};

pub(super) trait Field: Sized {
    /// The type prost generates for the payload field.
    type Wire;

    fn to_wire(&self) -> Self::Wire;

    /// `field` names the payload field in the error when the value makes no sense.
    fn from_wire(field: &str, wire: &Self::Wire) -> Result<Self, DomainError>;
}

macro_rules! fields {
    ($(
        $domain:ty => $wire:ty {
            to: |$value:ident| $to:expr,
            from: |$field:pat_param, $stored:ident| $from:expr $(,)?
        }
    )*) => {$(
        impl Field for $domain {
            type Wire = $wire;

            fn to_wire(&self) -> $wire {
                let $value = self;
                $to
            }

            fn from_wire($field: &str, $stored: &$wire) -> Result<Self, DomainError> {
                $from
            }
        }
    )*};
}

// Ids are their text; their own parse errors already say what an id looks like.
macro_rules! id_fields {
    ($($id:ty),*) => {
        fields! {$(
            $id => String {
                to: |id| id.to_string(),
                from: |_, text| <$id>::parse(text),
            }
        )*}
    };
}

id_fields!(
    AllocationId,
    DisbursementId,
    DonorId,
    MatchingPoolId,
    PledgeId,
    ProjectId,
    ReceiptId
);

fields! {
    String => String { to: |text| text.clone(), from: |_, text| Ok(text.clone()) }
    bool => bool { to: |flag| *flag, from: |_, flag| Ok(*flag) }
    u32 => u32 { to: |number| *number, from: |_, number| Ok(*number) }
    u64 => u64 { to: |number| *number, from: |_, number| Ok(*number) }
    // A milestone number, where 0 means "none".
    Option<u32> => u32 {
        to: |milestone| milestone.unwrap_or(0),
        from: |_, number| Ok(wire::milestone(*number)),
    }
    Uuid => String {
        to: |id| id.to_string(),
        from: |field, text| Uuid::parse_str(text)
            .map_err(|_| DomainError::invalid(field, format!("{text:?} is not a UUID"))),
    }
    Actor => String {
        to: |actor| actor.to_string(),
        from: |field, text| wire::actor(field, text),
    }
    NaiveDate => String {
        to: |date| date_text(*date),
        from: |field, text| wire::date(field, text),
    }
    CountryCode => String {
        to: |country| country.to_string(),
        from: |field, code| wire::country(field, code),
    }
    Vec<CountryCode> => Vec<String> {
        to: |countries| countries.iter().map(ToString::to_string).collect(),
        from: |field, codes| wire::countries(field, codes),
    }
    Money => Option<v1::Money> {
        to: |money| Some((*money).into()),
        from: |field, money| wire::money(field, money.as_ref()),
    }
    Option<ExchangeRate> => Option<v1::ExchangeRate> {
        to: |rate| rate.as_ref().map(Into::into),
        from: |field, rate| wire::rate(field, rate.as_ref()),
    }
    MatchRatio => Option<v1::MatchRatio> {
        to: |ratio| Some((*ratio).into()),
        from: |field, ratio| wire::ratio(field, ratio.as_ref()),
    }
    Earmark => Option<v1::Earmark> {
        to: |earmark| Some(earmark.into()),
        from: |field, earmark| wire::earmark(field, earmark.as_ref()),
    }
    Indicator => Option<v1::Indicator> {
        to: |indicator| Some(indicator.into()),
        from: |field, indicator| wire::indicator(field, indicator.as_ref()),
    }
    Partner => Option<v1::ImplementingPartner> {
        to: |partner| Some(partner.into()),
        from: |field, partner| wire::partner(field, partner.as_ref()),
    }
    DonorKind => i32 {
        to: |kind| v1::DonorKind::from(*kind).into(),
        from: |field, kind| wire::donor_kind(field, *kind),
    }
}
