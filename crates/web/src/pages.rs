//! The pages: the fund overview, the countries and each country's funding, the donors and each
//! donor's statement. Each reads the live views once, under the views' lock, and renders
//! after releasing it.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fundtrail_domain::{CountryCode, DonorId, Money};
use fundtrail_identity::Principal;
use fundtrail_projections::country::CountryReport;
use fundtrail_projections::donor::DonorReport;
use fundtrail_projections::{Amount, Grouped, View, grouped_count};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::Web;
use crate::auth::{Viewer, forbidden, home_of, refusal};
use crate::chart::{self, Row, Series};
use crate::text::{amount, percent, segment, time};

const STYLE: &str = include_str!("style.css");

/// The received, allocated and disbursed series of the charts, in the colours of the legend.
const FLOWS: [Series; 3] = [
    Series {
        name: "received",
        colour: "#1b5e9a",
    },
    Series {
        name: "allocated",
        colour: "#b86e00",
    },
    Series {
        name: "disbursed",
        colour: "#2e7d32",
    },
];

/// A whole page: the navigation for `viewer` (none on the sign-in page) around `body`.
pub fn page(
    status: StatusCode,
    title: &str,
    viewer: Option<&Principal>,
    body: &Markup,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fundtrail" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    nav aria-label="Main" {
                        span.brand { "fundtrail" }
                        @if let Some(principal) = viewer {
                            @if principal.donor_id.is_some() {
                                a href=(home_of(principal)) { "Statement" }
                            } @else {
                                a href="/overview" { "Fund overview" }
                                a href="/countries" { "Countries" }
                                a href="/donors" { "Donors" }
                            }
                            span.who { "Signed in as " (principal.display_name) " (" (principal.subject) ")" }
                            form.sign-out method="post" action="/sign-out" {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// HTML with its content type (maud's own integration would tie it to one axum version).
struct Html(String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], self.0).into_response()
    }
}

/// A page that says what went wrong.
pub fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    let body = html! {
        h1 { (title) }
        p { (message) }
        p { a href="/" { "Back to the start" } " · " a href="/sign-in" { "Sign in again" } }
    };
    page(status, title, None, &body)
}

/// Headers every answer carries: no scripts or outside resources at all, nothing cached
/// (the figures are confidential and change with every event), no framing.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with the sign-in form,
        // which could not be told from another site's.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

pub async fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page here.",
    )
}

/// The history a page reflects.
fn position(position: u64, recorded_at: i64) -> Markup {
    html! {
        p.position {
            "Figures as of position " strong.at-position { (position) }
            ", the event recorded " time { (time(recorded_at)) } "."
        }
    }
}

pub async fn home(viewer: Viewer) -> Response {
    Redirect::to(&home_of(&viewer.0)).into_response()
}

