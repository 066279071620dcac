//! Release records: what modalplan deployed, kept on Modal itself, like Helm's release records in the
//! cluster (no state bucket, no local state).
//!
//! One Modal Dict per environment, [`RELEASES_DICT`], beside the apply locks. Its key is the app name; its
//! value is the JSON text of that app's last [`KEEP`] records, oldest first. A record is written after each
//! deploy, rollback and stop modalplan makes. It holds no secret value: the names of the secrets attached,
//! never what they hold.

use std::collections::BTreeMap;

use crate::code::CodeFile;

/// Runtime settings exported to the deploy.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeSpec {
    pub cpu: Option<f64>,
    pub memory_mb: Option<u32>,
    pub gpu: Option<String>,
    pub timeout_s: Option<u32>,
}

/// The Dict of release records in each environment.
pub const RELEASES_DICT: &str = "modalplan-releases";

/// Records kept per app: the newest ones. At about 1 KiB a record, 100 apps cost about 1 MiB per
/// environment, read in one stream per plan.
pub const KEEP: usize = 10;

/// Version of a record's JSON form.
pub const RECORD_FORMAT: u32 = 1;

/// One thing modalplan did to one app.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReleaseRecord {
    pub format: u32,
    pub app: String,
    /// The Modal version this made live (for a stop: the version that was live).
    pub version: u32,
    /// The deploy tag of that version.
    pub fingerprint: String,
    pub operation: ReleaseOperation,
    /// What that version runs; `None` for a stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ReleasedDeployment>,
    /// The manifest's path, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The git commit of the manifest's repository, and whether its tree had uncommitted changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
    /// Who ran modalplan (`$USER`, else `$GITHUB_ACTOR`).
    pub by: String,
    /// When, RFC 3339 UTC (`2026-12-02T17:40:00Z`).
    pub at: String,
    /// The smoke check of this version, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeRecord>,
    /// For a rollback: the version whose content it made live again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<u32>,
    /// For a rollback: the version it replaced (the failed one, or the one a person rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u32>,
    /// For a deploy that `--skip-promotion-check` let through: the upstream it was not promoted from and
    /// why (`staging: not deployed to staging`). Absent in records of every other deploy, and in records
    /// written before promotion existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_skipped: Option<String>,
}

/// What a record is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOperation {
    Deploy,
    Rollback,
    Stop,
}

/// The resolved deployment of a record: what the fingerprint was computed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReleasedDeployment {
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// `registry/repository@sha256:...`.
    pub image: String,
    /// The secrets attached (names only).
    pub secrets: Vec<String>,
    pub runtime: RuntimeSpec,
    pub module: String,
    /// Each code file's path and sha256.
    pub code: Vec<CodeFile>,
}

/// A smoke check's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmokeRecord {
    pub passed: bool,
    pub duration_ms: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ReleaseRecord {
    /// True when this deployment failed its smoke check.
    pub fn failed_smoke(&self) -> bool {
        self.smoke.as_ref().is_some_and(|smoke| !smoke.passed)
    }
}

/// The records of one environment, per app, oldest first.
pub type Releases = BTreeMap<String, Vec<ReleaseRecord>>;

/// How the records of an environment were read.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReleasesState {
    /// The request did not ask for them.
    #[default]
    NotRead,
    Read {
        releases: Releases,
    },
    /// Reading failed: the plan falls back to the tags and says so.
    Unreadable {
        reason: String,
    },
}

impl ReleasesState {
    /// The records of `app`, oldest first (none when not read).
    pub fn of(&self, app: &str) -> &[ReleaseRecord] {
        match self {
            ReleasesState::Read { releases } => releases.get(app).map_or(&[], Vec::as_slice),
            ReleasesState::NotRead | ReleasesState::Unreadable { .. } => &[],
        }
    }
}

/// The Dict value of an app after `record` is added: the newest [`KEEP`] records, oldest first.
pub fn appended(mut records: Vec<ReleaseRecord>, record: ReleaseRecord) -> Vec<ReleaseRecord> {
    records.push(record);
    let excess = records.len().saturating_sub(KEEP);
    records.drain(..excess);
    records
}

