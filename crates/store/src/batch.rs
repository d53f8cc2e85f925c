//! Planning one group-commit batch: given what the database said under the sequencer lock
//! (head, stream versions, known request ids), decide each append's outcome and the rows to
//! write. Pure, so both backends share it and one append's refusal cannot affect the others.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::chain::{self, ChainFields};
use crate::error::{InvalidInput, StoreError};
use crate::types::{AppendRequest, AppendResult, Head, NewEvent, RequestRecord};

/// What the backend read inside the batch's transaction, after taking the sequencer lock.
#[derive(Debug)]
pub(crate) struct BatchState {
    pub head: Head,
    /// The store's clock, microseconds since the Unix epoch.
    pub now_micros: i64,
    /// Current versions of the batch's streams that exist.
    pub streams: HashMap<String, u64>,
    /// Stored requests among the batch's request ids.
    pub requests: HashMap<String, RequestRecord>,
    /// Stored events among the batch's event ids.
    pub event_ids: HashSet<Uuid>,
    /// Stored claims among those the batch takes or gives back, with the stream holding each.
    pub claims: HashMap<String, String>,
}

/// One event row to insert.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub position: u64,
    pub stream: &'a str,
    pub version: u64,
    pub event: &'a NewEvent,
    pub recorded_at: i64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// One outcome per append, in the batch's order.
    pub outcomes: Vec<Result<AppendResult, StoreError>>,
    pub rows: Vec<Row<'a>>,
    /// Final version of every stream written, once per stream.
    pub streams: Vec<(&'a str, u64)>,
    pub requests: Vec<RequestRecord>,
    /// Highest cursor per consumer among the successful appends.
    pub cursors: Vec<(&'a str, u64)>,
    /// Claims whose holder changed: taken (stream and position) or given back (`None`).
    pub claims: Vec<(&'a str, Option<(&'a str, u64)>)>,
    pub head: Head,
}

impl Plan<'_> {
    pub fn writes_anything(&self) -> bool {
        !self.rows.is_empty() || !self.cursors.is_empty()
    }
}

pub(crate) fn plan(state: BatchState, batch: &[AppendRequest]) -> Plan<'_> {
    let BatchState {
        mut head,
        now_micros,
        mut streams,
        requests: stored_requests,
        mut event_ids,
        claims: stored_claims,
    } = state;
    let mut claims = Claims {
        held: stored_claims,
        changed: HashMap::new(),
    };
    // Commit time never goes backwards relative to the head, whatever the clocks of the
    // processes sharing the database say.
    let recorded_at = now_micros.max(head.recorded_at);
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rows = Vec::new();
    let mut stream_updates: HashMap<&str, u64> = HashMap::new();
    let mut new_requests: Vec<RequestRecord> = Vec::new();
    let mut new_request_index: HashMap<&str, usize> = HashMap::new();
    let mut cursors: HashMap<&str, u64> = HashMap::new();

    for request in batch {
        let earlier = request.idempotency.as_ref().and_then(|idem| {
            let known = new_request_index
                .get(idem.request_id.as_str())
                .map(|&i| &new_requests[i])
                .or_else(|| stored_requests.get(&idem.request_id))?;
            Some(if known.fingerprint == idem.fingerprint {
                Ok(known.result.clone())
            } else {
                Err(StoreError::RequestConflict {
                    request_id: idem.request_id.clone(),
                })
            })
        });
        let outcome = match earlier {
            Some(replay) => replay,
            None => append_one(
                request,
                &mut head,
                recorded_at,
                &mut streams,
                &mut event_ids,
                &mut rows,
                &mut claims,
            ),
        };
        if let Ok(result) = &outcome {
            if !result.replayed {
                stream_updates.insert(&request.stream, result.last_version);
                if let Some(idem) = &request.idempotency {
                    new_request_index.insert(&idem.request_id, new_requests.len());
                    new_requests.push(RequestRecord {
                        request_id: idem.request_id.clone(),
                        fingerprint: idem.fingerprint,
                        result: AppendResult {
                            replayed: true,
                            ..result.clone()
                        },
                    });
                }
            }
            // A replayed request still moves its cursor: the consumer did handle that
            // position, and the cursor only ever moves forward.
            if let Some(cursor) = &request.cursor {
                let entry = cursors.entry(&cursor.consumer).or_insert(0);
                *entry = (*entry).max(cursor.position);
            }
        }
        outcomes.push(outcome);
    }

    Plan {
        outcomes,
        rows,
        streams: stream_updates.into_iter().collect(),
        requests: new_requests,
        cursors: cursors.into_iter().collect(),
        claims: claims.changed.into_iter().collect(),
        head,
    }
}

