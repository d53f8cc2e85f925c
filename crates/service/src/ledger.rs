//! Running a command: load the stream, decide, append — once, however often it is sent.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_domain::{
    Calendar, Currency, DomainError, Project, ProjectId, ProjectSummary, Reason, reference,
};
use fundtrail_proto::{decode, encode, v1};
use fundtrail_store::{
    AppendRequest, AppendResult, EventStore, ExpectedVersion, NewEvent, StoreError,
};
use fundtrail_telemetry::TRACE_TARGET;
use fundtrail_telemetry::metrics::attr;
use opentelemetry::KeyValue;
use tokio::sync::Mutex;
use tracing::Instrument;
use tracing::field::Empty;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::ServiceError;
use crate::stored::{Stored, created_id};

/// How often a command is re-decided when another writer changed its stream meanwhile.
const MAX_ATTEMPTS: u32 = 20;
/// Commands on one stream in one process run one at a time; streams share these stripes.
const STRIPES: usize = 1024;

/// A service's access to the event store: the command pipeline every RPC runs through.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn EventStore>,
    source: &'static str,
    reporting_currency: Currency,
    stripes: Arc<[Mutex<()>]>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("source", &self.source)
            .field("reporting_currency", &self.reporting_currency)
            .finish_non_exhaustive()
    }
}

/// A loaded aggregate and the version of its stream (`None`: no stream yet).
#[derive(Debug, Clone)]
pub struct Loaded<A> {
    pub state: A,
    pub version: Option<u64>,
}