/// The records of one Dict value (the JSON text of a list); a value modalplan did not write is an error.
pub fn parse_value(app: &str, text: &str) -> Result<Vec<ReleaseRecord>, String> {
    serde_json::from_str(text)
        .map_err(|error| format!("the release records of `{app}` are not modalplan's: {error}"))
}

/// What the plan takes as the live deployment's record: the newest record of the live version whose
/// fingerprint is the live tag, else the newest record of any version with that fingerprint (the same
/// deployment, made live again by a rollback outside modalplan). A record of the live version with
/// another fingerprint is returned as the mismatch, to be warned about and ignored.
pub fn live_record<'a>(
    records: &'a [ReleaseRecord],
    version: u32,
    tag: &str,
) -> (Option<&'a ReleaseRecord>, Option<&'a ReleaseRecord>) {
    // A record that names what the deployment runs: a rollback of a version modalplan had no record of
    // carries none, and the deploy record of the same fingerprint then says what runs.
    let usable = |record: &&ReleaseRecord| record.fingerprint == tag && record.deployment.is_some();
    let exact = records
        .iter()
        .rev()
        .filter(|record| record.version == version)
        .find(usable);
    let mismatch = records
        .iter()
        .rev()
        .find(|record| record.version == version && record.fingerprint != tag);
    let chosen = exact.or_else(|| records.iter().rev().find(usable));
    (chosen, if chosen.is_some() { None } else { mismatch })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn record(version: u32, fingerprint: &str, operation: ReleaseOperation) -> ReleaseRecord {
        ReleaseRecord {
            format: RECORD_FORMAT,
            app: "a".into(),
            version,
            fingerprint: fingerprint.into(),
            operation,
            deployment: (operation != ReleaseOperation::Stop).then(|| ReleasedDeployment {
                reference: Some("llm/a@1".into()),
                image: "ghcr.io/acme/a@sha256:00".into(),
                secrets: vec![],
                runtime: RuntimeSpec::default(),
                module: "modal_app".into(),
                code: vec![],
            }),
            manifest: None,
            commit: None,
            dirty: None,
            by: "ci".into(),
            at: "2026-12-02T17:00:00Z".into(),
            smoke: None,
            restored: None,
            rollback_of: None,
            promotion_skipped: None,
        }
    }

    #[test]
    fn only_the_newest_records_are_kept() {
        let mut records = Vec::new();
        for version in 1..=12 {
            records = appended(records, record(version, "t", ReleaseOperation::Deploy));
        }
        let versions: Vec<u32> = records.iter().map(|record| record.version).collect();
        assert_eq!(versions, (3..=12).collect::<Vec<_>>());
    }

    #[test]
    fn the_live_record_matches_version_and_tag() {
        let records = vec![
            record(1, "t1", ReleaseOperation::Deploy),
            record(2, "t2", ReleaseOperation::Deploy),
            record(3, "t1", ReleaseOperation::Rollback),
        ];
        assert_eq!(live_record(&records, 3, "t1").0.unwrap().version, 3);
        assert_eq!(live_record(&records, 2, "t2").0.unwrap().version, 2);
        // v4 made by hand with t1's content (a rollback outside modalplan): the same deployment.
        assert_eq!(live_record(&records, 4, "t1").0.unwrap().version, 3);
        // The live version's record names another tag: ignored, and returned as the mismatch.
        let (chosen, mismatch) = live_record(&records, 2, "t9");
        assert_eq!(chosen, None);
        assert_eq!(mismatch.unwrap().version, 2);
        assert_eq!(live_record(&records, 7, "t9"), (None, None));
    }

    #[test]
    fn a_value_modalplan_did_not_write_is_named() {
        assert!(
            parse_value("a", "{\"x\": 1}")
                .unwrap_err()
                .starts_with("the release records of `a` are not modalplan's: ")
        );
        let text = serde_json::to_string(&vec![record(1, "t", ReleaseOperation::Deploy)]).unwrap();
        assert_eq!(parse_value("a", &text).unwrap().len(), 1);
    }
}
