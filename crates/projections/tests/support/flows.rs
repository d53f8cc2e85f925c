//! Money moving through the simulated fund, with the process managers the services run.

use chrono::Datelike;
use fundtrail_domain::{
    AccountCommand, AccountEvent, Actor, AllocationId, Calendar, CalendarCommand, CountryCode,
    Currency, DisbursementId, Event, Indicator, MatchRatio, MatchingCommand, MatchingPool,
    MatchingPoolId, Money, Partner, Pledge, PledgeCommand, PledgeEvent, ProjectAccount,
    ProjectCommand, ProjectEvent, ProjectId, ReceiptId, ReleaseRule,
};
use uuid::Uuid;

use super::ops::share;
use super::world::{World, day_number, rate, run};

impl World {
    /// Receives money on a pledge at the day's rate, then matches it as the pledges service's
    /// matching manager would.
    pub fn receive(&mut self, pledge: usize, amount: i64) -> bool {
        self.receive_as(pledge, amount, None)
    }

    /// Receives money under `bank_reference`, or under a reference of its own when `None`.
    fn receive_as(&mut self, pledge: usize, amount: i64, bank_reference: Option<String>) -> bool {
        let Some(currency) = self.currency_of(pledge) else {
            return false;
        };
        let receipt_id = ReceiptId::from_uuid(self.uuid());
        let bank_reference = bank_reference
            .unwrap_or_else(|| format!("BANK-{}", receipt_id.as_uuid().as_u128() & 0xffff_ffff));
        let donor = self.pledges[pledge].1.terms().map(|t| t.donor_id.clone());
        let eligible = donor
            .as_ref()
            .and_then(|d| self.donors.iter().find(|(p, _, _)| &p.donor_id == d))
            .is_some_and(|(p, _, _)| p.matching_eligible);
        let command = PledgeCommand::RecordReceipt {
            receipt_id,
            amount: Money::new(currency, amount),
            value_date: self.date(),
            rate: rate(currency, self.reporting, self.today),
            reporting_currency: self.reporting,
            bank_reference,
            over_payment: false,
            donor_matching_eligible: eligible,
            booked_by: booker(),
        };
        let events = self.pledge_command(pledge, command);
        for (_, event) in &events {
            self.match_receipt(event);
        }
        !events.is_empty()
    }

    /// Reverses the `k`-th receipt of a pledge that the domain lets be reversed (not reversed
    /// yet, and no more than the pledge holds unallocated), by someone other than its booker,
    /// then voids its match as the pledges service's matching manager would. With `rebook`,
    /// the credit was mistyped: it is booked anew under the same bank reference, for `rebook`
    /// percent of the reversed amount.
    pub fn reverse_receipt(&mut self, pledge: usize, k: usize, rebook: Option<u32>) -> bool {
        let Some((_, state)) = self.pledges.get(pledge) else {
            return false;
        };
        let Ok(unallocated) = state.unallocated() else {
            return false;
        };
        let reversible: Vec<(ReceiptId, i64, String)> = state
            .receipts()
            .iter()
            .filter(|(_, r)| !r.reversed && r.amount.minor_units() <= unallocated.minor_units())
            .map(|(id, r)| (*id, r.amount.minor_units(), r.bank_reference.clone()))
            .collect();
        if reversible.is_empty() {
            return false;
        }
        let (receipt_id, amount, bank_reference) = reversible[k % reversible.len()].clone();
        let reason = if rebook.is_some() {
            "amount mistyped when booked"
        } else {
            "returned unpaid by the donor's bank"
        };
        let command = PledgeCommand::ReverseReceipt {
            receipt_id,
            reason: reason.into(),
            reversed_by: self.person(1),
        };
        let events = self.pledge_command(pledge, command);
        for (_, event) in &events {
            self.void_reversed(event);
        }
        if events.is_empty() {
            return false;
        }
        if let Some(percent) = rebook {
            self.receive_as(pledge, share(amount, percent), Some(bank_reference));
        }
        true
    }

    /// A reversed receipt's match is voided, in whichever pool reserved it (a match already
    /// confirmed is refused, as the service's would be, and stays).
    fn void_reversed(&mut self, event: &Event) {
        let Event::Pledge(PledgeEvent::ReceiptReversed {
            receipt_id, reason, ..
        }) = event
        else {
            return;
        };
        let Some(index) = self
            .pools
            .iter()
            .position(|(_, p)| p.matches().contains_key(receipt_id))
        else {
            return;
        };
        let command = MatchingCommand::Void {
            receipt_id: *receipt_id,
            reason: format!("the receipt was reversed: {reason}"),
        };
        self.pool_command(index, command);
    }

