//! How each kind of domain value sits in a payload field, and is checked again on the way back.
//!
//! A value's domain type decides its wire form, so an event's mapping only names its fields.

use chrono::NaiveDate;
use fundtrail_domain::{
    Actor, AllocationId, CountryCode, DisbursementId, DomainError, DonorId, DonorKind, Earmark,
    ExchangeRate, FundingModality, Indicator, MatchRatio, MatchingPoolId, Money, Partner, PledgeId,
    ProjectId, ReceiptId, ReleaseRule,
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

// Empty on events recorded before the field was (see each event's field).
macro_rules! opt_fields {
    ($($domain:ty => |$field:ident, $text:ident| $parse:expr),* $(,)?) => {
        fields! {$(
            Option<$domain> => String {
                to: |value| value.as_ref().map(ToString::to_string).unwrap_or_default(),
                from: |$field, $text| if $text.is_empty() { Ok(None) } else { $parse.map(Some) },
            }
        )*}
    };
}

opt_fields!(
    PledgeId => |_field, text| PledgeId::parse(text),
    ReceiptId => |_field, text| ReceiptId::parse(text),
    NaiveDate => |field, text| wire::date(field, text),
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
    ExchangeRate => Option<v1::ExchangeRate> {
        to: |rate| Some(rate.into()),
        from: |field, rate| wire::rate(field, rate.as_ref())?
            .ok_or_else(|| DomainError::invalid(field, "is required")),
    }
    // Empty on events recorded before the actor was recorded with them.
    Option<Actor> => String {
        to: |actor| actor.as_ref().map(ToString::to_string).unwrap_or_default(),
        from: |field, text| if text.is_empty() {
            Ok(None)
        } else {
            wire::actor(field, text).map(Some)
        },
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
    // Absent only on events recorded before the amount was (see each event's field).
    Option<Money> => Option<v1::Money> {
        to: |money| money.map(Into::into),
        from: |field, money| wire::opt_money(field, money.as_ref()),
    }
    // UNSPECIFIED is how a registration before the modality existed reads: advance-funded.
    FundingModality => i32 {
        to: |funding| match funding {
            FundingModality::AdvanceFunded => v1::FundingModality::AdvanceFunded,
            FundingModality::ResultsBased => v1::FundingModality::ResultsBased,
        }
        .into(),
        from: |field, value| match v1::FundingModality::try_from(*value) {
            Ok(v1::FundingModality::Unspecified | v1::FundingModality::AdvanceFunded) => {
                Ok(FundingModality::AdvanceFunded)
            }
            Ok(v1::FundingModality::ResultsBased) => Ok(FundingModality::ResultsBased),
            Err(_) => Err(DomainError::invalid(field, format!("unknown funding modality {value}"))),
        },
    }
    // UNSPECIFIED is how a milestone planned before release rules existed reads: the whole
    // tranche on verification, which is also the only rule written as UNSPECIFIED.
    ReleaseRule => i32 {
        to: |rule| match rule {
            ReleaseRule::WholeOnVerification => v1::ReleaseRule::Unspecified,
            ReleaseRule::Proportional => v1::ReleaseRule::Proportional,
            ReleaseRule::AllOrNothing => v1::ReleaseRule::AllOrNothing,
        }
        .into(),
        from: |field, value| match v1::ReleaseRule::try_from(*value) {
            Ok(v1::ReleaseRule::Unspecified) => Ok(ReleaseRule::WholeOnVerification),
            Ok(v1::ReleaseRule::Proportional) => Ok(ReleaseRule::Proportional),
            Ok(v1::ReleaseRule::AllOrNothing) => Ok(ReleaseRule::AllOrNothing),
            Err(_) => Err(DomainError::invalid(field, format!("unknown release rule {value}"))),
        },
    }
}
