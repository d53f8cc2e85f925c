//! IATI 2.03 exports: an activity file per project and the fund's organisation file, built
//! from the event history alone (see [`history`] for how events become transactions).

pub mod activity;
pub mod history;
pub mod organisation;
pub mod xml;

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat};

pub use history::{Activity, Fund};

/// Who publishes: the fund's IATI organisation identifier, name and organisation type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub identifier: String,
    pub name: String,
    /// IATI `OrganisationType` code; 40 is multilateral.
    pub org_type: String,
}

fn datetime(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Writes `activity-<project>.xml` for each project and `organisation.xml` into `dir`;
/// returns the files written.
pub fn write(
    fund: &Fund,
    publisher: &Publisher,
    dir: &Path,
    generated_micros: i64,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let generated = datetime(generated_micros);
    let mut files = Vec::new();
    for a in fund.activities.values() {
        let path = dir.join(format!("activity-{}.xml", a.project_id));
        std::fs::write(
            &path,
            activity::activity_file(fund, a, publisher, &generated),
        )?;
        files.push(path);
    }
    let path = dir.join("organisation.xml");
    std::fs::write(
        &path,
        organisation::organisation_file(fund, publisher, &generated),
    )?;
    files.push(path);
    Ok(files)
}