/// The claims as the batch's appends so far leave them.
struct Claims<'a> {
    held: HashMap<String, String>,
    changed: HashMap<&'a str, Option<(&'a str, u64)>>,
}

impl<'a> Claims<'a> {
    /// Refuses an append claiming what another stream holds, or what its own stream holds and
    /// does not give back in the same append (a value booked twice on one stream).
    fn check(&self, request: &AppendRequest) -> Result<(), StoreError> {
        for claim in &request.claims {
            let Some(holder) = self.held.get(claim) else {
                continue;
            };
            let given_back = *holder == request.stream && request.releases.contains(claim);
            if !given_back {
                return Err(StoreError::Claimed {
                    claim: claim.clone(),
                    holder: holder.clone(),
                });
            }
        }
        Ok(())
    }

    fn apply(&mut self, request: &'a AppendRequest, position: u64) {
        for claim in &request.releases {
            if self.held.get(claim) == Some(&request.stream) {
                self.held.remove(claim);
                self.changed.insert(claim, None);
            }
        }
        for claim in &request.claims {
            self.held.insert(claim.clone(), request.stream.clone());
            self.changed
                .insert(claim, Some((request.stream.as_str(), position)));
        }
    }
}

fn append_one<'a>(
    request: &'a AppendRequest,
    head: &mut Head,
    recorded_at: i64,
    streams: &mut HashMap<String, u64>,
    event_ids: &mut HashSet<Uuid>,
    rows: &mut Vec<Row<'a>>,
    claims: &mut Claims<'a>,
) -> Result<AppendResult, StoreError> {
    for (other, expected) in &request.unchanged {
        let actual = streams.get(other).copied();
        if !expected.accepts(actual) {
            return Err(StoreError::WrongExpectedVersion {
                stream: other.clone(),
                expected: *expected,
                actual,
            });
        }
    }
    let actual = streams.get(&request.stream).copied();
    if !request.expected.accepts(actual) {
        return Err(StoreError::WrongExpectedVersion {
            stream: request.stream.clone(),
            expected: request.expected,
            actual,
        });
    }
    if let Some(duplicate) = request
        .events
        .iter()
        .find(|e| event_ids.contains(&e.event_id))
    {
        return Err(InvalidInput::DuplicateEventId(duplicate.event_id).into());
    }
    claims.check(request)?;
    let count = request.events.len() as u64;
    let first_version = actual.map_or(Some(0), |v| v.checked_add(1));
    let first_position = head.position.checked_add(1);
    let (Some(first_version), Some(first_position)) = (first_version, first_position) else {
        return Err(InvalidInput::OutOfRange {
            what: "position",
            value: head.position,
        }
        .into());
    };
    let last_version = first_version + count - 1;
    let last_position = first_position + count - 1;
    if i64::try_from(last_version).is_err() || i64::try_from(last_position).is_err() {
        return Err(InvalidInput::OutOfRange {
            what: "position",
            value: last_position,
        }
        .into());
    }

    let mut prev_hash = head.hash;
    for ((event, position), version) in request
        .events
        .iter()
        .zip(first_position..=last_position)
        .zip(first_version..=last_version)
    {
        let hash = chain::next_hash(
            &prev_hash,
            &ChainFields {
                position,
                event_id: &event.event_id,
                stream: &request.stream,
                version,
                event_type: &event.event_type,
                recorded_at,
                payload: &event.payload,
                metadata: &event.metadata,
            },
        );
        event_ids.insert(event.event_id);
        rows.push(Row {
            position,
            stream: &request.stream,
            version,
            event,
            recorded_at,
            prev_hash,
            hash,
        });
        prev_hash = hash;
    }
    *head = Head {
        position: last_position,
        hash: prev_hash,
        recorded_at,
    };
    streams.insert(request.stream.clone(), last_version);
    claims.apply(request, first_position);
    Ok(AppendResult {
        stream: request.stream.clone(),
        first_version,
        last_version,
        first_position,
        last_position,
        recorded_at,
        replayed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ExpectedVersion;

    fn event(n: u128) -> NewEvent {
        NewEvent::new(Uuid::from_u128(n), "t.E", vec![1, 2], vec![])
    }

    fn empty() -> BatchState {
        BatchState {
            head: Head::EMPTY,
            now_micros: 10,
            streams: HashMap::new(),
            requests: HashMap::new(),
            event_ids: HashSet::new(),
            claims: HashMap::new(),
        }
    }

    #[test]
    fn refusals_do_not_disturb_the_rest_of_the_batch() {
        let batch = vec![
            AppendRequest::new("a-1", ExpectedVersion::NoStream, vec![event(1), event(2)]),
            AppendRequest::new("a-1", ExpectedVersion::NoStream, vec![event(3)]),
            AppendRequest::new("a-1", ExpectedVersion::Exact(1), vec![event(4)]),
            AppendRequest::new("b-1", ExpectedVersion::Any, vec![event(1)]),
        ];
        let plan = plan(empty(), &batch);
        assert_eq!(plan.rows.len(), 3);
        assert!(plan.outcomes[0].is_ok());
        assert!(matches!(
            plan.outcomes[1],
            Err(StoreError::WrongExpectedVersion {
                actual: Some(1),
                ..
            })
        ));
        let third = plan.outcomes[2].as_ref().unwrap();
        assert_eq!((third.first_position, third.first_version), (3, 2));
        assert!(matches!(
            plan.outcomes[3],
            Err(StoreError::InvalidInput(InvalidInput::DuplicateEventId(_)))
        ));
        assert_eq!(plan.head.position, 3);
        assert_eq!(plan.head.hash, plan.rows[2].hash);
        assert_eq!(plan.rows[1].prev_hash, plan.rows[0].hash);
    }

    #[test]
    fn an_event_id_already_stored_refuses_only_its_append() {
        let mut state = empty();
        state.event_ids.insert(Uuid::from_u128(5));
        let batch = vec![
            AppendRequest::new("a-1", ExpectedVersion::Any, vec![event(5)]),
            AppendRequest::new("a-1", ExpectedVersion::Any, vec![event(6)]),
        ];
        let plan = plan(state, &batch);
        assert!(plan.outcomes[0].is_err());
        assert_eq!(plan.outcomes[1].as_ref().unwrap().first_version, 0);
    }

    #[test]
    fn recorded_at_never_goes_back() {
        let mut state = empty();
        state.head.recorded_at = 99;
        let batch = vec![AppendRequest::new(
            "a-1",
            ExpectedVersion::Any,
            vec![event(1)],
        )];
        let plan = plan(state, &batch);
        assert_eq!(plan.rows[0].recorded_at, 99);
    }

    #[test]
    fn same_request_id_in_one_batch_is_a_replay_or_a_conflict() {
        let req = |n: u64, fp| {
            AppendRequest::new("a-1", ExpectedVersion::Any, vec![event(n.into())])
                .with_idempotency("r1", [fp; 32])
                .with_cursor("pm", n)
        };
        let batch = vec![req(1, 7), req(2, 7), req(3, 8)];
        let plan = plan(empty(), &batch);
        let first = plan.outcomes[0].as_ref().unwrap();
        let second = plan.outcomes[1].as_ref().unwrap();
        assert!(!first.replayed && second.replayed);
        assert_eq!(first.first_position, second.first_position);
        assert!(matches!(
            plan.outcomes[2],
            Err(StoreError::RequestConflict { .. })
        ));
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(plan.requests.len(), 1);
        assert_eq!(plan.cursors, vec![("pm", 2)]);
    }

    #[test]
    fn a_claim_is_held_by_one_stream_at_a_time() {
        let mut state = empty();
        state.claims.insert("ref:A".to_owned(), "p-1".to_owned());
        let append = |stream: &str, n: u128| {
            AppendRequest::new(stream, ExpectedVersion::Any, vec![event(n)])
        };
        let batch = vec![
            append("p-2", 1).with_claim("ref:A"),
            append("p-2", 2).with_claim("ref:B"),
            append("p-3", 3).with_claim("ref:B"),
            append("p-3", 4).with_release("ref:A"),
            append("p-1", 5).with_release("ref:A"),
            append("p-3", 6).with_claim("ref:A"),
            append("p-3", 7).with_claim("ref:A"),
        ];
        let plan = plan(state, &batch);
        assert!(matches!(
            &plan.outcomes[0],
            Err(StoreError::Claimed { claim, holder }) if claim == "ref:A" && holder == "p-1"
        ));
        assert!(plan.outcomes[1].is_ok());
        assert!(matches!(
            &plan.outcomes[2],
            Err(StoreError::Claimed { holder, .. }) if holder == "p-2"
        ));
        // Giving back what another stream holds changes nothing; its holder can.
        assert!(plan.outcomes[3].is_ok() && plan.outcomes[4].is_ok());
        assert!(plan.outcomes[5].is_ok());
        assert!(matches!(
            &plan.outcomes[6],
            Err(StoreError::Claimed { holder, .. }) if holder == "p-3"
        ));
        let mut changed = plan.claims.clone();
        changed.sort_unstable();
        assert_eq!(
            changed,
            vec![("ref:A", Some(("p-3", 4))), ("ref:B", Some(("p-2", 1)))]
        );
    }
}
