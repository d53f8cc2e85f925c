//! What the clients do: the kinds of calls, the weighted mix they are drawn from, and each
//! client's book of the pledges, projects and disbursements it works on.
//!
//! A client works only on what it created itself, as one finance officer works through their
//! own files, so clients never contend for a stream and every command it sends is one the fund
//! accepts. A kind drawn whose precondition the book does not meet becomes the step that leads
//! to it (an approval with nothing pending becomes a request; a request with no confirmed
//! money on any account becomes a look at the account, or an allocation), so the figures the
//! report gives by RPC are those of the mix actually sent, not of the weights drawn from.
//!
//! Streams are kept to the lengths a fund's records have: a pledge takes ten receipts, a
//! project four milestones and twenty disbursements, and then the client moves on to new ones.
//! The pipeline loads a stream whole for each command, so a load that grew a few streams
//! without end would measure stream length rather than the service.

#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts are written major_minor: 5_000_00 is 5,000.00"
)]

use std::collections::VecDeque;

use serde::Serialize;

/// One receipt, in EUR cents.
pub const RECEIPT: i64 = 5_000_00;
/// A pledge covers this many receipts.
pub const RECEIPTS_PER_PLEDGE: i64 = 10;
/// One allocation: half a receipt.
pub const ALLOCATION: i64 = 2_500_00;
/// One disbursement request.
pub const DISBURSEMENT: i64 = 250_00;
/// A project's budget: far above the tranches its milestones plan.
pub const BUDGET: i64 = 1_000_000_00;
/// A milestone's tranche.
pub const TRANCHE: i64 = 10_000_00;
/// Square metres a milestone targets; progress reports exceed it.
pub const TARGET: u64 = 120_000;
/// Milestones a project plans before the client moves on.
pub const MILESTONES_PER_PROJECT: u32 = 4;
/// Disbursements a project account takes before the client moves on.
pub const REQUESTS_PER_PROJECT: u32 = 20;
/// How many pledges and projects a client keeps working on at once.
const OPEN_PLEDGES: usize = 8;
const OPEN_PROJECTS: usize = 6;

/// The countries projects are registered in.
pub const COUNTRIES: &[&str] = &["BA", "KH", "AO", "CO", "UA", "LA", "IQ", "VN"];

/// The implementing partner of every project, and the payee of every disbursement.
pub const PARTNER: &str = "Norwegian People's Aid";
pub const PARTNER_IATI: &str = "NO-BRC-971277882";

/// Every kind of call a client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RecordPledge,
    ReceiveContribution,
    AllocateContribution,
    RequestDisbursement,
    ApproveDisbursement,
    RegisterProject,
    PlanMilestone,
    ReportProgress,
    VerifyMilestone,
    GetPledge,
    GetProject,
    GetProjectAccount,
    GetCountryFunding,
    GetDonorStatement,
    GetFundOverview,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::RecordPledge,
        Kind::ReceiveContribution,
        Kind::AllocateContribution,
        Kind::RequestDisbursement,
        Kind::ApproveDisbursement,
        Kind::RegisterProject,
        Kind::PlanMilestone,
        Kind::ReportProgress,
        Kind::VerifyMilestone,
        Kind::GetPledge,
        Kind::GetProject,
        Kind::GetProjectAccount,
        Kind::GetCountryFunding,
        Kind::GetDonorStatement,
        Kind::GetFundOverview,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn is_command(self) -> bool {
        !matches!(
            self,
            Kind::GetPledge
                | Kind::GetProject
                | Kind::GetProjectAccount
                | Kind::GetCountryFunding
                | Kind::GetDonorStatement
                | Kind::GetFundOverview
        )
    }

    /// The RPC's name, as the report shows it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RecordPledge => "RecordPledge",
            Kind::ReceiveContribution => "ReceiveContribution",
            Kind::AllocateContribution => "AllocateContribution",
            Kind::RequestDisbursement => "RequestDisbursement",
            Kind::ApproveDisbursement => "ApproveDisbursement",
            Kind::RegisterProject => "RegisterProject",
            Kind::PlanMilestone => "PlanMilestone",
            Kind::ReportProgress => "ReportProgress",
            Kind::VerifyMilestone => "VerifyMilestone",
            Kind::GetPledge => "GetPledge",
            Kind::GetProject => "GetProject",
            Kind::GetProjectAccount => "GetProjectAccount",
            Kind::GetCountryFunding => "GetCountryFunding",
            Kind::GetDonorStatement => "GetDonorStatement",
            Kind::GetFundOverview => "GetFundOverview",
        }
    }
}

