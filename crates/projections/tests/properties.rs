//! Properties of the views over random histories that the domain itself decided (so they are
//! histories the services could have written):
//!
//! - the views persisted incrementally, batch by batch through SQLite and reloaded from it
//!   between batches, equal the views folded from scratch in memory;
//! - the countries add up to the fund overview for every figure they are attributed, and the
//!   donors' statements for everything their money does;
//! - the views agree with the pledges the domain decided, receipt corrections included.

mod support;

use std::collections::BTreeMap;

use fundtrail_domain::{Currency, Money};
use fundtrail_projections::donor::DonorReport;
use fundtrail_projections::figure::{Amount, Figure};
use fundtrail_projections::{
    CountryFunding, DonorStatements, Fold, FundOverview, Reporting, View, ViewChanges, ViewDb,
    ViewName, Views, decode,
};
use fundtrail_store::{RecordedEvent, SqliteStore, StoreOptions};
use proptest::prelude::*;
use support::{Op, World, stored};

fn reporting() -> Reporting {
    Reporting(Currency::USD)
}

fn world(ops: &[(u8, u32, u32, u32)]) -> World {
    let mut world = World::seeded(Currency::USD);
    for (kind, a, b, c) in ops {
        world.apply(Op {
            kind: *kind,
            a: *a,
            b: *b,
            c: *c,
        });
    }
    world
}

fn history(ops: &[(u8, u32, u32, u32)]) -> Vec<RecordedEvent> {
    world(ops).log.events.iter().map(stored).collect()
}

fn scratch(events: &[RecordedEvent]) -> Views {
    let mut views = Views::new(reporting());
    for event in events {
        views.apply_recorded(event).unwrap();
    }
    views
}

fn sorted_docs(fold: &dyn Fold) -> Vec<(String, String, String)> {
    let mut docs: Vec<_> = fold
        .all_docs()
        .unwrap()
        .into_iter()
        .map(|d| (d.kind.to_owned(), d.key, d.json))
        .collect();
    docs.sort();
    docs
}

async fn load(db: &ViewDb) -> (Views, [i64; 3]) {
    let country = db.load::<CountryFunding>(reporting()).await.unwrap();
    let donors = db.load::<DonorStatements>(reporting()).await.unwrap();
    let overview = db.load::<FundOverview>(reporting()).await.unwrap();
    (
        Views {
            country: country.view,
            donors: donors.view,
            overview: overview.view,
        },
        [country.generation, donors.generation, overview.generation],
    )
}

async fn persisted(events: &[RecordedEvent], sizes: &[usize]) -> Views {
    let store = SqliteStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    persisted_in(&ViewDb::Sqlite(store.pool().clone()), events, sizes).await
}

/// Folds the events in batches of the given sizes, committing each batch and reloading the
/// views from the database before the next.
async fn persisted_in(db: &ViewDb, events: &[RecordedEvent], sizes: &[usize]) -> Views {
    let names: Vec<&'static str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
    db.prepare(&names).await.unwrap();
    let mut next = 0;
    let mut size = sizes.iter().cycle();
    while next < events.len() {
        let (mut views, generations) = load(db).await;
        let end = (next + size.next().copied().unwrap_or(1)).min(events.len());
        for event in &events[next..end] {
            views.apply(&decode(event).unwrap());
        }
        next = end;
        let folds: [&mut dyn Fold; 3] =
            [&mut views.country, &mut views.donors, &mut views.overview];
        let changes: Vec<ViewChanges> = folds
            .into_iter()
            .zip(generations)
            .map(|(fold, generation)| ViewChanges {
                view: fold.name(),
                generation,
                mark: fold.mark(),
                docs: fold.take_changes().unwrap(),
            })
            .collect();
        db.commit(&changes, None).await.unwrap();
    }
    load(db).await.0
}

fn assert_same(a: &Views, b: &Views) -> Result<(), TestCaseError> {
    prop_assert_eq!(sorted_docs(&a.country), sorted_docs(&b.country));
    prop_assert_eq!(sorted_docs(&a.donors), sorted_docs(&b.donors));
    prop_assert_eq!(sorted_docs(&a.overview), sorted_docs(&b.overview));
    prop_assert_eq!(a.country.reports(), b.country.reports());
    let donors = |v: &Views| -> Vec<_> {
        v.donors
            .donors()
            .filter_map(|id| v.donors.report(id))
            .collect()
    };
    prop_assert_eq!(donors(a), donors(b));
    prop_assert_eq!(a.overview.report(), b.overview.report());
    prop_assert_eq!(View::mark(&a.country), View::mark(&b.country));
    Ok(())
}

