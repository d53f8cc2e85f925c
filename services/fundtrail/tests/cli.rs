//! The demo data set and the command-line client against a server started in this process.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fundtrail_client::Session;
use fundtrail_demo as demo;
use fundtrail_identity::{Credentials, DEV_AUDIENCE, DEV_ISSUER, Principal, Role};
use fundtrail_proto::v1;
use fundtrail_server::{self as server, RunningServer, ServerSettings};
use serde_json::Value;

async fn start() -> anyhow::Result<RunningServer> {
    server::start(ServerSettings::new(
        "127.0.0.1:0".parse()?,
        "sqlite::memory:",
    ))
    .await
}

/// A token the server trusts, for the finance office with every staff role but approval.
fn finance_token(running: &RunningServer) -> anyhow::Result<String> {
    let principal = Principal {
        subject: "finance@itf.si".to_owned(),
        display_name: "Finance office".to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: [
            Role::FinanceOfficer,
            Role::ProgrammeOfficer,
            Role::Administrator,
            Role::Auditor,
        ]
        .into(),
        donor_id: None,
    };
    let issuer = running
        .issuer
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the test server holds its issuer"))?;
    Ok(issuer.issue(
        &principal,
        DEV_ISSUER,
        DEV_AUDIENCE,
        Duration::from_mins(10),
    )?)
}

/// The store's head once nothing has been appended for a while: the process managers act
/// after the commands that set them off.
async fn settled_head(running: &RunningServer) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = running.store.head().await?.position;
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let now = running.store.head().await?.position;
        if now == last {
            return Ok(now);
        }
        anyhow::ensure!(Instant::now() < deadline, "the store never settled");
        last = now;
    }
}