    /// Re-rates the `k`-th live receipt of a pledge in another currency than the fund reports
    /// in, by someone other than its booker: it was booked at a stale rate, and is corrected
    /// to the rate of `days_later` (at least 1) days after its value date.
    pub fn rerate_receipt(&mut self, pledge: usize, k: usize, days_later: u32) -> bool {
        let Some(currency) = self.currency_of(pledge) else {
            return false;
        };
        let live: Vec<(ReceiptId, u32)> = self.pledges[pledge]
            .1
            .receipts()
            .iter()
            .filter(|(_, r)| !r.reversed)
            .map(|(id, r)| (*id, day_number(r.value_date)))
            .collect();
        if live.is_empty() {
            return false;
        }
        let (receipt_id, value_day) = live[k % live.len()];
        // `None` for a pledge in the reporting currency: its receipts have no rate to correct.
        let Some(corrected) = rate(currency, self.reporting, value_day + days_later.max(1)) else {
            return false;
        };
        let command = PledgeCommand::RerateReceipt {
            receipt_id,
            rate: corrected,
            reason: "booked at a stale rate".into(),
            rerated_by: self.person(1),
        };
        !self.pledge_command(pledge, command).is_empty()
    }

    /// Pays `percent` of a pledge's unallocated money back to its donor, under a payment
    /// reference of its own, valued today.
    pub fn refund_to_donor(&mut self, pledge: usize, percent: u32) -> bool {
        let Some(currency) = self.currency_of(pledge) else {
            return false;
        };
        let Ok(unallocated) = self.pledges[pledge].1.unallocated() else {
            return false;
        };
        if !unallocated.is_positive() {
            return false;
        }
        let reference = format!("REFUND-{}", self.uuid().as_u128() & 0xffff_ffff);
        let command = PledgeCommand::RefundToDonor {
            amount: Money::new(currency, share(unallocated.minor_units(), percent)),
            payment_reference: reference,
            value_date: self.date(),
            reason: "unspent balance returned at the donor's request".into(),
            refunded_by: self.person(1),
        };
        !self.pledge_command(pledge, command).is_empty()
    }

    fn match_receipt(&mut self, event: &Event) {
        let Event::Pledge(PledgeEvent::ContributionReceived {
            pledge_id,
            donor_id,
            receipt_id,
            value_date,
            reporting_amount,
            earmark,
            donor_matching_eligible,
            ..
        }) = event
        else {
            return;
        };
        let own = self
            .pools
            .iter()
            .position(|(_, p)| p.terms().is_some_and(|t| &t.matching_donor_id == donor_id));
        if let Some(index) = own {
            let command = MatchingCommand::RecordFunds {
                matching_pledge_id: *pledge_id,
                matching_receipt_id: *receipt_id,
                amount: *reporting_amount,
                value_date: *value_date,
                country: earmark.country(),
            };
            self.pool_command(index, command);
            return;
        }
        let (Some(country), true) = (earmark.country(), *donor_matching_eligible) else {
            return;
        };
        let found = self.pools.iter().position(|(_, p)| {
            p.terms().is_some_and(|t| {
                t.eligible_countries.contains(&country)
                    && *value_date <= t.expires_on
                    && t.cap.currency() == reporting_amount.currency()
            })
        });
        let Some(index) = found else {
            return;
        };
        let Some((profile, _, _)) = self.donors.iter().find(|(p, _, _)| &p.donor_id == donor_id)
        else {
            return;
        };
        let command = MatchingCommand::Reserve {
            receipt_id: *receipt_id,
            contributing_donor: profile.clone(),
            pledge_id: *pledge_id,
            country: Some(country),
            contribution: *reporting_amount,
            value_date: *value_date,
            amount: None,
        };
        self.pool_command(index, command);
    }

    fn pool_command(&mut self, index: usize, command: MatchingCommand) -> Vec<(Uuid, Event)> {
        let Some((id, pool)) = self.pools.get_mut(index) else {
            return Vec::new();
        };
        run(
            &mut self.log,
            MatchingPool::stream(id),
            pool,
            command,
            Event::Matching,
        )
    }

