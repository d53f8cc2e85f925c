//! The Funding gRPC API over the projector's views.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use fundtrail_domain::{CountryCode, DomainError, DonorId, Reason};
use fundtrail_projections::{
    CountryFunding, DonorStatements, FundOverview, History, ReplayError, Until, View, ViewName,
    fold_into,
};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_server::{Funding, FundingServer};
use fundtrail_service::ServiceError;
use fundtrail_service::context::{acts_for_donor, principal};
use fundtrail_store::EventStore;
use futures::Stream;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::asof::{Point, parse_as_of};
use crate::render;
use crate::state::Shared;

/// How long a query waits for its `min_position` by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// "As of" answers fold the history from the store; this many run at once, the rest queue.
const HISTORY_FOLDS: usize = 2;

/// The Funding service over the projector's shared views.
#[derive(Debug, Clone)]
pub struct FundingService {
    shared: Arc<Shared>,
    store: Arc<dyn EventStore>,
    history: History,
    wait: Duration,
    folds: Arc<Semaphore>,
}

fn replay_error(error: ReplayError) -> ServiceError {
    match error {
        ReplayError::Store(error) => error.into(),
        other => ServiceError::Unfoldable(other.to_string()),
    }
}

fn country(code: &str) -> Result<CountryCode, ServiceError> {
    CountryCode::new(code.trim()).map_err(|e| ServiceError::invalid("country", e.to_string()))
}

impl FundingService {
    pub fn new(shared: Arc<Shared>, store: Arc<dyn EventStore>) -> Self {
        Self {
            shared,
            history: History::Store(store.clone()),
            store,
            wait: DEFAULT_WAIT,
            folds: Arc::new(Semaphore::new(HISTORY_FOLDS)),
        }
    }

    /// Where "as of" answers read the history (the store's API unless told otherwise).
    #[must_use]
    pub fn with_history(mut self, history: History) -> Self {
        self.history = history;
        self
    }

    /// How long a query waits for its `min_position`.
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    pub fn into_server(self) -> FundingServer<Self> {
        FundingServer::new(self)
    }

    async fn head(&self) -> Result<u64, ServiceError> {
        Ok(self.store.head().await?.position)
    }

    /// Waits until `view` reflects `min_position`.
    async fn reach(&self, view: ViewName, min_position: u64) -> Result<(), ServiceError> {
        let mut positions = self.shared.positions();
        if positions.borrow().get(view).position >= min_position {
            return Ok(());
        }
        let head = self.head().await?;
        if min_position > head {
            return Err(ServiceError::BeyondHead {
                field: "min_position",
                position: min_position,
                head,
            });
        }
        let reached = tokio::time::timeout(
            self.wait,
            positions.wait_for(|p| p.get(view).position >= min_position),
        )
        .await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ServiceError::Stopping("the projector has stopped")),
            Err(_) => Err(ServiceError::Behind {
                view: view.as_str(),
                at: self.shared.current().get(view).position,
                min_position,
                waited: self.wait,
            }),
        }
    }

    /// The view as it was at `point`, folded from the store.
    async fn as_of<V: View>(&self, point: Point) -> Result<V, ServiceError> {
        let mut view = V::new(self.shared.reporting());
        let until = match point {
            Point::Position(0) => return Ok(view),
            Point::Position(position) => {
                let head = self.head().await?;
                if position > head {
                    return Err(ServiceError::BeyondHead {
                        field: "as_of.position",
                        position,
                        head,
                    });
                }
                Until::Position(position)
            }
            Point::Time(micros) => Until::Time(micros),
        };
        let _permit = self
            .folds
            .acquire()
            .await
            .map_err(|_| ServiceError::Stopping("the server is shutting down"))?;
        fold_into(&self.history, &mut [&mut view], 1, until)
            .await
            .map_err(replay_error)?;
        Ok(view)
    }
}

type CountryStream = Pin<Box<dyn Stream<Item = Result<v1::CountryFunding, Status>> + Send>>;

