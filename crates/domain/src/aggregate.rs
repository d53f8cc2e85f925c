//! The shape every aggregate of the trust fund shares.

use crate::error::DomainError;

/// An aggregate: state folded from its own stream, and a pure decision over it.
///
/// `decide` never mutates; it returns the events that record what happened, or the refusal.
/// `evolve` applies one event and must accept every event `decide` can produce, in any
/// history the store can hold, without failing: history is a fact, not a request.
pub trait Aggregate: Default + Clone {
    type Command;
    type Event;

    /// The stream category: streams are named `<category>-<id>`.
    const CATEGORY: &'static str;

    fn evolve(&mut self, event: &Self::Event);

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// The state after a history.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.evolve(event);
        }
        state
    }
}

/// Counts the events folded into a state, which is the stream version of the next event.
///
/// Corrections reference the version of the event they correct; the aggregate learns those
/// versions by counting as it folds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VersionCounter(u64);

impl VersionCounter {
    /// The version the event being folded now has, then counts it.
    pub fn advance(&mut self) -> u64 {
        let current = self.0;
        self.0 += 1;
        current
    }

    /// How many events were folded; also the version the next event will get.
    pub fn next(self) -> u64 {
        self.0
    }
}

/// Checks a free-text field: trimmed, non-empty when `required`, bounded, printable.
pub(crate) fn text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<String, DomainError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Checks that an amount is strictly positive.
pub(crate) fn positive(field: &str, amount: crate::Money) -> Result<crate::Money, DomainError> {
    if amount.is_positive() {
        Ok(amount)
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be a positive amount, got {amount}"),
        ))
    }
}
