//! Rebuilding the funding views from the history, beside a running projector.

use anyhow::Context;
use fundtrail_projector::ViewName;
use fundtrail_server::Roles;
use fundtrail_server::config::Config;

/// Replays the history into fresh tables of `views` (all when empty) and swaps them in;
/// returns the lines to print.
pub async fn rebuild(config: &Config, views: &[ViewName]) -> anyhow::Result<Vec<String>> {
    let settings = config.settings(Roles::default())?;
    let report = fundtrail_projector::rebuild::rebuild_store(
        &settings.store_url,
        settings.store_options,
        settings.reporting_currency,
        views,
    )
    .await
    .context("rebuilding the views")?;
    let mut lines: Vec<String> = report
        .views
        .iter()
        .map(|(view, generation)| {
            format!(
                "{view}: rebuilt to position {} (generation {generation})",
                report.position
            )
        })
        .collect();
    lines.push(format!(
        "{} events, {} documents in {:.1} s",
        report.events,
        report.documents,
        report.elapsed.as_secs_f64()
    ));
    Ok(lines)
}
