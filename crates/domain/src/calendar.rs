//! The fund's accounting calendar: which periods finance has closed.
//!
//! One stream for the fund (`calendar-fund`). Closing a period records the last day closed
//! (`through`, a month end: closing a month, or a fiscal year at its last month end); every
//! day up to it is then closed. The closed-through date only moves forward and a closed period
//! is never reopened: a mistake found in a closed period is corrected by an adjustment dated in
//! the open period, which names the entry it corrects, so the figures reported for a closed
//! period never change under the reader. A period is closed only once it has ended.
//!
//! Every entry with a date of its own (a receipt's value date, a refund's value date, a
//! disbursement's payment or refund date) is checked with [`Calendar::admit`]: a date on or
//! before the closed-through date is refused as `PERIOD_CLOSED`. Corrections without a date
//! of their own (a receipt reversed or re-rated, a payment reversed) are dated the day they
//! are made, which is always in the open period, since no period closes before it has ended;
//! they may correct an entry of a closed period, which they name (`corrects_version`).
//!
//! Dates that are not entries of the books are not checked: when a pledge was made or an
//! agreement signed is the donor's paperwork, and a pledge is a promise, not money moved.

use chrono::{Datelike, NaiveDate};

use crate::aggregate::{Aggregate, text};
use crate::error::{DomainError, Reason};
use crate::ids::Actor;

/// The longest reason a close records, in characters.
const MAX_REASON: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarEvent {
    /// Every day up to `through` is closed to entries.
    PeriodClosed {
        through: NaiveDate,
        reason: String,
        closed_by: Actor,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarCommand {
    ClosePeriod {
        /// The last day closed: a month end.
        through: NaiveDate,
        reason: String,
        closed_by: Actor,
        /// The day the close is made, by the service's clock: a period still running (or
        /// ending today) cannot be closed.
        today: NaiveDate,
    },
}

/// The closed periods of the fund's books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    closed_through: Option<NaiveDate>,
    closes: Vec<ClosedPeriod>,
}

/// One close, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPeriod {
    pub through: NaiveDate,
    pub reason: String,
    pub closed_by: Actor,
}