fn assert_countries_add_up(views: &Views) -> Result<(), TestCaseError> {
    let fund = views.overview.totals();
    let mut sums: [Figure; 9] = Default::default();
    for (_, doc) in views.country.documents() {
        for (sum, figure) in sums.iter_mut().zip([
            &doc.pledged,
            &doc.committed,
            &doc.outstanding,
            &doc.received,
            &doc.matched_reserved,
            &doc.matched_confirmed,
            &doc.allocated,
            &doc.disbursed,
            &doc.refunded,
        ]) {
            sum.add_figure(figure);
        }
    }
    let earmarked = |total: &Figure, unearmarked: &Figure| {
        let mut part = total.clone();
        part.sub_figure(unearmarked);
        part
    };
    let expected = [
        earmarked(&fund.total.pledged, &fund.unearmarked.pledged),
        earmarked(&fund.total.committed, &fund.unearmarked.committed),
        earmarked(&fund.total.outstanding, &fund.unearmarked.outstanding),
        earmarked(&fund.total.received, &fund.unearmarked.received),
        fund.matched_reserved.clone(),
        fund.matched_confirmed.clone(),
        fund.allocated.clone(),
        fund.disbursed.clone(),
        fund.refunded.clone(),
    ];
    for (i, (sum, expected)) in sums.iter().zip(expected.iter()).enumerate() {
        prop_assert_eq!(sum, expected, "figure {}", i);
    }
    Ok(())
}

/// An amount as (minor units per currency, reporting value).
fn sum_amounts<'a>(
    amounts: impl IntoIterator<Item = &'a Amount>,
) -> (BTreeMap<Currency, i64>, i64) {
    let mut original = BTreeMap::new();
    let mut reporting = 0;
    for amount in amounts {
        for money in &amount.original {
            *original.entry(money.currency()).or_insert(0) += money.minor_units();
        }
        reporting += amount.reporting.minor_units();
    }
    original.retain(|_, units| *units != 0);
    (original, reporting)
}

fn figure_amounts(figure: &Figure) -> (BTreeMap<Currency, i64>, i64) {
    sum_amounts([&figure.amount(reporting())])
}

/// One figure of a donor's statement.
type DonorFigure = fn(&DonorReport) -> &Amount;

/// The donors' statements add up to the fund for everything a donor's money does.
fn assert_donors_add_up(views: &Views) -> Result<(), TestCaseError> {
    let fund = views.overview.totals();
    let reports: Vec<_> = views
        .donors
        .donors()
        .filter_map(|id| views.donors.report(id))
        .collect();
    let pairs: [(&str, DonorFigure, &Figure); 6] = [
        ("pledged", |r| &r.pledged, &fund.total.pledged),
        ("committed", |r| &r.committed, &fund.total.committed),
        ("outstanding", |r| &r.outstanding, &fund.total.outstanding),
        ("received", |r| &r.received, &fund.total.received),
        ("allocated", |r| &r.allocated, &fund.allocated_from),
        ("refunded", |r| &r.refunded, &fund.refunded_to_donors),
    ];
    for (name, of, expected) in pairs {
        let sum = sum_amounts(reports.iter().map(of));
        prop_assert_eq!(sum, figure_amounts(expected), "donors' {}", name);
    }
    Ok(())
}

