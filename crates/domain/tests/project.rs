//! Projects: registration, milestones, progress, verification, rejection, closing.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

mod common;

use common::{Ledger, actor, country, day, eur, project_id, usd};
use fundtrail_domain::project::{MilestoneStatus, SECTOR_MINE_ACTION};
use fundtrail_domain::{
    Actor, Currency, FundingModality, Indicator, Money, Partner, Project, ProjectCommand,
    ProjectEvent, ProjectSummary, Reason, ReleaseRule,
};

/// 500 000.00 EUR.
const BUDGET: i64 = 50_000_000;

fn partner() -> Partner {
    Partner {
        name: "Norwegian People's Aid".into(),
        iati_id: Some("NO-BRC-971267588".into()),
    }
}

fn register_with(sector_code: Option<u32>, budget: Money) -> ProjectCommand {
    ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: partner(),
        title: "Clearance of Brčko district".into(),
        sector_code,
        budget,
        starts_on: day(2024, 4, 1),
        ends_on: day(2025, 3, 31),
        funding: FundingModality::AdvanceFunded,
    }
}

fn registered() -> Ledger<Project> {
    let mut project = Ledger::new();
    project.run(register_with(None, eur(BUDGET)));
    project
}

fn plan(tranche: Money) -> ProjectCommand {
    ProjectCommand::PlanMilestone {
        title: "Phase clearance".into(),
        indicator: Indicator::SquareMetresCleared,
        target: 120_000,
        tranche,
        due_on: day(2024, 9, 30),
        release_rule: ReleaseRule::Proportional,
    }
}

fn report(milestone: u32, actual: u64, by: &Actor) -> ProjectCommand {
    ProjectCommand::ReportProgress {
        milestone,
        actual,
        evidence_reference: "QA-REPORT-17".into(),
        reported_by: by.clone(),
    }
}

fn verify(milestone: u32, by: &Actor) -> ProjectCommand {
    ProjectCommand::Verify {
        milestone,
        verified_by: by.clone(),
    }
}

fn reject(milestone: u32, by: &Actor) -> ProjectCommand {
    ProjectCommand::Reject {
        milestone,
        reason: "evidence does not cover the whole area".into(),
        rejected_by: by.clone(),
    }
}

fn close() -> ProjectCommand {
    ProjectCommand::Close {
        reason: "completed".into(),
    }
}

fn partner_officer() -> Actor {
    actor("officer@npaid.org")
}

fn verifier() -> Actor {
    actor("verifier@itf.si")
}

/// A registered project with one planned milestone (tranche 200 000.00 EUR).
fn with_milestone() -> Ledger<Project> {
    let mut project = registered();
    project.run(plan(eur(20_000_000)));
    project
}

// --- register --------------------------------------------------------------------------------

#[test]
fn register_defaults_the_sector_to_mine_action() {
    let mut project = Ledger::<Project>::new();
    let events = project.run(register_with(None, eur(BUDGET)));
    assert_eq!(
        events,
        vec![ProjectEvent::Registered {
            project_id: project_id(1),
            country: country("BA"),
            partner: partner(),
            title: "Clearance of Brčko district".into(),
            sector_code: 15250,
            budget: eur(BUDGET),
            starts_on: day(2024, 4, 1),
            ends_on: day(2025, 3, 31),
            funding: FundingModality::AdvanceFunded,
        }]
    );
    assert_eq!(SECTOR_MINE_ACTION, 15250);
    assert_eq!(
        project.state.summary(),
        Some(ProjectSummary {
            project_id: project_id(1),
            country: country("BA"),
            currency: Currency::EUR,
            closed: false,
            partner: partner(),
            funding: FundingModality::AdvanceFunded,
        })
    );
}

#[test]
fn register_takes_another_five_digit_sector() {
    let mut project = Ledger::<Project>::new();
    project.run(register_with(Some(15240), eur(BUDGET)));
    assert_eq!(project.state.details().unwrap().sector_code, 15240);
}

