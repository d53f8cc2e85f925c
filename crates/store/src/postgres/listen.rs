//! LISTEN for other processes' commits and feed the head watch.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const RETRY: Duration = Duration::from_secs(1);

/// The store's listening task, started by the first subscription (a store nobody subscribes
/// to needs no extra connection) and stopped with the store.
#[derive(Debug)]
pub(crate) struct Listener {
    connect: PgConnectOptions,
    channel: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    pub(super) fn new(connect: PgConnectOptions, channel: String) -> Self {
        Self {
            connect,
            channel,
            task: Mutex::new(None),
        }
    }

    /// Starts listening unless it already does.
    pub(crate) fn start(&self, head_position: &Arc<watch::Sender<u64>>) {
        let mut task = match self.task.lock() {
            Ok(task) => task,
            Err(poisoned) => poisoned.into_inner(),
        };
        if task.is_none() {
            *task = Some(tokio::spawn(run(
                self.connect.clone(),
                self.channel.clone(),
                Arc::downgrade(head_position),
            )));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let task = match self.task.get_mut() {
            Ok(task) => task.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
        }
    }
}

/// Runs until the store is dropped (its listener aborts this task) or the watch is gone.
async fn run(connect: PgConnectOptions, channel: String, head_position: Weak<watch::Sender<u64>>) {
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