pub async fn overview(State(web): State<Web>, viewer: Viewer) -> Response {
    if let Some(refused) = refusal(&viewer, "Funding/GetFundOverview") {
        return refused;
    }
    let (report, countries, country_mark) = {
        let views = web.shared.read();
        (
            views.overview.report(),
            views.country.reports(),
            View::mark(&views.country),
        )
    };
    let c = report.reporting_currency;
    let rows: Vec<Row> = countries
        .iter()
        .map(|country| Row {
            label: country.country_name.clone(),
            values: vec![
                country.received.reporting,
                country.allocated.reporting,
                country.disbursed.reporting,
            ],
        })
        .collect();
    let line = |label: &str, figure: &Amount, note: &str| {
        html! {
            tr {
                th scope="row" { (label) @if !note.is_empty() { br; small { (note) } } }
                td.num { (amount(figure)) }
            }
        }
    };
    let body = html! {
        h1 { "Fund overview" }
        (position(report.position, report.recorded_at))
        p { "All values in " (c) ", at the rates booked when the money moved." }
        section aria-labelledby="sources" {
            h2 #sources { "Sources" }
            table.figures {
                tbody {
                    (line("Pledged", &report.pledged, ""))
                    (line("Committed (signed agreements)", &report.committed, ""))
                    (line("Outstanding", &report.outstanding, "pledged and not yet received, on open pledges"))
                    (line("Contributions received", &report.contributions, "the matching donors' included"))
                    (line("of which matching reserved", &report.matching_reserved, ""))
                    (line("of which matching confirmed", &report.matching_confirmed, ""))
                    (line("Matching funds received", &report.matching_funds, ""))
                }
            }
        }
        section aria-labelledby="uses" {
            h2 #uses { "Uses" }
            table.figures {
                tbody {
                    (line("Transferred to projects", &report.transfers_to_projects, "net allocations"))
                    (line("Disbursed", &report.disbursed, "net of refunds and reversals"))
                    (line("Refunds from partners", &report.refunds, "already netted out of disbursed"))
                    (line("Reversed payments", &report.reversals, "already netted out of disbursed"))
                    (line("Refunded to donors", &report.refunds_to_donors, "leaves the balance; not a use"))
                }
            }
        }
        section aria-labelledby="balances" {
            h2 #balances { "Balances" }
            table.figures {
                tbody {
                    (line("With the fund", &report.balance_with_fund, "received, not allocated or refunded"))
                    (line("With implementing partners", &report.balance_with_partners, "allocated, not disbursed"))
                    tr {
                        th scope="row" { "Transfer rate" br; small { "disbursed ÷ allocated" } }
                        td.num.rate { (percent(report.delivery_rate_bps)) }
                    }
                }
            }
            p {
                (report.donors) " donors, " (report.pledges) " pledges, " (report.projects)
                " projects, " (report.matching_pools) " matching pools."
            }
        }
        section aria-labelledby="by-country" {
            h2 #by-country { "Received, allocated and disbursed by country" }
            p.position {
                "Country figures as of position " (country_mark.position) ", recorded "
                (time(country_mark.recorded_at)) "."
            }
            figure {
                (chart::bars(&format!("Received, allocated and disbursed per country, in {c}"), &FLOWS, &rows))
                figcaption { "Bars on one scale, in " (c) "; see " a href="/countries" { "the countries" } " for the figures." }
            }
        }
    };
    page(StatusCode::OK, "Fund overview", Some(&viewer.0), &body)
}

pub async fn countries(State(web): State<Web>, viewer: Viewer) -> Response {
    if let Some(refused) = refusal(&viewer, "Funding/ListCountries") {
        return refused;
    }
    let (reports, mark, currency) = {
        let views = web.shared.read();
        (
            views.country.reports(),
            View::mark(&views.country),
            web.shared.reporting().currency(),
        )
    };
    let body = html! {
        h1 { "Countries" }
        (position(mark.position, mark.recorded_at))
        p { "Values in " (currency) "." }
        table.list {
            thead {
                tr {
                    th scope="col" { "Country" }
                    th scope="col" { "Pledged" }
                    th scope="col" { "Received" }
                    th scope="col" { "Allocated" }
                    th scope="col" { "Disbursed" }
                    th scope="col" { "Undisbursed" }
                    th scope="col" { "Transfer rate" }
                }
            }
            tbody {
                @for r in &reports {
                    tr {
                        th scope="row" { a href={ "/countries/" (segment(r.country.code())) } { (r.country_name) } }
                        td.num { (amount(&r.pledged)) }
                        td.num { (amount(&r.received)) }
                        td.num { (amount(&r.allocated)) }
                        td.num { (amount(&r.disbursed)) }
                        td.num { (amount(&r.undisbursed)) }
                        td.num.rate { (percent(r.delivery_rate_bps)) }
                    }
                }
                @if reports.is_empty() {
                    tr { td colspan="7" { "No country has any funding yet." } }
                }
            }
        }
    };
    page(StatusCode::OK, "Countries", Some(&viewer.0), &body)
}

pub async fn country(State(web): State<Web>, viewer: Viewer, Path(code): Path<String>) -> Response {
    if let Some(refused) = refusal(&viewer, "Funding/GetCountryFunding") {
        return refused;
    }
    let Ok(code) = CountryCode::new(code.trim()) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such country",
            "Countries are named by their ISO 3166-1 alpha-2 code, such as UA.",
        );
    };
    let report = web.shared.read().country.report(code);
    let title = report.country_name.clone();
    page(
        StatusCode::OK,
        &title,
        Some(&viewer.0),
        &country_body(&report),
    )
}