    pub fn open_pool(&mut self, donor: usize, cap: i64, countries: &[&str], days: u32) -> bool {
        let Some((profile, _, _)) = self.donors.get(donor).cloned() else {
            return false;
        };
        let id = MatchingPoolId::from_uuid(self.uuid());
        let mut pool = MatchingPool::default();
        let command = MatchingCommand::Open {
            pool_id: id,
            matching_donor: profile,
            cap: Money::new(self.reporting, cap),
            ratio: MatchRatio::ONE_TO_ONE,
            eligible_countries: countries
                .iter()
                .map(|c| CountryCode::new(c).unwrap())
                .collect(),
            expires_on: self.date_in(days),
            starts_on: None,
        };
        let opened = !run(
            &mut self.log,
            MatchingPool::stream(&id),
            &mut pool,
            command,
            Event::Matching,
        )
        .is_empty();
        if opened {
            self.pools.push((id, pool));
        }
        opened
    }

    /// Voids the `k`-th still reserved match of a pool.
    pub fn void_match(&mut self, pool: usize, k: usize) {
        let Some((_, state)) = self.pools.get(pool) else {
            return;
        };
        let reserved: Vec<ReceiptId> = state
            .matches()
            .iter()
            .filter(|(_, m)| m.status == fundtrail_domain::matching::MatchStatus::Reserved)
            .map(|(id, _)| *id)
            .collect();
        if reserved.is_empty() {
            return;
        }
        let command = MatchingCommand::Void {
            receipt_id: reserved[k % reserved.len()],
            reason: "receipt booked in error".into(),
        };
        self.pool_command(pool, command);
    }

    /// Allocates received money to a project, then credits the project's account as the
    /// disbursements service's credit manager would.
    pub fn allocate(&mut self, pledge: usize, project: usize, amount: i64) -> bool {
        let (Some(currency), Some(summary)) = (
            self.currency_of(pledge),
            self.projects.get(project).and_then(|p| p.1.summary()),
        ) else {
            return false;
        };
        let command = PledgeCommand::Allocate {
            allocation_id: AllocationId::from_uuid(self.uuid()),
            rate: rate(currency, summary.currency, self.today),
            project: summary,
            amount: Money::new(currency, amount),
        };
        let events = self.pledge_command(pledge, command);
        for (event_id, event) in &events {
            if let Event::Pledge(PledgeEvent::ContributionAllocated {
                pledge_id,
                donor_id,
                allocation_id,
                project_id,
                country,
                project_amount,
                reporting_amount,
                ..
            }) = event
            {
                let command = AccountCommand::Credit {
                    source_event_id: *event_id,
                    project_id: *project_id,
                    country: *country,
                    allocation_id: *allocation_id,
                    pledge_id: *pledge_id,
                    donor_id: donor_id.clone(),
                    amount: *project_amount,
                    reporting_amount: *reporting_amount,
                };
                // A closed account gives a late allocation straight back.
                let credited = self.account_command(project, command);
                self.release_returned(credited);
            }
        }
        !events.is_empty()
    }

    fn account_command(&mut self, project: usize, command: AccountCommand) -> Vec<(Uuid, Event)> {
        let Some((id, _, account)) = self.projects.get_mut(project) else {
            return Vec::new();
        };
        run(
            &mut self.log,
            ProjectAccount::stream(id),
            account,
            command,
            Event::Account,
        )
    }

