//! The demo's data: who gives, who works where, and what happened, in the order it happened.
//!
//! Kept as tables, one row a line: the module is exempt from formatting for that.

use fundtrail_proto::v1;

/// Fund staff: one records money, one approves, one plans projects, one checks partners'
/// reports, and a second finance officer corrects what the first booked.
pub const FINANCE: &str = "finance@itf.si";
pub const CONTROLLER: &str = "controller@itf.si";
pub const DIRECTOR: &str = "director@itf.si";
pub const PROGRAMMES: &str = "programmes@itf.si";
pub const MONITORING: &str = "monitoring@itf.si";
/// The fund the staff work for.
pub const FUND: &str = "ITF Enhancing Human Security";

const ECB: &str = "ECB reference rate";

pub struct Donor {
    /// The donor's IATI organisation identifier.
    pub id: &'static str,
    pub name: &'static str,
    pub kind: v1::DonorKind,
    /// Whether its contributions may be matched by a pool.
    pub matching_eligible: bool,
}

const GOVERNMENT: v1::DonorKind = v1::DonorKind::Government;

pub const DONORS: &[Donor] = &[
    Donor { id: "US-GOV-1", name: "United States of America", kind: GOVERNMENT, matching_eligible: false },
    Donor { id: "XM-DAC-301-1", name: "Canada", kind: GOVERNMENT, matching_eligible: true },
    Donor { id: "XM-DAC-7", name: "Netherlands", kind: GOVERNMENT, matching_eligible: true },
    Donor { id: "XM-DAC-61", name: "Slovenia", kind: GOVERNMENT, matching_eligible: true },
    Donor { id: "XM-DAC-5", name: "Germany", kind: GOVERNMENT, matching_eligible: true },
    Donor { id: "XM-DAC-11", name: "Switzerland", kind: GOVERNMENT, matching_eligible: true },
    Donor { id: "XI-IATI-EC_INTPA", name: "European Union", kind: v1::DonorKind::Multilateral, matching_eligible: false },
];

const PROPORTIONAL: v1::ReleaseRule = v1::ReleaseRule::Proportional;
const ALL_OR_NOTHING: v1::ReleaseRule = v1::ReleaseRule::AllOrNothing;

const M2: v1::IndicatorKind = v1::IndicatorKind::SquareMetresCleared;
const DEVICES: v1::IndicatorKind = v1::IndicatorKind::DevicesDestroyed;

pub struct Milestone {
    pub title: &'static str,
    pub indicator: v1::IndicatorKind,
    /// The target, in the indicator's unit.
    pub target: u64,
    /// Released once the milestone is verified, in the project's budget currency.
    pub tranche: &'static str,
    pub due_on: &'static str,
    /// How verified output releases the tranche.
    pub release: v1::ReleaseRule,
}

pub struct Project {
    pub key: &'static str,
    pub country: &'static str,
    /// The implementing partner and its IATI identifier ("" when it has none).
    pub partner: (&'static str, &'static str),
    /// Who reports the partner's progress.
    pub reporter: &'static str,
    pub title: &'static str,
    pub budget: (&'static str, &'static str),
    pub period: (&'static str, &'static str),
    pub milestones: &'static [Milestone],
    /// Whether every disbursement must pay for a verified milestone.
    pub results_based: bool,
}

const HALO: (&str, &str) = ("The HALO Trust", "GB-CHC-1001813");