fn country_body(r: &CountryReport) -> Markup {
    let figures: [(&str, &Amount); 6] = [
        ("Pledged", &r.pledged),
        ("Received", &r.received),
        ("Allocated", &r.allocated),
        ("Disbursed", &r.disbursed),
        ("Undisbursed", &r.undisbursed),
        ("Refunded by partners", &r.refunded),
    ];
    html! {
        h1 { (r.country_name) " (" (r.country.code()) ")" }
        (position(r.position, r.recorded_at))
        table.figures {
            tbody {
                @for (label, figure) in figures {
                    tr { th scope="row" { (label) } td.num { (amount(figure)) } }
                }
                tr {
                    th scope="row" { "Transfer rate" br; small { "disbursed ÷ allocated" } }
                    td.num.rate { (percent(r.delivery_rate_bps)) }
                }
            }
        }
        h2 { "Donors" }
        table.list {
            thead { tr {
                th scope="col" { "Donor" }
                th scope="col" { "Pledged" }
                th scope="col" { "Received" }
                th scope="col" { "Allocated" }
                th scope="col" { "Outstanding" }
            } }
            tbody {
                @for d in &r.donors {
                    tr {
                        th scope="row" {
                            a href={ "/donors/" (segment(d.donor_id.as_str())) } {
                                @if d.donor_name.is_empty() { (d.donor_id.as_str()) } @else { (d.donor_name) }
                            }
                        }
                        td.num { (amount(&d.pledged)) }
                        td.num { (amount(&d.received)) }
                        td.num { (amount(&d.allocated)) }
                        td.num { (amount(&d.outstanding)) }
                    }
                }
                @if r.donors.is_empty() { tr { td colspan="5" { "No donor has earmarked money for this country." } } }
            }
        }
        h2 { "Projects" }
        @if r.projects.is_empty() { p { "No project in this country yet." } }
        @for p in &r.projects {
            section.project {
                h3 { (p.title) @if p.closed { " (closed)" } }
                p { "Implementing partner: " (p.partner) ". Milestones verified: "
                    (p.milestones_verified) " of " (p.milestones) "." }
                table.figures {
                    tbody {
                        tr { th scope="row" { "Allocated" } td.num { (amount(&p.allocated)) } }
                        tr { th scope="row" { "Disbursed" } td.num { (amount(&p.disbursed)) } }
                        tr { th scope="row" { "Undisbursed" } td.num { (amount(&p.undisbursed)) } }
                        tr { th scope="row" { "Transfer rate" } td.num.rate { (percent(p.delivery_rate_bps)) } }
                    }
                }
                @if !p.verified_tranches.is_empty() {
                    table.list {
                        caption { "Releases of verified milestones" }
                        thead { tr {
                            th scope="col" { "Milestone" }
                            th scope="col" { "Rule" }
                            th scope="col" { "Target" }
                            th scope="col" { "Verified" }
                            th scope="col" { "Tranche" }
                            th scope="col" { "Released" }
                            th scope="col" { "Withheld" }
                        } }
                        tbody {
                            @for t in &p.verified_tranches {
                                tr {
                                    th scope="row" { (t.milestone) }
                                    td { (t.release_rule) }
                                    td.num { (grouped_count(t.target)) }
                                    td.num { (grouped_count(t.actual)) }
                                    td.num { (fundtrail_projections::Grouped(t.tranche)) }
                                    td.num { (fundtrail_projections::Grouped(t.released)) }
                                    td.num { (fundtrail_projections::Grouped(t.withheld)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !r.indicators.is_empty() {
            h2 { "Indicators" }
            table.list {
                thead { tr {
                    th scope="col" { "Indicator" }
                    th scope="col" { "Target" }
                    th scope="col" { "Reported" }
                    th scope="col" { "Verified" }
                    th scope="col" { "Cost per unit verified" }
                } }
                tbody {
                    @for i in &r.indicators {
                        tr {
                            th scope="row" { (i.name) " (" (i.unit) ")" }
                            td.num { (grouped_count(i.target)) }
                            td.num { (grouped_count(i.actual_reported)) }
                            td.num { (grouped_count(i.actual_verified)) }
                            td.num { (fundtrail_projections::Grouped(i.cost_per_unit)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn donors(State(web): State<Web>, viewer: Viewer) -> Response {
    if let Some(refused) = refusal(&viewer, "Pledges/ListDonors") {
        return refused;
    }
    let (reports, mark) = {
        let views = web.shared.read();
        let reports: Vec<DonorReport> = views
            .donors
            .donors()
            .filter_map(|id| views.donors.report(id))
            .collect();
        (reports, View::mark(&views.donors))
    };
    let body = html! {
        h1 { "Donors" }
        (position(mark.position, mark.recorded_at))
        table.list {
            thead { tr {
                th scope="col" { "Donor" }
                th scope="col" { "Identifier" }
                th scope="col" { "Kind" }
                th scope="col" { "Pledged" }
                th scope="col" { "Received" }
                th scope="col" { "Outstanding" }
            } }
            tbody {
                @for d in &reports {
                    tr {
                        th scope="row" {
                            a href={ "/donors/" (segment(d.donor_id.as_str())) } {
                                @if d.donor_name.is_empty() { (d.donor_id.as_str()) } @else { (d.donor_name) }
                            }
                        }
                        td { code { (d.donor_id.as_str()) } }
                        td { (d.kind) }
                        td.num { (amount(&d.pledged)) }
                        td.num { (amount(&d.received)) }
                        td.num { (amount(&d.outstanding)) }
                    }
                }
                @if reports.is_empty() { tr { td colspan="6" { "No donor yet." } } }
            }
        }
    };
    page(StatusCode::OK, "Donors", Some(&viewer.0), &body)
}

/// The statement of donor `id` for `viewer`, or the answer that refuses it: the statement
/// page and its downloads admit the same principals.
pub fn donor_statement(web: &Web, viewer: &Viewer, id: &str) -> Result<DonorReport, Box<Response>> {
    if let Some(refused) = refusal(viewer, "Funding/GetDonorStatement") {
        return Err(Box::new(refused));
    }
    // The gRPC API's own rule: a donor's system reads its own donor only.
    if fundtrail_service::context::acts_for_donor(&viewer.0, id).is_err() {
        return Err(Box::new(forbidden(viewer)));
    }
    DonorId::parse(id.trim())
        .ok()
        .and_then(|id| web.shared.read().donors.report(&id))
        .ok_or_else(|| {
            Box::new(problem(
                StatusCode::NOT_FOUND,
                "No such donor",
                "The history names no donor with this identifier.",
            ))
        })
}

pub async fn donor(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let report = match donor_statement(&web, &viewer, &id) {
        Ok(report) => report,
        Err(refused) => return *refused,
    };
    let title = if report.donor_name.is_empty() {
        report.donor_id.as_str().to_owned()
    } else {
        report.donor_name.clone()
    };
    page(
        StatusCode::OK,
        &title,
        Some(&viewer.0),
        &donor_body(&title, &report),
    )
}

fn donor_body(title: &str, r: &DonorReport) -> Markup {
    let figures: [(&str, &Amount); 6] = [
        ("Pledged", &r.pledged),
        ("Committed (signed agreements)", &r.committed),
        ("Received", &r.received),
        ("Outstanding", &r.outstanding),
        ("Allocated to projects", &r.allocated),
        ("Refunded to the donor", &r.refunded),
    ];
    html! {
        h1 { "Statement of " (title) }
        p { "Identifier " code { (r.donor_id.as_str()) }
            @if !r.kind.is_empty() { ", " (r.kind) " donor" } "." }
        (position(r.position, r.recorded_at))
        p.downloads {
            "Download the receipts, allocations and disbursements: "
            a href={ "/donors/" (segment(r.donor_id.as_str())) "/statement.csv" } download { "CSV" }
            " · "
            a href={ "/donors/" (segment(r.donor_id.as_str())) "/statement.xlsx" } download { "Excel (XLSX)" }
        }
        table.figures {
            tbody {
                @for (label, figure) in figures {
                    tr { th scope="row" { (label) } td.num { (amount(figure)) } }
                }
            }
        }
        h2 { "By country" }
        table.list {
            thead { tr {
                th scope="col" { "Country" }
                th scope="col" { "Pledged" }
                th scope="col" { "Received" }
                th scope="col" { "Allocated" }
            } }
            tbody {
                @for c in &r.countries {
                    tr {
                        th scope="row" { (c.country_name) }
                        td.num { (amount(&c.pledged)) }
                        td.num { (amount(&c.received)) }
                        td.num { (amount(&c.allocated)) }
                    }
                    @for p in &c.projects {
                        tr.project-row {
                            td { (PreEscaped("&#8195;")) (p.title) }
                            td {} td {}
                            td.num { (amount(&p.allocated)) }
                        }
                    }
                }
                tr {
                    th scope="row" { "Unearmarked" }
                    td.num { (amount(&r.unearmarked.pledged)) }
                    td.num { (amount(&r.unearmarked.received)) }
                    td {}
                }
            }
        }
        @if !r.open_pledges.is_empty() {
            h2 { "Open pledges" }
            table.list {
                thead { tr {
                    th scope="col" { "Pledge" }
                    th scope="col" { "Country" }
                    th scope="col" { "Pledged" }
                    th scope="col" { "Received" }
                    th scope="col" { "Outstanding" }
                } }
                tbody {
                    @for p in &r.open_pledges {
                        tr {
                            th scope="row" { code { (p.pledge_id.to_string()) } }
                            td { @match p.country { Some(c) => (c.name()), None => "unearmarked" } }
                            td.num { (fundtrail_projections::Grouped(p.pledged)) }
                            td.num { (fundtrail_projections::Grouped(p.received)) }
                            td.num { (amount(&p.outstanding)) }
                        }
                    }
                }
            }
        }
        h2 { "Matching" }
        table.list {
            thead { tr {
                th scope="col" { "" }
                th scope="col" { "Reserved" }
                th scope="col" { "Confirmed" }
                th scope="col" { "Funds received" }
            } }
            tbody {
                tr {
                    th scope="row" { "Earned on this donor's contributions" }
                    td.num { (amount(&r.matching_earned.reserved)) }
                    td.num { (amount(&r.matching_earned.confirmed)) }
                    td.num { (amount(&r.matching_earned.funds)) }
                }
                tr {
                    th scope="row" { "Provided by this donor" }
                    td.num { (amount(&r.matching_provided.reserved)) }
                    td.num { (amount(&r.matching_provided.confirmed)) }
                    td.num { (amount(&r.matching_provided.funds)) }
                }
            }
        }
        (statement_lines(r))
    }
}

/// An optional amount's cell: empty when there is none.
fn money_cell(money: Option<Money>) -> Markup {
    html! { td.num { @if let Some(m) = money { (Grouped(m)) } } }
}

/// The statement's lines: each receipt, allocation and disbursement the donor's money funded.
fn statement_lines(r: &DonorReport) -> Markup {
    let nonzero = |m: Money| (m.minor_units() != 0).then_some(m);
    html! {
        h2 { "Receipts" }
        table.list {
            thead { tr {
                th scope="col" { "Value date" }
                th scope="col" { "Country" }
                th scope="col" { "Bank reference" }
                th scope="col" { "Amount" }
                th scope="col" { "Value" }
                th scope="col" { "Matching reserved" }
                th scope="col" { "Matching confirmed" }
            } }
            tbody {
                @for x in &r.receipts {
                    tr {
                        th scope="row" { (x.value_date) @if x.reversed { " (reversed)" } }
                        td { @match x.country { Some(c) => (c.name()), None => "unearmarked" } }
                        td { (x.bank_reference) }
                        td.num { (Grouped(x.amount)) }
                        td.num { (Grouped(x.reporting_amount)) }
                        (money_cell(x.matching_reserved))
                        (money_cell(x.matching_confirmed))
                    }
                }
                @if r.receipts.is_empty() { tr { td colspan="7" { "No receipt yet." } } }
            }
        }
        h2 { "Allocations" }
        table.list {
            thead { tr {
                th scope="col" { "Recorded on" }
                th scope="col" { "Project" }
                th scope="col" { "Amount" }
                th scope="col" { "In the project's currency" }
                th scope="col" { "Value" }
                th scope="col" { "Returned" }
            } }
            tbody {
                @for x in &r.allocations {
                    tr {
                        th scope="row" { (x.recorded_on) }
                        td { (x.project_title) " (" (x.country.name()) ")" }
                        td.num { (Grouped(x.amount)) }
                        td.num { (Grouped(x.project_amount)) }
                        td.num { (Grouped(x.reporting_amount)) }
                        (money_cell(nonzero(x.returned)))
                    }
                }
                @if r.allocations.is_empty() { tr { td colspan="6" { "No allocation yet." } } }
            }
        }
        h2 { "Disbursements funded" }
        p { "A payment from a project account is shared among the donors in proportion to what each had credited to the account when it was paid." }
        table.list {
            thead { tr {
                th scope="col" { "Paid on" }
                th scope="col" { "Project" }
                th scope="col" { "Payment" }
                th scope="col" { "This donor's share" }
                th scope="col" { "Value" }
                th scope="col" { "Reversed or refunded" }
            } }
            tbody {
                @for x in &r.disbursements {
                    tr {
                        th scope="row" { (x.paid_on) }
                        td { (x.project_title) " (" (x.country.name()) ")" }
                        td.num { (Grouped(x.amount)) }
                        td.num { (Grouped(x.share)) }
                        td.num { (Grouped(x.share_reporting)) }
                        (money_cell(x.reversed.checked_add(x.refunded).ok().and_then(nonzero)))
                    }
                }
                @if r.disbursements.is_empty() { tr { td colspan="6" { "No disbursement funded yet." } } }
            }
        }
    }
}