#[tonic::async_trait]
impl Funding for FundingService {
    type WatchCountryFundingStream = CountryStream;

    async fn get_country_funding(
        &self,
        request: Request<v1::GetCountryFundingRequest>,
    ) -> Result<Response<v1::CountryFunding>, Status> {
        let r = request.into_inner();
        let code = country(&r.country)?;
        let as_of = parse_as_of(r.as_of.as_ref())?;
        let report = if let Some(point) = as_of {
            self.as_of::<CountryFunding>(point).await?.report(code)
        } else {
            self.reach(ViewName::CountryFunding, r.min_position).await?;
            self.shared.read().country.report(code)
        };
        Ok(Response::new(render::country(&report)))
    }

    async fn list_countries(
        &self,
        request: Request<v1::ListCountriesRequest>,
    ) -> Result<Response<v1::ListCountriesResponse>, Status> {
        let r = request.into_inner();
        let as_of = parse_as_of(r.as_of.as_ref())?;
        let (reports, position) = if let Some(point) = as_of {
            let view = self.as_of::<CountryFunding>(point).await?;
            (view.reports(), View::mark(&view).position)
        } else {
            self.reach(ViewName::CountryFunding, r.min_position).await?;
            let views = self.shared.read();
            (views.country.reports(), View::mark(&views.country).position)
        };
        Ok(Response::new(v1::ListCountriesResponse {
            countries: reports.iter().map(render::country).collect(),
            position,
        }))
    }

    async fn get_donor_statement(
        &self,
        request: Request<v1::GetDonorStatementRequest>,
    ) -> Result<Response<v1::DonorStatement>, Status> {
        acts_for_donor(principal(&request)?, &request.get_ref().donor_id)?;
        let r = request.into_inner();
        let id = DonorId::parse(&r.donor_id)
            .map_err(|e| ServiceError::invalid("donor_id", e.to_string()))?;
        let as_of = parse_as_of(r.as_of.as_ref())?;
        let (report, position) = if let Some(point) = as_of {
            let view = self.as_of::<DonorStatements>(point).await?;
            (view.report(&id), View::mark(&view).position)
        } else {
            self.reach(ViewName::DonorStatements, r.min_position)
                .await?;
            let views = self.shared.read();
            (views.donors.report(&id), View::mark(&views.donors).position)
        };
        let report = report.ok_or_else(|| {
            ServiceError::from(DomainError::refused(
                Reason::DonorNotFound,
                format!(
                    "donor {id} has no registration, pledge or match up to position {position}"
                ),
            ))
        })?;
        Ok(Response::new(render::donor(&report)))
    }

    async fn get_fund_overview(
        &self,
        request: Request<v1::GetFundOverviewRequest>,
    ) -> Result<Response<v1::FundOverview>, Status> {
        let r = request.into_inner();
        let as_of = parse_as_of(r.as_of.as_ref())?;
        let report = if let Some(point) = as_of {
            self.as_of::<FundOverview>(point).await?.report()
        } else {
            self.reach(ViewName::FundOverview, r.min_position).await?;
            self.shared.read().overview.report()
        };
        Ok(Response::new(render::overview(&report)))
    }

    async fn watch_country_funding(
        &self,
        request: Request<v1::WatchCountryFundingRequest>,
    ) -> Result<Response<CountryStream>, Status> {
        let code = country(&request.into_inner().country)?;
        let shared = self.shared.clone();
        let positions = shared.positions();
        let updates = futures::stream::unfold(
            (shared, positions, None::<u64>),
            move |(shared, mut positions, sent)| async move {
                loop {
                    let update = {
                        let views = shared.read();
                        let changed = views.country.changed_at(code);
                        (sent != Some(changed))
                            .then(|| (changed, render::country(&views.country.report(code))))
                    };
                    if let Some((changed, message)) = update {
                        return Some((Ok(message), (shared, positions, Some(changed))));
                    }
                    positions.changed().await.ok()?;
                }
            },
        );
        Ok(Response::new(Box::pin(updates)))
    }
}
