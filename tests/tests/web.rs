//! The web view of a server running the demonstration data: its pages over HTTP (who may see
//! what, escaping, the figures against the Funding API), and the same pages in a real browser,
//! headless Chromium driven over its `DevTools` protocol, with a screenshot of each page kept.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use calamine::{Data, Reader, Xlsx};
use fundtrail_domain::{Currency, Money};
use fundtrail_identity::Principal;
use fundtrail_projections::grouped;
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_server::{self as server, RunningServer, ServerSettings};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// The Netherlands, the donor the demo's donor integration acts for.
const OWN_DONOR: &str = "XM-DAC-7";
/// A donor whose name would be markup if it were not escaped.
const HOSTILE_ID: &str = "XI-TEST-1";
const HOSTILE_NAME: &str = "<script>alert('x')</script> & <b>Sons</b>";

/// A server with the demo loaded and one hostile donor registered, its views caught up.
struct Fixture {
    running: RunningServer,
    web: SocketAddr,
    _dir: tempfile::TempDir,
    overview: v1::FundOverview,
    countries: Vec<v1::CountryFunding>,
    donors: Vec<v1::DonorView>,
    head: u64,
}

fn money(m: Option<&v1::Money>) -> Money {
    let m = m.unwrap_or_else(|| panic!("a figure without money"));
    Money::new(Currency::new(&m.currency).unwrap(), m.minor_units)
}

fn reporting(a: Option<&v1::Amount>) -> String {
    grouped(money(
        a.unwrap_or_else(|| panic!("a missing amount"))
            .reporting
            .as_ref(),
    ))
}

impl Fixture {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite://{}", dir.path().join("fund.db").display());
        let running = server::start(ServerSettings {
            web_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..fundtrail_tests::settings(store).unwrap()
        })
        .await
        .unwrap();
        let web = running
            .web_addr
            .expect("the web view runs with the projector");
        fundtrail_demo::load(&running.url(), &fundtrail_tests::issuer())
            .await
            .unwrap();
        let mut clients = fundtrail_tests::Clients::connect(&running.url())
            .await
            .unwrap();
        clients
            .pledges
            .register_donor(v1::RegisterDonorRequest {
                request_id: "web-hostile-donor".to_owned(),
                donor_id: HOSTILE_ID.to_owned(),
                name: HOSTILE_NAME.to_owned(),
                kind: v1::DonorKind::Private.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let head = running.store.head().await.unwrap().position;
        let mut funding = FundingClient::new(clients.channel.clone());
        let mut request = tonic::Request::new(v1::ListCountriesRequest {
            min_position: head,
            as_of: None,
        });
        request.set_timeout(Duration::from_secs(30));
        let countries = funding.list_countries(request).await.unwrap().into_inner();
        let overview = funding
            .get_fund_overview(v1::GetFundOverviewRequest {
                min_position: head,
                as_of: None,
            })
            .await
            .unwrap()
            .into_inner();
        // The statements view catches up too before any page is read.
        funding
            .get_donor_statement(v1::GetDonorStatementRequest {
                donor_id: HOSTILE_ID.to_owned(),
                min_position: head,
                as_of: None,
            })
            .await
            .unwrap();
        let donors = clients
            .pledges
            .list_donors(v1::ListDonorsRequest {})
            .await
            .unwrap()
            .into_inner()
            .donors;
        assert!(countries.countries.len() >= 2, "the demo funds countries");
        Self {
            running,
            web,
            _dir: dir,
            overview,
            countries: countries.countries,
            donors,
            head,
        }
    }

    fn other_donor(&self) -> &str {
        self.donors
            .iter()
            .map(|d| d.donor_id.as_str())
            .find(|id| *id != OWN_DONOR && *id != HOSTILE_ID)
            .expect("the demo has more than one donor")
    }
}

fn staff() -> Principal {
    fundtrail_tests::principal("finance@itf.si", fundtrail_tests::STAFF_ROLES)
}

fn donor() -> Principal {
    fundtrail_tests::donor_integration("integration@minbuza.nl", OWN_DONOR)
}

fn auditor() -> Principal {
    fundtrail_tests::principal("auditor@itf.si", &[fundtrail_identity::Role::Auditor])
}

/// An HTTP/1.1 answer, read whole.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// The body as sent, for the downloads that are not text.
    bytes: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection; `headers` are `Name: value` lines.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    let _ = write!(request, "Content-Length: {}\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("the web view answers within 30 s")
        .unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an answer has a head");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let bytes = raw[end + 4..].to_vec();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body,
        bytes,
    }
}

