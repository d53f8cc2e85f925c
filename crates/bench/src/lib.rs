//! Load against a running fundtrail through its gRPC API, and what it sustains.
//!
//! Many clients, each acting as the fund's staff on records of its own (see [`mix`]), send a
//! weighted mix of commands — pledges, receipts, allocations, disbursement requests and their
//! approvals, progress reports and their verification — and queries, either back to back
//! (closed loop) or at a rate fixed in advance whatever the answers (open loop, where a call's
//! latency counts from when it was due, so a server that falls behind shows it). Beside them a
//! probe measures how long after a command's acknowledgement the Funding API reflects it,
//! asking with `min_position` at the command's position.
//!
//! The deployment is whatever answers at the address: `fundtrail dev`, `fundtrail serve all`,
//! or the entry point of the distributed shape.

mod calls;
mod cli;
pub mod mix;
mod report;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fundtrail_client::Session;
use fundtrail_identity::Credentials;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use cli::{BenchArgs, parse_duration, run_cli};
pub use mix::Kind;
pub use report::{Figures, Lag, Latency, Loop, Report, Setup, Written};

use calls::Desk;
use mix::{Book, Mix, Op};
use report::{Parts, Tally, error_name};

/// Donors registered for a run; every client pledges from all of them.
const DONORS: usize = 8;
/// Projects each client registers, plans and funds before the measurement.
const PROJECTS_PER_CLIENT: usize = 2;
/// How long the setup waits for the process manager to credit the accounts it funded.
const CREDIT_WAIT: Duration = Duration::from_mins(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, the entry point, or a servers file.
    pub server: String,
    /// Clients, each with at most one call in flight.
    pub concurrency: usize,
    /// Connections the clients share (each its own HTTP/2 connection).
    pub connections: usize,
    /// The measured window, after the warm-up.
    pub duration: Duration,
    /// Load before measuring, not counted.
    pub warmup: Duration,
    /// Calls (commands and queries) due per second: the open loop. Without it, closed loop.
    pub rate: Option<f64>,
    /// The share of queries among the calls.
    pub query_percent: u8,
    /// Draw a progress bar on standard error (when it is a terminal).
    pub progress: bool,
}

/// Whom the clients act as: see [`calls::Desk`].
#[derive(Debug, Clone)]
pub struct Principals {
    /// Finance officer, programme officer and administrator: records, allocates, requests,
    /// registers donors and projects, reports progress.
    pub staff: Credentials,
    /// Approves disbursements: not the requester.
    pub approver: Credentials,
    /// Verifies milestones: not the reporter.
    pub verifier: Credentials,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Options(String),
    #[error("connecting to {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("setting up the run, {step}: {reason}")]
    Setup { step: String, reason: String },
    #[error("a client's task failed: {0}")]
    Task(String),
}

fn setup_error(step: impl Into<String>, reason: impl std::fmt::Display) -> BenchError {
    BenchError::Setup {
        step: step.into(),
        reason: reason.to_string(),
    }
}

/// Figures every client adds to as it goes, for the progress bar.
#[derive(Debug, Default)]
struct Live {
    commands: AtomicU64,
    errors: AtomicU64,
}

/// The latest command acknowledged, and when: what the lag probe asks the views about.
#[derive(Debug, Default)]
struct LastAck(Mutex<Option<(u64, Instant)>>);

impl LastAck {
    fn offer(&self, position: u64, at: Instant) {
        if let Ok(mut last) = self.0.lock()
            && last.is_none_or(|(p, _)| position > p)
        {
            *last = Some((position, at));
        }
    }

    fn get(&self) -> Option<(u64, Instant)> {
        self.0.lock().ok().and_then(|last| *last)
    }
}

/// When the phases end.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    measure_from: Instant,
    end: Instant,
}

/// One client: its people, its records, and what it measured.
#[derive(Debug)]
struct Client {
    desk: Desk,
    book: Book,
    tallies: Vec<Tally>,
    written: Written,
    retries: u64,
    not_sent: u64,
}

impl Client {
    fn new(desk: Desk, book: Book) -> Self {
        Self {
            desk,
            book,
            tallies: Kind::ALL.iter().map(|_| Tally::new()).collect(),
            written: Written::default(),
            retries: 0,
            not_sent: 0,
        }
    }

