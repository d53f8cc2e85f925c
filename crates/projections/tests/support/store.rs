//! Writing a simulated history into a real event store.

use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, NewEvent};
use futures::StreamExt;

use super::world::{Append, Log};

fn request(log: &Log, append: &Append) -> AppendRequest {
    let events = log.events[append.first..append.first + append.count]
        .iter()
        .map(|r| {
            let encoded = fundtrail_proto::encode(&r.event);
            NewEvent::new(r.event_id, encoded.event_type, encoded.payload, Vec::new())
        })
        .collect();
    AppendRequest::new(append.stream.clone(), ExpectedVersion::Any, events)
}

/// Appends the history's commands one after another, so the store's positions are the log's.
pub async fn append_all(store: &dyn EventStore, log: &Log) {
    append_from(store, log, 0).await;
}

/// Appends the commands from the `from`-th on, one after another.
pub async fn append_from(store: &dyn EventStore, log: &Log, from: usize) {
    for append in &log.appends[from..] {
        store.append(request(log, append)).await.unwrap();
    }
}

/// Appends the commands from `from` on with many in flight, so the store commits them in
/// groups: fast enough for a million events. Commands to different streams may land in a
/// slightly different order than the log's; every stream keeps its own order.
pub async fn append_fast(store: &dyn EventStore, log: &Log, from: usize, in_flight: usize) {
    let requests: Vec<AppendRequest> = log.appends[from..]
        .iter()
        .map(|a| request(log, a))
        .collect();
    let mut results = futures::stream::iter(requests)
        .map(|r| store.append(r))
        .buffered(in_flight);
    while let Some(result) = results.next().await {
        result.unwrap();
    }
}