pub const PROJECTS: &[Project] = &[
    Project { key: "ba", country: "BA", partner: ("Norwegian People's Aid", ""), reporter: "reporting@npaid.org", results_based: false,
        title: "Land release in Tuzla canton and the Doboj region",
        budget: ("2000000.00", "EUR"), period: ("2025-02-01", "2026-06-30"),
        milestones: &[
            Milestone { title: "Release of suspected hazardous areas, Tuzla canton, phase 1", indicator: M2, target: 250_000, tranche: "400000.00", due_on: "2025-06-30", release: PROPORTIONAL },
            Milestone { title: "Mines and ERW destroyed, Doboj region", indicator: DEVICES, target: 180, tranche: "300000.00", due_on: "2025-09-30", release: PROPORTIONAL },
            Milestone { title: "Technical survey and clearance, phase 2", indicator: M2, target: 600_000, tranche: "900000.00", due_on: "2026-03-31", release: PROPORTIONAL },
        ] },
    Project { key: "hr", country: "HR", partner: ("Mungos razminiranje d.o.o.", ""), reporter: "reports@mungos.hr", results_based: true,
        title: "Clearance of forest land in Karlovac and Sisak-Moslavina counties",
        budget: ("900000.00", "EUR"), period: ("2025-03-01", "2025-12-31"),
        milestones: &[
            Milestone { title: "Forest land cleared near Karlovac", indicator: M2, target: 180_000, tranche: "350000.00", due_on: "2025-06-30", release: PROPORTIONAL },
            Milestone { title: "Forest land cleared near Sisak", indicator: M2, target: 220_000, tranche: "450000.00", due_on: "2025-11-30", release: PROPORTIONAL },
        ] },
    Project { key: "al", country: "AL", partner: ("Albanian Mine and Munitions Coordination Office", ""), reporter: "reporting@ammco.gov.al", results_based: false,
        title: "Clearance of unexploded ordnance hotspots in Kukës and Gjirokastër",
        budget: ("450000.00", "USD"), period: ("2025-03-01", "2026-02-28"),
        milestones: &[
            Milestone { title: "UXO destroyed in Kukës hotspots", indicator: DEVICES, target: 1_200, tranche: "200000.00", due_on: "2025-06-30", release: PROPORTIONAL },
            Milestone { title: "Former ammunition site cleared, Gjirokastër", indicator: M2, target: 60_000, tranche: "150000.00", due_on: "2025-12-31", release: PROPORTIONAL },
        ] },
    Project { key: "rs", country: "RS", partner: ("Serbian Mine Action Centre", ""), reporter: "reporting@czrs.gov.rs", results_based: false,
        title: "Cluster munition remnants survey and clearance, Niš",
        budget: ("750000.00", "EUR"), period: ("2025-03-15", "2026-03-14"),
        milestones: &[
            Milestone { title: "Cluster munition strike areas cleared", indicator: M2, target: 300_000, tranche: "300000.00", due_on: "2025-07-31", release: PROPORTIONAL },
            Milestone { title: "Cluster submunitions destroyed", indicator: DEVICES, target: 450, tranche: "250000.00", due_on: "2025-10-31", release: ALL_OR_NOTHING },
        ] },
    Project { key: "me", country: "ME", partner: ("Regional Centre for Divers' Training and Underwater Demining", ""), reporter: "reporting@rcud.me", results_based: false,
        title: "Underwater survey and clearance, Bay of Kotor",
        budget: ("400000.00", "EUR"), period: ("2025-04-01", "2025-12-31"),
        milestones: &[
            Milestone { title: "Seabed surveyed and cleared", indicator: M2, target: 85_000, tranche: "180000.00", due_on: "2025-07-31", release: PROPORTIONAL },
            Milestone { title: "Underwater UXO destroyed", indicator: DEVICES, target: 320, tranche: "150000.00", due_on: "2025-11-30", release: PROPORTIONAL },
        ] },
    Project { key: "xk", country: "XK", partner: HALO, reporter: "kosovo@halotrust.org", results_based: false,
        title: "Minefield and cluster munition clearance, Dragash and Prizren",
        budget: ("1200000.00", "USD"), period: ("2025-03-01", "2026-02-28"),
        milestones: &[
            Milestone { title: "Minefields cleared, Dragash municipality", indicator: M2, target: 350_000, tranche: "500000.00", due_on: "2025-07-31", release: PROPORTIONAL },
            Milestone { title: "Cluster munitions destroyed, Prizren", indicator: DEVICES, target: 600, tranche: "400000.00", due_on: "2025-12-31", release: PROPORTIONAL },
        ] },
    Project { key: "am", country: "AM", partner: ("Center for Humanitarian Demining and Expertise", ""), reporter: "reporting@chde.am", results_based: false,
        title: "Clearance of minefields in Tavush province",
        budget: ("600000.00", "USD"), period: ("2025-04-01", "2026-03-31"),
        milestones: &[
            Milestone { title: "Minefields cleared, Tavush province, phase 1", indicator: M2, target: 200_000, tranche: "300000.00", due_on: "2025-08-31", release: PROPORTIONAL },
            Milestone { title: "Minefields cleared, Tavush province, phase 2", indicator: M2, target: 180_000, tranche: "250000.00", due_on: "2026-02-28", release: PROPORTIONAL },
        ] },
    Project { key: "az", country: "AZ", partner: ("Azerbaijan National Agency for Mine Action", ""), reporter: "reporting@anama.gov.az", results_based: false,
        title: "Clearance of agricultural land, Aghdam district",
        budget: ("800000.00", "USD"), period: ("2025-03-01", "2026-02-28"),
        milestones: &[
            Milestone { title: "Agricultural land cleared, Aghdam", indicator: M2, target: 400_000, tranche: "300000.00", due_on: "2025-06-30", release: PROPORTIONAL },
            Milestone { title: "Mines and UXO destroyed, Aghdam", indicator: DEVICES, target: 2_500, tranche: "250000.00", due_on: "2025-12-31", release: PROPORTIONAL },
        ] },
    Project { key: "ge", country: "GE", partner: HALO, reporter: "georgia@halotrust.org", results_based: false,
        title: "Battle area clearance, Shida Kartli",
        budget: ("500000.00", "USD"), period: ("2025-04-01", "2026-03-31"),
        milestones: &[
            Milestone { title: "Battle area cleared, Shida Kartli", indicator: M2, target: 150_000, tranche: "200000.00", due_on: "2025-07-31", release: PROPORTIONAL },
            Milestone { title: "ERW destroyed, Shida Kartli", indicator: DEVICES, target: 900, tranche: "150000.00", due_on: "2026-01-31", release: PROPORTIONAL },
        ] },
    Project { key: "tj", country: "TJ", partner: ("Swiss Foundation for Mine Action (FSD)", ""), reporter: "tajikistan@fsd.ch", results_based: false,
        title: "Clearance along the Tajik-Afghan border, Shamsiddin Shohin district",
        budget: ("700000.00", "USD"), period: ("2025-03-01", "2026-04-30"),
        milestones: &[
            Milestone { title: "Border minefields cleared, phase 1", indicator: M2, target: 120_000, tranche: "250000.00", due_on: "2025-07-31", release: PROPORTIONAL },
            Milestone { title: "Border minefields cleared, phase 2", indicator: M2, target: 150_000, tranche: "300000.00", due_on: "2026-03-31", release: PROPORTIONAL },
        ] },
    Project { key: "ua", country: "UA", partner: ("State Emergency Service of Ukraine", ""), reporter: "demining@dsns.gov.ua", results_based: false,
        title: "Humanitarian demining of agricultural land, Kharkiv oblast",
        budget: ("3000000.00", "EUR"), period: ("2025-03-01", "2026-02-28"),
        milestones: &[
            Milestone { title: "Agricultural land cleared, Kharkiv oblast", indicator: M2, target: 1_000_000, tranche: "1200000.00", due_on: "2025-06-30", release: PROPORTIONAL },
            Milestone { title: "Explosive ordnance destroyed, Kharkiv oblast", indicator: DEVICES, target: 5_000, tranche: "800000.00", due_on: "2025-12-31", release: PROPORTIONAL },
        ] },
];