async fn get_as(addr: SocketAddr, path: &str, principal: &Principal) -> Answer {
    let bearer = format!(
        "Authorization: Bearer {}",
        fundtrail_tests::token(principal)
    );
    http(addr, "GET", path, &[bearer], "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_answer_each_principal_what_the_api_would() {
    let f = Fixture::start().await;
    let web = f.web;

    // Without a token: to the sign-in page, which is a form with a labelled field.
    let anonymous = http(web, "GET", "/overview", &[], "").await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/sign-in"));
    let form = http(web, "GET", "/sign-in", &[], "").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains(r#"<label for="token">"#),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"name="token""#));
    assert!(
        form.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'none'")),
        "no script may run: {:?}",
        form.headers
    );
    assert_eq!(http(web, "GET", "/style.css", &[], "").await.status, 200);

    // Signing in: a refused token, a post from another site, then the staff token.
    let refused = http(web, "POST", "/sign-in", &[], "token=not.a.token").await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("not accepted"), "{}", refused.body);
    let token = fundtrail_tests::token(&staff());
    let elsewhere = http(
        web,
        "POST",
        "/sign-in",
        &["Origin: https://evil.example".to_owned()],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(elsewhere.status, 403);
    let signed_in = http(
        web,
        "POST",
        "/sign-in",
        &[format!("Origin: http://{web}")],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/overview"));
    let cookie = signed_in.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = format!("Cookie: {}", cookie.split(';').next().unwrap());

    // The overview by cookie: its figures are the Funding API's, grouped, with the chart.
    let overview = http(web, "GET", "/overview", std::slice::from_ref(&cookie), "").await;
    assert_eq!(overview.status, 200);
    assert_eq!(overview.header("cache-control"), Some("no-store"));
    for figure in [
        reporting(f.overview.pledged.as_ref()),
        reporting(f.overview.contributions.as_ref()),
        reporting(f.overview.disbursed.as_ref()),
        reporting(f.overview.transfers_to_projects.as_ref()),
    ] {
        assert!(
            figure.contains(','),
            "the demo's totals run into thousands: {figure}"
        );
        assert!(
            overview.body.contains(&figure),
            "{figure} missing from the overview"
        );
    }
    assert!(overview.body.contains("<svg"), "the chart is inline SVG");
    assert_eq!(
        overview.body.matches(r#"class="bar""#).count(),
        3 * f.countries.len(),
        "received, allocated and disbursed per country"
    );
    assert!(
        overview.body.contains(&format!(
            "Figures as of position <strong class=\"at-position\">{}</strong>",
            f.head
        )),
        "the overview says the position it reflects"
    );
    // A cookie that no longer signs in is forgotten.
    let stale = http(
        web,
        "GET",
        "/overview",
        &["Cookie: fundtrail_token=x.y.z".to_owned()],
        "",
    )
    .await;
    assert_eq!(stale.status, 303);
    assert!(
        stale
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );

    // Countries and each country, by bearer token.
    let countries = get_as(web, "/countries", &staff()).await;
    assert_eq!(countries.status, 200);
    for country in &f.countries {
        assert!(
            countries.body.contains(&country.country_name),
            "{}",
            country.country_name
        );
        assert!(
            countries
                .body
                .contains(&reporting(country.received.as_ref()))
        );
        let page = get_as(web, &format!("/countries/{}", country.country), &auditor()).await;
        assert_eq!(page.status, 200, "{}", country.country);
        for figure in [&country.allocated, &country.disbursed, &country.undisbursed] {
            assert!(
                page.body.contains(&reporting(figure.as_ref())),
                "{}",
                country.country
            );
        }
        for project in &country.projects {
            let title = project.title.replace('&', "&amp;").replace('<', "&lt;");
            assert!(
                page.body.contains(&title),
                "{} in {}",
                project.title,
                country.country
            );
        }
    }
    assert_eq!(get_as(web, "/countries/ZZ", &staff()).await.status, 404);

    // Donors: the hostile name is text, never markup.
    let donors = get_as(web, "/donors", &staff()).await;
    assert_eq!(donors.status, 200);
    assert!(
        !donors.body.contains("<script>alert"),
        "a donor's name is escaped"
    );
    assert!(!donors.body.contains("<b>Sons"));
    assert!(
        donors
            .body
            .contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;b&gt;Sons&lt;/b&gt;"),
        "{}",
        donors.body
    );
    let hostile = get_as(web, &format!("/donors/{HOSTILE_ID}"), &staff()).await;
    assert_eq!(hostile.status, 200);
    assert!(!hostile.body.contains("<script>alert"));
    assert_eq!(
        get_as(web, "/donors/XI-NOBODY-0", &staff()).await.status,
        404
    );

    // A donor's system: its own statement only.
    let own = get_as(web, &format!("/donors/{OWN_DONOR}"), &donor()).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.contains("Statement of"));
    let home = get_as(web, "/", &donor()).await;
    assert_eq!(
        home.header("location"),
        Some(&*format!("/donors/{OWN_DONOR}"))
    );
    let other = f.other_donor().to_owned();
    for path in [
        format!("/donors/{other}"),
        format!("/donors/{HOSTILE_ID}"),
        "/donors".to_owned(),
        "/overview".to_owned(),
        "/countries".to_owned(),
        format!("/countries/{}", f.countries[0].country),
    ] {
        let answer = get_as(web, &path, &donor()).await;
        assert_eq!(answer.status, 403, "{path} is not for a donor's system");
    }
    // Staff read every statement.
    assert_eq!(
        get_as(web, &format!("/donors/{other}"), &staff())
            .await
            .status,
        200
    );

    // A malformed header is an error, not a sign-in page.
    let malformed = http(
        web,
        "GET",
        "/overview",
        &["Authorization: Basic abc".to_owned()],
        "",
    )
    .await;
    assert_eq!(malformed.status, 401);
    assert_eq!(get_as(web, "/nowhere", &staff()).await.status, 404);

    f.running.stop().await.unwrap();
}

/// Per currency, the sum of `amount` over the CSV rows of `section` that `keep` admits.
fn csv_sums(
    rows: &[std::collections::HashMap<String, String>],
    section: &str,
    amount: &str,
    keep: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) -> std::collections::BTreeMap<String, i64> {
    let mut sums = std::collections::BTreeMap::new();
    for row in rows.iter().filter(|r| r["section"] == section && keep(r)) {
        let currency = Currency::new(&row["currency"]).unwrap();
        let value = Money::parse(currency, &row[amount]).unwrap();
        *sums.entry(row["currency"].clone()).or_insert(0) += value.minor_units();
    }
    sums
}

fn originals(a: Option<&v1::Amount>) -> std::collections::BTreeMap<String, i64> {
    a.unwrap()
        .original
        .iter()
        .filter(|m| m.minor_units != 0)
        .map(|m| (m.currency.clone(), m.minor_units))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_donor_downloads_its_own_statement_as_csv_and_xlsx() {
    let f = Fixture::start().await;
    let web = f.web;
    let mut funding = FundingClient::new(
        fundtrail_tests::Clients::connect(&f.running.url())
            .await
            .unwrap()
            .channel,
    );
    let statement = funding
        .get_donor_statement(v1::GetDonorStatementRequest {
            donor_id: OWN_DONOR.to_owned(),
            min_position: f.head,
            as_of: None,
        })
        .await
        .unwrap()
        .into_inner();

    // The CSV, read back: a receipt and an allocation at least, whose sums are the statement's.
    let csv = get_as(web, &format!("/donors/{OWN_DONOR}/statement.csv"), &donor()).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "{:?}",
        csv.headers
    );
    assert_eq!(
        csv.header("content-disposition"),
        Some(format!("attachment; filename=\"statement-{OWN_DONOR}.csv\"").as_str())
    );
    assert_eq!(csv.header("cache-control"), Some("no-store"));
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<std::collections::HashMap<String, String>> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    assert!(rows.iter().all(|r| r["donor_id"] == OWN_DONOR));
    let received = csv_sums(&rows, "receipt", "amount", |r| r["status"] != "reversed");
    assert!(!received.is_empty(), "the demo's Netherlands paid money in");
    assert_eq!(
        received,
        originals(statement.received.as_ref()),
        "receipts sum to received"
    );
    let mut allocated = csv_sums(&rows, "allocation", "amount", |_| true);
    for (currency, back) in csv_sums(&rows, "allocation", "taken_back", |r| {
        !r["taken_back"].is_empty()
    }) {
        *allocated.entry(currency).or_insert(0) -= back;
    }
    allocated.retain(|_, v| *v != 0);
    assert!(
        !allocated.is_empty(),
        "the demo allocated the Netherlands' money"
    );
    assert_eq!(
        allocated,
        originals(statement.allocated.as_ref()),
        "allocations net of returns"
    );
    let disbursements = rows
        .iter()
        .filter(|r| r["section"] == "disbursement")
        .count();
    assert!(
        disbursements > 0,
        "the demo paid from projects the Netherlands funded"
    );

    // The workbook: a sheet per section, the same figures as numbers.
    let xlsx = get_as(
        web,
        &format!("/donors/{OWN_DONOR}/statement.xlsx"),
        &donor(),
    )
    .await;
    assert_eq!(xlsx.status, 200);
    assert_eq!(
        xlsx.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx.bytes.clone())).unwrap();
    for (sheet, section) in [
        ("Receipts", "receipt"),
        ("Allocations", "allocation"),
        ("Disbursements", "disbursement"),
    ] {
        let range = workbook.worksheet_range(sheet).unwrap();
        let names: Vec<String> = (0..range.width())
            .map(|c| range.get((0, c)).unwrap().to_string())
            .collect();
        let amount = names.iter().position(|n| n == "amount").unwrap();
        let currency = names.iter().position(|n| n == "currency").unwrap();
        let expected: Vec<(f64, String)> = rows
            .iter()
            .filter(|r| r["section"] == section)
            .map(|r| (r["amount"].parse().unwrap(), r["currency"].clone()))
            .collect();
        let cells: Vec<(f64, String)> = (1..range.height())
            .map(|row| {
                let Some(Data::Float(value)) = range.get((row, amount)) else {
                    panic!("{sheet} row {row}: the amount is a number");
                };
                (*value, range.get((row, currency)).unwrap().to_string())
            })
            .collect();
        assert_eq!(cells, expected, "{sheet} holds the CSV's figures");
    }

    // The downloads follow the statement page: not another donor's, not without a token.
    let other = f.other_donor().to_owned();
    for extension in ["csv", "xlsx"] {
        let path = format!("/donors/{other}/statement.{extension}");
        let refused = get_as(web, &path, &donor()).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(!refused.body.contains("section,donor_id"), "{path}");
        assert_eq!(http(web, "GET", &path, &[], "").await.status, 303, "{path}");
        assert_eq!(get_as(web, &path, &staff()).await.status, 200, "{path}");
    }
    assert_eq!(
        get_as(web, "/donors/XM-DAC-999/statement.csv", &staff())
            .await
            .status,
        404
    );
    // The statement page links to both.
    let page = get_as(web, &format!("/donors/{OWN_DONOR}"), &donor()).await;
    assert!(page.body.contains("statement.csv") && page.body.contains("statement.xlsx"));

    f.running.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The browser.

/// The Chromium to drive: `FUNDTRAIL_CHROMIUM`, or `chromium` on the path. Without one the test
/// fails, as one without PostgreSQL does, unless skipping was asked for: a browser test that
/// passes without a browser proves nothing.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FUNDTRAIL_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("FUNDTRAIL_TEST_SKIP_BROWSER").is_some(),
            "no chromium on PATH: scripts/test installs it (ensure_chromium in \
             scripts/lib/chromium.sh: apt-get install chromium), or set FUNDTRAIL_CHROMIUM; \
             set FUNDTRAIL_TEST_SKIP_BROWSER=1 to skip the browser test on purpose"
        );
        eprintln!("SKIPPED on request (FUNDTRAIL_TEST_SKIP_BROWSER): no chromium");
    }
    found
}