/// Whether `date` is the last day of its month.
pub fn is_month_end(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

impl Calendar {
    /// The fund has one calendar.
    pub const STREAM: &'static str = "calendar-fund";

    /// The last day closed, if any period is.
    pub fn closed_through(&self) -> Option<NaiveDate> {
        self.closed_through
    }

    /// Every close, oldest first.
    pub fn closes(&self) -> &[ClosedPeriod] {
        &self.closes
    }

    /// Whether `date` is in a closed period.
    pub fn is_closed(&self, date: NaiveDate) -> bool {
        self.closed_through.is_some_and(|through| date <= through)
    }

    /// Admits an entry dated `date` (the request field `field`) only in the open period.
    pub fn admit(&self, field: &str, date: NaiveDate) -> Result<(), DomainError> {
        match self.closed_through {
            Some(through) if date <= through => Err(DomainError::refused(
                Reason::PeriodClosed,
                format!(
                    "{field} {date} is in a closed period (closed through {through}); \
                     record it in the open period, as an adjustment naming what it corrects"
                ),
            )),
            _ => Ok(()),
        }
    }
}

impl Aggregate for Calendar {
    type Command = CalendarCommand;
    type Event = CalendarEvent;
    const CATEGORY: &'static str = "calendar";

    fn evolve(&mut self, event: &CalendarEvent) {
        match event {
            CalendarEvent::PeriodClosed {
                through,
                reason,
                closed_by,
            } => {
                // Only forward, whatever a history holds: a close never reopens a period.
                self.closed_through =
                    Some(self.closed_through.map_or(*through, |t| t.max(*through)));
                self.closes.push(ClosedPeriod {
                    through: *through,
                    reason: reason.clone(),
                    closed_by: closed_by.clone(),
                });
            }
        }
    }

    fn decide(&self, command: CalendarCommand) -> Result<Vec<CalendarEvent>, DomainError> {
        match command {
            CalendarCommand::ClosePeriod {
                through,
                reason,
                closed_by,
                today,
            } => {
                if !is_month_end(through) {
                    return Err(DomainError::invalid(
                        "through",
                        format!(
                            "{through} is not a month end; periods close at a month's last day"
                        ),
                    ));
                }
                let reason = text("reason", &reason, MAX_REASON, true)?;
                if let Some(closed) = self.closed_through
                    && through <= closed
                {
                    return Err(DomainError::refused(
                        Reason::PeriodAlreadyClosed,
                        format!(
                            "the books are closed through {closed} already; \
                             a closed period is never reopened"
                        ),
                    ));
                }
                if through >= today {
                    return Err(DomainError::refused(
                        Reason::PeriodNotEnded,
                        format!("the period through {through} has not ended (today is {today})"),
                    ));
                }
                Ok(vec![CalendarEvent::PeriodClosed {
                    through,
                    reason,
                    closed_by,
                }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn officer() -> Actor {
        Actor::parse("controller@fund.example").unwrap()
    }

    fn close(through: &str, today: &str) -> CalendarCommand {
        CalendarCommand::ClosePeriod {
            through: date(through),
            reason: "month-end close".into(),
            closed_by: officer(),
            today: date(today),
        }
    }

    fn closed(through: &str) -> Calendar {
        let mut calendar = Calendar::default();
        for event in calendar.decide(close(through, "2030-01-01")).unwrap() {
            calendar.evolve(&event);
        }
        calendar
    }

    #[test]
    fn a_month_end_in_the_past_closes() {
        let events = Calendar::default()
            .decide(close("2025-06-30", "2025-07-01"))
            .unwrap();
        assert_eq!(
            events,
            [CalendarEvent::PeriodClosed {
                through: date("2025-06-30"),
                reason: "month-end close".into(),
                closed_by: officer(),
            }]
        );
        let calendar = Calendar::fold(&events);
        assert_eq!(calendar.closed_through(), Some(date("2025-06-30")));
        assert!(calendar.is_closed(date("2025-06-30")));
        assert!(!calendar.is_closed(date("2025-07-01")));
    }

    #[test]
    fn a_period_not_ended_is_not_closed() {
        for today in ["2025-06-30", "2025-06-15", "2025-05-01"] {
            let refused = Calendar::default()
                .decide(close("2025-06-30", today))
                .unwrap_err();
            assert_eq!(refused.reason(), Some(Reason::PeriodNotEnded), "{today}");
        }
    }

    #[test]
    fn only_month_ends_close() {
        let refused = Calendar::default()
            .decide(close("2025-06-29", "2025-08-01"))
            .unwrap_err();
        assert_eq!(refused.reason_code(), "INVALID_ARGUMENT");
        assert!(is_month_end(date("2024-02-29")));
        assert!(!is_month_end(date("2025-02-28").pred_opt().unwrap()));
        assert!(is_month_end(date("2025-12-31")));
    }

    #[test]
    fn the_closed_through_date_only_moves_forward() {
        let calendar = closed("2025-06-30");
        for through in ["2025-06-30", "2025-05-31", "2024-12-31"] {
            let refused = calendar.decide(close(through, "2030-01-01")).unwrap_err();
            assert_eq!(refused.reason(), Some(Reason::PeriodAlreadyClosed));
        }
        // A fiscal year closes in one step, whatever months were closed before.
        assert!(calendar.decide(close("2025-12-31", "2026-01-01")).is_ok());
    }

    #[test]
    fn a_close_needs_a_reason() {
        let refused = Calendar::default()
            .decide(CalendarCommand::ClosePeriod {
                through: date("2025-06-30"),
                reason: "  ".into(),
                closed_by: officer(),
                today: date("2025-07-02"),
            })
            .unwrap_err();
        assert_eq!(refused.reason_code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn entries_in_a_closed_period_are_refused() {
        let calendar = closed("2025-06-30");
        let refused = calendar
            .admit("value_date", date("2025-06-30"))
            .unwrap_err();
        assert_eq!(refused.reason_code(), "PERIOD_CLOSED");
        assert!(calendar.admit("value_date", date("2025-01-15")).is_err());
        assert!(calendar.admit("value_date", date("2025-07-01")).is_ok());
        assert!(
            Calendar::default()
                .admit("value_date", date("1999-01-01"))
                .is_ok()
        );
    }

    #[test]
    fn a_foreign_history_never_moves_the_close_back() {
        let mut calendar = closed("2025-06-30");
        calendar.evolve(&CalendarEvent::PeriodClosed {
            through: date("2025-03-31"),
            reason: "imported".into(),
            closed_by: officer(),
        });
        assert_eq!(calendar.closed_through(), Some(date("2025-06-30")));
        assert_eq!(calendar.closes().len(), 2);
    }

    /// One step of a history: a close attempted, or an entry offered.
    #[derive(Debug, Clone)]
    enum Step {
        Close { month: u32, today: u32 },
        Entry { day: u32 },
    }

    /// Days from 2025-01-01, so months and entries land in the same few years.
    fn day(offset: u32) -> NaiveDate {
        date("2025-01-01") + chrono::Days::new(u64::from(offset))
    }

    fn month_end(months: u32) -> NaiveDate {
        let first = date("2025-01-01") + chrono::Months::new(months + 1);
        first.pred_opt().unwrap()
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..36_u32, 0..1100_u32).prop_map(|(month, today)| Step::Close { month, today }),
            (0..1100_u32).prop_map(|day| Step::Entry { day }),
        ]
    }

    proptest! {
        /// No entry the calendar admits has a date on or before a close recorded before it,
        /// and the closed-through date never moves back.
        #[test]
        fn no_admitted_entry_is_dated_in_a_period_closed_before_it(
            steps in proptest::collection::vec(step(), 1..60)
        ) {
            let mut calendar = Calendar::default();
            let mut recorded: Vec<NaiveDate> = Vec::new();
            let mut last = None;
            for step in steps {
                match step {
                    Step::Close { month, today } => {
                        let command = CalendarCommand::ClosePeriod {
                            through: month_end(month),
                            reason: "close".into(),
                            closed_by: officer(),
                            today: day(today),
                        };
                        if let Ok(events) = calendar.decide(command) {
                            for event in &events {
                                let CalendarEvent::PeriodClosed { through, .. } = event;
                                prop_assert!(*through < day(today));
                                recorded.push(*through);
                                calendar.evolve(event);
                            }
                        }
                    }
                    Step::Entry { day: offset } => {
                        let date = day(offset);
                        if calendar.admit("value_date", date).is_ok() {
                            prop_assert!(recorded.iter().all(|through| date > *through));
                        } else {
                            prop_assert!(recorded.iter().any(|through| date <= *through));
                        }
                    }
                }
                prop_assert!(calendar.closed_through() >= last);
                last = calendar.closed_through();
            }
        }
    }
}
