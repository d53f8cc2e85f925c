//! Catch-up-then-live subscriptions, shared by both backends.
//!
//! A subscription reads in batches from its next position until it finds nothing, then waits
//! for the head watch (fed by this instance's writer, and on PostgreSQL by NOTIFY from every
//! process) or the poll interval, whichever comes first. The poll is the safety net for
//! writers the watch cannot hear about (another process on the same SQLite file, a dropped
//! notification connection).

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use crate::error::StoreError;
use crate::store::EventStore;
use crate::types::RecordedEvent;

struct State<S> {
    store: S,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
    /// An error to report once the events before it have been delivered.
    failure: Option<StoreError>,
    head: watch::Receiver<u64>,
    batch: usize,
    poll: Duration,
    done: bool,
}

pub(crate) fn subscription<S>(
    store: S,
    head: watch::Receiver<u64>,
    from_position: u64,
    batch: usize,
    poll: Duration,
) -> BoxStream<'static, Result<RecordedEvent, StoreError>>
where
    S: EventStore + 'static,
{
    let state = State {
        store,
        next: from_position.max(1),
        buffer: VecDeque::new(),
        failure: None,
        head,
        batch: batch.max(1),
        poll,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match state.next_event().await {
            Ok(event) => Some((Ok(event), state)),
            Err(err) => {
                state.done = true;
                Some((Err(err), state))
            }
        }
    })
    .boxed()
}

impl<S: EventStore> State<S> {
    async fn next_event(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            if let Some(failure) = self.failure.take() {
                return Err(failure);
            }
            // Mark the current head as seen before reading, so a commit that lands after the
            // read wakes the wait below.
            self.head.borrow_and_update();
            let events = self.store.read_all(self.next, self.batch).await?;
            if events.is_empty() {
                self.wait().await;
                continue;
            }
            for event in events {
                if event.position != self.next {
                    // Positions are dense and visible in commit order, so a hole can only be
                    // a deleted row; skipping it silently would hide tampering.
                    self.failure = Some(StoreError::Corrupt(format!(
                        "position {} is missing (the next stored event is at {})",
                        self.next, event.position
                    )));
                    break;
                }
                self.next += 1;
                self.buffer.push_back(event);
            }
        }
    }

    async fn wait(&mut self) {
        match tokio::time::timeout(self.poll, self.head.changed()).await {
            Ok(Ok(())) | Err(_) => {}
            // The watch's sender is gone (the store is shutting down): fall back to polling.
            Ok(Err(_)) => tokio::time::sleep(self.poll).await,
        }
    }
}
