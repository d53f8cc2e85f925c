//! Persistence details: views built in another reporting currency are built again, and a
//! batch written under a superseded generation is refused.

mod support;

use fundtrail_domain::Currency;
use fundtrail_projections::{
    CountryFunding, Fold, PersistError, Reporting, View, ViewChanges, ViewDb, decode,
};
use fundtrail_store::{SqliteStore, StoreOptions};

async fn db() -> (SqliteStore, ViewDb) {
    let store = SqliteStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let db = ViewDb::Sqlite(store.pool().clone());
    (store, db)
}

async fn commit_story(db: &ViewDb) -> u64 {
    let world = support::story::story();
    let loaded = db
        .load::<CountryFunding>(Reporting(Currency::USD))
        .await
        .unwrap();
    let mut view = loaded.view;
    for event in &world.log.events {
        view.fold(&decode(&support::stored(event)).unwrap());
    }
    let changes = ViewChanges {
        view: CountryFunding::NAME,
        generation: loaded.generation,
        mark: View::mark(&view),
        docs: Fold::take_changes(&mut view).unwrap(),
    };
    db.commit(&[changes], None).await.unwrap();
    View::mark(&view).position
}

#[tokio::test]
async fn views_built_in_another_reporting_currency_start_again() {
    let (_store, db) = db().await;
    let position = commit_story(&db).await;
    let usd = db
        .load::<CountryFunding>(Reporting(Currency::USD))
        .await
        .unwrap();
    assert_eq!(View::mark(&usd.view).position, position);
    let eur = db
        .load::<CountryFunding>(Reporting(Currency::EUR))
        .await
        .unwrap();
    assert_eq!(View::mark(&eur.view).position, 0);
    assert_eq!(eur.view.countries().count(), 0);
    assert!(eur.generation > usd.generation);
}

#[tokio::test]
async fn a_superseded_generation_cannot_commit() {
    let (_store, db) = db().await;
    commit_story(&db).await;
    let loaded = db
        .load::<CountryFunding>(Reporting(Currency::USD))
        .await
        .unwrap();
    let stale = ViewChanges {
        view: CountryFunding::NAME,
        generation: loaded.generation - 1,
        mark: View::mark(&loaded.view),
        docs: Vec::new(),
    };
    let refused = db.commit(&[stale], None).await.unwrap_err();
    assert!(
        matches!(refused, PersistError::Superseded("country_funding")),
        "{refused:?}"
    );
}
