//! Servers starting together on a new PostgreSQL database all find one checkpoint table.

use fundtrail_audit::storage;
use fundtrail_store::StoreOptions;
use sqlx::Connection;

fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_share_one_checkpoint_table() {
    let schema = format!("audit_{}", uuid::Uuid::new_v4().simple());
    let options = StoreOptions {
        schema: Some(schema.clone()),
        ..StoreOptions::default()
    };
    let url = database_url();
    let opened =
        futures::future::join_all((0..6).map(|_| storage::open(&url, options.clone()))).await;
    let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    for result in opened {
        assert!(result.is_ok(), "{result:?}");
    }
}