#[test]
fn register_refuses_a_sector_that_is_not_five_digits() {
    let project = Ledger::<Project>::new();
    for code in [0, 1525, 152_500, 9_999, 100_000] {
        assert_eq!(
            project.invalid(register_with(Some(code), eur(BUDGET))),
            "sector_code"
        );
    }
}

#[test]
fn register_refuses_a_project_that_ends_before_it_starts() {
    let project = Ledger::<Project>::new();
    let backwards = ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: partner(),
        title: "Backwards".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2024, 3, 31),
        funding: FundingModality::AdvanceFunded,
    };
    assert_eq!(project.invalid(backwards), "ends_on");
    // A one-day project is fine.
    let mut one_day = Ledger::<Project>::new();
    one_day.run(ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: partner(),
        title: "Survey".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2024, 4, 1),
        funding: FundingModality::AdvanceFunded,
    });
}

#[test]
fn register_needs_a_positive_budget_a_title_and_a_partner() {
    let project = Ledger::<Project>::new();
    assert_eq!(project.invalid(register_with(None, eur(0))), "budget");
    assert_eq!(project.invalid(register_with(None, eur(-5))), "budget");
    let untitled = ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: partner(),
        title: "   ".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2025, 3, 31),
        funding: FundingModality::AdvanceFunded,
    };
    assert_eq!(project.invalid(untitled), "title");
    let anonymous = ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: Partner {
            name: String::new(),
            iati_id: None,
        },
        title: "x".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2025, 3, 31),
        funding: FundingModality::AdvanceFunded,
    };
    assert_eq!(project.invalid(anonymous), "partner.name");
}

#[test]
fn register_drops_an_empty_partner_iati_id() {
    let mut project = Ledger::<Project>::new();
    project.run(ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: Partner {
            name: "Local NGO".into(),
            iati_id: Some("  ".into()),
        },
        title: "x".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2025, 3, 31),
        funding: FundingModality::AdvanceFunded,
    });
    assert_eq!(project.state.details().unwrap().partner.iati_id, None);
}

#[test]
fn register_twice_is_refused() {
    let project = registered();
    assert_eq!(
        project.refusal(register_with(None, eur(BUDGET))),
        Reason::ProjectAlreadyRegistered
    );
}

#[test]
fn commands_on_an_unregistered_project_are_not_found() {
    let project = Ledger::<Project>::new();
    let someone = partner_officer();
    for command in [
        plan(eur(100)),
        report(1, 1, &someone),
        verify(1, &someone),
        reject(1, &someone),
        close(),
    ] {
        assert_eq!(project.refusal(command), Reason::ProjectNotFound);
    }
}

// --- milestones ------------------------------------------------------------------------------

