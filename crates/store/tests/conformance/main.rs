//! The conformance suite: every behaviour of the event store, written once and run against
//! both backends. PostgreSQL is read from `FUNDTRAIL_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test runs in a schema of its own.

mod appends;
mod attention;
mod chain;
mod claims;
mod concurrency;
mod cursors;
mod harness;
mod subscriptions;
mod util;

macro_rules! conformance {
    ($backend:ident: $harness:ty => $($module:ident::$test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    crate::$module::$test::<$harness>().await;
                }
            )*
        }
    };
}

macro_rules! suite {
    ($($backend:ident: $harness:ty),*) => {
        $(
            conformance!($backend: $harness =>
                appends::expected_versions,
                appends::reads_and_listings,
                appends::bad_input_writes_nothing,
                appends::duplicate_event_id_fails_only_its_append,
                concurrency::one_winner_per_version,
                concurrency::writers_and_a_tailing_reader,
                concurrency::idempotent_retries,
                concurrency::another_stream_must_stay_unchanged,
                claims::one_holder_per_claim,
                claims::claims_are_given_back_by_their_holder,
                chain::chain_verifies,
                chain::altered_rows_are_reported,
                chain::deleted_rows_are_reported,
                chain::new_instance_continues_positions_and_chain,
                subscriptions::live_subscription,
                subscriptions::other_instance_commits_reach_subscribers,
                cursors::save_and_load_only_forward,
                cursors::cursor_commits_with_its_append,
                cursors::cursor_in_callers_transaction,
                cursors::cursors_saved_before_the_rename_are_kept,
                attention::parking_moves_the_cursor_with_the_record,
                attention::a_failed_cursor_parks_nothing,
                attention::causes_are_kept_within_bounds,
                attention::listings_filter_and_page,
                attention::redrives_meet_their_consumer_through_the_table,
            );
        )*
    };
}

suite!(postgres: crate::harness::Pg, sqlite: crate::harness::Sqlite);

#[tokio::test]
async fn open_picks_the_backend_from_the_url() {
    use fundtrail_store::{AppendRequest, ExpectedVersion, StoreOptions};

    let store = fundtrail_store::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let result = store
        .append(AppendRequest::new(
            "memo-1",
            ExpectedVersion::NoStream,
            util::events(2),
        ))
        .await
        .unwrap();
    assert_eq!((result.first_position, result.last_position), (1, 2));
    assert_eq!(store.read_all(1, 10).await.unwrap().len(), 2);

    let options = StoreOptions {
        schema: Some(format!("store_test_open_{}", std::process::id())),
        ..StoreOptions::default()
    };
    let pg = fundtrail_store::open(&harness::database_url(), options.clone())
        .await
        .unwrap();
    assert!(pg.head().await.is_ok());
    drop(pg);
    let pool = sqlx::PgPool::connect(&harness::database_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        options.schema.unwrap_or_default()
    )))
    .execute(&pool)
    .await
    .unwrap();

    assert!(matches!(
        fundtrail_store::open("mysql://localhost/x", StoreOptions::default()).await,
        Err(fundtrail_store::StoreError::InvalidInput(_))
    ));
}
