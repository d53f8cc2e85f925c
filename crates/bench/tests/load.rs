//! The load generator against a real server in this process, on SQLite: a short closed-loop
//! run and a short open-loop run at a low rate, each checked for a report that adds up — every
//! kind of the mix sent and acknowledged, no refusals, the store grown by exactly the events
//! the report says the run recorded and the reactions they call for, lag measured. Nothing
//! here depends on how fast the machine is, as long as it gets through some dozens of calls
//! in each window.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_bench::{Kind, Loop, Options, Principals, Report};
use fundtrail_identity::{Credentials, DEV_AUDIENCE, DEV_ISSUER, Issuer};
use fundtrail_server::{ServerSettings, dev};
use fundtrail_store::EventStore;
use tokio::time::Instant;

/// How long the process managers may take to react to the last commands of a run.
const REACTIONS_WAIT: Duration = Duration::from_secs(30);
/// How long to wait after that for anything the report did not count: a reaction commits
/// well within it.
const SETTLE: Duration = Duration::from_millis(250);

fn principals(issuer: &Issuer) -> Principals {
    let profiles = dev::profiles();
    let credentials = |name: &str| {
        let (_, principal) = profiles
            .iter()
            .find(|(profile, _)| *profile == name)
            .unwrap_or_else(|| panic!("fundtrail dev has a {name} profile"));
        let token = issuer
            .issue(principal, DEV_ISSUER, DEV_AUDIENCE, Duration::from_hours(1))
            .unwrap();
        Credentials::bearer(&token).unwrap()
    };
    Principals {
        staff: credentials("staff"),
        approver: credentials("approver"),
        verifier: credentials("verifier"),
    }
}

fn options(server: String, rate: Option<f64>, concurrency: usize) -> Options {
    Options {
        server,
        concurrency,
        connections: 2,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(300),
        rate,
        // Half of the calls: a loaded machine gets through a hundred or so calls in the
        // window, and at a fifth some query kind often never came up.
        query_percent: 50,
        progress: false,
    }
}

/// What a run wrote, with the reactions it calls for: where the store's head ends up.
fn expected_growth(report: &Report) -> u64 {
    let written = &report.written;
    written.events + written.allocations + written.verifications
}

/// How far the head has moved past `before` once the process managers have caught up with
/// a run. A run's last reactions may commit after it returns: read at once, the head would
/// miss them and the next run would count them as its own. So this waits until the head has
/// moved by `expected` (for `REACTIONS_WAIT` at most), then a moment more, so that a reaction
/// the report did not count still shows.
async fn settled_growth(store: &dyn EventStore, before: u64, expected: u64) -> u64 {
    let growth = async || store.head().await.unwrap().position - before;
    let deadline = Instant::now() + REACTIONS_WAIT;
    while growth().await < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(SETTLE).await;
    growth().await
}

/// What every report must show, whatever the machine's speed.
fn assert_coherent(report: &Report, head_growth: u64) {
    assert!(report.commands.acknowledged > 0, "{report}");
    assert!(report.queries.acknowledged > 0, "{report}");
    assert!(
        report.errors.is_empty() && report.lag.errors.is_empty(),
        "a client sends only what the fund accepts:\n{report}"
    );
    for kind in [
        Kind::RecordPledge,
        Kind::ReceiveContribution,
        Kind::AllocateContribution,
        Kind::RequestDisbursement,
        Kind::ApproveDisbursement,
        Kind::ReportProgress,
        Kind::VerifyMilestone,
        Kind::GetPledge,
        Kind::GetProject,
        Kind::GetProjectAccount,
        Kind::GetCountryFunding,
        Kind::GetDonorStatement,
        Kind::GetFundOverview,
    ] {
        let acknowledged = report.calls.get(&kind).map_or(0, |f| f.acknowledged);
        assert!(
            acknowledged > 0,
            "no {} was acknowledged:\n{report}",
            kind.name()
        );
    }
    let by_kind: u64 = report
        .calls
        .iter()
        .filter(|(kind, _)| kind.is_command())
        .map(|(_, f)| f.acknowledged)
        .sum();
    assert_eq!(by_kind, report.commands.acknowledged);
    for (kind, figures) in report.calls.iter().filter(|(k, _)| k.is_command()) {
        // Every command of the mix records exactly one event.
        assert_eq!(
            figures.events,
            figures.acknowledged,
            "{}: events per command",
            kind.name()
        );
        assert_eq!(
            figures.latency.samples,
            figures.acknowledged + figures.errors
        );
    }
    // Measured commands are part of everything the run wrote, setup and warm-up included.
    let written = &report.written;
    assert!(written.commands >= report.commands.acknowledged + report.setup.commands);
    assert_eq!(written.events, written.commands, "one event per command");
    // Besides the events of the run's commands, the store holds one per allocation (its
    // credit) and one per verification (its tranche), recorded by the process managers; the
    // growth is read once they have caught up, so the two agree exactly.
    let reactions = written.allocations + written.verifications;
    assert_eq!(
        head_growth,
        written.events + reactions,
        "the store grew by {head_growth}; the run recorded {} events, which call for \
         {reactions} reactions",
        written.events
    );
    assert!(report.lag.latency.samples > 0, "no lag samples:\n{report}");
    let l = &report.commands.latency;
    assert!(l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.p99_9_ms);
    assert!(l.p99_9_ms <= l.max_ms);
    // The JSON carries the same figures.
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(
        json["commands"]["acknowledged"].as_u64(),
        Some(report.commands.acknowledged)
    );
    assert!(json["calls"]["approve_disbursement"]["latency"]["p99_ms"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_and_open_loop_reports_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fundtrail.db").display());
    let issuer = Arc::new(Issuer::generate().unwrap());
    let server = fundtrail_server::start(
        ServerSettings::new("127.0.0.1:0".parse().unwrap(), url).trusting(Arc::clone(&issuer)),
    )
    .await
    .unwrap();
    let principals = principals(&issuer);

    let before = server.store.head().await.unwrap().position;
    let closed = fundtrail_bench::run(&options(server.url(), None, 8), &principals)
        .await
        .unwrap();
    let growth = settled_growth(&*server.store, before, expected_growth(&closed)).await;
    assert_eq!(closed.offered, Loop::Closed);
    assert_coherent(&closed, growth);
    assert_eq!(closed.not_sent, 0);

    // 150 calls a second from 6 clients: a machine that serves them all sends every call
    // when it is due; a slower one sends them late, and those still due at the end are
    // counted as not sent.
    let before = server.store.head().await.unwrap().position;
    let open = fundtrail_bench::run(&options(server.url(), Some(150.0), 6), &principals)
        .await
        .unwrap();
    let growth = settled_growth(&*server.store, before, expected_growth(&open)).await;
    assert_eq!(open.offered, Loop::Open { rate: 150.0 });
    assert_coherent(&open, growth);
    // 300 calls are due in the measured window (one either way at its edges): each was sent
    // and answered, or counted as not sent.
    let due = open.commands.acknowledged + open.queries.acknowledged + open.not_sent;
    assert!(
        (299..=301).contains(&due),
        "{due} calls due in 2 s at 150/s:\n{open}"
    );

    server.stop().await.unwrap();
}