/// The United States matches Western Balkans contributions 1:1.
pub const POOL_DONOR: &str = "US-GOV-1";
pub const POOL_CAP: &str = "2500000.00";
pub const POOL_COUNTRIES: &[&str] = &["AL", "BA", "HR", "ME", "MK", "RS", "XK"];
pub const POOL_EXPIRES: &str = "2025-12-31";

pub struct Pledge {
    /// Names the pledge's request ids and lets later steps refer to it.
    pub key: &'static str,
    pub donor: &'static str,
    pub amount: &'static str,
    pub currency: &'static str,
    /// The country the money is earmarked for; "" for none.
    pub country: &'static str,
    pub pledged_on: &'static str,
}

pub const PLEDGES: &[Pledge] = &[
    Pledge { key: "us", donor: "US-GOV-1", amount: "3000000.00", currency: "USD", country: "", pledged_on: "2025-01-15" },
    Pledge { key: "nl-ba", donor: "XM-DAC-7", amount: "1000000.00", currency: "EUR", country: "BA", pledged_on: "2025-01-10" },
    Pledge { key: "de-rs", donor: "XM-DAC-5", amount: "800000.00", currency: "EUR", country: "RS", pledged_on: "2025-01-28" },
    Pledge { key: "de-me", donor: "XM-DAC-5", amount: "400000.00", currency: "EUR", country: "ME", pledged_on: "2025-01-28" },
    Pledge { key: "si-hr", donor: "XM-DAC-61", amount: "250000.00", currency: "EUR", country: "HR", pledged_on: "2025-02-05" },
    Pledge { key: "ch", donor: "XM-DAC-11", amount: "1000000.00", currency: "CHF", country: "", pledged_on: "2025-02-06" },
    Pledge { key: "ca-ua", donor: "XM-DAC-301-1", amount: "2000000.00", currency: "CAD", country: "UA", pledged_on: "2025-02-12" },
    Pledge { key: "eu", donor: "XI-IATI-EC_INTPA", amount: "2000000.00", currency: "EUR", country: "", pledged_on: "2025-03-01" },
    Pledge { key: "si-me", donor: "XM-DAC-61", amount: "50000.00", currency: "EUR", country: "ME", pledged_on: "2025-04-01" },
];

