//! One app's releases, newest first: Modal's deployment history joined with the release records
//! modalplan keeps on Modal (`modalplan history`).

use crate::backend::DeploymentRecord;
use crate::backend::releases::{ReleaseOperation, ReleaseRecord};
use crate::fingerprint::{Fingerprint, ForeignTag};

/// One release: a version of Modal's history and what modalplan recorded of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Release {
    pub version: u32,
    /// The version now live.
    pub live: bool,
    pub tag: Option<String>,
    /// When, as Modal's history says.
    pub deployed_at: Option<String>,
    /// Who: the record's, else Modal's.
    pub by: Option<String>,
    pub commit: Option<String>,
    /// `registry/repository@sha256:...` from the record, else the 12 digits the tag names.
    pub image: Option<String>,
    /// `passed` or `failed`, when a smoke check ran.
    pub smoke: Option<&'static str>,
    /// What else is known: `rollback to v3`, `rolled back`, `stopped`, `deployed outside modalplan`, ...
    pub notes: Vec<String>,
    /// The release record of this version, when there is one.
    pub record: Option<ReleaseRecord>,
}

/// The history as a document, for `--format json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct History {
    pub environment: String,
    pub app: String,
    /// Newest first.
    pub releases: Vec<Release>,
}

/// Modal's versions (any order) joined with the app's records (oldest first), newest first.
pub fn join(
    versions: &[DeploymentRecord],
    records: &[ReleaseRecord],
    deployed: bool,
) -> Vec<Release> {
    let newest = versions.iter().map(|version| version.version).max();
    let mut releases: Vec<Release> = versions
        .iter()
        .map(|entry| {
            let record = records
                .iter()
                .rev()
                .find(|record| {
                    record.version == entry.version && record.operation != ReleaseOperation::Stop
                })
                .filter(|record| Some(record.fingerprint.as_str()) == entry.tag.as_deref());
            let mut notes = Vec::new();
            match record {
                Some(record) if record.operation == ReleaseOperation::Rollback => {
                    if let Some(restored) = record.restored {
                        notes.push(format!("rollback to v{restored}"));
                    }
                }
                Some(record) => {
                    if let Some(why) = &record.promotion_skipped {
                        notes.push(format!("promotion check skipped: {why}"));
                    }
                }
                None => notes.push(match entry.tag.as_deref().map(str::parse::<Fingerprint>) {
                    Some(Ok(_)) => "no release record".to_owned(),
                    Some(Err(ForeignTag::OlderFormat { .. })) => {
                        "deployed by an older modalplan".to_owned()
                    }
                    Some(Err(ForeignTag::Other(_))) | None => {
                        "deployed outside modalplan".to_owned()
                    }
                }),
            }
            if records.iter().any(|later| {
                later.operation == ReleaseOperation::Rollback
                    && later.rollback_of == Some(entry.version)
            }) {
                notes.push("rolled back".to_owned());
            }
            if records.iter().any(|later| {
                later.operation == ReleaseOperation::Stop && later.version == entry.version
            }) {
                notes.push("stopped".to_owned());
            }
            let image = record
                .and_then(|record| record.deployment.as_ref())
                .map(|deployment| deployment.image.clone())
                .or_else(|| {
                    let tag = entry.tag.as_deref()?.parse::<Fingerprint>().ok()?;
                    Some(format!("sha256:{}", tag.image))
                });
            Release {
                version: entry.version,
                live: deployed && Some(entry.version) == newest,
                tag: entry.tag.clone(),
                deployed_at: entry.deployed_at.clone(),
                by: record
                    .map(|record| record.by.clone())
                    .or_else(|| entry.deployed_by.clone()),
                commit: record.and_then(|record| record.commit.clone()),
                image,
                smoke: record
                    .and_then(|record| record.smoke.as_ref())
                    .map(|smoke| if smoke.passed { "passed" } else { "failed" }),
                notes,
                record: record.cloned(),
            }
        })
        .collect();
    releases.sort_by_key(|release| std::cmp::Reverse(release.version));
    releases
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = (u32, bool, Option<&'a str>, Vec<&'a str>, Option<&'a str>);
    use crate::backend::releases::{RECORD_FORMAT, SmokeRecord};

    fn version(version: u32, tag: Option<&str>) -> DeploymentRecord {
        DeploymentRecord {
            version,
            tag: tag.map(str::to_owned),
            deployed_at: Some(format!("2026-12-02 17:0{version}:00+00:00")),
            deployed_by: Some("modal-user".into()),
        }
    }

    fn record(version: u32, tag: &str, operation: ReleaseOperation) -> ReleaseRecord {
        ReleaseRecord {
            format: RECORD_FORMAT,
            app: "a".into(),
            version,
            fingerprint: tag.into(),
            operation,
            deployment: None,
            manifest: None,
            commit: Some("0123abc".into()),
            dirty: Some(false),
            by: "ci".into(),
            at: "2026-12-02T17:00:00Z".into(),
            smoke: None,
            restored: None,
            rollback_of: None,
            promotion_skipped: None,
        }
    }

    #[test]
    fn versions_are_joined_with_their_records_newest_first() {
        let good = "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd";
        let bad = "mp2-222222222222-aaaaaa-bbbbbb-cccccc-dddddd";
        let versions = [
            version(1, None),
            version(2, Some("mp1-111111111111-aaaaaa-bbbbbb-cccccc")),
            version(3, Some(good)),
            version(4, Some(bad)),
            version(5, Some(good)),
        ];
        let mut failed = record(4, bad, ReleaseOperation::Deploy);
        failed.smoke = Some(SmokeRecord {
            passed: false,
            duration_ms: 10,
            message: Some("boom".into()),
        });
        let rollback = ReleaseRecord {
            restored: Some(3),
            rollback_of: Some(4),
            promotion_skipped: None,
            ..record(5, good, ReleaseOperation::Rollback)
        };
        let records = [record(3, good, ReleaseOperation::Deploy), failed, rollback];
        let releases = join(&versions, &records, true);
        let rows: Vec<Row> = releases
            .iter()
            .map(|release| {
                (
                    release.version,
                    release.live,
                    release.smoke,
                    release.notes.iter().map(String::as_str).collect(),
                    release.by.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (5, true, None, vec!["rollback to v3"], Some("ci")),
                (4, false, Some("failed"), vec!["rolled back"], Some("ci")),
                (3, false, None, vec![], Some("ci")),
                (
                    2,
                    false,
                    None,
                    vec!["deployed by an older modalplan"],
                    Some("modal-user")
                ),
                (
                    1,
                    false,
                    None,
                    vec!["deployed outside modalplan"],
                    Some("modal-user")
                ),
            ]
        );
        assert_eq!(releases[0].image.as_deref(), Some("sha256:111111111111"));
        assert_eq!(releases[4].image, None);
    }
}
