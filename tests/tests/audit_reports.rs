//! What auditors and donors read, from a real history: IATI files valid against the official
//! schemas with the right codelist values, CSV, "as of" replays and diffs, views rebuilt from
//! an export encoding exactly as the live projector's, and the documented Python verifier
//! agreeing with the Rust one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use fundtrail_audit::Source;
use fundtrail_domain::{CountryCode, Currency};
use fundtrail_log::StoreSource;
use fundtrail_operator::audit::{self as audit_cli, IatiArgs, SourceArgs};
use fundtrail_projections::persist::ViewDb;
use fundtrail_projections::{Reporting, Views};
use fundtrail_projector::{Projector, ProjectorOptions, render};
use fundtrail_proto::v1;
use fundtrail_reports::views::{self, AsOf};
use fundtrail_store::EventStore;
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, backend_tests, eventually, money, rid,
};
use prost::Message;
use tokio_util::sync::CancellationToken;

backend_tests!(reports_from_a_real_history);

/// Pays a tranche and refunds part of it; returns the position before the payment.
async fn pay_and_refund(c: &mut Clients, project_id: &str) -> u64 {
    let milestone = story::plan_milestone(c, project_id, 1_000_000)
        .await
        .unwrap();
    story::report_and_verify(c, project_id, milestone)
        .await
        .unwrap();
    let disbursement = story::request_disbursement(c, project_id, 1_000_000, milestone)
        .await
        .unwrap()
        .created_id;
    eventually("the tranche to be approvable", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let (project, disbursement) = (project_id.to_owned(), disbursement.clone());
        async move { Ok(story::approve(&mut c, &project, &disbursement).await.ok()) }
    })
    .await
    .unwrap();
    let before = c.events().await.unwrap().len() as u64;
    c.disbursements
        .pay_disbursement(as_actor(
            FINANCE,
            v1::PayDisbursementRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                disbursement_id: disbursement.clone(),
                paid_on: "2025-10-01".to_owned(),
                bank_reference: "PAY-2025-001".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    c.disbursements
        .refund_disbursement(as_actor(
            FINANCE,
            v1::RefundDisbursementRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                disbursement_id: disbursement,
                amount: money("EUR", 100_000),
                refunded_on: "2025-11-15".to_owned(),
                reason: "unspent fuel budget".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    before
}

/// Gives the HR project's allocation back: a return, then the pledge's release.
async fn return_allocation(c: &mut Clients, project_id: &str) {
    let events = c.events().await.unwrap();
    let allocated = events
        .iter()
        .find(|e| {
            e.envelope.as_ref().unwrap().event_type == "fundtrail.v1.ContributionAllocated"
                && e.payload_json.contains(project_id)
        })
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&allocated.payload_json).unwrap();
    c.disbursements
        .return_allocation(as_actor(
            FINANCE,
            v1::ReturnAllocationRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                allocation_id: json["allocationId"].as_str().unwrap().to_owned(),
                reason: "the project was suspended".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    eventually("the allocation to be released", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        async move {
            Ok(c.events()
                .await?
                .iter()
                .any(|e| {
                    e.envelope.as_ref().unwrap().event_type == "fundtrail.v1.AllocationReleased"
                })
                .then_some(()))
        }
    })
    .await
    .unwrap();
}

fn schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/reports/tests/iati")
}

/// `xmllint --xpath` values of an attribute, read independently of the writer.
fn attribute(file: &Path, xpath: &str) -> Vec<String> {
    let out = Command::new("xmllint")
        .args(["--xpath", xpath])
        .arg(file)
        .output()
        .expect("xmllint (Debian package libxml2-utils; scripts/test installs it)");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .filter_map(|attr| attr.split_once('='))
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .collect()
}

/// The values of one transaction type, in document order.
fn values(file: &Path, kind: &str) -> Vec<String> {
    let xpath = format!("//transaction[transaction-type/@code='{kind}']/value/text()");
    let out = Command::new("xmllint")
        .args(["--xpath", &xpath])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn validate(file: &Path, schema: &str) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(schemas().join(schema))
        .arg(file)
        .output()
        .expect("xmllint (Debian package libxml2-utils; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{} is not valid IATI 2.03: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_iati(dir: &Path, partner_id: &str) {
    let mut activities: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("activity-")
        })
        .collect();
    activities.sort();
    assert_eq!(activities.len(), 2, "one activity file per project");
    let mut types = std::collections::BTreeSet::new();
    for file in &activities {
        validate(file, "iati-activities-schema.xsd");
        for code in attribute(file, "//transaction-type/@code") {
            assert!(
                ["1", "2", "3", "11"].contains(&code.as_str()),
                "transaction type {code}"
            );
            types.insert(code);
        }
        assert_eq!(attribute(file, "//sector/@vocabulary"), ["1"]);
        assert_eq!(attribute(file, "//sector/@code"), ["15250"]);
        for code in attribute(file, "//recipient-country/@code") {
            CountryCode::new(&code).unwrap();
        }
        let roles = attribute(file, "//participating-org/@role");
        assert!(
            roles
                .iter()
                .all(|r| ["1", "2", "3", "4"].contains(&r.as_str())),
            "{roles:?}"
        );
        for role in ["1", "3", "4"] {
            assert!(
                roles.iter().any(|r| r == role),
                "role {role} missing: {roles:?}"
            );
        }
        assert!(
            attribute(file, "//participating-org[@role='4']/@ref").contains(&partner_id.to_owned())
        );
        for code in attribute(file, "//@currency | //@default-currency") {
            Currency::new(&code).unwrap();
        }
        assert!(
            ["1", "2", "3", "4", "5", "6"]
                .contains(&attribute(file, "//activity-status/@code")[0].as_str())
        );
    }
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["1", "11", "2", "3"]);
    let organisation = dir.join("organisation.xml");
    validate(&organisation, "iati-organisations-schema.xsd");
    for code in attribute(&organisation, "//recipient-country/@code") {
        CountryCode::new(&code).unwrap();
    }
}