    /// Makes the call and takes its answer into the book and the written totals.
    async fn call(&mut self, op: &Op) -> calls::Answer {
        let answer = self.desk.call(op).await;
        self.book.record(op, &answer.outcome);
        if let Some((_, events)) = answer.recorded {
            self.written.commands += 1;
            self.written.events += u64::from(events);
            match op.kind() {
                Kind::AllocateContribution => self.written.allocations += 1,
                Kind::VerifyMilestone => self.written.verifications += 1,
                _ => {}
            }
        }
        answer
    }

    /// A setup step, which must succeed.
    async fn step(&mut self, kind: Kind) -> Result<(), BenchError> {
        let op = self.book.lead_to(kind);
        let answer = self.call(&op).await;
        match answer.error {
            Some(status) => Err(setup_error(op.kind().name(), error_name(&status))),
            None => Ok(()),
        }
    }

    /// Registers, plans and funds this client's first projects, and waits until their
    /// accounts show the money, so that the measurement starts with work to do.
    async fn set_up(&mut self) -> Result<(), BenchError> {
        for _ in 0..PROJECTS_PER_CLIENT {
            self.step(Kind::RegisterProject).await?;
            self.step(Kind::PlanMilestone).await?;
            self.step(Kind::PlanMilestone).await?;
        }
        self.step(Kind::RecordPledge).await?;
        self.step(Kind::ReceiveContribution).await?;
        for _ in 0..PROJECTS_PER_CLIENT {
            self.step(Kind::AllocateContribution).await?;
        }
        let deadline = Instant::now() + CREDIT_WAIT;
        loop {
            let waiting = self.book.awaiting_credit();
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(setup_error(
                    "waiting for the accounts to be credited",
                    format!(
                        "{} accounts not credited after {CREDIT_WAIT:?}: is the \
                         disbursements service's process manager running?",
                        waiting.len()
                    ),
                ));
            }
            for (project, _) in waiting {
                let op = Op::GetProjectAccount { project };
                if let Some(status) = self.call(&op).await.error {
                    return Err(setup_error("GetProjectAccount", error_name(&status)));
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Calls until the end: back to back, or at the times `pace` gives.
    async fn work(
        mut self,
        mix: Arc<Mix>,
        clock: Clock,
        pace: Option<Pace>,
        live: Arc<Live>,
        last_ack: Arc<LastAck>,
    ) -> Self {
        let mut slot = 0_u64;
        loop {
            let due = match &pace {
                None => Instant::now(),
                Some(pace) => {
                    let due = pace.due(clock.start, slot);
                    if due < clock.end {
                        tokio::time::sleep_until(due).await;
                    }
                    due
                }
            };
            if due >= clock.end {
                break;
            }
            if let Some(pace) = &pace
                && Instant::now() >= clock.end
            {
                // Behind schedule at the end: what is still due was never sent.
                while pace.due(clock.start, slot) < clock.end {
                    self.not_sent += 1;
                    slot += 1;
                }
                break;
            }
            slot += 1;
            let op = self.book.next(&mix);
            let answer = self.call(&op).await;
            let answered = Instant::now();
            let kind = op.kind();
            if let Some((position, _)) = answer.recorded {
                last_ack.offer(position, answered);
                live.commands.fetch_add(1, Ordering::Relaxed);
            }
            if answer.error.is_some() {
                live.errors.fetch_add(1, Ordering::Relaxed);
            }
            if due >= clock.measure_from {
                let events = answer.recorded.map_or(0, |(_, events)| events);
                self.tallies[kind.index()].answered(answered - due, events, answer.error.as_ref());
                self.retries += u64::from(answer.retries);
            }
        }
        self
    }
}

/// The open loop's schedule for one client: the run's calls are due at a fixed rate, and
/// client `i` of `n` takes calls `i`, `i + n`, `i + 2n`…
#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: f64,
    client: u64,
    clients: u64,
}

impl Pace {
    fn due(&self, start: Instant, slot: u64) -> Instant {
        #[allow(
            clippy::cast_precision_loss,
            reason = "call numbers stay far below 2^52"
        )]
        let call = (self.client + slot * self.clients) as f64;
        start + Duration::from_secs_f64(call / self.rate)
    }
}

