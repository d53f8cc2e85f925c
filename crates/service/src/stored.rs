//! Which events belong to which aggregate's stream.

use fundtrail_domain::{
    AccountEvent, Aggregate, Calendar, CalendarEvent, Donor, DonorEvent, Event, MatchingEvent,
    MatchingPool, Pledge, PledgeEvent, Project, ProjectAccount, ProjectEvent,
};

/// An aggregate whose events are stored as [`Event`]s.
pub trait Stored: Aggregate + Send + Sync + 'static
where
    Self::Event: Send + Sync + Clone,
    Self::Command: Send,
{
    /// The aggregate's own event, or `None` when the event belongs to another aggregate.
    fn extract(event: Event) -> Option<Self::Event>;
    fn wrap(event: Self::Event) -> Event;
}

macro_rules! stored {
    ($aggregate:ty, $event:ty, $variant:ident) => {
        impl Stored for $aggregate {
            fn extract(event: Event) -> Option<$event> {
                match event {
                    Event::$variant(e) => Some(e),
                    _ => None,
                }
            }

            fn wrap(event: $event) -> Event {
                Event::$variant(event)
            }
        }
    };
}

stored!(Donor, DonorEvent, Donor);
stored!(Pledge, PledgeEvent, Pledge);
stored!(MatchingPool, MatchingEvent, Matching);
stored!(Project, ProjectEvent, Project);
stored!(ProjectAccount, AccountEvent, Account);
stored!(Calendar, CalendarEvent, Calendar);

/// What a command created, named by its first event: the id a client needs next.
pub fn created_id(event: &Event) -> Option<String> {
    match event {
        Event::Donor(DonorEvent::Registered { donor_id, .. }) => Some(donor_id.to_string()),
        Event::Pledge(PledgeEvent::Recorded { pledge_id, .. }) => Some(pledge_id.to_string()),
        Event::Pledge(PledgeEvent::ContributionReceived { receipt_id, .. }) => {
            Some(receipt_id.to_string())
        }
        Event::Pledge(PledgeEvent::ContributionAllocated { allocation_id, .. }) => {
            Some(allocation_id.to_string())
        }
        Event::Matching(MatchingEvent::Opened { pool_id, .. }) => Some(pool_id.to_string()),
        Event::Project(ProjectEvent::Registered { project_id, .. }) => Some(project_id.to_string()),
        Event::Project(ProjectEvent::MilestonePlanned { milestone, .. }) => {
            Some(milestone.to_string())
        }
        Event::Account(AccountEvent::DisbursementRequested {
            disbursement_id, ..
        }) => Some(disbursement_id.to_string()),
        _ => None,
    }
}
