//! The views together: which ones there are, decoding stored events once for all of them.

use std::fmt;
use std::str::FromStr;

use fundtrail_domain::Event;
use fundtrail_proto::DecodeError;
use fundtrail_store::RecordedEvent;

use crate::country::CountryFunding;
use crate::doc::{Doc, Mark, View};
use crate::donor::DonorStatements;
use crate::figure::Reporting;
use crate::overview::FundOverview;

/// One of the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViewName {
    CountryFunding,
    DonorStatements,
    FundOverview,
}

impl ViewName {
    pub const ALL: [ViewName; 3] = [
        ViewName::CountryFunding,
        ViewName::DonorStatements,
        ViewName::FundOverview,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CountryFunding => CountryFunding::NAME,
            Self::DonorStatements => DonorStatements::NAME,
            Self::FundOverview => FundOverview::NAME,
        }
    }
}

impl fmt::Display for ViewName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A view name nobody knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown view {0:?}: use country_funding, donor_statements or fund_overview")]
pub struct UnknownView(pub String);

impl FromStr for ViewName {
    type Err = UnknownView;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normal = text.trim().to_ascii_lowercase().replace('-', "_");
        match normal.as_str() {
            "country_funding" | "country" | "countries" => Ok(Self::CountryFunding),
            "donor_statements" | "donor" | "donors" => Ok(Self::DonorStatements),
            "fund_overview" | "overview" | "fund" => Ok(Self::FundOverview),
            _ => Err(UnknownView(text.to_owned())),
        }
    }
}

/// A stored event that could not be folded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {source}")]
pub struct FoldError {
    pub position: u64,
    pub source: DecodeError,
}

/// An event ready for the folds: where it is in the history, and what it says (`None` for an
/// event type this version does not know, which concerns none of these views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub mark: Mark,
    pub event: Option<Event>,
}

/// Decodes a stored event for the folds. An unknown event type (recorded by a newer version)
/// is passed on as `None`, so the views move past it; a known type that does not decode is an
/// error, for the caller to make visible: figures folded on without it leave it out (the
/// projector parks it in the "needs attention" queue and re-drives it).
pub fn decode(event: &RecordedEvent) -> Result<Decoded, FoldError> {
    let mark = Mark {
        position: event.position,
        recorded_at: event.recorded_at,
    };
    decode_parts(mark, &event.event_type, &event.payload)
}

/// [`decode`] from the parts of a stored event the folds use.
pub fn decode_parts(mark: Mark, event_type: &str, payload: &[u8]) -> Result<Decoded, FoldError> {
    match fundtrail_proto::decode(event_type, payload) {
        Ok(decoded) => Ok(Decoded {
            mark,
            event: Some(decoded),
        }),
        Err(DecodeError::UnknownType(_)) => Ok(Decoded { mark, event: None }),
        Err(source) => Err(FoldError {
            position: mark.position,
            source,
        }),
    }
}

/// A view behind an object-safe face, so a set of views can be folded and written together.
pub trait Fold: Send + Sync {
    fn name(&self) -> &'static str;
    fn mark(&self) -> Mark;
    /// Folds the event in if the view has not seen its position yet.
    fn fold(&mut self, decoded: &Decoded);
    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error>;
    fn clear_changes(&mut self);
    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error>;
}

impl<V: View> Fold for V {
    fn name(&self) -> &'static str {
        V::NAME
    }

    fn mark(&self) -> Mark {
        View::mark(self)
    }

    fn fold(&mut self, decoded: &Decoded) {
        if decoded.mark.position <= View::mark(self).position {
            return;
        }
        match &decoded.event {
            Some(event) => self.apply(decoded.mark, event),
            None => self.skip(decoded.mark),
        }
    }

    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error> {
        View::take_changes(self)
    }

    fn clear_changes(&mut self) {
        View::clear_changes(self);
    }

    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error> {
        View::all_docs(self)
    }
}

/// The three views, folded from one pass over the history.
#[derive(Debug, Clone)]
pub struct Views {
    pub country: CountryFunding,
    pub donors: DonorStatements,
    pub overview: FundOverview,
}

impl Views {
    pub fn new(reporting: Reporting) -> Self {
        Self {
            country: CountryFunding::new(reporting),
            donors: DonorStatements::new(reporting),
            overview: FundOverview::new(reporting),
        }
    }

    /// Folds one event into every view that has not seen it.
    pub fn apply(&mut self, decoded: &Decoded) {
        self.country.fold(decoded);
        self.donors.fold(decoded);
        self.overview.fold(decoded);
    }

    /// Decodes and folds one stored event.
    pub fn apply_recorded(&mut self, event: &RecordedEvent) -> Result<(), FoldError> {
        self.apply(&decode(event)?);
        Ok(())
    }

    /// Forgets which documents changed (folds that are not persisted: "as of" answers).
    pub fn clear_changes(&mut self) {
        View::clear_changes(&mut self.country);
        View::clear_changes(&mut self.donors);
        View::clear_changes(&mut self.overview);
    }
}
