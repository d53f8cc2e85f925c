//! The Funding API over a running projector: read-your-writes with `min_position`, "as of"
//! answers equal to what the projector held, bad input, and watching a country.

mod common;

use std::time::Duration;

use common::{Db, Stepper, all_events, fold, seen, start, start_with};
use fundtrail_projections::View;
use fundtrail_projector::ProjectorOptions;
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_server::Funding;
use futures::StreamExt;
use tonic::{Code, Request};

/// A request as the server's authentication layer hands it on, from an auditor.
fn as_staff<T>(body: T) -> Request<T> {
    let mut request = Request::new(body);
    request
        .extensions_mut()
        .insert(fundtrail_identity::Principal {
            subject: "auditor@itf.si".into(),
            display_name: "Auditor".into(),
            organisation: "ITF Enhancing Human Security".into(),
            roles: [fundtrail_identity::Role::Auditor].into(),
            donor_id: None,
        });
    request
}

#[allow(clippy::unnecessary_wraps, reason = "requests take it optional")]
fn as_of_position(position: u64) -> Option<v1::AsOf> {
    Some(v1::AsOf {
        point: Some(v1::as_of::Point::Position(position)),
    })
}

#[allow(clippy::unnecessary_wraps, reason = "requests take it optional")]
fn as_of_time(text: &str) -> Option<v1::AsOf> {
    Some(v1::AsOf {
        point: Some(v1::as_of::Point::Time(text.to_owned())),
    })
}

fn country_request(
    code: &str,
    min_position: u64,
    as_of: Option<v1::AsOf>,
) -> Request<v1::GetCountryFundingRequest> {
    Request::new(v1::GetCountryFundingRequest {
        country: code.to_owned(),
        min_position,
        as_of,
    })
}

#[tokio::test]
async fn the_live_views_equal_the_fold_of_the_history() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let running = start(&db);
    running.reach(events.len() as u64).await;
    assert_eq!(
        seen(&running.shared.read()),
        seen(&fold(&events, events.len()))
    );
    let answer = running
        .funding
        .get_country_funding(country_request("BA", events.len() as u64, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.position, events.len() as u64);
    assert_eq!(answer.country_name, "Bosnia and Herzegovina");
    running.stop().await;
    assert_eq!(
        seen(&common::stored(&db).await),
        seen(&fold(&events, events.len()))
    );
}