/// Runs the built binary, with `token` in `FUNDTRAIL_TOKEN` when given; blocking, so off the
/// runtime's threads.
async fn fundtrail(token: Option<&str>, args: Vec<String>) -> anyhow::Result<Output> {
    let token = token.map(str::to_owned);
    Ok(tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fundtrail"));
        command
            .args(&args)
            .env_remove("FUNDTRAIL_SERVER")
            .env_remove("FUNDTRAIL_TOKEN")
            .env_remove("FUNDTRAIL_TOKEN_FILE")
            .env_remove("FUNDTRAIL_REPORTING_CURRENCY");
        if let Some(token) = token {
            command.env("FUNDTRAIL_TOKEN", token);
        }
        command.output()
    })
    .await??)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn money(m: Option<&v1::Money>) -> (String, i64) {
    m.map(|m| (m.currency.clone(), m.minor_units))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_loads_through_the_api_and_replays_when_loaded_again() -> anyhow::Result<()> {
    let running = start().await?;
    let url = running.url();
    let issuer = running
        .issuer
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the test server holds its issuer"))?;
    let summary = demo::load(&url, &issuer).await?;
    assert!(
        summary.starts_with("7 donors, 11 projects in 11 countries"),
        "{summary}"
    );
    assert!(summary.contains("(0 replayed)"), "{summary}");

    let session =
        Session::connect_with(&url, Credentials::bearer(&finance_token(&running)?)?).await?;
    let donors = session
        .pledges()
        .list_donors(session.request(v1::ListDonorsRequest {}))
        .await?
        .into_inner();
    let mut ids: Vec<&str> = donors.donors.iter().map(|d| d.donor_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "US-GOV-1",
            "XI-IATI-EC_INTPA",
            "XM-DAC-11",
            "XM-DAC-301-1",
            "XM-DAC-5",
            "XM-DAC-61",
            "XM-DAC-7"
        ]
    );

    let projects = session
        .milestones()
        .list_projects(session.request(v1::ListProjectsRequest::default()))
        .await?
        .into_inner()
        .projects;
    assert_eq!(projects.len(), 11);
    let croatia = projects
        .iter()
        .find(|p| p.country == "HR")
        .ok_or_else(|| anyhow::anyhow!("no project in HR"))?;
    let account = session
        .disbursements()
        .get_project_account(session.request(v1::GetProjectAccountRequest {
            project_id: croatia.project_id.clone(),
        }))
        .await?
        .into_inner();
    // Slovenia's 250 000 and the EU's 300 000; the reissued tranche holds 350 000 and the
    // second tranche, released in proportion to the area verified, 194 931.81.
    assert_eq!(money(account.credited.as_ref()), ("EUR".into(), 55_000_000));
    assert_eq!(money(account.available.as_ref()), ("EUR".into(), 506_819));
    let statuses: Vec<i32> = account.disbursements.iter().map(|d| d.status).collect();
    assert!(
        statuses.contains(&v1::DisbursementStatus::Reversed.into()),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&v1::DisbursementStatus::Paid.into()),
        "{statuses:?}"
    );

    let mut opened = session
        .audit()
        .stream_events(session.request(v1::StreamEventsRequest {
            from_position: 1,
            event_type: "fundtrail.v1.MatchingPoolOpened".into(),
            ..Default::default()
        }))
        .await?
        .into_inner();
    let stream = opened
        .message()
        .await?
        .and_then(|e| e.envelope)
        .map(|e| e.stream)
        .ok_or_else(|| anyhow::anyhow!("no matching pool was opened"))?;
    let pool = session
        .pledges()
        .get_matching_pool(session.request(v1::GetMatchingPoolRequest {
            pool_id: stream.trim_start_matches("matching-").to_owned(),
        }))
        .await?
        .into_inner();
    // Five matched receipts under a 2.5 million cap; the US's 2 million of funds confirm the
    // first three whole, in the order they were reserved.
    assert_eq!(pool.matches.len(), 5);
    assert_eq!(money(pool.confirmed.as_ref()), ("USD".into(), 172_851_000));
    assert_eq!(money(pool.reserved.as_ref()), ("USD".into(), 77_149_000));
    assert_eq!(money(pool.remaining.as_ref()), ("USD".into(), 0));

    // People read amounts with their thousands grouped; `--json` keeps the minor units.
    let token = finance_token(&running)?;
    let overview = fundtrail(
        Some(&token),
        args(&["funding", "overview", "--json", "--server", &url]),
    )
    .await?;
    assert!(overview.status.success(), "{}", text(&overview.stderr));
    let json: Value = serde_json::from_slice(&overview.stdout)?;
    let pledged = &json["pledged"]["reporting"];
    let minor: i64 = pledged["minor_units"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("minor units as a string: {pledged}"))?
        .parse()?;
    let currency =
        fundtrail_domain::Currency::new(pledged["currency"].as_str().unwrap_or_default())?;
    let figure = fundtrail_domain::Money::new(currency, minor);
    let grouped = fundtrail_domain::grouped(figure);
    assert!(
        grouped.matches(',').count() >= 2,
        "millions pledged: {grouped}"
    );
    let human = fundtrail(
        Some(&token),
        args(&["funding", "overview", "--server", &url]),
    )
    .await?;
    let table = text(&human.stdout);
    assert!(table.contains(&grouped), "{grouped} in {table}");
    assert!(!table.contains(&figure.to_string()), "{table}");
    assert!(
        !text(&overview.stdout).contains(&grouped),
        "--json is not grouped"
    );

    // The Netherlands' statement lines, written as files beside the statement.
    let dir = tempfile::tempdir()?;
    let (csv, xlsx) = (dir.path().join("nl.csv"), dir.path().join("nl.xlsx"));
    let statement = fundtrail(
        Some(&token),
        args(&[
            "funding",
            "donor",
            "XM-DAC-7",
            "--json",
            "--server",
            &url,
            "--csv",
            &csv.display().to_string(),
            "--xlsx",
            &xlsx.display().to_string(),
        ]),
    )
    .await?;
    assert!(statement.status.success(), "{}", text(&statement.stderr));
    assert!(
        text(&statement.stderr).contains("receipts"),
        "{}",
        text(&statement.stderr)
    );
    let json: Value = serde_json::from_slice(&statement.stdout)?;
    let count = |key: &str| json[key].as_array().map_or(0, Vec::len);
    assert!(count("receipts") > 0 && count("allocations") > 0, "{json}");
    let written = std::fs::read_to_string(&csv)?;
    assert!(written.starts_with("section,donor_id,"), "{written}");
    let mut reader = csv::Reader::from_reader(written.as_bytes());
    let rows = reader.records().collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        rows.len(),
        count("receipts") + count("allocations") + count("disbursements")
    );
    let first = json["receipts"][0]["amount"]["minor_units"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        rows.iter()
            .any(|r| r.get(10).is_some_and(|a| a.replace('.', "") == first)),
        "the first receipt's {first} minor units in {written}"
    );
    assert!(std::fs::read(&xlsx)?.starts_with(b"PK"), "an XLSX is a zip");

    let head = settled_head(&running).await?;
    let again = demo::load(&url, &issuer).await?;
    assert!(again.contains("wrote 0 events"), "{again}");
    assert_eq!(
        settled_head(&running).await?,
        head,
        "loading again wrote events"
    );
    running.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_binary_registers_and_lists_donors_as_json() -> anyhow::Result<()> {
    let running = start().await?;
    let url = running.url();
    let token = finance_token(&running)?;
    let register = fundtrail(
        None,
        args(&[
            "donor",
            "register",
            "--server",
            &url,
            "--token",
            &token,
            "--id",
            "XM-DAC-7",
            "--name",
            "Netherlands",
            "--kind",
            "government",
            "--matching-eligible",
            "--request-id",
            "cli-test-1",
            "--json",
        ]),
    )
    .await?;
    assert!(register.status.success(), "{}", text(&register.stderr));
    let result: Value = serde_json::from_slice(&register.stdout)?;
    assert_eq!(result["stream"], "donor-XM-DAC-7");
    assert_eq!(result["event_count"], 1);
    assert_eq!(result["replayed"], false);

    // The same request id again: the original result, nothing written.
    let retry = fundtrail(
        None,
        args(&[
            "donor",
            "register",
            "--server",
            &url,
            "--token",
            &token,
            "--id",
            "XM-DAC-7",
            "--name",
            "Netherlands",
            "--kind",
            "government",
            "--matching-eligible",
            "--request-id",
            "cli-test-1",
            "--json",
        ]),
    )
    .await?;
    let replay: Value = serde_json::from_slice(&retry.stdout)?;
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["position"], result["position"]);

    let list = fundtrail(
        Some(&token),
        args(&["donor", "list", "--json", "--server", &url]),
    )
    .await?;
    assert!(list.status.success(), "{}", text(&list.stderr));
    let donors: Value = serde_json::from_slice(&list.stdout)?;
    assert_eq!(donors["donors"][0]["donor_id"], "XM-DAC-7");
    assert_eq!(donors["donors"][0]["kind"], "DONOR_KIND_GOVERNMENT");
    assert_eq!(donors["donors"][0]["matching_eligible"], true);

    let human = fundtrail(Some(&token), args(&["donor", "list", "--server", &url])).await?;
    let table = text(&human.stdout);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("XM-DAC-7  Netherlands  government  eligible"),
        "{table}"
    );

    let events = fundtrail(
        Some(&token),
        args(&["events", "tail", "--server", &url, "--json"]),
    )
    .await?;
    let line: Value =
        serde_json::from_str(text(&events.stdout).lines().next().unwrap_or_default())?;
    assert_eq!(line["event_type"], "fundtrail.v1.DonorRegistered");
    assert_eq!(line["payload"]["name"], "Netherlands");
    assert_eq!(line["metadata"]["actor"], "finance@itf.si");
    running.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_server_refusal_is_printed_with_its_code_and_reason() -> anyhow::Result<()> {
    let running = start().await?;
    let url = running.url();
    let token = finance_token(&running)?;
    let missing = fundtrail(
        Some(&token),
        args(&[
            "pledge",
            "record",
            "--server",
            &url,
            "--donor",
            "XM-DAC-7",
            "--amount",
            "1000000.00",
            "--currency",
            "EUR",
            "--country",
            "BA",
            "--date",
            "2025-01-10",
        ]),
    )
    .await?;
    assert!(!missing.status.success());
    let error = text(&missing.stderr);
    assert!(error.contains("NOT_FOUND"), "{error}");
    assert!(error.contains("reason: DONOR_NOT_FOUND"), "{error}");

    let anonymous = fundtrail(None, args(&["donor", "list", "--server", &url])).await?;
    let error = text(&anonymous.stderr);
    assert!(!anonymous.status.success());
    assert!(error.contains("UNAUTHENTICATED"), "{error}");
    running.stop().await
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() -> anyhow::Result<()> {
    // Nothing listens here: a refusal that mentions the input was made locally.
    let nowhere = "http://127.0.0.1:9";
    let record = |amount: &str, currency: &str, country: &str| {
        args(&[
            "pledge",
            "record",
            "--server",
            nowhere,
            "--donor",
            "XM-DAC-7",
            "--amount",
            amount,
            "--currency",
            currency,
            "--country",
            country,
            "--date",
            "2025-01-10",
        ])
    };
    for (input, expected) in [
        (record("1000.005", "EUR", "BA"), "2 decimal places"),
        (record("1000", "EUX", "BA"), "ISO 4217"),
        (record("-5", "EUR", "BA"), "must be positive"),
        (record("1000", "EUR", "YU"), "ISO 3166-1"),
    ] {
        let output = fundtrail(None, input).await?;
        let error = text(&output.stderr);
        assert!(!output.status.success(), "{error}");
        assert!(error.contains(expected), "{error}");
        assert!(!error.contains("cannot reach"), "{error}");
    }
    let unreachable = fundtrail(None, args(&["donor", "list", "--server", nowhere])).await?;
    let error = text(&unreachable.stderr);
    assert!(!unreachable.status.success());
    assert!(error.contains("cannot reach a fundtrail server"), "{error}");
    Ok(())
}