    /// Returns the `k`-th credit not yet returned (whole, or half of what remains of it), or
    /// now and then closes the account, then releases what was returned on its pledge as the
    /// pledges service's release manager would.
    pub fn return_allocation(&mut self, project: usize, k: usize) {
        let Some((_, _, account)) = self.projects.get(project) else {
            return;
        };
        let open: Vec<(AllocationId, Money)> = account
            .credits()
            .iter()
            .filter(|(_, c)| !c.returned)
            .map(|(id, c)| (*id, c.remaining()))
            .collect();
        if open.is_empty() {
            return;
        }
        let (allocation_id, remaining) = open[k % open.len()];
        if k % 7 == 5 {
            // The finance office settles what is still pending before it closes an account.
            let pending: Vec<fundtrail_domain::DisbursementId> = account
                .disbursements()
                .iter()
                .filter(|(_, d)| {
                    matches!(
                        d.status,
                        fundtrail_domain::account::DisbursementStatus::Requested
                            | fundtrail_domain::account::DisbursementStatus::Approved
                    )
                })
                .map(|(id, _)| *id)
                .collect();
            for disbursement_id in pending {
                self.account_command(
                    project,
                    AccountCommand::Reject {
                        disbursement_id,
                        reason: "the account is being closed".into(),
                        rejected_by: fundtrail_domain::Actor::parse("finance@fund.example")
                            .unwrap_or_else(|_| unreachable!("a valid subject")),
                    },
                );
            }
        }
        let half = Money::new(remaining.currency(), remaining.minor_units() / 2);
        let command = match k % 7 {
            5 => AccountCommand::Close {
                reason: "project completed".into(),
                closed_by: fundtrail_domain::Actor::parse("finance@fund.example")
                    .unwrap_or_else(|_| unreachable!("a valid subject")),
            },
            2 | 4 if half.is_positive() => AccountCommand::ReturnAllocation {
                allocation_id,
                amount: Some(half),
                reason: "unspent balance".into(),
            },
            _ => AccountCommand::ReturnAllocation {
                allocation_id,
                amount: None,
                reason: "project scope reduced".into(),
            },
        };
        let events = self.account_command(project, command);
        self.release_returned(events);
    }

    /// Releases on their pledges the allocations returned by `events`.
    fn release_returned(&mut self, events: Vec<(Uuid, Event)>) {
        for (_, event) in events {
            if let Event::Account(AccountEvent::AllocationReturned {
                pledge_id,
                allocation_id,
                reason,
                remaining,
                ..
            }) = event
            {
                let Some(index) = self.pledges.iter().position(|(id, _)| *id == pledge_id) else {
                    continue;
                };
                let command = PledgeCommand::ReleaseAllocation {
                    allocation_id,
                    reason,
                    remaining,
                };
                self.pledge_command(index, command);
            }
        }
    }

    fn project_command(&mut self, project: usize, command: ProjectCommand) -> Vec<(Uuid, Event)> {
        let Some((id, state, _)) = self.projects.get_mut(project) else {
            return Vec::new();
        };
        run(
            &mut self.log,
            fundtrail_domain::Project::stream(id),
            state,
            command,
            Event::Project,
        )
    }

    pub fn plan(&mut self, project: usize, indicator: Indicator, target: u64, tranche: i64) {
        let Some(currency) = self.project_currency(project) else {
            return;
        };
        let command = ProjectCommand::PlanMilestone {
            title: format!("{} {target}", indicator.name()),
            indicator,
            target,
            tranche: Money::new(currency, tranche),
            due_on: self.date_in(180),
            release_rule: ReleaseRule::Proportional,
        };
        self.project_command(project, command);
    }

    pub fn report_progress(&mut self, project: usize, milestone: u32, actual: u64) {
        let command = ProjectCommand::ReportProgress {
            milestone,
            actual,
            evidence_reference: format!("survey-{milestone}-{}", self.today),
            reported_by: self.person(0),
        };
        self.project_command(project, command);
    }

    /// Verifies a milestone, then unlocks its tranche as the tranche manager would.
    pub fn verify(&mut self, project: usize, milestone: u32) {
        let command = ProjectCommand::Verify {
            milestone,
            verified_by: self.person(2),
        };
        for (event_id, event) in self.project_command(project, command) {
            let released = event_released(&event);
            if let Event::Project(ProjectEvent::MilestoneVerified {
                project_id,
                country,
                milestone,
                tranche,
                ..
            }) = event
            {
                let command = AccountCommand::UnlockTranche {
                    source_event_id: event_id,
                    project_id,
                    country,
                    milestone,
                    tranche,
                    released: released.unwrap_or(tranche),
                };
                self.account_command(project, command);
            }
        }
    }

    pub fn reject_milestone(&mut self, project: usize, milestone: u32) {
        let command = ProjectCommand::Reject {
            milestone,
            reason: "evidence does not match the survey".into(),
            rejected_by: self.person(2),
        };
        self.project_command(project, command);
    }

    pub fn change_partner(&mut self, project: usize, n: u32) {
        let command = ProjectCommand::ChangePartner {
            partner: Partner {
                name: format!("Partner no. {n}"),
                iati_id: None,
            },
            reason: "contract novated".into(),
            changed_by: self.person(3),
        };
        self.project_command(project, command);
    }

    pub fn close(&mut self, project: usize) {
        let command = ProjectCommand::Close {
            reason: "completed".into(),
        };
        self.project_command(project, command);
    }