#[test]
fn milestones_are_numbered_in_planning_order() {
    let mut project = registered();
    for expected in 1..=3 {
        let events = project.run(plan(eur(1_000_000)));
        assert!(matches!(
            events.as_slice(),
            [ProjectEvent::MilestonePlanned { milestone, country: c, .. }]
                if *milestone == expected && *c == country("BA")
        ));
    }
    assert_eq!(
        project
            .state
            .milestones()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[test]
fn tranches_stay_within_the_budget() {
    let mut project = registered();
    project.run(plan(eur(20_000_000)));
    project.run(plan(eur(20_000_000)));
    assert_eq!(
        project.refusal(plan(eur(10_000_001))),
        Reason::TranchesExceedBudget
    );
    // Exactly the budget is fine.
    project.run(plan(eur(10_000_000)));
    assert_eq!(project.refusal(plan(eur(1))), Reason::TranchesExceedBudget);
}

#[test]
fn tranches_are_in_the_budget_currency() {
    let project = registered();
    assert_eq!(project.refusal(plan(usd(100))), Reason::CurrencyMismatch);
    assert_eq!(project.invalid(plan(eur(0))), "tranche");
}

#[test]
fn a_milestone_has_a_positive_target_and_a_named_indicator() {
    let project = registered();
    let no_target = ProjectCommand::PlanMilestone {
        title: "x".into(),
        indicator: Indicator::DevicesDestroyed,
        target: 0,
        tranche: eur(100),
        due_on: day(2024, 9, 30),
        release_rule: ReleaseRule::Proportional,
    };
    assert_eq!(project.invalid(no_target), "target");
    let unnamed = ProjectCommand::PlanMilestone {
        title: "x".into(),
        indicator: Indicator::Other {
            name: String::new(),
            unit: "km".into(),
        },
        target: 10,
        tranche: eur(100),
        due_on: day(2024, 9, 30),
        release_rule: ReleaseRule::Proportional,
    };
    assert_eq!(project.invalid(unnamed), "indicator.name");
}

// --- progress and verification ---------------------------------------------------------------

#[test]
fn progress_is_reported_with_evidence() {
    let mut project = with_milestone();
    let events = project.run(report(1, 118_500, &partner_officer()));
    assert_eq!(
        events,
        vec![ProjectEvent::ProgressReported {
            project_id: project_id(1),
            country: country("BA"),
            milestone: 1,
            actual: 118_500,
            evidence_reference: "QA-REPORT-17".into(),
            reported_by: partner_officer(),
        }]
    );
    let milestone = &project.state.milestones()[&1];
    assert_eq!(milestone.status, MilestoneStatus::Reported);
    assert_eq!(milestone.actual, Some(118_500));
    assert_eq!(
        project.refusal(report(2, 1, &partner_officer())),
        Reason::MilestoneNotFound
    );
    let no_evidence = ProjectCommand::ReportProgress {
        milestone: 1,
        actual: 1,
        evidence_reference: String::new(),
        reported_by: partner_officer(),
    };
    assert_eq!(project.invalid(no_evidence), "evidence_reference");
}

#[test]
fn verification_needs_reported_progress() {
    let project = with_milestone();
    assert_eq!(
        project.refusal(verify(1, &verifier())),
        Reason::MilestoneNotReported
    );
    assert_eq!(
        project.refusal(reject(1, &verifier())),
        Reason::MilestoneNotReported
    );
    assert_eq!(
        project.refusal(verify(7, &verifier())),
        Reason::MilestoneNotFound
    );
}

#[test]
fn the_reporter_cannot_verify_or_reject_their_own_report() {
    let mut project = with_milestone();
    project.run(report(1, 120_000, &partner_officer()));
    assert_eq!(
        project.refusal(verify(1, &partner_officer())),
        Reason::VerifierIsReporter
    );
    assert_eq!(
        project.refusal(reject(1, &partner_officer())),
        Reason::VerifierIsReporter
    );
}

#[test]
fn the_reporter_cannot_review_under_another_spelling_of_their_name() {
    let mut project = with_milestone();
    project.run(report(1, 120_000, &partner_officer()));
    for spelling in ["Officer@NPAID.org", " OFFICER@npaid.org"] {
        assert_eq!(
            project.refusal(verify(1, &actor(spelling))),
            Reason::VerifierIsReporter,
            "{spelling:?}"
        );
        assert_eq!(
            project.refusal(reject(1, &actor(spelling))),
            Reason::VerifierIsReporter,
            "{spelling:?}"
        );
    }
    project.run(verify(1, &verifier()));
}

#[test]
fn verification_records_the_final_figures_once() {
    let mut project = with_milestone();
    project.run(report(1, 121_300, &partner_officer()));
    let events = project.run(verify(1, &verifier()));
    assert_eq!(
        events,
        vec![ProjectEvent::MilestoneVerified {
            project_id: project_id(1),
            country: country("BA"),
            milestone: 1,
            indicator: Indicator::SquareMetresCleared,
            target: 120_000,
            actual: 121_300,
            tranche: eur(20_000_000),
            verified_by: verifier(),
            // Beyond the target: the whole tranche and no more.
            released: Some(eur(20_000_000)),
            release_rule: ReleaseRule::Proportional,
        }]
    );
    assert_eq!(
        project.state.milestones()[&1].status,
        MilestoneStatus::Verified
    );
    let someone_else = actor("auditor@itf.si");
    assert_eq!(
        project.refusal(verify(1, &someone_else)),
        Reason::MilestoneAlreadyVerified
    );
    assert_eq!(
        project.refusal(reject(1, &someone_else)),
        Reason::MilestoneAlreadyVerified
    );
    // A verified milestone's figures are final.
    assert_eq!(
        project.refusal(report(1, 1, &partner_officer())),
        Reason::MilestoneAlreadyVerified
    );
}

#[test]
fn a_rejected_milestone_is_reported_again_then_verified() {
    let mut project = with_milestone();
    project.run(report(1, 90_000, &partner_officer()));
    let events = project.run(reject(1, &verifier()));
    assert!(matches!(
        events.as_slice(),
        [ProjectEvent::MilestoneRejected { milestone: 1, rejected_by, .. }] if *rejected_by == verifier()
    ));
    assert_eq!(
        project.state.milestones()[&1].status,
        MilestoneStatus::Rejected
    );
    // Nothing to review until it is reported again.
    assert_eq!(
        project.refusal(verify(1, &verifier())),
        Reason::MilestoneNotReported
    );
    project.run(report(1, 120_500, &partner_officer()));
    let events = project.run(verify(1, &verifier()));
    assert!(matches!(
        events.as_slice(),
        [ProjectEvent::MilestoneVerified {
            actual: 120_500,
            ..
        }]
    ));
}

#[test]
fn a_rejection_needs_a_reason() {
    let mut project = with_milestone();
    project.run(report(1, 90_000, &partner_officer()));
    let command = ProjectCommand::Reject {
        milestone: 1,
        reason: String::new(),
        rejected_by: verifier(),
    };
    assert_eq!(project.invalid(command), "reason");
}

// --- close -----------------------------------------------------------------------------------

#[test]
fn a_closed_project_takes_no_further_changes() {
    let mut project = with_milestone();
    project.run(report(1, 120_000, &partner_officer()));
    let events = project.run(close());
    assert_eq!(
        events,
        vec![ProjectEvent::Closed {
            project_id: project_id(1),
            country: country("BA"),
            reason: "completed".into(),
        }]
    );
    assert!(project.state.is_closed());
    assert!(project.state.summary().unwrap().closed);
    for command in [
        plan(eur(100)),
        report(1, 1, &partner_officer()),
        verify(1, &verifier()),
        reject(1, &verifier()),
        close(),
    ] {
        assert_eq!(project.refusal(command), Reason::ProjectClosed);
    }
}

#[test]
fn the_history_refolds_to_the_same_project() {
    let mut project = with_milestone();
    project.run(plan(eur(1_000)));
    project.run(report(1, 1, &partner_officer()));
    project.run(reject(1, &verifier()));
    project.run(report(1, 2, &partner_officer()));
    project.run(verify(1, &verifier()));
    project.run(close());
    project.assert_refolds();
    assert_eq!(
        Project::stream(&project_id(1)),
        format!("project-{}", project_id(1))
    );
}

// --- partner ---------------------------------------------------------------------------------

fn change_partner(name: &str) -> ProjectCommand {
    ProjectCommand::ChangePartner {
        partner: Partner {
            name: name.into(),
            iati_id: None,
        },
        reason: "contract novated after the partner's merger".into(),
        changed_by: actor("programme@itf.si"),
    }
}

#[test]
fn a_change_of_partner_is_its_own_event_and_the_new_payee() {
    let mut project = registered();
    let summary = project.state.summary().unwrap();
    assert!(summary.pays("Norwegian People's Aid"));
    assert!(
        summary.pays("  norwegian people's aid "),
        "case and space are not a new payee"
    );
    assert!(!summary.pays("HALO Trust"));

    let events = project.run(change_partner("HALO Trust"));
    assert_eq!(
        events,
        vec![ProjectEvent::PartnerChanged {
            project_id: project_id(1),
            country: country("BA"),
            partner: Partner {
                name: "HALO Trust".into(),
                iati_id: None,
            },
            reason: "contract novated after the partner's merger".into(),
            changed_by: actor("programme@itf.si"),
        }]
    );
    let summary = project.state.summary().unwrap();
    assert!(summary.pays("HALO Trust"));
    assert!(!summary.pays("Norwegian People's Aid"));
}

#[test]
fn a_change_of_partner_needs_a_new_partner_a_reason_and_an_open_project() {
    let mut project = registered();
    assert_eq!(
        project.refusal(ProjectCommand::ChangePartner {
            partner: partner(),
            reason: "again".into(),
            changed_by: actor("programme@itf.si"),
        }),
        Reason::PartnerUnchanged
    );
    assert_eq!(
        project.invalid(ProjectCommand::ChangePartner {
            partner: Partner {
                name: "HALO Trust".into(),
                iati_id: None,
            },
            reason: " ".into(),
            changed_by: actor("programme@itf.si"),
        }),
        "reason"
    );
    assert_eq!(project.invalid(change_partner("")), "partner.name");
    project.run(close());
    assert_eq!(
        project.refusal(change_partner("HALO Trust")),
        Reason::ProjectClosed
    );
}

// --- payment by results ----------------------------------------------------------------------

fn plan_with(rule: ReleaseRule, target: u64, tranche: Money) -> ProjectCommand {
    ProjectCommand::PlanMilestone {
        title: "Phase clearance".into(),
        indicator: Indicator::SquareMetresCleared,
        target,
        tranche,
        due_on: day(2024, 9, 30),
        release_rule: rule,
    }
}

/// Plans one milestone under `rule`, reports `actual` and verifies it; returns what the
/// verification recorded as released.
fn verified_at(rule: ReleaseRule, target: u64, tranche: Money, actual: u64) -> Ledger<Project> {
    let mut project = registered();
    project.run(plan_with(rule, target, tranche));
    project.run(report(1, actual, &partner_officer()));
    project.run(verify(1, &verifier()));
    project
}

fn released(project: &Ledger<Project>) -> Option<Money> {
    project.state.milestones()[&1].released
}

#[test]
fn a_proportional_tranche_pays_for_the_output_verified() {
    // 10 m² of a 120 000 m² target release 10/120 000 of 200 000.00 EUR: 16.66 EUR, rounded
    // down to the cent, and the rest stays with the fund.
    let project = verified_at(ReleaseRule::Proportional, 120_000, eur(20_000_000), 10);
    assert!(matches!(
        project.history.last(),
        Some(ProjectEvent::MilestoneVerified {
            released: Some(r),
            release_rule: ReleaseRule::Proportional,
            actual: 10,
            ..
        }) if *r == eur(1_666)
    ));
    let m = &project.state.milestones()[&1];
    assert_eq!(m.released, Some(eur(1_666)));
    assert_eq!(m.withheld(), Some(eur(20_000_000 - 1_666)));
    assert_eq!(m.shortfall(), Some(119_990));

    let half = verified_at(ReleaseRule::Proportional, 120_000, eur(20_000_000), 60_000);
    assert_eq!(released(&half), Some(eur(10_000_000)));
    // Output beyond the target pays no more than the tranche.
    let beyond = verified_at(ReleaseRule::Proportional, 120_000, eur(20_000_000), 500_000);
    assert_eq!(released(&beyond), Some(eur(20_000_000)));
    assert_eq!(beyond.state.milestones()[&1].shortfall(), Some(0));
    // Nothing verified, nothing released.
    let none = verified_at(ReleaseRule::Proportional, 120_000, eur(20_000_000), 0);
    assert_eq!(released(&none), Some(eur(0)));
}

#[test]
fn an_all_or_nothing_tranche_pays_only_when_the_target_is_met() {
    let short = verified_at(ReleaseRule::AllOrNothing, 120_000, eur(20_000_000), 119_999);
    assert_eq!(released(&short), Some(eur(0)));
    let m = &short.state.milestones()[&1];
    assert_eq!(m.withheld(), Some(eur(20_000_000)));
    assert_eq!(m.shortfall(), Some(1));
    // The figures are final: a shortfall verified is not made good by a later report.
    assert_eq!(
        short.refusal(report(1, 120_000, &partner_officer())),
        Reason::MilestoneAlreadyVerified
    );

    let met = verified_at(ReleaseRule::AllOrNothing, 120_000, eur(20_000_000), 120_000);
    assert_eq!(released(&met), Some(eur(20_000_000)));
    assert_eq!(met.state.milestones()[&1].withheld(), Some(eur(0)));
}

#[test]
fn a_new_milestone_chooses_a_release_rule() {
    let project = registered();
    assert_eq!(
        project.invalid(plan_with(
            ReleaseRule::WholeOnVerification,
            120_000,
            eur(100)
        )),
        "release_rule"
    );
}

#[test]
fn a_milestone_planned_before_release_rules_still_releases_its_whole_tranche() {
    // History written before the rules existed: no rule on the plan, no release on the
    // verification. Folding it must keep the meaning it had.
    let history = [
        ProjectEvent::Registered {
            project_id: project_id(1),
            country: country("BA"),
            partner: partner(),
            title: "Clearance of Brčko district".into(),
            sector_code: 15250,
            budget: eur(BUDGET),
            starts_on: day(2024, 4, 1),
            ends_on: day(2025, 3, 31),
            funding: FundingModality::AdvanceFunded,
        },
        ProjectEvent::MilestonePlanned {
            project_id: project_id(1),
            country: country("BA"),
            milestone: 1,
            title: "Phase clearance".into(),
            indicator: Indicator::SquareMetresCleared,
            target: 120_000,
            tranche: eur(20_000_000),
            due_on: day(2024, 9, 30),
            release_rule: ReleaseRule::WholeOnVerification,
        },
    ];
    let mut project = Ledger::<Project>::new();
    project.apply(&history);
    project.run(report(1, 10, &partner_officer()));
    let events = project.run(verify(1, &verifier()));
    assert!(matches!(
        events.as_slice(),
        [ProjectEvent::MilestoneVerified { released: Some(r), release_rule: ReleaseRule::WholeOnVerification, .. }]
            if *r == eur(20_000_000)
    ));

    let old_verification = ProjectEvent::MilestoneVerified {
        project_id: project_id(1),
        country: country("BA"),
        milestone: 1,
        indicator: Indicator::SquareMetresCleared,
        target: 120_000,
        actual: 10,
        tranche: eur(20_000_000),
        verified_by: verifier(),
        released: None,
        release_rule: ReleaseRule::WholeOnVerification,
    };
    assert_eq!(old_verification.released(), Some(eur(20_000_000)));
}

#[test]
fn the_funding_modality_is_chosen_at_registration_and_known_to_the_account() {
    let mut project = Ledger::<Project>::new();
    let command = ProjectCommand::Register {
        project_id: project_id(1),
        country: country("BA"),
        partner: partner(),
        title: "Results-based clearance of Brčko district".into(),
        sector_code: None,
        budget: eur(BUDGET),
        starts_on: day(2024, 4, 1),
        ends_on: day(2025, 3, 31),
        funding: FundingModality::ResultsBased,
    };
    let events = project.run(command);
    assert!(matches!(
        events.as_slice(),
        [ProjectEvent::Registered {
            funding: FundingModality::ResultsBased,
            ..
        }]
    ));
    assert_eq!(
        project.state.summary().map(|s| s.funding),
        Some(FundingModality::ResultsBased)
    );
}

#[test]
fn a_release_is_computed_in_integers_without_overflow() {
    // The largest tranche the ledger holds against the largest target: i128 holds the product.
    let tranche = eur(i64::MAX);
    assert_eq!(
        ReleaseRule::Proportional.release(tranche, u64::MAX, u64::MAX - 1),
        Ok(eur(i64::MAX - 1))
    );
    assert_eq!(
        ReleaseRule::Proportional.release(tranche, u64::MAX, u64::MAX),
        Ok(tranche)
    );
    assert_eq!(ReleaseRule::Proportional.release(eur(3), 3, 1), Ok(eur(1)));
    assert_eq!(
        ReleaseRule::Proportional.release(eur(2), 3, 1),
        Ok(eur(0)),
        "2 × 1 ÷ 3 rounds down"
    );
}