impl Ledger {
    /// `source` names the service in every event's metadata; `reporting_currency` is the
    /// fund's.
    pub fn new(
        store: Arc<dyn EventStore>,
        source: &'static str,
        reporting_currency: Currency,
    ) -> Self {
        Self {
            store,
            source,
            reporting_currency,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn reporting_currency(&self) -> Currency {
        self.reporting_currency
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The day by the service's clock (UTC): the date of a correction that has none of its
    /// own, and the day before which a period must have ended to be closed.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now().date_naive()
    }

    /// Folds a stream into its aggregate.
    pub async fn load<A: Stored>(&self, stream: &str) -> Result<Loaded<A>, ServiceError>
    where
        A::Event: Send + Sync + Clone,
        A::Command: Send,
    {
        let events = self.store.read_stream(stream, 0).await?;
        let mut state = A::default();
        let mut version = None;
        for recorded in &events {
            let event = decode(&recorded.event_type, &recorded.payload)?;
            let own = A::extract(event).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{} at version {} of {stream} does not belong to a {} stream",
                    recorded.event_type,
                    recorded.version,
                    A::CATEGORY
                ))
            })?;
            state.evolve(&own);
            version = Some(recorded.version);
        }
        Ok(Loaded { state, version })
    }

    /// What commands of other aggregates need to know of a project. A project that was never
    /// registered has nothing to know, so naming one is refused as `PROJECT_NOT_FOUND`.
    pub async fn project(&self, project_id: &ProjectId) -> Result<ProjectSummary, ServiceError> {
        Ok(self.project_at(project_id).await?.0)
    }

    /// [`Ledger::project`] and the version of the project's stream it was read at.
    async fn project_at(
        &self,
        project_id: &ProjectId,
    ) -> Result<(ProjectSummary, u64), ServiceError> {
        let loaded = self.load::<Project>(&Project::stream(project_id)).await?;
        match (loaded.state.summary(), loaded.version) {
            (Some(summary), Some(version)) => Ok((summary, version)),
            _ => Err(DomainError::refused(
                Reason::ProjectNotFound,
                format!("project {project_id} is not registered"),
            )
            .into()),
        }
    }

    /// Runs a command against a stream and appends what it decides, answering a retried
    /// request with its original result.
    pub async fn execute<A, F>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        decide: F,
    ) -> Result<v1::CommandResult, ServiceError>
    where
        A: Stored,
        A::Event: Send + Sync + Clone,
        A::Command: Send,
        F: Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    {
        self.run(ctx, stream, None, false, |a: &A, _, _| decide(a), None)
            .instrument(command_span(A::CATEGORY, ctx, stream))
            .await
    }

    /// Like [`Ledger::execute`], for an entry dated in the books: the fund's calendar is read
    /// with the stream and the events are appended only if no period closed in between, so a
    /// close racing the entry makes it decide again (and be refused as `PERIOD_CLOSED` if its
    /// date is now closed) rather than land in a period already closed.
    pub async fn execute_in_period<A, F>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        decide: F,
    ) -> Result<v1::CommandResult, ServiceError>
    where
        A: Stored,
        A::Event: Send + Sync + Clone,
        A::Command: Send,
        F: Fn(&A, &Calendar) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    {
        self.run(
            ctx,
            stream,
            None,
            true,
            |a: &A, _, calendar: &Calendar| decide(a, calendar),
            None,
        )
        .instrument(command_span(A::CATEGORY, ctx, stream))
        .await
    }

    /// The fund's accounting calendar and the version of its stream (`None`: nothing closed).
    pub async fn calendar(&self) -> Result<Loaded<Calendar>, ServiceError> {
        self.load::<Calendar>(Calendar::STREAM).await
    }

    /// Like [`Ledger::execute`], for a decision that depends on what a project is (open or
    /// closed, its currency): the project is read with the stream, and the events are appended
    /// only if the project's stream is still where it was read, so a project closed in
    /// between is decided on again rather than credited or paid from.
    pub async fn execute_on_project<A, F>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        project_id: &ProjectId,
        decide: F,
    ) -> Result<v1::CommandResult, ServiceError>
    where
        A: Stored,
        A::Event: Send + Sync + Clone,
        A::Command: Send,
        F: Fn(&A, &ProjectSummary) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    {
        self.run(
            ctx,
            stream,
            Some(project_id),
            false,
            |a: &A, project: Option<&ProjectSummary>, _| match project {
                Some(project) => decide(a, project),
                None => Ok(Vec::new()),
            },
            None,
        )
        .instrument(command_span(A::CATEGORY, ctx, stream))
        .await
    }

    /// A process manager's reaction: like [`Ledger::execute`], with the consumer's cursor
    /// committed in the same transaction as the effect.
    pub async fn react<A, F>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        decide: F,
        cursor: fundtrail_store::Cursor,
    ) -> Result<v1::CommandResult, ServiceError>
    where
        A: Stored,
        A::Event: Send + Sync + Clone,
        A::Command: Send,
        F: Fn(&A) -> Result<Vec<A::Event>, DomainError> + Send + Sync,
    {
        self.run(
            ctx,
            stream,
            None,
            false,
            |a: &A, _, _| decide(a),
            Some(cursor),
        )
        .instrument(command_span(A::CATEGORY, ctx, stream))
        .await
    }

    fn stripe(&self, stream: &str) -> &Mutex<()> {
        let mut hasher = DefaultHasher::new();
        stream.hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % STRIPES as u64).unwrap_or(0);
        &self.stripes[index]
    }

    async fn run<A, F>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        project_id: Option<&ProjectId>,
        dated: bool,
        decide: F,
        cursor: Option<fundtrail_store::Cursor>,
    ) -> Result<v1::CommandResult, ServiceError>
    where
        A: Stored,
        A::Event: Send + Sync + Clone,
        A::Command: Send,
        F: Fn(&A, Option<&ProjectSummary>, &Calendar) -> Result<Vec<A::Event>, DomainError>
            + Send
            + Sync,
    {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                // Another process won the race; let it finish before deciding again.
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2)).await;
            }
            let _turn = self.stripe(stream).lock().await;
            if let Some(replayed) = self.replay(ctx).await? {
                return Ok(replayed);
            }
            let project = match project_id {
                Some(id) => Some(self.project_at(id).await?),
                None => None,
            };
            // A close appended after this read fails the append's `unchanged` check below.
            let calendar = if dated {
                Some(self.calendar().await?)
            } else {
                None
            };
            let loaded = self.load::<A>(stream).await?;
            if let Some(expected) = ctx.expected_version
                && loaded.version != Some(expected)
            {
                return Err(StoreError::WrongExpectedVersion {
                    stream: stream.to_owned(),
                    expected: ExpectedVersion::Exact(expected),
                    actual: loaded.version,
                }
                .into());
            }
            let open = Calendar::default();
            let events = decide(
                &loaded.state,
                project.as_ref().map(|(summary, _)| summary),
                calendar.as_ref().map_or(&open, |c| &c.state),
            )?;
            if events.is_empty() {
                // Nothing to append, but a reaction's progress still counts.
                if let Some(cursor) = &cursor {
                    self.store
                        .save_cursor(&cursor.consumer, cursor.position)
                        .await?;
                }
                return Ok(v1::CommandResult {
                    stream: stream.to_owned(),
                    version: loaded.version.unwrap_or_default(),
                    ..Default::default()
                });
            }
            let created = created_id(&A::wrap(events[0].clone()));
            let count = events.len();
            let append = tracing::info_span!(
                target: TRACE_TARGET,
                "append",
                otel.name = %format!("append {}", A::CATEGORY),
                fundtrail.stream = stream,
                fundtrail.events = count,
                fundtrail.position = Empty,
                fundtrail.replayed = Empty,
            );
            let metadata = ctx.metadata(self.source, &append);
            let (mut claims, mut releases) = (Vec::new(), Vec::new());
            let new_events = events
                .into_iter()
                .map(|event| {
                    let event = A::wrap(event);
                    claims.extend(event.claims());
                    releases.extend(event.releases());
                    let encoded = encode(&event);
                    NewEvent::new(
                        Uuid::now_v7(),
                        encoded.event_type,
                        encoded.payload,
                        metadata.clone(),
                    )
                })
                .collect();
            let expected = loaded
                .version
                .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
            let mut request = AppendRequest::new(stream, expected, new_events)
                .with_idempotency(ctx.idempotency_key.clone(), ctx.fingerprint);
            request.claims = claims;
            request.releases = releases;
            if let (Some(id), Some((_, version))) = (project_id, &project) {
                request =
                    request.with_unchanged(Project::stream(id), ExpectedVersion::Exact(*version));
            }
            if let Some(calendar) = &calendar {
                request = request.with_unchanged(
                    Calendar::STREAM,
                    calendar
                        .version
                        .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact),
                );
            }
            request.cursor.clone_from(&cursor);
            let appended = self.store.append(request).instrument(append.clone()).await;
            if let Ok(result) = &appended {
                append.record("fundtrail.position", result.last_position);
                append.record("fundtrail.replayed", result.replayed);
                if !result.replayed {
                    fundtrail_telemetry::metrics().events_appended.add(
                        count as u64,
                        &[
                            KeyValue::new(attr::SOURCE, self.source),
                            KeyValue::new(attr::CATEGORY, A::CATEGORY),
                        ],
                    );
                }
            }
            match appended {
                Ok(result) if result.replayed => return self.result_of(&result).await,
                Ok(result) => return Ok(command_result(&result, created)),
                // The client's expected version holds for its own stream only: a project or
                // calendar that changed under the command is read again whatever the client
                // expected.
                Err(StoreError::WrongExpectedVersion {
                    stream: changed, ..
                }) if ctx.expected_version.is_none() || changed != stream => {
                    tracing::debug!(
                        stream,
                        changed,
                        attempt,
                        "a stream changed under the command; deciding again"
                    );
                }
                Err(StoreError::Claimed { claim, holder }) => {
                    tracing::info!(claim, holder, "refused: the reference is booked already");
                    return Err(match reference::already_booked(&claim) {
                        Some(refusal) => refusal.into(),
                        None => StoreError::Claimed { claim, holder }.into(),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(ServiceError::Contended {
            stream: stream.to_owned(),
        })
    }

    /// The stored result of a request already seen, or its conflict.
    async fn replay(
        &self,
        ctx: &CommandContext,
    ) -> Result<Option<v1::CommandResult>, ServiceError> {
        match self.store.find_request(&ctx.idempotency_key).await? {
            None => Ok(None),
            Some(record) if record.fingerprint == ctx.fingerprint => {
                self.result_of(&record.result).await.map(Some)
            }
            Some(_) => Err(StoreError::RequestConflict {
                request_id: ctx.request_id.clone(),
            }
            .into()),
        }
    }

    /// Rebuilds a stored result, reading back what its first event created.
    async fn result_of(&self, result: &AppendResult) -> Result<v1::CommandResult, ServiceError> {
        let first = self.store.read_all(result.first_position, 1).await?;
        let created = match first.first() {
            Some(event) => created_id(&decode(&event.event_type, &event.payload)?),
            None => None,
        };
        Ok(command_result(result, created))
    }
}

/// The span of one command or reaction on one stream, retries included.
fn command_span(category: &str, ctx: &CommandContext, stream: &str) -> tracing::Span {
    tracing::info_span!(
        target: TRACE_TARGET,
        "command",
        otel.name = %format!("command {category}"),
        fundtrail.stream = stream,
        fundtrail.request_id = %ctx.request_id,
        fundtrail.actor = %ctx.actor,
    )
}

fn command_result(result: &AppendResult, created: Option<String>) -> v1::CommandResult {
    v1::CommandResult {
        stream: result.stream.clone(),
        version: result.last_version,
        position: result.last_position,
        first_position: result.first_position,
        event_count: u32::try_from(result.last_position - result.first_position + 1)
            .unwrap_or(u32::MAX),
        replayed: result.replayed,
        created_id: created.unwrap_or_default(),
    }
}