/// The commands drawn, by weight: what a fund's finance and programme staff do in a day,
/// money in (pledges, receipts, allocations) and out (requests and their approvals) in about
/// equal measure, and the milestone work that releases tranches. Projects are registered and
/// milestones planned when the book needs them.
const COMMAND_WEIGHTS: &[(Kind, u32)] = &[
    (Kind::RecordPledge, 8),
    (Kind::ReceiveContribution, 16),
    (Kind::AllocateContribution, 16),
    (Kind::RequestDisbursement, 16),
    (Kind::ApproveDisbursement, 16),
    (Kind::ReportProgress, 14),
    (Kind::VerifyMilestone, 14),
];

/// The queries drawn, by weight: staff looking at their own records, and the funding views.
const QUERY_WEIGHTS: &[(Kind, u32)] = &[
    (Kind::GetPledge, 20),
    (Kind::GetProject, 15),
    (Kind::GetProjectAccount, 20),
    (Kind::GetCountryFunding, 20),
    (Kind::GetDonorStatement, 10),
    (Kind::GetFundOverview, 15),
];

/// The weighted mix of calls, with the share of queries among them.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Cumulative weights over commands then queries, scaled so that queries take their share.
    cumulative: Vec<(Kind, u64)>,
}

impl Mix {
    /// A mix in which `query_percent` of the calls drawn are queries.
    pub fn new(query_percent: u8) -> Self {
        let query_percent = u64::from(query_percent.min(100));
        let command_total: u64 = COMMAND_WEIGHTS.iter().map(|(_, w)| u64::from(*w)).sum();
        let query_total: u64 = QUERY_WEIGHTS.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut cumulative = Vec::new();
        let mut sum = 0;
        // Each side is scaled by the other's total, so the shares come out exact.
        for (kind, weight) in COMMAND_WEIGHTS {
            sum += u64::from(*weight) * (100 - query_percent) * query_total;
            cumulative.push((*kind, sum));
        }
        for (kind, weight) in QUERY_WEIGHTS {
            sum += u64::from(*weight) * query_percent * command_total;
            cumulative.push((*kind, sum));
        }
        Self { cumulative }
    }

    /// The kinds this mix can draw.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        let mut last = 0;
        self.cumulative.iter().filter_map(move |(kind, sum)| {
            let drawn = *sum > last;
            last = *sum;
            drawn.then_some(*kind)
        })
    }

    pub fn draw(&self, rng: &mut Rng) -> Kind {
        let total = self.cumulative.last().map_or(0, |(_, sum)| *sum);
        if total == 0 {
            return Kind::GetFundOverview;
        }
        let at = rng.below(total);
        self.cumulative
            .iter()
            .find(|(_, sum)| at < *sum)
            .map_or(Kind::GetFundOverview, |(kind, _)| *kind)
    }
}

/// A small deterministic generator (xorshift64*): each client draws its own sequence, so a
/// run's mix does not depend on how the clients' calls interleave.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough below `bound` for choosing among a few items (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let at = usize::try_from(self.below(items.len() as u64)).ok()?;
        items.get(at)
    }
}

/// One call to make, with what it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    RecordPledge {
        donor: String,
    },
    ReceiveContribution {
        pledge: String,
    },
    AllocateContribution {
        pledge: String,
        project: String,
    },
    RequestDisbursement {
        project: String,
    },
    ApproveDisbursement {
        project: String,
        disbursement: String,
    },
    RegisterProject {
        country: &'static str,
    },
    PlanMilestone {
        project: String,
    },
    ReportProgress {
        project: String,
        milestone: u32,
    },
    VerifyMilestone {
        project: String,
        milestone: u32,
    },
    GetPledge {
        pledge: String,
    },
    GetProject {
        project: String,
    },
    GetProjectAccount {
        project: String,
    },
    GetCountryFunding {
        country: &'static str,
    },
    GetDonorStatement {
        donor: String,
    },
    GetFundOverview,
}