/// `1 base = rate quote`, from a source, for a day; the currencies follow from the step.
#[derive(Clone, Copy)]
#[allow(
    clippy::struct_field_names,
    reason = "an exchange rate's figure is its rate, as the wire calls it"
)]
pub struct Rate {
    pub rate: &'static str,
    pub source: &'static str,
    pub on: &'static str,
}

const EUR_USD_0131: Rate = Rate { rate: "1.0393", source: ECB, on: "2025-01-31" };
const CHF_USD_0214: Rate = Rate { rate: "1.1094", source: "Swiss National Bank", on: "2025-02-14" };
const EUR_USD_0414: Rate = Rate { rate: "1.1354", source: ECB, on: "2025-04-14" };

/// The fund's history after the set-up, in the order it happened. Keys name request ids
/// and let later steps refer to what earlier ones created (a pledge, a project, a
/// disbursement).
pub enum Step {
    Sign(Agreement),
    Receive(Receipt),
    Allocate(Allocation),
    Report(Progress),
    Verify(Verification),
    Reject(Rejection),
    Request(Disbursement),
    /// The key of the disbursement approved.
    Approve(&'static str),
    Pay(Payment),
    Reverse(Reversal),
    Refund(Repayment),
    Amend(Amendment),
    Withdraw(Withdrawal),
    Rerate(Rerating),
    Close(PeriodClose),
}

use Step::{Allocate, Amend, Approve, Close, Pay, Receive, Refund, Rerate, Reject, Report, Request, Reverse, Sign, Verify, Withdraw};

/// The fund's books closed through a month end, by the director: entries dated in it are
/// refused from then on, corrections are made in the open period.
pub struct PeriodClose { pub through: &'static str, pub reason: &'static str }
pub struct Agreement { pub pledge: &'static str, pub reference: &'static str, pub on: &'static str }
/// Money received, with its rate to the reporting currency (USD) when in another currency.
pub struct Receipt { pub key: &'static str, pub pledge: &'static str, pub amount: &'static str, pub on: &'static str, pub bank_ref: &'static str, pub rate: Option<Rate> }
/// With the rate from the pledge's currency to the project's when they differ.
pub struct Allocation { pub key: &'static str, pub pledge: &'static str, pub project: &'static str, pub amount: &'static str, pub rate: Option<Rate> }
pub struct Progress { pub key: &'static str, pub project: &'static str, pub milestone: u32, pub actual: u64, pub evidence: &'static str }
pub struct Verification { pub project: &'static str, pub milestone: u32 }
pub struct Rejection { pub key: &'static str, pub project: &'static str, pub milestone: u32, pub reason: &'static str }
pub struct Disbursement { pub key: &'static str, pub project: &'static str, pub milestone: u32, pub amount: &'static str, pub purpose: &'static str }
/// Paid in the account's currency, or in another with the rate to it.
pub struct Payment { pub disbursement: &'static str, pub on: &'static str, pub bank_ref: &'static str, pub currency: Option<(&'static str, Rate)> }
pub struct Reversal { pub disbursement: &'static str, pub reason: &'static str }
pub struct Repayment { pub disbursement: &'static str, pub amount: &'static str, pub on: &'static str, pub reason: &'static str }
pub struct Amendment { pub pledge: &'static str, pub amount: &'static str, pub reason: &'static str }
pub struct Withdrawal { pub pledge: &'static str, pub reason: &'static str }
/// A receipt's rate corrected, by someone other than its booker.
pub struct Rerating { pub receipt: &'static str, pub rate: Rate, pub reason: &'static str }

macro_rules! tranche {
    ($key:literal, $project:literal, $m:literal, $actual:literal, $evidence:literal,
     $amount:literal, $purpose:literal, $paid:literal, $bank:literal) => {
        [
            Report(Progress { key: $key, project: $project, milestone: $m, actual: $actual, evidence: $evidence }),
            Verify(Verification { project: $project, milestone: $m }),
            Request(Disbursement { key: $key, project: $project, milestone: $m, amount: $amount, purpose: $purpose }),
            Approve($key),
            Pay(Payment { disbursement: $key, on: $paid, bank_ref: $bank, currency: None }),
        ]
    };
}

pub const SCRIPT: &[&[Step]] = &[
    &[
        Sign(Agreement { pledge: "nl-ba", reference: "NL-MFA-DSH-2025-0117", on: "2025-01-24" }),
        Sign(Agreement { pledge: "de-rs", reference: "AA-OR10-2025-0391", on: "2025-02-10" }),
        Sign(Agreement { pledge: "de-me", reference: "AA-OR10-2025-0392", on: "2025-02-10" }),
        Sign(Agreement { pledge: "ch", reference: "CH-FDFA-PSD-2025-014", on: "2025-02-12" }),
        Sign(Agreement { pledge: "us", reference: "SPMWRA25GR0012", on: "2025-02-20" }),
        Sign(Agreement { pledge: "ca-ua", reference: "GAC-P013927-001", on: "2025-03-05" }),
        Sign(Agreement { pledge: "eu", reference: "NDICI-NEAR-2025-462-118", on: "2025-03-28" }),
        Receive(Receipt { key: "nl-ba-1", pledge: "nl-ba", amount: "600000.00", on: "2025-02-03", bank_ref: "NL-BZ-2025-0203-0117", rate: Some(EUR_USD_0131) }),
        Allocate(Allocation { key: "nl-ba-1", pledge: "nl-ba", project: "ba", amount: "600000.00", rate: None }),
        Receive(Receipt { key: "ch-1", pledge: "ch", amount: "600000.00", on: "2025-02-17", bank_ref: "SNB-2025-0217-0488", rate: Some(CHF_USD_0214) }),
        Allocate(Allocation { key: "ch-az", pledge: "ch", project: "az", amount: "300000.00", rate: Some(CHF_USD_0214) }),
        Allocate(Allocation { key: "ch-tj", pledge: "ch", project: "tj", amount: "270000.00", rate: Some(CHF_USD_0214) }),
        Receive(Receipt { key: "us-1", pledge: "us", amount: "1200000.00", on: "2025-03-03", bank_ref: "FRBNY-2025-0303-4417", rate: None }),
        Allocate(Allocation { key: "us-xk", pledge: "us", project: "xk", amount: "700000.00", rate: None }),
        Allocate(Allocation { key: "us-al", pledge: "us", project: "al", amount: "400000.00", rate: None }),
        Receive(Receipt { key: "de-rs-1", pledge: "de-rs", amount: "800000.00", on: "2025-03-03", bank_ref: "BBK-2025-0303-0391", rate: Some(Rate { rate: "1.0411", source: ECB, on: "2025-02-28" }) }),
        Allocate(Allocation { key: "de-rs-1", pledge: "de-rs", project: "rs", amount: "750000.00", rate: None }),
        Receive(Receipt { key: "si-hr-1", pledge: "si-hr", amount: "250000.00", on: "2025-03-14", bank_ref: "BS-2025-0314-0061", rate: Some(Rate { rate: "1.0882", source: ECB, on: "2025-03-13" }) }),
        Allocate(Allocation { key: "si-hr-1", pledge: "si-hr", project: "hr", amount: "250000.00", rate: None }),
        Receive(Receipt { key: "ca-ua-1", pledge: "ca-ua", amount: "1000000.00", on: "2025-03-20", bank_ref: "BOC-2025-0320-7418", rate: Some(Rate { rate: "0.6978", source: "Bank of Canada daily exchange rate", on: "2025-03-19" }) }),
        Allocate(Allocation { key: "ca-ua-1", pledge: "ca-ua", project: "ua", amount: "1000000.00", rate: Some(Rate { rate: "0.6403", source: "ECB reference rate (inverse of EUR/CAD 1.5617)", on: "2025-03-19" }) }),
        Receive(Receipt { key: "de-me-1", pledge: "de-me", amount: "400000.00", on: "2025-04-07", bank_ref: "BBK-2025-0407-0392", rate: Some(Rate { rate: "1.1057", source: ECB, on: "2025-04-04" }) }),
        Allocate(Allocation { key: "de-me-1", pledge: "de-me", project: "me", amount: "400000.00", rate: None }),
        Receive(Receipt { key: "eu-1", pledge: "eu", amount: "1500000.00", on: "2025-04-15", bank_ref: "EC-2025-0415-462118", rate: Some(EUR_USD_0414) }),
        Allocate(Allocation { key: "eu-ua", pledge: "eu", project: "ua", amount: "700000.00", rate: None }),
        Allocate(Allocation { key: "eu-hr", pledge: "eu", project: "hr", amount: "300000.00", rate: None }),
        Allocate(Allocation { key: "eu-ge", pledge: "eu", project: "ge", amount: "200000.00", rate: Some(EUR_USD_0414) }),
        // Bosnia and Herzegovina is paid in convertible marks at the currency board's fixed rate.
        Report(Progress { key: "ba-1", project: "ba", milestone: 1, actual: 262_340, evidence: "NPA-BIH-CR-2025-031: completion report, Tuzla canton, phase 1" }),
        Verify(Verification { project: "ba", milestone: 1 }),
        Request(Disbursement { key: "ba-1", project: "ba", milestone: 1, amount: "400000.00", purpose: "Tranche 1: land release, Tuzla canton" }),
        Approve("ba-1"),
        Pay(Payment { disbursement: "ba-1", on: "2025-05-06", bank_ref: "CBBH-2025-0506-118", currency: Some(("BAM", Rate { rate: "1.95583", source: "Central Bank of Bosnia and Herzegovina (currency board)", on: "2025-05-06" })) }),
    ],
    // The first payment to Croatia comes back from a closed account and is paid again.
    &tranche!("hr-1", "hr", 1, 183_450, "HCR-CROMAC quality-control certificate 2025-HR-0412", "350000.00", "Tranche 1: forest land near Karlovac", "2025-05-20", "PBZ-2025-0520-0087"),
    &[
        Reverse(Reversal { disbursement: "hr-1", reason: "Returned by the beneficiary's bank: the account was closed after a merger" }),
        Request(Disbursement { key: "hr-1-reissued", project: "hr", milestone: 1, amount: "350000.00", purpose: "Tranche 1, re-issued to the partner's new account" }),
        Approve("hr-1-reissued"),
        Pay(Payment { disbursement: "hr-1-reissued", on: "2025-05-27", bank_ref: "PBZ-2025-0527-0102", currency: None }),
    ],
    &tranche!("me-1", "me", 1, 86_900, "RCUD survey report UW-2025-07, Bay of Kotor", "180000.00", "Tranche 1: seabed clearance", "2025-06-02", "CKB-2025-0602-0031"),
    &tranche!("al-1", "al", 1, 1_260, "AMMCO EOD destruction log, Kukës, Q2 2025", "200000.00", "Tranche 1: Kukës hotspots", "2025-06-03", "BKT-2025-0603-0210"),
    &tranche!("rs-1", "rs", 1, 301_200, "SMAC completion report CM-2025-NI-04", "300000.00", "Tranche 1: cluster strike areas, Niš", "2025-06-10", "NBS-2025-0610-0044"),
    // Azerbaijan's first report lacks its quality-assurance sign-off and is sent back.
    &[
        Report(Progress { key: "az-1", project: "az", milestone: 1, actual: 395_000, evidence: "ANAMA clearance certificates, Aghdam sectors 1-9" }),
        Reject(Rejection { key: "az-1", project: "az", milestone: 1, reason: "Certificates for sectors 7-9 lack the quality-assurance sign-off" }),
    ],
    &tranche!("az-1-resubmitted", "az", 1, 402_600, "ANAMA clearance certificates, Aghdam sectors 1-9, QA signed", "300000.00", "Tranche 1: Aghdam agricultural land", "2025-06-12", "IBA-2025-0612-0090"),
    &tranche!("xk-1", "xk", 1, 355_800, "HALO Kosovo completion report DR-2025-02", "500000.00", "Tranche 1: Dragash minefields", "2025-06-18", "RBKO-2025-0618-0015"),
    &tranche!("ge-1", "ge", 1, 151_300, "HALO Georgia battle area clearance report SK-2025-03", "200000.00", "Tranche 1: Shida Kartli", "2025-06-19", "TBC-2025-0619-0042"),
    &tranche!("tj-1", "tj", 1, 121_800, "FSD Tajikistan completion report SH-2025-01", "250000.00", "Tranche 1: border minefields", "2025-06-24", "AMO-2025-0624-0007"),
    &[
        Receive(Receipt { key: "nl-ba-2", pledge: "nl-ba", amount: "400000.00", on: "2025-05-12", bank_ref: "NL-BZ-2025-0512-0117", rate: Some(Rate { rate: "1.1217", source: ECB, on: "2025-05-09" }) }),
        Allocate(Allocation { key: "nl-ba-2", pledge: "nl-ba", project: "ba", amount: "400000.00", rate: None }),
        Receive(Receipt { key: "us-2", pledge: "us", amount: "800000.00", on: "2025-06-16", bank_ref: "FRBNY-2025-0616-5120", rate: None }),
        Allocate(Allocation { key: "us-am", pledge: "us", project: "am", amount: "300000.00", rate: None }),
    ],
    &tranche!("ba-2", "ba", 2, 192, "NPA-BIH EOD destruction log, Doboj region", "300000.00", "Tranche 2: Doboj region", "2025-07-08", "CBBH-2025-0708-131"),
    &tranche!("ua-1", "ua", 1, 1_012_000, "SESU clearance completion report KH-2025-11", "1200000.00", "Tranche 1: agricultural land, Kharkiv oblast", "2025-07-01", "NBU-2025-0701-0777"),
    // Where things stand: an approved tranche not yet paid, one awaiting approval, reports
    // awaiting verification, a refund, an amendment and a withdrawal.
    &[
        Report(Progress { key: "rs-2", project: "rs", milestone: 2, actual: 472, evidence: "SMAC EOD destruction log CM-2025-NI-05" }),
        Verify(Verification { project: "rs", milestone: 2 }),
        Request(Disbursement { key: "rs-2", project: "rs", milestone: 2, amount: "250000.00", purpose: "Tranche 2: cluster submunitions destroyed" }),
        Approve("rs-2"),
        Report(Progress { key: "am-1", project: "am", milestone: 1, actual: 204_100, evidence: "CHDE completion report TV-2025-05" }),
        Verify(Verification { project: "am", milestone: 1 }),
        Request(Disbursement { key: "am-1", project: "am", milestone: 1, amount: "300000.00", purpose: "Tranche 1: Tavush province, phase 1" }),
        Report(Progress { key: "ua-2", project: "ua", milestone: 2, actual: 3_150, evidence: "SESU EOD destruction log, Kharkiv oblast, June 2025" }),
        Report(Progress { key: "xk-2", project: "xk", milestone: 2, actual: 380, evidence: "HALO Kosovo EOD log PZ-2025-06" }),
        // The season ends with Sisak cleared short of its target: verified as it stands, the
        // proportional rule releases 95 300/220 000 of the tranche (194 931.81 of 450 000.00
        // EUR) and the Croatian project, being results-based, is paid that and no more.
        Report(Progress { key: "hr-2", project: "hr", milestone: 2, actual: 95_300, evidence: "HCR-CROMAC final report Sisak 2025-HR-0533" }),
        Verify(Verification { project: "hr", milestone: 2 }),
        Request(Disbursement { key: "hr-2", project: "hr", milestone: 2, amount: "194931.81", purpose: "Tranche 2, in proportion to the area verified near Sisak" }),
        Approve("hr-2"),
        Refund(Repayment { disbursement: "me-1", amount: "12500.00", on: "2025-09-15", reason: "Ineligible expenditure: vessel fuel bought outside the project period" }),
        Amend(Amendment { pledge: "de-rs", amount: "1000000.00", reason: "Additional 2025 appropriation of the Federal Foreign Office" }),
        Withdraw(Withdrawal { pledge: "si-me", reason: "Budget reallocated to the Croatian programme" }),
        // Switzerland's second instalment is booked at a rate keyed without its decimal point
        // (5 024 800 000.00 USD for 400 000.00 CHF); the controller corrects it.
        Receive(Receipt { key: "ch-2", pledge: "ch", amount: "400000.00", on: "2025-09-22", bank_ref: "SNB-2025-0922-0512", rate: Some(Rate { rate: "12562", source: "Swiss National Bank", on: "2025-09-19" }) }),
        Rerate(Rerating { receipt: "ch-2", rate: Rate { rate: "1.2562", source: "Swiss National Bank", on: "2025-09-19" }, reason: "The rate was keyed without its decimal point" }),
        // The first quarter is closed: nothing dated in it can be booked any more.
        Close(PeriodClose { through: "2025-03-31", reason: "First quarter 2025 closed" }),
    ],
];
