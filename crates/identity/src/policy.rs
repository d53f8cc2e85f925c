//! Which roles may call which method: the one table the server enforces.
//!
//! Writes belong to the role whose job they are, so the four-eyes steps fall to different roles
//! (a finance officer requests, an approver approves; a programme officer reports, a verifier
//! verifies). Reads are open to every member of staff and to auditors. Auditors never write:
//! not even `CreateCheckpoint`, which signs the head with the fund's key and so is an
//! administrator's act; an auditor checks checkpoints, it does not make them. A donor
//! integration is admitted only to the methods whose data its service can filter to its own
//! donor: recording and reading its pledges, recording receipts, its donor record and its
//! statement.
//!
//! Receipts are corrected (reversed, re-rated) and refunds to donors recorded by finance
//! officers; the pledge itself refuses a correction by the receipt's booker. A refund records a
//! payment the bank has made under the fund's mandate (whose release is the bank's dual
//! signature), so the ledger asks no approver to co-sign it.
//!
//! The "needs attention" queue (events the fund's consumers could not take into effect: a
//! receipt a matching pool refused, a release a pledge refused) is the one read narrower than
//! the staff: it is for those who settle money — finance officers and approvers — for
//! administrators and for auditors. Re-driving an item makes a process manager act again, so it
//! is an administrator's act alone.
//!
//! Periods are closed by approvers: a close locks the books finance officers keep, so the
//! people who book entries do not decide when their own entries stop being correctable in
//! place (segregation of duties). Once a period is closed its mistakes are corrected by
//! finance officers in the open period, as adjustments.
//!
//! Submitting a witness's cosignature of a tree checkpoint is the one act an auditor may do:
//! it changes no ledger data and signs nothing with the fund's key; it records a third
//! party's statement, which the service keeps only once its signature verifies. An auditor
//! running a witness submits its own; an administrator may submit one a witness without an
//! account handed over.

use crate::principal::Principal;
use crate::role::Role;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed: health checks and reflection.
    Open,
    /// A principal holding any one of these roles.
    AnyOf(&'static [Role]),
}

impl Access {
    pub fn admits(&self, principal: &Principal) -> bool {
        match self {
            Access::Open => true,
            Access::AnyOf(roles) => roles.iter().any(|role| principal.has(*role)),
        }
    }
}

use Role::{
    Administrator, Approver, Auditor, DonorIntegration, FinanceOfficer, ProgrammeOfficer, Verifier,
};

const FINANCE: Access = Access::AnyOf(&[FinanceOfficer]);
const FINANCE_OR_DONOR: Access = Access::AnyOf(&[FinanceOfficer, DonorIntegration]);
const APPROVAL: Access = Access::AnyOf(&[Approver]);
const PROGRAMME: Access = Access::AnyOf(&[ProgrammeOfficer]);
const VERIFICATION: Access = Access::AnyOf(&[Verifier]);
const ADMINISTRATION: Access = Access::AnyOf(&[Administrator]);
const READ: Access = Access::AnyOf(&[
    FinanceOfficer,
    Approver,
    ProgrammeOfficer,
    Verifier,
    Administrator,
    Auditor,
]);
const ATTENTION: Access = Access::AnyOf(&[FinanceOfficer, Approver, Administrator, Auditor]);
const COSIGNATURE: Access = Access::AnyOf(&[Auditor, Administrator]);
const READ_OWN_DONOR: Access = Access::AnyOf(&[
    FinanceOfficer,
    Approver,
    ProgrammeOfficer,
    Verifier,
    Administrator,
    Auditor,
    DonorIntegration,
]);

