//! Random operations on the simulated fund: property tests and benchmarks drive it with them.

use fundtrail_domain::{Currency, DonorKind, Indicator};

use super::world::{EarmarkChoice, World};

pub const COUNTRIES: [&str; 6] = ["BA", "HR", "UA", "XK", "AZ", "TJ"];

/// One random step: what to do (`kind`) and three numbers it picks its targets and amounts
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub kind: u8,
    pub a: u32,
    pub b: u32,
    pub c: u32,
}

fn pick(n: u32, len: usize) -> Option<usize> {
    (len > 0).then(|| n as usize % len)
}

/// `percent` (1..=100) of `amount`, at least 1.
pub fn share(amount: i64, percent: u32) -> i64 {
    (amount * i64::from(percent % 100 + 1) / 100).max(1)
}

impl World {
    /// A fund with donors in several currencies, a matching donor and a matching pool.
    pub fn seeded(reporting: Currency) -> Self {
        let mut world = World::new(reporting);
        let eur = Currency::EUR;
        world.register_donor(
            "US-GOV-1",
            "United States",
            DonorKind::Government,
            false,
            Currency::USD,
        );
        world.register_donor("XM-DAC-7", "Netherlands", DonorKind::Government, true, eur);
        world.register_donor("XM-DAC-5", "Germany", DonorKind::Government, true, eur);
        world.register_donor(
            "XM-DAC-11",
            "Switzerland",
            DonorKind::Government,
            true,
            Currency::CHF,
        );
        world.register_donor(
            "XM-DAC-701",
            "Japan",
            DonorKind::Government,
            true,
            Currency::new("JPY").unwrap(),
        );
        world.register_donor(
            "GB-CHC-1089464",
            "Mine Action Trust",
            DonorKind::Private,
            false,
            Currency::new("GBP").unwrap(),
        );
        world.open_pool(0, 50_000_000_00, &["BA", "UA", "XK"], 3650);
        world
    }