/// Asks the views for the latest acknowledged position, one query at a time, until the end.
async fn probe_lag(
    desk: Desk,
    clock: Clock,
    last_ack: Arc<LastAck>,
) -> (Histogram<u64>, BTreeMap<String, u64>) {
    let mut lag = report::histogram();
    let mut errors = BTreeMap::new();
    let mut probed = 0;
    while Instant::now() < clock.end {
        let Some((position, acknowledged)) = last_ack.get().filter(|(p, _)| *p > probed) else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        probed = position;
        let result = desk.view_reflects(position).await;
        if acknowledged < clock.measure_from {
            continue;
        }
        match result {
            Ok(()) => lag.saturating_record(
                u64::try_from(acknowledged.elapsed().as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            ),
            Err(status) => *errors.entry(error_name(&status)).or_default() += 1,
        }
    }
    (lag, errors)
}

fn check(options: &Options) -> Result<(), BenchError> {
    let bad = |text: &str| Err(BenchError::Options(text.to_owned()));
    if options.concurrency == 0 {
        return bad("--concurrency must be at least 1");
    }
    if options.connections == 0 || options.connections > options.concurrency {
        return bad("--connections must be between 1 and --concurrency");
    }
    if options.duration.is_zero() {
        return bad("--duration must be longer than zero");
    }
    if options.query_percent > 100 {
        return bad("--queries is a percentage, 0 to 100");
    }
    if let Some(rate) = options.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        return bad("--rate must be a positive number of calls per second");
    }
    Ok(())
}

async fn desks(options: &Options, principals: &Principals) -> Result<Vec<Desk>, BenchError> {
    let mut desks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let staff = Session::connect_with(&options.server, principals.staff.clone())
            .await
            .map_err(|e| BenchError::Connect {
                server: options.server.clone(),
                reason: format!("{e:#}"),
            })?;
        desks.push(Desk {
            approver: staff.acting_with(principals.approver.clone()),
            verifier: staff.acting_with(principals.verifier.clone()),
            staff,
        });
    }
    Ok(desks)
}

