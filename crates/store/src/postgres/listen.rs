//! LISTEN for other processes' commits and feed the head watch.

use std::sync::Weak;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

const RETRY: Duration = Duration::from_secs(1);

/// Runs until the store is dropped (its handle aborts this task) or the watch is gone.
pub(super) async fn run(
    connect: PgConnectOptions,
    channel: String,
    head_position: Weak<watch::Sender<u64>>,
) {
    // A pool of its own, so the listening connection never takes a slot from readers or the
    // writer; PgListener uses it to reconnect.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(connect);
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "event store listener cannot connect; polling meanwhile");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(&channel).await {
            tracing::warn!(error = %err, "event store listener cannot LISTEN; polling meanwhile");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        loop {
            let Some(head) = head_position.upgrade() else {
                return;
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Ok(position) = notification.payload().parse::<u64>() {
                        head.send_if_modified(|seen| {
                            let moved = position > *seen;
                            *seen = (*seen).max(position);
                            moved
                        });
                    }
                }
                Ok(None) => {
                    // The connection dropped and notifications may have been lost: wake the
                    // subscribers so they look for themselves.
                    head.send_modify(|_| {});
                }
                Err(err) => {
                    tracing::warn!(error = %err, "event store listener failed; reconnecting");
                    drop(head);
                    tokio::time::sleep(RETRY).await;
                    break;
                }
            }
        }
    }
}
