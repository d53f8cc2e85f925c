//! Properties of the views over random histories that the domain itself decided (so they are
//! histories the services could have written):
//!
//! - the views persisted incrementally, batch by batch through SQLite and reloaded from it
//!   between batches, equal the views folded from scratch in memory;
//! - the countries add up to the fund overview for every figure they are attributed.

mod support;

use fundtrail_domain::Currency;
use fundtrail_projections::figure::Figure;
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

fn history(ops: &[(u8, u32, u32, u32)]) -> Vec<RecordedEvent> {
    let mut world = World::seeded(Currency::USD);
    for (kind, a, b, c) in ops {
        world.apply(Op {
            kind: *kind,
            a: *a,
            b: *b,
            c: *c,
        });
    }
    world.log.events.iter().map(stored).collect()
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
    let events = history(&ops);
    let mut kinds: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for event in &events {
        kinds.insert(event.event_type.clone());
    }
    let missing: Vec<&&str> = fundtrail_proto::events::EVENT_TYPES
        .iter()
        .filter(|t| !kinds.contains(**t))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert_countries_add_up(&scratch(&events)).unwrap();
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