async fn reports_from_a_real_history(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let url = server.server.url();
    let mut c = server.clients().await.unwrap();
    let ba = story::funded_project(&mut c, "BA", 4_000_000, 3_000_000)
        .await
        .unwrap();
    let before_payment = pay_and_refund(&mut c, &ba.project_id).await;
    let hr = story::funded_project(&mut c, "HR", 1_000_000, 500_000)
        .await
        .unwrap();
    return_allocation(&mut c, &hr.project_id).await;
    let head = c.events().await.unwrap().len() as u64;
    // `XX`, the country code of events that concern none, filters the stream too.
    let mut stream = c
        .audit
        .stream_events(v1::StreamEventsRequest {
            from_position: 1,
            country: "XX".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut nowhere = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        assert_eq!(event.country, "XX");
        nowhere.push(event.envelope.unwrap().event_type);
    }
    assert_eq!(nowhere, ["fundtrail.v1.DonorRegistered"]);
    let dir = tempfile::tempdir().unwrap();
    let source = SourceArgs::for_server(&url).with_credentials(fundtrail_tests::credentials(
        &fundtrail_tests::principal(fundtrail_tests::STAFF, fundtrail_tests::STAFF_ROLES),
    ));

    // IATI: valid, with the codelist values the schema leaves open, and the money netted.
    let iati = dir.path().join("iati");
    audit_cli::iati(&IatiArgs::new(source.clone(), &iati, "XM-EXAMPLE-1"))
        .await
        .unwrap();
    check_iati(&iati, "NO-BRC-971277882");
    let ba_file = iati.join(format!("activity-{}.xml", ba.project_id));
    assert_eq!(values(&ba_file, "3"), ["10000.00", "-1000.00"]);
    assert_eq!(values(&ba_file, "2"), ["10000.00"]);
    // The HR allocation went back: a negative incoming funds (the account's return) and a
    // negative incoming commitment (the pledge's release) net both to zero.
    let hr_file = iati.join(format!("activity-{}.xml", hr.project_id));
    assert_eq!(values(&hr_file, "11"), ["5000.00", "-5000.00"]);
    assert_eq!(values(&hr_file, "1"), ["5000.00", "-5000.00"]);
    assert_eq!(attribute(&ba_file, "//result//target/@value"), ["120000"]);
    assert_eq!(attribute(&ba_file, "//result//actual/@value"), ["121500"]);

    // CSV of the per-country view and the donor statements.
    let csv_dir = dir.path().join("csv");
    let (live, _) = source.open().await.unwrap();
    let all = views::fold(live.events().await.unwrap(), Currency::USD, None)
        .await
        .unwrap();
    fundtrail_reports::csv::write(&all, &csv_dir).unwrap();
    let countries = std::fs::read_to_string(csv_dir.join("countries.csv")).unwrap();
    let ba_row = countries.lines().find(|l| l.starts_with("BA,")).unwrap();
    assert!(
        ba_row.contains("43368.00"),
        "received 40 000 EUR at 1.0842: {ba_row}"
    );
    let donors = std::fs::read_to_string(csv_dir.join("donor-statements.csv")).unwrap();
    assert!(
        donors
            .lines()
            .any(|l| l.starts_with("XM-DAC-7,Netherlands,") && l.contains(",total,"))
    );

    // "As of" before the payment nothing was disbursed; the diff shows the payment and refund.
    let ba_code = CountryCode::new("BA").unwrap();
    let then = views::fold(
        live.events().await.unwrap(),
        Currency::USD,
        Some(AsOf::Position(before_payment)),
    )
    .await
    .unwrap();
    assert!(then.country.report(ba_code).disbursed.original.is_empty());
    assert!(!all.country.report(ba_code).disbursed.original.is_empty());
    let events = live.events().await.unwrap();
    let (_, changes, _) = views::diff(events, Currency::USD, ba_code, before_payment, head)
        .await
        .unwrap();
    let lines = views::describe_changes(&changes, Currency::USD);
    assert!(
        lines.iter().any(|l| l.contains("DisbursementPaid")
            && l.contains("disbursed")
            && l.contains("+10000.00 EUR")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DisbursementRefunded") && l.contains("-1000.00 EUR")),
        "{lines:?}"
    );

    // Views rebuilt from an export are the live projector's, byte for byte on the wire.
    let export = dir.path().join("fund.ndjson");
    audit_cli::export(&source, &export).await.unwrap();
    let from_file = views::fold(
        Source::file(&export).events().await.unwrap(),
        Currency::USD,
        None,
    )
    .await
    .unwrap();
    let live_views = projected(server.server.store.clone(), head).await;
    assert_eq!(rendered(&from_file), rendered(&live_views));
    assert_eq!(rendered(&from_file), rendered(&all));

    python_agrees(&export).await;
    server.stop().await.unwrap();
}

/// The views as the live projector persists them: folded from the store by the projector
/// itself into its view tables, then loaded back from there.
async fn projected(store: Arc<dyn EventStore>, head: u64) -> Views {
    // The view tables and their checkpoints need a store's schema; a scratch one serves.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("views.db").display());
    let scratch =
        fundtrail_store::SqliteStore::connect(&url, fundtrail_store::StoreOptions::default())
            .await
            .unwrap();
    let pool = scratch.pool().clone();
    let db = ViewDb::Sqlite(pool);
    let reporting = Reporting(Currency::USD);
    let projector = Projector::new(
        reporting,
        db.clone(),
        store.clone(),
        Arc::new(StoreSource(store)),
        ProjectorOptions::default(),
    );
    let shared = projector.shared();
    let stop = CancellationToken::new();
    let task = tokio::spawn(projector.run(stop.clone()));
    let mut positions = shared.positions();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        positions.wait_for(|p| p.least() >= head),
    )
    .await
    .unwrap()
    .unwrap();
    stop.cancel();
    task.await.unwrap();
    Views {
        country: db.load(reporting).await.unwrap().view,
        donors: db.load(reporting).await.unwrap().view,
        overview: db.load(reporting).await.unwrap().view,
    }
}

/// Every view as the Funding API encodes it.
fn rendered(views: &Views) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = views
        .country
        .reports()
        .iter()
        .map(|r| render::country(r).encode_to_vec())
        .collect();
    let donors: Vec<_> = views.donors.donors().cloned().collect();
    for id in donors {
        out.push(render::donor(&views.donors.report(&id).unwrap()).encode_to_vec());
    }
    out.push(render::overview(&views.overview.report()).encode_to_vec());
    out
}