/// Infrastructure services every client and load balancer calls without credentials.
const OPEN_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Who may call the method at `method_path` (`/package.Service/Method`); `None` for a method the
/// table does not know, which is refused.
#[allow(
    clippy::match_same_arms,
    reason = "grouped by service, the arms read as the table they are"
)]
pub fn access(method_path: &str) -> Option<Access> {
    if OPEN_SERVICES
        .iter()
        .any(|service| method_path.starts_with(service))
    {
        return Some(Access::Open);
    }
    let access = match method_path.strip_prefix("/fundtrail.v1.")? {
        "Pledges/RegisterDonor"
        | "Pledges/ChangeDonorMatchingEligibility"
        | "Pledges/OpenMatchingPool" => ADMINISTRATION,
        "Pledges/RecordPledge" | "Pledges/ReceiveContribution" => FINANCE_OR_DONOR,
        "Pledges/AmendPledge"
        | "Pledges/WithdrawPledge"
        | "Pledges/SignContributionAgreement"
        | "Pledges/AllocateContribution"
        | "Pledges/ReverseReceipt"
        | "Pledges/RerateReceipt"
        | "Pledges/RefundToDonor"
        | "Pledges/ReserveMatch"
        | "Pledges/VoidMatch"
        | "Pledges/MatchContribution" => FINANCE,
        "Pledges/GetDonor" | "Pledges/GetPledge" => READ_OWN_DONOR,
        "Pledges/ListDonors" | "Pledges/GetMatchingPool" | "Pledges/GetCalendar" => READ,
        // Closing the books locks what finance officers book, so it is not theirs to do.
        "Pledges/ClosePeriod" => APPROVAL,

        "Milestones/RegisterProject"
        | "Milestones/PlanMilestone"
        | "Milestones/ReportProgress"
        | "Milestones/CloseProject"
        | "Milestones/ChangeImplementingPartner" => PROGRAMME,
        "Milestones/VerifyMilestone" | "Milestones/RejectMilestone" => VERIFICATION,
        "Milestones/GetProject" | "Milestones/ListProjects" => READ,

        "Disbursements/RequestDisbursement"
        | "Disbursements/RefundDisbursement"
        | "Disbursements/ReturnAllocation"
        | "Disbursements/CloseProjectAccount" => FINANCE,
        "Disbursements/ApproveDisbursement"
        | "Disbursements/RejectDisbursement"
        | "Disbursements/PayDisbursement"
        | "Disbursements/ReverseDisbursement" => APPROVAL,
        "Disbursements/GetProjectAccount" => READ,

        "Funding/GetDonorStatement" => READ_OWN_DONOR,
        "Funding/GetCountryFunding"
        | "Funding/ListCountries"
        | "Funding/GetFundOverview"
        | "Funding/WatchCountryFunding" => READ,

        "Attention/ListAttentionItems" | "Attention/GetAttentionItem" => ATTENTION,
        "Attention/RedriveAttentionItem" => ADMINISTRATION,

        "Audit/CreateCheckpoint" => ADMINISTRATION,
        "Audit/StreamEvents"
        | "Audit/GetCheckpoint"
        | "Audit/ListCheckpoints"
        | "Audit/GetPublicKey"
        | "Audit/ProveInclusion"
        | "Audit/GetTreeCheckpoint"
        | "Audit/ListTreeCheckpoints"
        | "Audit/ProveTreeInclusion"
        | "Audit/ProveConsistency" => READ,
        "Audit/ProveDonorReceipts" => READ_OWN_DONOR,
        "Audit/SubmitCosignature" => COSIGNATURE,

        _ => return None,
    };
    Some(access)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost::Message;
    use prost_types::FileDescriptorSet;

    use super::*;

    struct Method {
        path: String,
        name: String,
        output: String,
    }

    fn fundtrail_methods() -> Vec<Method> {
        let set = FileDescriptorSet::decode(fundtrail_proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes");
        let mut methods = Vec::new();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.push(Method {
                        path: format!("/{}.{}/{}", file.package(), service.name(), method.name()),
                        name: method.name().to_owned(),
                        output: method.output_type().to_owned(),
                    });
                }
            }
        }
        assert!(methods.len() > 40, "the descriptor set lists the services");
        methods
    }

    /// A read names what it returns; everything else changes the ledger or signs something.
    fn is_read(method: &Method) -> bool {
        ["Get", "List", "Watch", "Stream", "Prove"]
            .iter()
            .any(|verb| method.name.starts_with(verb))
    }

    fn holder(role: Role) -> Principal {
        Principal {
            subject: "someone".to_owned(),
            display_name: "Someone".to_owned(),
            organisation: "Fund".to_owned(),
            roles: BTreeSet::from([role]),
            donor_id: None,
        }
    }

    fn admits(method: &Method, role: Role) -> bool {
        access(&method.path).is_some_and(|access| access.admits(&holder(role)))
    }

    #[test]
    fn every_method_of_every_service_has_a_rule() {
        for method in fundtrail_methods() {
            let rule = access(&method.path);
            assert!(rule.is_some(), "{} has no access rule", method.path);
            assert_ne!(rule, Some(Access::Open), "{} must not be open", method.path);
        }
    }

    /// What an auditor may submit though it is not a read (see the module's documentation).
    const AUDITOR_STATEMENTS: &[&str] = &["/fundtrail.v1.Audit/SubmitCosignature"];

    #[test]
    fn auditors_read_everything_and_write_nothing() {
        for method in fundtrail_methods() {
            if AUDITOR_STATEMENTS.contains(&method.path.as_str()) {
                assert!(admits(&method, Auditor), "{}", method.path);
            } else if is_read(&method) {
                assert!(
                    !method.output.ends_with(".CommandResult"),
                    "{} looks like a read but returns a command result",
                    method.path
                );
                assert!(
                    admits(&method, Auditor),
                    "auditors cannot read {}",
                    method.path
                );
            } else {
                assert!(
                    !admits(&method, Auditor),
                    "auditors can write {}",
                    method.path
                );
            }
        }
    }

    /// Reads kept from some members of staff, by design (see the module's documentation).
    const NARROW_READS: &[&str] = &[
        "/fundtrail.v1.Attention/ListAttentionItems",
        "/fundtrail.v1.Attention/GetAttentionItem",
    ];

    #[test]
    fn every_member_of_staff_reads_everything() {
        for method in fundtrail_methods()
            .iter()
            .filter(|m| is_read(m) && !NARROW_READS.contains(&m.path.as_str()))
        {
            for role in [
                FinanceOfficer,
                Approver,
                ProgrammeOfficer,
                Verifier,
                Administrator,
            ] {
                assert!(admits(method, role), "{role} cannot read {}", method.path);
            }
        }
    }

    #[test]
    fn the_attention_queue_is_read_by_those_who_settle_money_and_redriven_by_administrators() {
        let readers = [FinanceOfficer, Approver, Administrator, Auditor];
        for path in NARROW_READS {
            for role in Role::ALL {
                let admitted = access(path).is_some_and(|a| a.admits(&holder(role)));
                assert_eq!(admitted, readers.contains(&role), "{role} on {path}");
            }
        }
        let redrive = access("/fundtrail.v1.Attention/RedriveAttentionItem");
        assert_eq!(redrive, Some(Access::AnyOf(&[Administrator])));
    }

    #[test]
    fn every_write_belongs_to_exactly_one_staff_role() {
        // One role per write keeps duties separate: no staff role both requests and approves.
        for method in fundtrail_methods().iter().filter(|m| !is_read(m)) {
            let writers: Vec<Role> = [
                FinanceOfficer,
                Approver,
                ProgrammeOfficer,
                Verifier,
                Administrator,
            ]
            .into_iter()
            .filter(|role| admits(method, *role))
            .collect();
            assert_eq!(
                writers.len(),
                1,
                "{} is written by {writers:?}",
                method.path
            );
        }
    }

    #[test]
    fn donor_integrations_reach_only_what_can_be_filtered_to_their_donor() {
        let reached: BTreeSet<String> = fundtrail_methods()
            .iter()
            .filter(|m| admits(m, DonorIntegration))
            .map(|m| m.path.clone())
            .collect();
        let expected: BTreeSet<String> = [
            "/fundtrail.v1.Pledges/RecordPledge",
            "/fundtrail.v1.Pledges/ReceiveContribution",
            "/fundtrail.v1.Pledges/GetPledge",
            "/fundtrail.v1.Pledges/GetDonor",
            "/fundtrail.v1.Funding/GetDonorStatement",
            "/fundtrail.v1.Audit/ProveDonorReceipts",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(reached, expected);
    }

    #[test]
    fn receipts_are_corrected_and_refunded_by_finance_officers_only() {
        // A donor integration may book a receipt, never correct one: the booker's correction
        // is refused by the pledge, and a donor's system is not the fund's books.
        for method in ["ReverseReceipt", "RerateReceipt", "RefundToDonor"] {
            let path = format!("/fundtrail.v1.Pledges/{method}");
            assert_eq!(
                access(&path),
                Some(Access::AnyOf(&[FinanceOfficer])),
                "{path}"
            );
        }
    }

    #[test]
    fn the_four_eyes_steps_fall_to_different_roles() {
        let only = |path: &str| match access(path) {
            Some(Access::AnyOf(roles)) => roles.to_vec(),
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(
            only("/fundtrail.v1.Disbursements/RequestDisbursement"),
            [FinanceOfficer]
        );
        assert_eq!(
            only("/fundtrail.v1.Disbursements/ApproveDisbursement"),
            [Approver]
        );
        assert_eq!(
            only("/fundtrail.v1.Milestones/ReportProgress"),
            [ProgrammeOfficer]
        );
        assert_eq!(only("/fundtrail.v1.Milestones/VerifyMilestone"), [Verifier]);
        assert_eq!(
            only("/fundtrail.v1.Audit/CreateCheckpoint"),
            [Administrator]
        );
        // A witness's statement, not the fund's: auditors and administrators may hand it in.
        assert_eq!(
            only("/fundtrail.v1.Audit/SubmitCosignature"),
            [Auditor, Administrator]
        );
    }

    #[test]
    fn infrastructure_is_open_and_strangers_are_unknown() {
        assert_eq!(access("/grpc.health.v1.Health/Check"), Some(Access::Open));
        assert_eq!(access("/grpc.health.v1.Health/Watch"), Some(Access::Open));
        assert_eq!(
            access("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Some(Access::Open)
        );
        for path in [
            "/fundtrail.v1.Pledges/DeleteEverything",
            "/fundtrail.v2.Pledges/RecordPledge",
            "fundtrail.v1.Pledges/RecordPledge",
            "/fundtrail.v1.Pledges/RecordPledge/",
            "/grpc.health.v1.Healthy/Check",
            "",
        ] {
            assert_eq!(access(path), None, "{path}");
        }
    }

    #[test]
    fn a_principal_without_roles_is_admitted_only_to_open_methods() {
        let nobody = Principal::process("matching");
        assert!(Access::Open.admits(&nobody));
        for method in fundtrail_methods() {
            assert!(!admits_principal(&method, &nobody), "{}", method.path);
        }
    }

    fn admits_principal(method: &Method, principal: &Principal) -> bool {
        access(&method.path).is_some_and(|access| access.admits(principal))
    }
}
