//! The views of a fixed, realistic history, as snapshots: every figure a reviewer can check by
//! hand against the story in `support/story.rs`.

mod support;

use fundtrail_domain::Currency;
use fundtrail_projections::{Reporting, Views};

fn story_views() -> Views {
    let world = support::story::story();
    let mut views = Views::new(Reporting(Currency::USD));
    for event in &world.log.events {
        views.apply_recorded(&support::stored(event)).unwrap();
    }
    views
}

#[test]
fn country_funding() {
    let views = story_views();
    insta::assert_json_snapshot!("countries", views.country.reports());
}

#[test]
fn donor_statements() {
    let views = story_views();
    let reports: Vec<_> = views
        .donors
        .donors()
        .filter_map(|id| views.donors.report(id))
        .collect();
    insta::assert_json_snapshot!("donors", reports);
}

#[test]
fn fund_overview() {
    let views = story_views();
    insta::assert_json_snapshot!("overview", views.overview.report());
}