impl Op {
    pub fn kind(&self) -> Kind {
        match self {
            Op::RecordPledge { .. } => Kind::RecordPledge,
            Op::ReceiveContribution { .. } => Kind::ReceiveContribution,
            Op::AllocateContribution { .. } => Kind::AllocateContribution,
            Op::RequestDisbursement { .. } => Kind::RequestDisbursement,
            Op::ApproveDisbursement { .. } => Kind::ApproveDisbursement,
            Op::RegisterProject { .. } => Kind::RegisterProject,
            Op::PlanMilestone { .. } => Kind::PlanMilestone,
            Op::ReportProgress { .. } => Kind::ReportProgress,
            Op::VerifyMilestone { .. } => Kind::VerifyMilestone,
            Op::GetPledge { .. } => Kind::GetPledge,
            Op::GetProject { .. } => Kind::GetProject,
            Op::GetProjectAccount { .. } => Kind::GetProjectAccount,
            Op::GetCountryFunding { .. } => Kind::GetCountryFunding,
            Op::GetDonorStatement { .. } => Kind::GetDonorStatement,
            Op::GetFundOverview => Kind::GetFundOverview,
        }
    }
}

/// What a call came back with, as far as the book needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command was recorded; `created` is the id it made, if any.
    Recorded { created: String },
    /// A project account as read, with its net credits.
    Account { credited: i64 },
    /// Any other answer to a query.
    Read,
    /// Refused or failed: the book forgets what the call acted on, so a client never repeats
    /// a call that cannot succeed.
    Failed,
}

#[derive(Debug, Clone)]
struct PledgeFile {
    id: String,
    receivable: i64,
    unallocated: i64,
}

impl PledgeFile {
    fn spent(&self) -> bool {
        self.receivable < RECEIPT && self.unallocated < ALLOCATION
    }
}

#[derive(Debug, Clone)]
struct ProjectFile {
    id: String,
    country: &'static str,
    planned: u32,
    to_report: VecDeque<u32>,
    to_verify: VecDeque<u32>,
    allocated: i64,
    /// Net credits the account showed when last read.
    credited: i64,
    requested: i64,
    requests: u32,
    /// The account was read after the last allocation to it.
    read_since_allocation: bool,
}

impl ProjectFile {
    fn new(id: String, country: &'static str) -> Self {
        Self {
            id,
            country,
            planned: 0,
            to_report: VecDeque::new(),
            to_verify: VecDeque::new(),
            allocated: 0,
            credited: 0,
            requested: 0,
            requests: 0,
            read_since_allocation: false,
        }
    }

    fn takes_requests(&self) -> bool {
        self.requests < REQUESTS_PER_PROJECT
    }

    /// Confirmed money not yet requested.
    fn headroom(&self) -> i64 {
        self.credited - self.requested
    }