/// Runs the verifier printed in docs/audit.md on the export, intact and tampered.
async fn python_agrees(export: &Path) {
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 is not installed: the documented verifier was not run");
        return;
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit.md"))
            .unwrap();
    let code = doc
        .split("```python\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = export.parent().unwrap();
    let script = dir.join("verify.py");
    std::fs::write(&script, code).unwrap();
    let run = |file: &Path| {
        let out = Command::new("python3")
            .arg(&script)
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        )
    };
    let rust = fundtrail_audit::audit::verify(&Source::file(export), None)
        .await
        .unwrap()
        .report;
    assert!(rust.is_ok());
    let (ok, verdict) = run(export);
    assert!(ok, "{verdict}");
    assert_eq!(
        verdict,
        format!("OK {} {}", rust.last_position, hex::encode(rust.last_hash))
    );

    // One payload byte changed: both name the same position.
    let text = std::fs::read_to_string(export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let fundtrail_verifier::export::Record::Event(event) = serde_json::from_str(&lines[5]).unwrap()
    else {
        panic!("line 6 is an event")
    };
    let position = event.position;
    let mut envelope = fundtrail_verifier::Envelope::try_from(&event).unwrap();
    envelope.payload.push(1);
    let record = fundtrail_verifier::export::Record::Event((&envelope).into());
    lines[5] = serde_json::to_string(&record).unwrap();
    let tampered = dir.join("tampered.ndjson");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (ok, verdict) = run(&tampered);
    assert!(!ok);
    assert!(
        verdict.starts_with(&format!("TAMPERED position {position} ")),
        "{verdict}"
    );
    let rust = fundtrail_audit::audit::verify(&Source::file(&tampered), None)
        .await
        .unwrap()
        .report;
    assert_eq!(rust.findings[0].position, position);
}