/// Each statement's lines add up to its figures: receipts not reversed to what was received
/// (amounts and value), allocations net of what went back to what was allocated; and every
/// payment is shared out among the donors whose money funded it, to a minor unit per donor.
fn assert_lines_add_up(views: &Views) -> Result<(), TestCaseError> {
    let mut payments: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for id in views.donors.donors() {
        let Some(r) = views.donors.report(id) else {
            continue;
        };
        let mut received = BTreeMap::new();
        let mut value = 0;
        for line in r.receipts.iter().filter(|l| !l.reversed) {
            *received.entry(line.amount.currency()).or_insert(0) += line.amount.minor_units();
            value += line.reporting_amount.minor_units();
        }
        received.retain(|_, units| *units != 0);
        prop_assert_eq!(
            (received, value),
            sum_amounts([&r.received]),
            "{}'s receipts",
            id
        );
        let mut allocated = BTreeMap::new();
        for line in &r.allocations {
            *allocated.entry(line.amount.currency()).or_insert(0) +=
                line.amount.minor_units() - line.returned.minor_units();
        }
        allocated.retain(|_, units| *units != 0);
        prop_assert_eq!(
            allocated,
            sum_amounts([&r.allocated]).0,
            "{}'s allocations",
            id
        );
        for line in &r.disbursements {
            prop_assert!(line.share.minor_units() >= 0, "{:?}", line);
            prop_assert!(
                line.share.minor_units() <= line.amount.minor_units(),
                "{:?}",
                line
            );
            let payment = payments.entry(line.disbursement_id.to_string()).or_insert((
                line.amount.minor_units(),
                0,
                0,
            ));
            payment.1 += line.share.minor_units();
            payment.2 += 1;
        }
    }
    for (id, (amount, shares, donors)) in payments {
        prop_assert!(
            (amount - shares).abs() <= donors,
            "payment {} of {} shared out as {} among {} donors",
            id,
            amount,
            shares,
            donors
        );
    }
    Ok(())
}

/// What the domain's pledges hold in one currency: amounts and reporting values.
#[derive(Debug, Default)]
struct Held {
    received: i64,
    received_reporting: i64,
    allocated: i64,
    refunded: i64,
    refunded_earmarked: i64,
    unallocated: i64,
    unallocated_reporting: i64,
}

/// The views agree with the pledges the domain decided, corrections included: receipts net
/// of reversals at their value as last booked, allocations, refunds to donors, and the
/// balance with the fund, which is the pledges' unallocated money at its value.
fn assert_views_agree_with_the_pledges(world: &World, views: &Views) -> Result<(), TestCaseError> {
    let minor = |m: Option<Money>| m.map_or(0, |m| m.minor_units());
    let mut held: BTreeMap<Currency, Held> = BTreeMap::new();
    for (_, pledge) in &world.pledges {
        let Some(terms) = pledge.terms() else {
            continue;
        };
        let h = held.entry(terms.amount.currency()).or_default();
        h.received += minor(pledge.received());
        h.received_reporting += minor(pledge.received_reporting());
        h.allocated += minor(pledge.allocated());
        h.refunded += minor(pledge.refunded());
        if terms.earmark.country().is_some() {
            h.refunded_earmarked += minor(pledge.refunded());
        }
        h.unallocated += minor(pledge.unallocated().ok());
        h.unallocated_reporting += minor(pledge.unallocated_reporting());
    }
    let fund = views.overview.totals();
    let mut to_donors = Figure::default();
    for (_, doc) in views.country.documents() {
        to_donors.add_figure(&doc.refunded_to_donors);
    }
    let balance = views.overview.report().balance_with_fund;
    let mut balance_value = 0;
    for (currency, h) in &held {
        let received = fund.total.received.part(*currency);
        prop_assert_eq!(received.amount, h.received, "received {}", currency);
        prop_assert_eq!(
            received.reporting,
            h.received_reporting,
            "received {}",
            currency
        );
        let allocated = fund.allocated_from.part(*currency).amount;
        prop_assert_eq!(allocated, h.allocated, "allocated {}", currency);
        let refunded = fund.refunded_to_donors.part(*currency).amount;
        prop_assert_eq!(refunded, h.refunded, "refunded {}", currency);
        let earmarked = to_donors.part(*currency).amount;
        prop_assert_eq!(earmarked, h.refunded_earmarked, "refunded {}", currency);
        let unallocated = balance
            .original
            .iter()
            .find(|m| m.currency() == *currency)
            .map_or(0, Money::minor_units);
        prop_assert_eq!(
            unallocated,
            h.unallocated,
            "balance with the fund {}",
            currency
        );
        balance_value += h.unallocated_reporting;
    }
    prop_assert_eq!(
        balance.reporting.minor_units(),
        balance_value,
        "balance's value"
    );
    Ok(())
}

