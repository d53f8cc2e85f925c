//! The projector on the sources it may be given: the store's subscription on an in-memory
//! SQLite store (one connection shared with the commits), and the log crate's sources.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Db, all_events, fold, seen, start_with};
use fundtrail_projector::{LogSource, ProjectorOptions, StoreSource};

fn options() -> ProjectorOptions {
    ProjectorOptions {
        batch: 5,
        retry: Duration::from_millis(10),
        before_commit: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_shares_its_one_connection() {
    let db = Db::memory().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let running = start_with(&db, Arc::new(StoreSource(db.store.clone())), options());
    running.reach(events.len() as u64).await;
    assert_eq!(
        seen(&running.shared.read()),
        seen(&fold(&events, events.len()))
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_crate_sources_feed_the_projector() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let log = Arc::new(fundtrail_log::StoreSource(db.store.clone()));
    let running = start_with(&db, Arc::new(LogSource::new(log, "projector")), options());
    running.reach(events.len() as u64).await;
    assert_eq!(
        seen(&running.shared.read()),
        seen(&fold(&events, events.len()))
    );
    running.stop().await;
}
