//! Moving a cursor inside a consumer's own transaction, only if it moves forward.
//!
//! The store's `save_cursor_in` keeps the greater of the old and new position and cannot
//! tell the caller which it was. A consumer that shares a lane with another member for a
//! moment (a Kafka rebalance while an event is in flight) must know, so that its effect is
//! rolled back when the other member got there first: call these first in the transaction
//! and commit the effect only when they return `true`.

use sqlx::{PgConnection, SqliteConnection};

use crate::error::LogError;

const ADVANCE_PG: &str = "INSERT INTO consumer_cursors (consumer, position) VALUES ($1, $2) \
     ON CONFLICT (consumer) DO UPDATE SET position = excluded.position \
     WHERE consumer_cursors.position < excluded.position";
const ADVANCE_SQLITE: &str = "INSERT INTO consumer_cursors (consumer, position) VALUES (?, ?) \
     ON CONFLICT (consumer) DO UPDATE SET position = excluded.position \
     WHERE consumer_cursors.position < excluded.position";

/// On `PostgreSQL`: moves `consumer` to `position` if it is below it. `false`: the event was
/// already handled, roll back.
pub async fn advance_pg(
    conn: &mut PgConnection,
    consumer: &str,
    position: u64,
) -> Result<bool, LogError> {
    let done = sqlx::query(ADVANCE_PG)
        .bind(consumer)
        .bind(db_position(position)?)
        .execute(conn)
        .await
        .map_err(|e| LogError::database("advancing a cursor", &e))?;
    Ok(done.rows_affected() == 1)
}

/// On `SQLite`: as [`advance_pg`].
pub async fn advance_sqlite(
    conn: &mut SqliteConnection,
    consumer: &str,
    position: u64,
) -> Result<bool, LogError> {
    let done = sqlx::query(ADVANCE_SQLITE)
        .bind(consumer)
        .bind(db_position(position)?)
        .execute(conn)
        .await
        .map_err(|e| LogError::database("advancing a cursor", &e))?;
    Ok(done.rows_affected() == 1)
}

fn db_position(position: u64) -> Result<i64, LogError> {
    i64::try_from(position)
        .map_err(|_| LogError::Malformed(format!("position {position} is out of range")))
}
