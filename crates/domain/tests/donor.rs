//! Donors: registration and matching eligibility.

mod common;

use common::Ledger;
use fundtrail_domain::{
    Aggregate, Donor, DonorCommand, DonorEvent, DonorId, DonorKind, DonorProfile, Reason,
};

fn japan() -> DonorId {
    DonorId::parse("XM-DAC-701").unwrap()
}

fn register(matching_eligible: bool) -> DonorCommand {
    DonorCommand::Register {
        donor_id: japan(),
        name: "  Japan  ".into(),
        kind: DonorKind::Government,
        matching_eligible,
    }
}

fn change(matching_eligible: bool) -> DonorCommand {
    DonorCommand::ChangeMatchingEligibility {
        matching_eligible,
        reason: "board decision 2024/7".into(),
    }
}

fn registered(matching_eligible: bool) -> Ledger<Donor> {
    let mut donor = Ledger::new();
    donor.run(register(matching_eligible));
    donor
}

#[test]
fn a_donor_is_registered_under_its_iati_identifier() {
    let mut donor = Ledger::<Donor>::new();
    let events = donor.run(register(true));
    assert_eq!(
        events,
        vec![DonorEvent::Registered {
            donor_id: japan(),
            name: "Japan".into(),
            kind: DonorKind::Government,
            matching_eligible: true,
        }]
    );
    assert_eq!(
        donor.state.profile(),
        Some(&DonorProfile {
            donor_id: japan(),
            name: "Japan".into(),
            kind: DonorKind::Government,
            matching_eligible: true,
        })
    );
    assert_eq!(
        donor.state.require(&japan()).map(|p| p.kind),
        Ok(DonorKind::Government)
    );
    assert_eq!(Donor::stream(&japan()), "donor-XM-DAC-701");
}

#[test]
fn a_donor_is_registered_once() {
    let donor = registered(false);
    assert_eq!(
        donor.refusal(register(true)),
        Reason::DonorAlreadyRegistered
    );
}

#[test]
fn a_donor_needs_a_name() {
    let donor = Ledger::<Donor>::new();
    let nameless = DonorCommand::Register {
        donor_id: japan(),
        name: String::new(),
        kind: DonorKind::Multilateral,
        matching_eligible: false,
    };
    assert_eq!(donor.invalid(nameless), "name");
    let too_long = DonorCommand::Register {
        donor_id: japan(),
        name: "x".repeat(201),
        kind: DonorKind::Private,
        matching_eligible: false,
    };
    assert_eq!(donor.invalid(too_long), "name");
}

#[test]
fn an_unregistered_donor_is_not_found() {
    let donor = Ledger::<Donor>::new();
    assert_eq!(
        donor.state.require(&japan()).unwrap_err().reason(),
        Some(Reason::DonorNotFound)
    );
    assert_eq!(donor.refusal(change(true)), Reason::DonorNotFound);
}

#[test]
fn matching_eligibility_changes_with_a_reason() {
    let mut donor = registered(false);
    let events = donor.run(change(true));
    assert_eq!(
        events,
        vec![DonorEvent::MatchingEligibilityChanged {
            donor_id: japan(),
            matching_eligible: true,
            reason: "board decision 2024/7".into(),
        }]
    );
    assert!(donor.state.profile().unwrap().matching_eligible);
    donor.run(change(false));
    assert!(!donor.state.profile().unwrap().matching_eligible);
    donor.assert_refolds();
    assert_eq!(Donor::fold(&donor.history), donor.state);
}

#[test]
fn an_eligibility_change_must_change_something() {
    let donor = registered(true);
    assert_eq!(donor.refusal(change(true)), Reason::NothingToChange);
    let unexplained = DonorCommand::ChangeMatchingEligibility {
        matching_eligible: false,
        reason: " ".into(),
    };
    assert_eq!(donor.invalid(unexplained), "reason");
}
