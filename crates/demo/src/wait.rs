//! Waiting for the process managers: the demo's later steps need what they do first.

use std::time::{Duration, Instant};

use anyhow::bail;
use fundtrail_client::output;
use fundtrail_proto::v1;

use super::matching::expected_matching;
use super::{Loader, WAIT};

impl Loader<'_> {
    /// Polls a project's account until `ready`, within [`WAIT`].
    pub(super) async fn wait_for_account(
        &self,
        project: &str,
        what: &str,
        ready: impl Fn(&v1::ProjectAccountView) -> bool,
    ) -> anyhow::Result<()> {
        let (project_id, _, spec) = self.project(project)?;
        let deadline = Instant::now() + WAIT;
        let mut delay = Duration::from_millis(10);
        loop {
            let request = v1::GetProjectAccountRequest {
                project_id: project_id.clone(),
            };
            let account = self.session.answer(
                self.session
                    .disbursements()
                    .get_project_account(self.session.request(request))
                    .await,
                None,
            )?;
            if ready(&account) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "waited {}s for {what} on the account of project {project_id} ({}) in vain: \
                     the process managers that credit accounts and unlock tranches run with the \
                     disbursements service; are they running and following the same store?",
                    WAIT.as_secs(),
                    spec.country
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    pub(super) async fn wait_for_credits(&self, project: &str) -> anyhow::Result<()> {
        let expected = self.allocations.get(project).cloned().unwrap_or_default();
        self.wait_for_account(project, "the credit of its allocations", |account| {
            expected
                .iter()
                .all(|a| account.credits.iter().any(|c| &c.allocation_id == a))
        })
        .await
    }

    pub(super) async fn wait_for_tranche(
        &self,
        project: &str,
        milestone: u32,
    ) -> anyhow::Result<()> {
        let what = format!("the tranche of milestone {milestone}");
        self.wait_for_account(project, &what, |account| {
            account.unlocked_tranches.contains_key(&milestone)
        })
        .await
    }

    /// Waits until the matching pool has seen every receipt it matches or is funded by.
    pub(super) async fn wait_for_pool(
        &self,
        pool_id: &str,
    ) -> anyhow::Result<v1::MatchingPoolView> {
        let (matched, funds) = expected_matching()?;
        let deadline = Instant::now() + WAIT;
        let mut delay = Duration::from_millis(10);
        loop {
            let request = v1::GetMatchingPoolRequest {
                pool_id: pool_id.to_owned(),
            };
            let pool = self.session.answer(
                self.session
                    .pledges()
                    .get_matching_pool(self.session.request(request))
                    .await,
                None,
            )?;
            let funded = pool
                .funds
                .as_ref()
                .is_some_and(|f| f.minor_units == funds.minor_units());
            if pool.matches.len() >= matched && funded {
                return Ok(pool);
            }
            if Instant::now() >= deadline {
                bail!(
                    "waited {}s for the matching pool {pool_id} to match {matched} contributions \
                     and record {funds} of funds in vain (it has {} matches and {}): is the \
                     pledges service's matching process manager running?",
                    WAIT.as_secs(),
                    pool.matches.len(),
                    output::money(pool.funds.as_ref()),
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }

    /// The last position of the history, read from the Audit service when the server has it.
    pub(super) async fn head(&self) -> u64 {
        let request = v1::StreamEventsRequest {
            from_position: self.tally.last_position + 1,
            ..Default::default()
        };
        let mut last = self.tally.last_position;
        let Ok(response) = self
            .session
            .audit()
            .stream_events(self.session.request(request))
            .await
        else {
            return last;
        };
        let mut events = response.into_inner();
        while let Ok(Some(event)) = events.message().await {
            last = event.envelope.map_or(last, |e| e.position.max(last));
        }
        last
    }
}