    pub fn request(
        &mut self,
        project: usize,
        amount: i64,
        milestone: Option<u32>,
    ) -> Option<usize> {
        let currency = self.projects.get(project)?.2.currency()?;
        let id = DisbursementId::from_uuid(self.uuid());
        let summary = self.projects[project].1.summary()?;
        let command = AccountCommand::Request {
            disbursement_id: id,
            amount: Money::new(currency, amount),
            partner: summary.partner.name.clone(),
            milestone,
            purpose: "field operations".into(),
            requested_by: self.person(0),
            project: summary,
        };
        if self.account_command(project, command).is_empty() {
            return None;
        }
        self.disbursements.push((project, id));
        Some(self.disbursements.len() - 1)
    }

    fn disbursement_command(
        &mut self,
        index: usize,
        make: impl FnOnce(DisbursementId, Actor) -> AccountCommand,
    ) {
        let Some((project, id)) = self.disbursements.get(index).copied() else {
            return;
        };
        let command = make(id, self.person(1));
        self.account_command(project, command);
    }

    pub fn approve(&mut self, disbursement: usize) {
        self.disbursement_command(disbursement, |id, by| AccountCommand::Approve {
            disbursement_id: id,
            approved_by: by,
        });
    }

    pub fn reject_disbursement(&mut self, disbursement: usize) {
        self.disbursement_command(disbursement, |id, by| AccountCommand::Reject {
            disbursement_id: id,
            reason: "budget line closed".into(),
            rejected_by: by,
        });
    }

    pub fn pay(&mut self, disbursement: usize, in_currency: Option<Currency>) {
        let Some(currency) = self
            .disbursements
            .get(disbursement)
            .and_then(|(p, _)| self.projects[*p].2.currency())
        else {
            return;
        };
        let payment = in_currency.unwrap_or(currency);
        let (date, rate) = (self.date(), rate(currency, payment, self.today));
        self.disbursement_command(disbursement, |id, _| AccountCommand::Pay {
            disbursement_id: id,
            paid_on: date,
            bank_reference: format!("PAY-{}", id.as_uuid().as_u128() & 0xffff_ffff),
            payment_currency: payment,
            rate,
        });
    }

    pub fn reverse(&mut self, disbursement: usize) {
        self.disbursement_command(disbursement, |id, _| AccountCommand::Reverse {
            disbursement_id: id,
            reason: "returned by the partner's bank".into(),
        });
    }

    pub fn refund(&mut self, disbursement: usize, amount: i64) {
        let Some(currency) = self
            .disbursements
            .get(disbursement)
            .and_then(|(p, _)| self.projects[*p].2.currency())
        else {
            return;
        };
        let date = self.date();
        self.disbursement_command(disbursement, |id, _| AccountCommand::Refund {
            disbursement_id: id,
            amount: Money::new(currency, amount),
            refunded_on: date,
            reason: "unspent balance".into(),
        });
    }

    /// Closes the books through the last month end before today, as finance would once a
    /// month has ended; the world's entries are dated today, so none falls in a closed period.
    pub fn close_ended_month(&mut self) {
        let today = self.date();
        let Some(through) = today.with_day(1).and_then(|first| first.pred_opt()) else {
            return;
        };
        if self
            .calendar
            .closed_through()
            .is_some_and(|closed| closed >= through)
        {
            return;
        }
        let command = CalendarCommand::ClosePeriod {
            through,
            reason: "month-end close".into(),
            closed_by: self.person(1),
            today,
        };
        run(
            &mut self.log,
            Calendar::STREAM.to_owned(),
            &mut self.calendar,
            command,
            Event::Calendar,
        );
    }

    pub fn project_currency(&self, project: usize) -> Option<Currency> {
        self.projects.get(project)?.1.summary().map(|s| s.currency)
    }

    pub fn project_id(&self, project: usize) -> ProjectId {
        self.projects[project].0
    }

    fn person(&self, n: usize) -> Actor {
        self.people[n % self.people.len()].clone()
    }

    pub fn pledge(&self, index: usize) -> &Pledge {
        &self.pledges[index].1
    }
}

/// Who books receipts in the simulated fund; others correct them (four eyes over the books).
fn booker() -> Actor {
    Actor::parse("finance@fund.example").expect("a valid actor")
}

/// What a verification released, as the event records it.
fn event_released(event: &Event) -> Option<Money> {
    match event {
        Event::Project(verified) => verified.released(),
        _ => None,
    }
}
