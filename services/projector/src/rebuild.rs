//! `fundtrail projections rebuild`: a rebuild with its progress on the terminal.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use fundtrail_domain::Currency;
use fundtrail_projections::persist::open;
use fundtrail_projections::{
    Phase, Progress, RebuildError, RebuildOptions, RebuildReport, Reporting, ViewName, rebuild,
};
use fundtrail_store::StoreOptions;
use indicatif::{ProgressBar, ProgressStyle};

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "?".to_owned(), |d| format!("{} s", d.as_secs()))
}

/// Where progress goes: a bar on a terminal, a line every few seconds elsewhere (logs, CI).
enum Display {
    Bar(ProgressBar),
    Lines { last: Instant },
}

impl Display {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} {msg:10} [{bar:40}] {pos}/{len} events, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Self::Bar(bar)
        } else {
            Self::Lines {
                last: Instant::now(),
            }
        }
    }

    fn show(&mut self, p: &Progress) {
        match self {
            Self::Bar(bar) => {
                bar.set_length(p.target);
                bar.set_position(p.position);
                bar.set_message(match p.phase {
                    Phase::Replaying => "replaying",
                    Phase::Swapping => "swapping",
                    Phase::Done => "done",
                });
                if p.phase == Phase::Done {
                    bar.finish();
                }
            }
            Self::Lines { last } => {
                if p.phase == Phase::Replaying && last.elapsed() < Duration::from_secs(2) {
                    return;
                }
                *last = Instant::now();
                eprintln!(
                    "rebuild {:?}: position {}/{}, {} events/s, {} left",
                    p.phase,
                    p.position,
                    p.target,
                    p.events_per_second,
                    seconds(p.remaining)
                );
            }
        }
    }
}

/// Rebuilds the views (all of them when `views` is empty) in the store's database, showing
/// progress on standard error.
pub async fn rebuild_store(
    store_url: &str,
    store_options: StoreOptions,
    reporting: Currency,
    views: &[ViewName],
) -> Result<RebuildReport, RebuildError> {
    let (store, db) = open(store_url, store_options).await?;
    let mut display = Display::new();
    rebuild(
        store,
        &db,
        Reporting(reporting),
        views,
        RebuildOptions::default(),
        |p| display.show(p),
    )
    .await
}