    fn done(&self) -> bool {
        !self.takes_requests()
            && self.planned >= MILESTONES_PER_PROJECT
            && self.to_report.is_empty()
            && self.to_verify.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Pending {
    project: String,
    disbursement: String,
}

/// One client's records: what it created and where each stands.
#[derive(Debug, Clone)]
pub struct Book {
    donors: Vec<String>,
    pledges: VecDeque<PledgeFile>,
    projects: VecDeque<ProjectFile>,
    pending: VecDeque<Pending>,
    rng: Rng,
}

impl Book {
    pub fn new(donors: Vec<String>, seed: u64) -> Self {
        Self {
            donors,
            pledges: VecDeque::new(),
            projects: VecDeque::new(),
            pending: VecDeque::new(),
            rng: Rng::seeded(seed),
        }
    }

    /// The next call: a kind drawn from `mix`, led to what the book allows.
    pub fn next(&mut self, mix: &Mix) -> Op {
        let kind = mix.draw(&mut self.rng);
        self.lead_to(kind)
    }

    /// The call that makes progress towards `kind`: `kind` itself when the book allows it.
    pub fn lead_to(&mut self, kind: Kind) -> Op {
        match kind {
            Kind::ApproveDisbursement => match self.pending.front() {
                Some(p) => Op::ApproveDisbursement {
                    project: p.project.clone(),
                    disbursement: p.disbursement.clone(),
                },
                None => self.lead_to(Kind::RequestDisbursement),
            },
            Kind::RequestDisbursement => {
                let open = || self.projects.iter().filter(|p| p.takes_requests());
                if let Some(p) = open().find(|p| p.headroom() >= DISBURSEMENT) {
                    Op::RequestDisbursement {
                        project: p.id.clone(),
                    }
                } else if let Some(p) =
                    open().find(|p| p.allocated > p.credited && !p.read_since_allocation)
                {
                    // Credits arrive through a process manager: look before asking for more.
                    Op::GetProjectAccount {
                        project: p.id.clone(),
                    }
                } else {
                    self.lead_to(Kind::AllocateContribution)
                }
            }
            Kind::AllocateContribution => {
                let Some(pledge) = self.pledges.iter().find(|p| p.unallocated >= ALLOCATION) else {
                    return self.lead_to(Kind::ReceiveContribution);
                };
                let target = self
                    .projects
                    .iter()
                    .filter(|p| p.takes_requests())
                    .min_by_key(|p| p.allocated - p.requested);
                match target {
                    Some(project) => Op::AllocateContribution {
                        pledge: pledge.id.clone(),
                        project: project.id.clone(),
                    },
                    None => self.lead_to(Kind::RegisterProject),
                }
            }
            Kind::ReceiveContribution => {
                match self.pledges.iter().find(|p| p.receivable >= RECEIPT) {
                    Some(p) => Op::ReceiveContribution {
                        pledge: p.id.clone(),
                    },
                    None => self.lead_to(Kind::RecordPledge),
                }
            }
            Kind::RecordPledge => Op::RecordPledge {
                donor: self.donor(),
            },
            Kind::VerifyMilestone => {
                match self
                    .projects
                    .iter()
                    .find_map(|p| Some((p, *p.to_verify.front()?)))
                {
                    Some((p, milestone)) => Op::VerifyMilestone {
                        project: p.id.clone(),
                        milestone,
                    },
                    None => self.lead_to(Kind::ReportProgress),
                }
            }
            Kind::ReportProgress => {
                match self
                    .projects
                    .iter()
                    .find_map(|p| Some((p, *p.to_report.front()?)))
                {
                    Some((p, milestone)) => Op::ReportProgress {
                        project: p.id.clone(),
                        milestone,
                    },
                    None => self.lead_to(Kind::PlanMilestone),
                }
            }
            Kind::PlanMilestone => {
                match self
                    .projects
                    .iter()
                    .find(|p| p.planned < MILESTONES_PER_PROJECT)
                {
                    Some(p) => Op::PlanMilestone {
                        project: p.id.clone(),
                    },
                    None => self.lead_to(Kind::RegisterProject),
                }
            }
            Kind::RegisterProject => Op::RegisterProject {
                country: self.country(),
            },
            Kind::GetPledge => match self.pick_pledge() {
                Some(pledge) => Op::GetPledge { pledge },
                None => Op::GetFundOverview,
            },
            Kind::GetProject => match self.pick_project() {
                Some(project) => Op::GetProject { project },
                None => Op::GetFundOverview,
            },
            Kind::GetProjectAccount => match self.pick_project() {
                Some(project) => Op::GetProjectAccount { project },
                None => Op::GetFundOverview,
            },
            Kind::GetCountryFunding => Op::GetCountryFunding {
                country: self.country(),
            },
            Kind::GetDonorStatement => Op::GetDonorStatement {
                donor: self.donor(),
            },
            Kind::GetFundOverview => Op::GetFundOverview,
        }
    }

    fn donor(&mut self) -> String {
        self.rng.pick(&self.donors).cloned().unwrap_or_default()
    }

    fn country(&mut self) -> &'static str {
        self.rng.pick(COUNTRIES).copied().unwrap_or("BA")
    }

    fn pick_pledge(&mut self) -> Option<String> {
        let at = usize::try_from(self.rng.below(self.pledges.len() as u64)).ok()?;
        self.pledges.get(at).map(|p| p.id.clone())
    }

    fn pick_project(&mut self) -> Option<String> {
        let at = usize::try_from(self.rng.below(self.projects.len() as u64)).ok()?;
        self.projects.get(at).map(|p| p.id.clone())
    }

    fn pledge(&mut self, id: &str) -> Option<&mut PledgeFile> {
        self.pledges.iter_mut().find(|p| p.id == id)
    }

    fn project(&mut self, id: &str) -> Option<&mut ProjectFile> {
        self.projects.iter_mut().find(|p| p.id == id)
    }

    /// Takes what `op` came back with into the book.
    pub fn record(&mut self, op: &Op, outcome: &Outcome) {
        match (op, outcome) {
            (Op::RecordPledge { .. }, Outcome::Recorded { created }) => {
                if self.pledges.len() >= OPEN_PLEDGES {
                    let at = self.pledges.iter().position(PledgeFile::spent).unwrap_or(0);
                    self.pledges.remove(at);
                }
                self.pledges.push_back(PledgeFile {
                    id: created.clone(),
                    receivable: RECEIPT * RECEIPTS_PER_PLEDGE,
                    unallocated: 0,
                });
            }
            (Op::ReceiveContribution { pledge }, Outcome::Recorded { .. }) => {
                if let Some(p) = self.pledge(pledge) {
                    p.receivable -= RECEIPT;
                    p.unallocated += RECEIPT;
                }
            }
            (Op::AllocateContribution { pledge, project }, Outcome::Recorded { .. }) => {
                if let Some(p) = self.pledge(pledge) {
                    p.unallocated -= ALLOCATION;
                }
                if let Some(p) = self.project(project) {
                    p.allocated += ALLOCATION;
                    p.read_since_allocation = false;
                }
            }
            (Op::RequestDisbursement { project }, Outcome::Recorded { created }) => {
                if let Some(p) = self.project(project) {
                    p.requested += DISBURSEMENT;
                    p.requests += 1;
                }
                self.pending.push_back(Pending {
                    project: project.clone(),
                    disbursement: created.clone(),
                });
            }
            (Op::ApproveDisbursement { disbursement, .. }, _) => {
                self.pending.retain(|p| &p.disbursement != disbursement);
            }
            (Op::RegisterProject { country }, Outcome::Recorded { created }) => {
                if self.projects.len() >= OPEN_PROJECTS {
                    let at = self
                        .projects
                        .iter()
                        .position(ProjectFile::done)
                        .unwrap_or(0);
                    self.projects.remove(at);
                }
                self.projects
                    .push_back(ProjectFile::new(created.clone(), country));
            }
            (Op::PlanMilestone { project }, Outcome::Recorded { created }) => {
                let number = created.parse::<u32>().ok();
                if let Some(p) = self.project(project) {
                    p.planned += 1;
                    if let Some(number) = number {
                        p.to_report.push_back(number);
                    }
                }
            }
            (Op::ReportProgress { project, milestone }, Outcome::Recorded { .. }) => {
                if let Some(p) = self.project(project) {
                    p.to_report.retain(|m| m != milestone);
                    p.to_verify.push_back(*milestone);
                }
            }
            (Op::VerifyMilestone { project, milestone }, _) => {
                if let Some(p) = self.project(project) {
                    p.to_verify.retain(|m| m != milestone);
                }
            }
            (Op::GetProjectAccount { project }, Outcome::Account { credited }) => {
                if let Some(p) = self.project(project) {
                    p.credited = p.credited.max(*credited);
                    p.read_since_allocation = true;
                }
            }
            (_, Outcome::Failed) => self.forget(op),
            _ => {}
        }
    }

    /// Stops working on what a failed call acted on.
    fn forget(&mut self, op: &Op) {
        match op {
            Op::ReceiveContribution { pledge } | Op::GetPledge { pledge } => {
                self.pledges.retain(|p| &p.id != pledge);
            }
            Op::AllocateContribution { pledge, .. } => self.pledges.retain(|p| &p.id != pledge),
            Op::RequestDisbursement { project }
            | Op::PlanMilestone { project }
            | Op::GetProject { project }
            | Op::GetProjectAccount { project } => self.projects.retain(|p| &p.id != project),
            Op::ReportProgress { project, milestone } => {
                if let Some(p) = self.project(project) {
                    p.to_report.retain(|m| m != milestone);
                }
            }
            _ => {}
        }
    }

    /// The projects whose accounts have been funded but not yet seen credited, with the
    /// money allocated to each.
    pub fn awaiting_credit(&self) -> Vec<(String, i64)> {
        self.projects
            .iter()
            .filter(|p| p.credited < p.allocated)
            .map(|p| (p.id.clone(), p.allocated))
            .collect()
    }

    /// The projects this client works on, by country.
    pub fn projects(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.projects.iter().map(|p| (p.id.as_str(), p.country))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(id: &str) -> Outcome {
        Outcome::Recorded {
            created: id.to_owned(),
        }
    }

    #[test]
    fn queries_take_their_share_of_the_mix() {
        let mix = Mix::new(20);
        let mut rng = Rng::seeded(7);
        let draws = 100_000;
        let queries = (0..draws)
            .filter(|_| !mix.draw(&mut rng).is_command())
            .count();
        assert!((19_000..21_000).contains(&queries), "{queries} queries");
        assert!(Mix::new(0).kinds().all(Kind::is_command));
        assert!(Mix::new(100).kinds().all(|k| !k.is_command()));
    }

    #[test]
    fn an_empty_book_leads_every_command_to_its_first_step() {
        let mut book = Book::new(vec!["XM-DAC-7".to_owned()], 1);
        assert_eq!(
            book.lead_to(Kind::ApproveDisbursement),
            Op::RecordPledge {
                donor: "XM-DAC-7".to_owned()
            }
        );
        assert!(matches!(
            book.lead_to(Kind::VerifyMilestone),
            Op::RegisterProject { .. }
        ));
    }

    #[test]
    fn money_is_requested_only_once_the_account_shows_it() {
        let mut book = Book::new(vec!["XM-DAC-7".to_owned()], 1);
        book.record(&Op::RegisterProject { country: "BA" }, &recorded("p1"));
        let pledge = Op::RecordPledge {
            donor: "XM-DAC-7".to_owned(),
        };
        book.record(&pledge, &recorded("g1"));
        assert_eq!(
            book.lead_to(Kind::AllocateContribution),
            Op::ReceiveContribution {
                pledge: "g1".to_owned()
            }
        );
        book.record(
            &Op::ReceiveContribution {
                pledge: "g1".to_owned(),
            },
            &recorded("r1"),
        );
        let allocate = Op::AllocateContribution {
            pledge: "g1".to_owned(),
            project: "p1".to_owned(),
        };
        assert_eq!(book.lead_to(Kind::RequestDisbursement), allocate);
        book.record(&allocate, &recorded("a1"));
        let look = Op::GetProjectAccount {
            project: "p1".to_owned(),
        };
        assert_eq!(book.lead_to(Kind::ApproveDisbursement), look);
        // Not credited yet: allocate again rather than look again at once.
        book.record(&look, &Outcome::Account { credited: 0 });
        assert_eq!(book.lead_to(Kind::RequestDisbursement), allocate);
        book.record(
            &look,
            &Outcome::Account {
                credited: ALLOCATION,
            },
        );
        let request = Op::RequestDisbursement {
            project: "p1".to_owned(),
        };
        assert_eq!(book.lead_to(Kind::RequestDisbursement), request);
        // Exactly the confirmed money, and no more, is requested.
        let requests = ALLOCATION / DISBURSEMENT;
        for n in 0..requests {
            assert_eq!(book.lead_to(Kind::RequestDisbursement), request, "{n}");
            book.record(&request, &recorded(&format!("d{n}")));
        }
        assert_ne!(book.lead_to(Kind::RequestDisbursement), request);
        assert_eq!(
            book.lead_to(Kind::ApproveDisbursement),
            Op::ApproveDisbursement {
                project: "p1".to_owned(),
                disbursement: "d0".to_owned()
            }
        );
    }

    #[test]
    fn milestones_are_reported_then_verified_and_a_full_project_makes_way() {
        let mut book = Book::new(vec!["XM-DAC-7".to_owned()], 1);
        book.record(&Op::RegisterProject { country: "KH" }, &recorded("p1"));
        let plan = Op::PlanMilestone {
            project: "p1".to_owned(),
        };
        for n in 1..=MILESTONES_PER_PROJECT {
            assert_eq!(book.lead_to(Kind::VerifyMilestone), plan);
            book.record(&plan, &recorded(&n.to_string()));
            let report = Op::ReportProgress {
                project: "p1".to_owned(),
                milestone: n,
            };
            assert_eq!(book.lead_to(Kind::VerifyMilestone), report);
            book.record(&report, &recorded(""));
            let verify = Op::VerifyMilestone {
                project: "p1".to_owned(),
                milestone: n,
            };
            assert_eq!(book.lead_to(Kind::VerifyMilestone), verify);
            book.record(&verify, &recorded(""));
        }
        assert!(matches!(
            book.lead_to(Kind::VerifyMilestone),
            Op::RegisterProject { .. }
        ));
    }

    #[test]
    fn a_failed_call_is_not_repeated() {
        let mut book = Book::new(vec!["XM-DAC-7".to_owned()], 1);
        book.record(&Op::RegisterProject { country: "KH" }, &recorded("p1"));
        let plan = Op::PlanMilestone {
            project: "p1".to_owned(),
        };
        book.record(&plan, &Outcome::Failed);
        assert_ne!(book.lead_to(Kind::PlanMilestone), plan);
    }
}