fn progress_bar(options: &Options) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let total = u64::try_from((options.warmup + options.duration).as_millis()).unwrap_or(0);
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:32}] {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Shows the phase, the command rate of the last moment and the errors so far.
async fn tick(bar: ProgressBar, clock: Clock, live: Arc<Live>) {
    const EVERY: Duration = Duration::from_millis(250);
    let mut last = live.commands.load(Ordering::Relaxed);
    while Instant::now() < clock.end {
        tokio::time::sleep(EVERY).await;
        let now = Instant::now();
        let commands = live.commands.load(Ordering::Relaxed);
        let phase = if now < clock.measure_from {
            "warming up"
        } else {
            "measuring"
        };
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let rate = (commands - last) as f64 / EVERY.as_secs_f64();
        last = commands;
        bar.set_position(u64::try_from((now - clock.start).as_millis()).unwrap_or(0));
        bar.set_message(format!(
            "{phase}: {rate:.0} commands/s, {} errors",
            live.errors.load(Ordering::Relaxed)
        ));
    }
}

/// Sets up, runs the load, and reports.
pub async fn run(options: &Options, principals: &Principals) -> Result<Report, BenchError> {
    check(options)?;
    let desks = desks(options, principals).await?;
    let bar = progress_bar(options);
    bar.set_message("setting up: donors, projects and their funding");
    let setup_started = Instant::now();

    // Donors of their own, so runs against one server never meet.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let tag = tag.get(..8).unwrap_or("bench");
    let donors: Vec<String> = (1..=DONORS).map(|n| format!("XM-BENCH{tag}-{n}")).collect();
    let mut registering = JoinSet::new();
    for (n, donor) in donors.iter().enumerate() {
        let desk = desks[n % desks.len()].clone();
        let donor = donor.clone();
        registering.spawn(async move {
            desk.register_donor(&donor, &format!("Donor {donor}"))
                .await
                .map_err(|status| setup_error(format!("registering {donor}"), error_name(&status)))
        });
    }
    while let Some(done) = registering.join_next().await {
        done.map_err(|e| BenchError::Task(e.to_string()))??;
    }

    let mut setting_up = JoinSet::new();
    for n in 0..options.concurrency {
        let desk = desks[n % desks.len()].clone();
        let mut client = Client::new(desk, Book::new(donors.clone(), n as u64 + 1));
        setting_up.spawn(async move {
            client.set_up().await?;
            Ok::<_, BenchError>((n, client))
        });
    }
    let mut clients = Vec::with_capacity(options.concurrency);
    while let Some(done) = setting_up.join_next().await {
        clients.push(done.map_err(|e| BenchError::Task(e.to_string()))??);
    }
    clients.sort_by_key(|(n, _)| *n);
    let mut written = Written::default();
    for (_, client) in &mut clients {
        written.commands += client.written.commands;
        written.events += client.written.events;
        written.allocations += client.written.allocations;
        written.verifications += client.written.verifications;
        client.written = Written::default();
    }
    let setup = Setup {
        donors: DONORS as u64,
        projects: (options.concurrency * PROJECTS_PER_CLIENT) as u64,
        commands: written.commands + DONORS as u64,
        seconds: setup_started.elapsed().as_secs_f64(),
    };
    written.commands += DONORS as u64;
    written.events += DONORS as u64;

    let start = Instant::now();
    let clock = Clock {
        start,
        measure_from: start + options.warmup,
        end: start + options.warmup + options.duration,
    };
    let mix = Arc::new(Mix::new(options.query_percent));
    let live = Arc::new(Live::default());
    let last_ack = Arc::new(LastAck::default());
    let ticker = tokio::spawn(tick(bar.clone(), clock, Arc::clone(&live)));
    let prober = tokio::spawn(probe_lag(desks[0].clone(), clock, Arc::clone(&last_ack)));
    let mut working = JoinSet::new();
    let clients_count = clients.len() as u64;
    for (n, client) in clients {
        let pace = options.rate.map(|rate| Pace {
            rate,
            client: n as u64,
            clients: clients_count,
        });
        working.spawn(client.work(
            Arc::clone(&mix),
            clock,
            pace,
            Arc::clone(&live),
            Arc::clone(&last_ack),
        ));
    }
    let mut tallies: Vec<Tally> = Kind::ALL.iter().map(|_| Tally::new()).collect();
    let mut retries = 0;
    let mut not_sent = 0;
    while let Some(done) = working.join_next().await {
        let client = done.map_err(|e| BenchError::Task(e.to_string()))?;
        for (total, tally) in tallies.iter_mut().zip(&client.tallies) {
            total.add(tally);
        }
        retries += client.retries;
        not_sent += client.not_sent;
        written.commands += client.written.commands;
        written.events += client.written.events;
        written.allocations += client.written.allocations;
        written.verifications += client.written.verifications;
    }
    let (lag, lag_errors) = prober.await.map_err(|e| BenchError::Task(e.to_string()))?;
    ticker.abort();
    bar.finish_and_clear();

    Ok(Report::from_parts(Parts {
        server: options.server.clone(),
        offered: options
            .rate
            .map_or(Loop::Closed, |rate| Loop::Open { rate }),
        concurrency: options.concurrency,
        connections: options.connections,
        query_percent: options.query_percent,
        warmup: options.warmup,
        window: options.duration,
        setup,
        tallies,
        retries,
        not_sent,
        lag,
        lag_errors,
        written,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_loop_spreads_the_rate_over_the_clients() {
        let start = Instant::now();
        let pace = |client| Pace {
            rate: 100.0,
            client,
            clients: 4,
        };
        assert_eq!(pace(0).due(start, 0), start);
        assert_eq!(pace(1).due(start, 0) - start, Duration::from_millis(10));
        assert_eq!(pace(1).due(start, 2) - start, Duration::from_millis(90));
    }

    #[test]
    fn the_last_acknowledgement_only_moves_forward() {
        let last = LastAck::default();
        let at = Instant::now();
        last.offer(5, at);
        last.offer(3, at);
        assert_eq!(last.get().map(|(p, _)| p), Some(5));
        last.offer(9, at);
        assert_eq!(last.get().map(|(p, _)| p), Some(9));
    }
}