/// Feeds the projector one event at a time and records what it served at every position; the
/// "as of" answers, folded from the store, must be the same.
#[tokio::test]
async fn as_of_a_position_is_what_the_projector_held_there() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let stepper = Stepper::new();
    let running = start_with(&db, stepper.clone(), ProjectorOptions::default());
    let mut held = Vec::new();
    for event in &events {
        let position = event.position;
        stepper.send(event.clone());
        running.reach(position).await;
        let (country, overview) = {
            let views = running.shared.read();
            (
                render(&views.country.report("BA".parse().unwrap())),
                views.overview.report(),
            )
        };
        held.push((position, country, overview));
    }
    for (position, country, overview) in held {
        let answer = running
            .funding
            .get_country_funding(country_request("BA", 0, as_of_position(position)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer, country, "BA as of {position}");
        let answer = running
            .funding
            .get_fund_overview(Request::new(v1::GetFundOverviewRequest {
                min_position: 0,
                as_of: as_of_position(position),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer,
            fundtrail_projector::render::overview(&overview),
            "overview as of {position}"
        );
    }
    running.stop().await;
}

fn render(report: &fundtrail_projections::country::CountryReport) -> v1::CountryFunding {
    fundtrail_projector::render::country(report)
}

#[tokio::test]
async fn as_of_a_time_is_the_last_event_recorded_by_then() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let running = start(&db);
    let middle = &events[events.len() / 2];
    let time = fundtrail_projector::render::time_text(middle.recorded_at);
    let by_time = running
        .funding
        .get_fund_overview(Request::new(v1::GetFundOverviewRequest {
            min_position: 0,
            as_of: as_of_time(&time),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_time.position, middle.position);
    let expected = fold(&events, middle.position);
    assert_eq!(
        by_time,
        fundtrail_projector::render::overview(&expected.overview.report())
    );
    let before_all = running
        .funding
        .get_fund_overview(Request::new(v1::GetFundOverviewRequest {
            min_position: 0,
            as_of: as_of_time("2023-12-31"),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before_all.position, 0);
    running.stop().await;
}

#[tokio::test]
async fn min_position_waits_until_the_view_has_it() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let stepper = Stepper::new();
    let running = start_with(&db, stepper.clone(), ProjectorOptions::default());
    let last = events.len() as u64;
    for event in &events[..events.len() - 1] {
        stepper.send(event.clone());
    }
    running.reach(last - 1).await;
    let funding = running.funding.clone();
    let query = tokio::spawn(async move {
        funding
            .get_fund_overview(Request::new(v1::GetFundOverviewRequest {
                min_position: last,
                as_of: None,
            }))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !query.is_finished(),
        "answered before the view reached the position"
    );
    stepper.send(events[events.len() - 1].clone());
    let answer = tokio::time::timeout(Duration::from_secs(5), query)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(answer.position, last);
    running.stop().await;
}

#[tokio::test]
async fn min_position_gives_up_after_the_wait_and_refuses_the_future() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let stepper = Stepper::new();
    let running = start_with(&db, stepper.clone(), ProjectorOptions::default());
    let funding = running
        .funding
        .clone()
        .with_wait(Duration::from_millis(200));
    let status = funding
        .get_country_funding(country_request("BA", 5, None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("min_position"));
    let beyond = events.len() as u64 + 10;
    let status = funding
        .get_country_funding(country_request("BA", beyond, None))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let status = funding
        .get_country_funding(country_request("BA", 0, as_of_position(beyond)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().starts_with("as_of.position"));
    running.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let running = start(&db);
    for (code, field) in [("ZZ", "country"), ("ba", "country"), ("", "country")] {
        let status = running
            .funding
            .get_country_funding(country_request(code, 0, None))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
    let status = running
        .funding
        .get_country_funding(country_request("BA", 0, as_of_time("last tuesday")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("as_of.time"),
        "{}",
        status.message()
    );
    let status = running
        .funding
        .get_donor_statement(as_staff(v1::GetDonorStatementRequest {
            donor_id: "not an id".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("donor_id"),
        "{}",
        status.message()
    );
    let status = running
        .funding
        .get_donor_statement(as_staff(v1::GetDonorStatementRequest {
            donor_id: "XM-DAC-999".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // A valid country the fund has nothing for is all zeros, not an error.
    let empty = running
        .funding
        .get_country_funding(country_request("FR", 0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty.country_name, "France");
    assert!(empty.pledged.unwrap().original.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn watching_a_country_sends_one_message_per_change() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let stepper = Stepper::new();
    let running = start_with(&db, stepper.clone(), ProjectorOptions::default());
    let mut watch = running
        .funding
        .watch_country_funding(Request::new(v1::WatchCountryFundingRequest {
            country: "BA".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.position, 0);
    let mut expected = Vec::new();
    for event in &events {
        stepper.send(event.clone());
        running.reach(event.position).await;
        let changed = running
            .shared
            .read()
            .country
            .changed_at("BA".parse().unwrap());
        if changed == event.position {
            expected.push(event.position);
        }
        // Each change is seen before the next event arrives.
        if expected.last() == Some(&event.position) {
            let message = tokio::time::timeout(Duration::from_secs(5), watch.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(message.changed_at_position, event.position);
        }
    }
    assert!(expected.len() > 5, "BA changed at {expected:?}");
    let quiet = tokio::time::timeout(Duration::from_millis(200), watch.next()).await;
    assert!(quiet.is_err(), "a message without a change");
    let position = View::mark(&running.shared.read().country).position;
    assert_eq!(position, events.len() as u64);
    running.stop().await;
}

/// The same API over the wire: a real gRPC server and client, and the field named in the
/// error details of a bad request.
#[tokio::test]
async fn over_grpc() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    let running = start(&db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(socket, _)| socket);
        Some((accepted, listener))
    });
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(running.funding.clone().into_server())
            .serve_with_incoming(incoming),
    );
    let mut client = v1::funding_client::FundingClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let countries = client
        .list_countries(v1::ListCountriesRequest {
            min_position: events.len() as u64,
            as_of: None,
        })
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<&str> = countries
        .countries
        .iter()
        .map(|c| c.country.as_str())
        .collect();
    assert_eq!(codes, ["BA", "HR", "UA"]);
    assert_eq!(countries.position, events.len() as u64);
    let status = client
        .get_country_funding(v1::GetCountryFundingRequest {
            country: "Bosnia".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_error_details(&status);
    let violations = details.bad_request().unwrap().field_violations.clone();
    assert_eq!(violations[0].field, "country");
    server.abort();
    running.stop().await;
}