fn ops() -> impl Strategy<Value = Vec<(u8, u32, u32, u32)>> {
    proptest::collection::vec(
        (any::<u8>(), any::<u32>(), any::<u32>(), any::<u32>()),
        1..250,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn persisted_batches_equal_the_fold_from_scratch(
        ops in ops(),
        sizes in proptest::collection::vec(1_usize..60, 1..20),
    ) {
        let events = history(&ops);
        let expected = scratch(&events);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let actual = runtime.block_on(persisted(&events, &sizes));
        assert_same(&actual, &expected)?;
    }

    #[test]
    fn countries_add_up_to_the_fund(ops in ops()) {
        let views = scratch(&history(&ops));
        assert_countries_add_up(&views)?;
    }

    #[test]
    fn donors_add_up_to_the_fund(ops in ops()) {
        let views = scratch(&history(&ops));
        assert_donors_add_up(&views)?;
    }

    #[test]
    fn statement_lines_add_up_to_each_statement(ops in ops()) {
        let views = scratch(&history(&ops));
        assert_lines_add_up(&views)?;
    }

    #[test]
    fn the_views_agree_with_the_pledges(ops in ops()) {
        let world = world(&ops);
        let events: Vec<RecordedEvent> = world.log.events.iter().map(stored).collect();
        assert_views_agree_with_the_pledges(&world, &scratch(&events))?;
    }
}

#[test]
fn random_histories_exercise_every_kind_of_event() {
    let ops: Vec<(u8, u32, u32, u32)> = (0..3000_u32)
        .map(|i| {
            let x = i.wrapping_mul(2_654_435_761);
            (
                u8::try_from(x >> 24).unwrap(),
                x.rotate_left(7),
                x.rotate_left(13),
                x.rotate_left(21),
            )
        })
        .collect();
    let world = world(&ops);
    let events: Vec<RecordedEvent> = world.log.events.iter().map(stored).collect();
    let mut kinds: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for event in &events {
        kinds.insert(event.event_type.clone());
    }
    let missing: Vec<&&str> = fundtrail_proto::events::EVENT_TYPES
        .iter()
        .filter(|t| !kinds.contains(**t))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    let views = scratch(&events);
    assert_countries_add_up(&views).unwrap();
    assert_donors_add_up(&views).unwrap();
    assert_views_agree_with_the_pledges(&world, &views).unwrap();
    assert_lines_add_up(&views).unwrap();
    let reports: Vec<DonorReport> = views
        .donors
        .donors()
        .filter_map(|id| views.donors.report(id))
        .collect();
    let lines = |of: fn(&DonorReport) -> bool| reports.iter().any(of);
    assert!(lines(|r| r.receipts.iter().any(|l| l.reversed)));
    assert!(lines(|r| r
        .receipts
        .iter()
        .any(|l| l.matching_confirmed.is_some())));
    assert!(lines(|r| r
        .allocations
        .iter()
        .any(|l| l.returned.minor_units() > 0)));
    assert!(lines(|r| r
        .disbursements
        .iter()
        .any(|l| l.reversed.minor_units() > 0)));
    assert!(lines(|r| r
        .disbursements
        .iter()
        .any(|l| l.refunded.minor_units() > 0)));
}

/// The same on PostgreSQL, for a few fixed histories, each in a schema of its own.
#[tokio::test]
async fn persisted_batches_equal_the_fold_from_scratch_on_postgres() {
    let url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    for seed in 1..=3_u32 {
        let schema = format!("projections_props_{seed}_{}", std::process::id());
        let options = StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::default()
        };
        let store = fundtrail_store::PgStore::connect(&url, options)
            .await
            .unwrap();
        let db = ViewDb::Postgres(store.pool().clone());
        let ops: Vec<(u8, u32, u32, u32)> = (0..400_u32)
            .map(|i| {
                let x = i.wrapping_add(seed * 7919).wrapping_mul(2_654_435_761);
                (
                    u8::try_from(x >> 24).unwrap(),
                    x.rotate_left(5),
                    x.rotate_left(11),
                    x.rotate_left(19),
                )
            })
            .collect();
        let events = history(&ops);
        let sizes = [1 + seed as usize, 17, 3, 50];
        let actual = persisted_in(&db, &events, &sizes).await;
        assert_same(&actual, &scratch(&events)).unwrap();
        drop(db);
        drop(store);
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::Executor::execute(
            &mut conn,
            sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")),
        )
        .await
        .unwrap();
    }
}