    pub fn apply(&mut self, op: Op) {
        let Op { kind, a, b, c } = op;
        let pledges = self.pledges.len();
        let projects = self.projects.len();
        let disbursements = self.disbursements.len();
        // 19 and anything unnamed moves the clock on (closing the books of a month that has
        // ended); 20 to 22 correct receipts.
        match kind % 23 {
            0 => {
                let currency =
                    [Currency::EUR, Currency::USD, Currency::new("BAM").unwrap()][b as usize % 3];
                let country = COUNTRIES[a as usize % COUNTRIES.len()];
                let budget = i64::from(c % 5000 + 500) * 1_000_00;
                let title = format!("Clearance {country} {}", projects + 1);
                self.register_project(country, currency, budget, &title, "Norwegian People's Aid");
            }
            1 | 2 => {
                let Some(donor) = pick(a, self.donors.len()) else {
                    return;
                };
                let earmark = match b % 4 {
                    0 => EarmarkChoice::None,
                    1 | 2 => EarmarkChoice::Country(COUNTRIES[c as usize % COUNTRIES.len()]),
                    _ => match pick(c, projects) {
                        Some(p) => EarmarkChoice::Project(p),
                        None => EarmarkChoice::None,
                    },
                };
                let amount = i64::from(c % 900 + 100) * 1_000_00;
                self.record_pledge(donor, amount, earmark);
            }
            3 => {
                if let Some(p) = pick(a, pledges)
                    && let Some(terms) = self.pledge(p).terms()
                {
                    let delta = i64::from(b % 60) - 20;
                    let amount = terms.amount.minor_units() + delta * 1_000_00;
                    self.amend(p, amount.max(1));
                }
            }
            4 => {
                if b % 5 == 0
                    && let Some(p) = pick(a, pledges)
                {
                    self.withdraw(p);
                }
            }
            5 => {
                if let Some(p) = pick(a, pledges)
                    && let Some(terms) = self.pledge(p).terms()
                {
                    self.sign(p, share(terms.amount.minor_units(), b));
                }
            }
            6..=8 => {
                if let Some(p) = pick(a, pledges)
                    && let Some(terms) = self.pledge(p).terms()
                {
                    let received = self.pledge(p).received().map_or(0, |m| m.minor_units());
                    let open = (terms.amount.minor_units() - received).max(1);
                    self.receive(p, share(open, b));
                }
            }
            9 | 10 => {
                if let (Some(p), Some(project)) = (pick(a, pledges), pick(b, projects))
                    && let Ok(unallocated) = self.pledge(p).unallocated()
                    && unallocated.is_positive()
                {
                    self.allocate(p, project, share(unallocated.minor_units(), c));
                }
            }
            11 => {
                if let Some(p) = pick(a, projects) {
                    let indicator = match b % 3 {
                        0 => Indicator::SquareMetresCleared,
                        1 => Indicator::DevicesDestroyed,
                        _ => Indicator::Other {
                            name: "people reached by risk education".into(),
                            unit: "people".into(),
                        },
                    };
                    let target = u64::from(c % 100_000 + 100);
                    let tranche = i64::from(c % 50 + 1) * 1_000_00;
                    self.plan(p, indicator, target, tranche);
                }
            }
            12 => {
                if let Some(p) = pick(a, projects) {
                    let count = self.projects[p].1.milestones().len();
                    if let Some(m) = pick(b, count) {
                        let target = self.projects[p].1.milestones()[&(m as u32 + 1)].target;
                        let actual = target * u64::from(c % 120 + 1) / 100;
                        self.report_progress(p, m as u32 + 1, actual);
                    }
                }
            }
            13 => {
                if let Some(p) = pick(a, projects) {
                    let count = self.projects[p].1.milestones().len();
                    if let Some(m) = pick(b, count) {
                        if c % 4 == 0 {
                            self.reject_milestone(p, m as u32 + 1);
                        } else {
                            self.verify(p, m as u32 + 1);
                        }
                    }
                }
            }
            14 => {
                if let Some(p) = pick(a, projects)
                    && let Some(available) = self.projects[p].2.available()
                    && available.is_positive()
                {
                    let tranches: Vec<(u32, i64)> = self.projects[p]
                        .2
                        .released_tranches()
                        .iter()
                        .map(|(m, t)| (*m, t.minor_units()))
                        .collect();
                    let (amount, milestone) = match pick(c, tranches.len()) {
                        Some(i) if b % 2 == 0 => (
                            tranches[i].1.min(available.minor_units()),
                            Some(tranches[i].0),
                        ),
                        _ => (share(available.minor_units(), b), None),
                    };
                    if let Some(d) = self.request(p, amount, milestone) {
                        self.approve(d);
                    }
                }
            }
            15 => {
                if let Some(d) = pick(a, disbursements) {
                    let payment = (b % 3 == 0).then_some(Currency::USD);
                    self.pay(d, payment);
                }
            }
            16 => {
                if let Some(d) = pick(a, disbursements) {
                    match b % 3 {
                        0 => self.reverse(d),
                        1 => {
                            let (p, id) = self.disbursements[d];
                            let paid = self.projects[p]
                                .2
                                .disbursements()
                                .get(&id)
                                .map_or(1, |x| x.amount.minor_units());
                            self.refund(d, share(paid, c) / 2 + 1);
                        }
                        _ => self.reject_disbursement(d),
                    }
                }
            }
            17 => {
                if let Some(p) = pick(a, projects) {
                    self.return_allocation(p, b as usize);
                }
            }
            18 => match b % 4 {
                0 => {
                    if let Some(pool) = pick(a, self.pools.len()) {
                        self.void_match(pool, c as usize);
                    }
                }
                1 => {
                    if let Some(d) = pick(a, self.donors.len()) {
                        self.change_eligibility(d);
                    }
                }
                2 => {
                    if let Some(p) = pick(a, projects) {
                        if c % 10 == 0 {
                            self.close(p);
                        } else if c % 10 == 1 {
                            self.change_partner(p, c);
                        }
                    }
                }
                _ => {
                    let cap = i64::from(c % 1000 + 10) * 1_000_00;
                    self.open_pool(0, cap, &COUNTRIES[..(a as usize % 5) + 1], 365);
                }
            },
            20 => {
                if let Some(p) = pick(a, pledges) {
                    let rebook = (c % 3 == 0).then_some(c / 3);
                    self.reverse_receipt(p, b as usize, rebook);
                }
            }
            21 => {
                if let Some(p) = pick(a, pledges) {
                    self.rerate_receipt(p, b as usize, c % 30 + 1);
                }
            }
            22 => {
                if let Some(p) = pick(a, pledges) {
                    self.refund_to_donor(p, c);
                }
            }
            _ => {
                self.next_day(a % 5 + 1);
                self.close_ended_month();
            }
        }
    }
}
