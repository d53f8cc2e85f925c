//! Wiring the read side into a server: the projector's task and the Funding API over it.

use std::sync::Arc;

use fundtrail_domain::Currency;
use fundtrail_log::EventSource;
use fundtrail_projections::{History, Reporting, ViewDb};
use fundtrail_proto::v1::funding_server::FundingServer;
use fundtrail_store::{Database, EventStore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::funding::FundingService;
use crate::run::{Projector, ProjectorOptions};
use crate::state::Shared;

/// A running projector and the Funding API over its views.
#[derive(Debug)]
pub struct ReadSide {
    pub funding: FundingServer<FundingService>,
    pub shared: Arc<Shared>,
    /// Ends once the shutdown token is cancelled and the current batch is committed.
    pub task: JoinHandle<()>,
}

/// The views' database: the store's own.
pub fn view_db(database: Database) -> ViewDb {
    match database {
        Database::Postgres(pool) => ViewDb::Postgres(pool),
        Database::Sqlite(pool) => ViewDb::Sqlite(pool),
    }
}

/// Starts the projector on any log: Kafka, NATS or the store ([`fundtrail_log::open_source`]).
pub fn start(
    reporting: Currency,
    db: ViewDb,
    store: Arc<dyn EventStore>,
    source: Arc<dyn EventSource>,
    options: ProjectorOptions,
    shutdown: CancellationToken,
) -> ReadSide {
    let history = History::Table(db.clone());
    let projector = Projector::new(Reporting(reporting), db, store.clone(), source, options);
    let shared = projector.shared();
    let task = tokio::spawn(projector.run(shutdown));
    ReadSide {
        funding: FundingService::new(shared.clone(), store)
            .with_history(history)
            .into_server(),
        shared,
        task,
    }
}
