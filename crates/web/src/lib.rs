//! The web view: the projector's funding views as pages for finance staff, auditors and
//! donors, rendered on the server (HTML with an SVG chart, no script), on a port of its own
//! beside the gRPC one.
//!
//! Who sees what follows the gRPC API's access table ([`fundtrail_identity::access`]): a page
//! is admitted to the principals the matching Funding method admits, and a donor's system sees
//! only its own donor's statement. A browser presents its bearer token once on the sign-in
//! page and keeps it in an `HttpOnly`, `SameSite=Strict` cookie; a program sends it as
//! `Authorization: Bearer`, as it would to the gRPC API.
//!
//! Every page states the position (and the commit time) of the history it reflects, and prints
//! amounts grouped as published reports do ([`fundtrail_projections::grouped`]). A donor's
//! statement also downloads as CSV and XLSX (`/donors/{id}/statement.csv`, `.xlsx`), to the
//! same principals as its page.

mod auth;
mod chart;
mod download;
mod pages;
mod text;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use fundtrail_identity::Authenticator;
use fundtrail_projector::Shared;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use auth::COOKIE;

/// What the pages read from and whom they trust.
#[derive(Debug, Clone)]
pub struct Web {
    shared: Arc<Shared>,
    authenticator: Arc<Authenticator>,
}

impl Web {
    pub fn new(shared: Arc<Shared>, authenticator: Arc<Authenticator>) -> Self {
        Self {
            shared,
            authenticator,
        }
    }

    /// The pages and the sign-in, as one router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(pages::home))
            .route("/overview", get(pages::overview))
            .route("/countries", get(pages::countries))
            .route("/countries/{code}", get(pages::country))
            .route("/donors", get(pages::donors))
            .route("/donors/{id}", get(pages::donor))
            .route("/donors/{id}/statement.csv", get(download::csv))
            .route("/donors/{id}/statement.xlsx", get(download::xlsx))
            .route("/sign-in", get(auth::sign_in_form).post(auth::sign_in))
            .route("/sign-out", post(auth::sign_out))
            .route("/style.css", get(pages::style))
            .fallback(pages::not_found)
            .layer(axum::middleware::map_response(pages::security_headers))
            .with_state(self)
    }
}

/// Could not start the web view.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("binding the web view to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The web view running in this process.
#[derive(Debug)]
pub struct RunningWeb {
    pub addr: SocketAddr,
    /// Ends once the shutdown token is cancelled and the requests in flight are answered.
    pub task: JoinHandle<()>,
}

/// Binds `addr` and serves the pages until `shutdown` is cancelled.
pub async fn start(
    addr: SocketAddr,
    web: Web,
    shutdown: CancellationToken,
) -> Result<RunningWeb, WebError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| WebError::Bind { addr, source })?;
    Ok(RunningWeb {
        addr,
        task: tokio::spawn(serve(listener, web, shutdown)),
    })
}

/// Serves the pages on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, web: Web, shutdown: CancellationToken) {
    use axum::serve::ListenerExt;
    // As on the gRPC port: without TCP_NODELAY a response's last segment can wait for the
    // browser's delayed ACK.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a web connection");
        }
    });
    let served = axum::serve(listener, web.router())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the web view stopped");
    }
}
