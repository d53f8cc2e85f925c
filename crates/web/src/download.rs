//! A donor's statement as a file: its receipts, allocations and the disbursements its money
//! funded, as CSV or XLSX, to the principals who may read the statement page.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fundtrail_projections::donor::DonorReport;
use fundtrail_reports::statement::{self, StatementError};

use crate::Web;
use crate::auth::Viewer;
use crate::pages::{donor_statement, problem};

const CSV: &str = "text/csv; charset=utf-8; header=present";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `statement-<donor>.<extension>`, with anything but letters, digits, `-`, `_` and `.` of the
/// id replaced, so the name needs no quoting rules of its own.
fn file_name(report: &DonorReport, extension: &str) -> String {
    let id: String = report
        .donor_id
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("statement-{id}.{extension}")
}

fn file(
    report: &DonorReport,
    content_type: &'static str,
    extension: &str,
    bytes: Result<Vec<u8>, StatementError>,
) -> Response {
    match bytes {
        Ok(bytes) => {
            let disposition = format!("attachment; filename=\"{}\"", file_name(report, extension));
            let mut response = (
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                bytes,
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, donor = %report.donor_id, "cannot write a statement download");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The statement could not be written",
                "Try again; the error is in the web view's log.",
            )
        }
    }
}

pub async fn csv(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    match donor_statement(&web, &viewer, &id) {
        Ok(report) => file(&report, CSV, "csv", statement::csv((&report).into())),
        Err(refused) => *refused,
    }
}

pub async fn xlsx(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    match donor_statement(&web, &viewer, &id) {
        Ok(report) => file(&report, XLSX, "xlsx", statement::xlsx((&report).into())),
        Err(refused) => *refused,
    }
}
