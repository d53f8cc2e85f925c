//! The keys currently trusted, and reloading them when the identity provider rotates its keys.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::config::JwksSource;
use crate::error::IdentityError;
use crate::fetch::JwksClient;
use crate::jwks::{self, TrustedKey};

/// However many tokens name unknown keys, the key set is reloaded at most this often.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// Keys older than this are reloaded in the background, so a key the identity provider has
/// withdrawn stops being trusted without a restart.
const MAX_KEY_AGE: Duration = Duration::from_mins(15);

#[derive(Debug)]
enum Origin {
    File(PathBuf),
    Url(Box<JwksClient>),
}

impl Origin {
    async fn load(&self) -> Result<Vec<TrustedKey>, IdentityError> {
        let (document, origin) = match self {
            Origin::File(path) => {
                let document =
                    std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                (document, path.display().to_string())
            }
            Origin::Url(client) => (client.fetch().await?, client.url()),
        };
        jwks::parse(&document).map_err(|reason| IdentityError::Jwks { origin, reason })
    }
}

#[derive(Debug)]
struct Reloads {
    last_attempt: Option<Instant>,
    loaded_at: Instant,
}

#[derive(Debug)]
pub(crate) struct KeyStore {
    keys: RwLock<Arc<Vec<TrustedKey>>>,
    /// Where the keys are reloaded from; `None` for keys given in the configuration.
    origin: Option<Origin>,
    reloads: Mutex<Reloads>,
    /// Held while reloading, so tokens arriving together wait for one fetch.
    reloading: tokio::sync::Mutex<()>,
}

impl KeyStore {
    pub async fn open(source: &JwksSource) -> Result<Arc<Self>, IdentityError> {
        let (origin, keys) = match source {
            JwksSource::Keys(document) => {
                let keys = jwks::parse(document).map_err(|reason| IdentityError::Jwks {
                    origin: "the configuration".to_owned(),
                    reason,
                })?;
                (None, keys)
            }
            JwksSource::File(path) => {
                let origin = Origin::File(path.clone());
                let keys = origin.load().await?;
                (Some(origin), keys)
            }
            JwksSource::Url(url) => {
                let origin = Origin::Url(Box::new(JwksClient::new(url)?));
                let keys = origin.load().await?;
                (Some(origin), keys)
            }
        };
        Ok(Arc::new(Self {
            keys: RwLock::new(Arc::new(keys)),
            origin,
            reloads: Mutex::new(Reloads {
                last_attempt: None,
                loaded_at: Instant::now(),
            }),
            reloading: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn current(&self) -> Arc<Vec<TrustedKey>> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reloads the keys unless that was tried within [`MIN_RELOAD_INTERVAL`]. A failed reload
    /// keeps the keys there were.
    pub async fn reload_if_due(&self) {
        let Some(origin) = &self.origin else {
            return;
        };
        let _one_at_a_time = self.reloading.lock().await;
        {
            let mut reloads = self.reloads.lock().unwrap_or_else(PoisonError::into_inner);
            if reloads
                .last_attempt
                .is_some_and(|at| at.elapsed() < MIN_RELOAD_INTERVAL)
            {
                return;
            }
            reloads.last_attempt = Some(Instant::now());
        }
        match origin.load().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "reloaded the token signing keys");
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                self.reloads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .loaded_at = Instant::now();
            }
            Err(error) => {
                tracing::warn!(%error, "could not reload the token signing keys; keeping the old ones");
            }
        }
    }

    /// Starts a reload without waiting for it, when there is a runtime to run it on.
    pub fn reload_in_background(self: &Arc<Self>) {
        if self.origin.is_none() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let store = Arc::clone(self);
            runtime.spawn(async move { store.reload_if_due().await });
        }
    }

    /// Reloads in the background when the keys have grown old.
    pub fn refresh_if_stale(self: &Arc<Self>) {
        let stale = self
            .reloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .loaded_at
            .elapsed()
            > MAX_KEY_AGE;
        if stale {
            self.reload_in_background();
        }
    }
}