/// Headless Chromium, killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    url: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(binary: &PathBuf) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stderr = child.stderr.take().unwrap();
        let (found, url) = std::sync::mpsc::channel();
        // Reads Chromium's log to the end, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    if let Some(found) = found.take() {
                        let _ = found.send(line[at..].trim().to_owned());
                    }
                } else if found.is_some() {
                    eprintln!("chromium: {line}");
                }
            }
        });
        let url = url
            .recv_timeout(Duration::from_mins(1))
            .expect("chromium prints its DevTools address within 60 s");
        Self {
            child,
            _profile: profile,
            url,
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page of the browser, driven over the `DevTools` protocol.
struct Tab {
    socket: Socket,
    session: String,
    next_id: u64,
}

impl Tab {
    async fn open(browser: &Browser) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async(browser.url.as_str())
            .await
            .unwrap();
        let mut tab = Self {
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = tab
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = tab
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        tab.session = attached["sessionId"].as_str().unwrap().to_owned();
        tab.call("Page.enable", json!({})).await;
        tab
    }

    /// Sends a command (to the page once attached) and waits for its answer.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        let answer = tokio::time::timeout(Duration::from_mins(1), async {
            while let Some(frame) = self.socket.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["id"] == json!(id) {
                    return value;
                }
            }
            panic!("the browser closed its DevTools connection");
        })
        .await
        .unwrap_or_else(|_| panic!("{method} had no answer within 60 s"));
        assert!(answer["error"].is_null(), "{method}: {}", answer["error"]);
        answer["result"].clone()
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits until the page at `path` has loaded.
    async fn arrive(&mut self, path: &str) {
        for _ in 0..300 {
            let state = self
                .eval("[location.pathname, document.readyState].join(' ')")
                .await;
            if state == json!(format!("{path} complete")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let at = self.eval("location.href").await;
        let text = self.text().await;
        panic!("the browser did not arrive at {path}; it is at {at}, showing:\n{text}");
    }

    async fn visit(&mut self, url: &str, path: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.arrive(path).await;
    }

    async fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in on the sign-in page, as a person would: pastes the token and submits.
    async fn sign_in(&mut self, base: &str, token: &str, lands: &str) {
        self.visit(&format!("{base}/sign-in"), "/sign-in").await;
        self.eval(&format!(
            "document.getElementById('token').value = {}; \
             document.querySelector('form[action=\"/sign-in\"]').submit(); true",
            json!(token)
        ))
        .await;
        self.arrive(lands).await;
    }

    /// Checks what every page must have for people using assistive technology, and keeps a
    /// screenshot of it.
    async fn check_and_keep(&mut self, name: &str) {
        let basics = self
            .eval(
                "({ lang: document.documentElement.lang, \
                    h1: document.querySelectorAll('h1').length, \
                    title: document.title, \
                    unlabelled: [...document.querySelectorAll('input, textarea, select')] \
                      .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length)).length, \
                    headless_tables: [...document.querySelectorAll('table')] \
                      .filter(t => !t.querySelector('th')).length })",
            )
            .await;
        assert_eq!(basics["lang"], json!("en"), "{name}: {basics}");
        assert_eq!(basics["h1"], json!(1), "{name}: one heading names the page");
        assert_eq!(basics["unlabelled"], json!(0), "{name}: {basics}");
        assert_eq!(basics["headless_tables"], json!(0), "{name}: {basics}");
        assert!(
            basics["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: {basics}"
        );
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// Where the screenshots are kept: `FUNDTRAIL_TEST_ARTEFACTS`, or the target directory's.
fn screenshots() -> PathBuf {
    std::env::var_os("FUNDTRAIL_TEST_ARTEFACTS")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from)
        .join("web-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_browser_shows_the_demo_figures_and_the_chart() {
    let Some(binary) = chromium() else { return };
    let f = Fixture::start().await;
    let base = format!("http://{}", f.web);
    let browser = Browser::launch(&binary);
    let mut tab = Tab::open(&browser).await;

    // Not signed in: the browser lands on the sign-in page.
    tab.visit(&format!("{base}/overview"), "/sign-in").await;
    tab.check_and_keep("sign-in").await;

    tab.sign_in(&base, &fundtrail_tests::token(&staff()), "/overview")
        .await;
    assert_eq!(
        tab.eval("document.cookie").await,
        json!(""),
        "the token's cookie is out of the page's scripts' reach"
    );
    let text = tab.text().await;
    for figure in [
        reporting(f.overview.pledged.as_ref()),
        reporting(f.overview.contributions.as_ref()),
        reporting(f.overview.disbursed.as_ref()),
    ] {
        assert!(
            text.contains(&figure),
            "{figure} missing from the rendered overview"
        );
    }
    assert!(
        text.contains(&format!("Figures as of position {}", f.head)),
        "{text}"
    );
    // The chart was laid out: as many bars as the figures, drawn to their values.
    let chart = tab
        .eval(
            "(() => { const svg = document.querySelector('svg.chart'); \
               const box = svg.getBoundingClientRect(); \
               const bars = [...svg.querySelectorAll('rect.bar')]; \
               return { width: box.width, height: box.height, bars: bars.length, \
                 drawn: bars.filter(b => b.getBBox().width > 0).length, \
                 widest: Math.max(...bars.map(b => b.getBBox().width)), \
                 values: bars.map(b => Number(b.dataset.minorUnits)) }; })()",
        )
        .await;
    assert!(chart["width"].as_f64().unwrap() > 300.0, "{chart}");
    assert!(chart["height"].as_f64().unwrap() > 50.0, "{chart}");
    assert_eq!(chart["bars"], json!(3 * f.countries.len()), "{chart}");
    let positive = chart["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v.as_i64().unwrap() > 0)
        .count();
    assert_eq!(chart["drawn"], json!(positive), "{chart}");
    assert!(chart["widest"].as_f64().unwrap() > 100.0, "{chart}");
    tab.check_and_keep("overview").await;

    tab.visit(&format!("{base}/countries"), "/countries").await;
    let text = tab.text().await;
    for country in &f.countries {
        assert!(
            text.contains(&country.country_name),
            "{}",
            country.country_name
        );
        assert!(text.contains(&reporting(country.disbursed.as_ref())));
    }
    tab.check_and_keep("countries").await;

    // Following the link of the country with the most projects.
    let busiest = f.countries.iter().max_by_key(|c| c.projects.len()).unwrap();
    let path = format!("/countries/{}", busiest.country);
    tab.eval(&format!(
        "document.querySelector('a[href=\"{path}\"]').click(); true"
    ))
    .await;
    tab.arrive(&path).await;
    let text = tab.text().await;
    for project in &busiest.projects {
        assert!(text.contains(&project.title), "{}", project.title);
    }
    assert!(
        text.contains(&reporting(busiest.undisbursed.as_ref())),
        "{text}"
    );
    tab.check_and_keep("country").await;

    tab.visit(&format!("{base}/donors"), "/donors").await;
    let text = tab.text().await;
    assert!(
        text.contains(HOSTILE_NAME),
        "the hostile name shows as text: {text}"
    );
    assert_eq!(
        tab.eval("document.querySelectorAll('script, b').length")
            .await,
        json!(0),
        "and never as markup"
    );
    tab.check_and_keep("donors").await;

    let own = format!("/donors/{OWN_DONOR}");
    tab.visit(&format!("{base}{own}"), &own).await;
    assert!(tab.text().await.contains("Statement of"));
    tab.check_and_keep("statement").await;

    // Signing out: the next page asks for a token again.
    tab.eval("document.querySelector('form.sign-out').submit(); true")
        .await;
    tab.arrive("/sign-in").await;
    tab.visit(&format!("{base}/overview"), "/sign-in").await;

    // The donor's system lands on its own statement and is refused the overview.
    tab.sign_in(&base, &fundtrail_tests::token(&donor()), &own)
        .await;
    assert!(tab.text().await.contains("Statement of"));
    tab.visit(&format!("{base}/overview"), "/overview").await;
    assert!(tab.text().await.contains("Not for this account"));
    tab.check_and_keep("refused").await;

    drop(tab);
    drop(browser);
    f.running.stop().await.unwrap();
}
