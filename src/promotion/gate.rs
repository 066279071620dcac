//! The gate: may this deployment go to a gated environment? A pure function of the deployment wanted
//! there, what is live upstream with its release records, the soak time and now.

use std::time::{Duration, SystemTime};

use crate::backend::releases::{self, ReleaseOperation, ReleaseRecord};
use crate::backend::{AppState, ObservedApp};
use crate::fingerprint::Fingerprint;

/// What the gate reads of the upstream environment for one app.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    /// The app as listed upstream; `None` when it is not there.
    pub app: Option<&'a ObservedApp>,
    /// Its release records upstream, oldest first.
    pub records: &'a [ReleaseRecord],
    /// False when the upstream's records could not be read: nothing upstream is then known to have
    /// passed its smoke check.
    pub records_read: bool,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Verdict {
    /// The same deployment is live upstream as `version`, passed its smoke check there, and has soaked
    /// (live since `since`, RFC 3339).
    Ready { version: u32, since: String },
    /// Held back, and why.
    Waiting { wait: Wait },
}

/// Why a deployment is not promoted yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Wait {
    /// Nothing of this app is live upstream.
    NotDeployed,
    /// Another deployment is live upstream as `version`: `parts` names what differs (`image`,
    /// `secrets`, `runtime`, `code`, `settings`; `tag` when the upstream's is not a modalplan tag).
    Differs {
        version: u32,
        parts: Vec<String>,
        /// Since when that one is live upstream, when a release record says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<String>,
    },
    /// This deployment failed its smoke check upstream as `version`, at `at`.
    SmokeFailed {
        version: u32,
        at: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// This deployment is live upstream as `version`, but no release record says modalplan deployed
    /// it there, so whether it passed its smoke check is not known.
    Unrecorded { version: u32 },
    /// Live upstream as `version` since `since`, smoke-checked; it has soaked at `until`.
    Soaking {
        version: u32,
        since: String,
        until: String,
    },
}

/// The verdict for a deployment with fingerprint `desired` (its tag).
pub fn check(
    desired: &str,
    upstream: Upstream<'_>,
    soak: Option<Duration>,
    now: SystemTime,
) -> Verdict {
    let waiting = |wait| Verdict::Waiting { wait };
    let records = if upstream.records_read {
        upstream.records
    } else {
        &[]
    };
    let live = upstream
        .app
        .filter(|app| app.state == AppState::Deployed)
        .and_then(|app| app.live.as_ref());
    let Some(live) = live else {
        return waiting(failed_deploy(records, desired).unwrap_or(Wait::NotDeployed));
    };
    let live_tag = live.tag.as_deref().unwrap_or("");
    if live_tag != desired {
        if let Some(failed) = failed_deploy(records, desired) {
            return waiting(failed);
        }
        let since = releases::live_record(records, live.version, live_tag)
            .0
            .map(|record| record.at.clone());
        return waiting(Wait::Differs {
            version: live.version,
            parts: differing_parts(desired, live_tag),
            since,
        });
    }
    // Live upstream: its deploy's smoke result, and since when it is live.
    if let Some(failed) = failed_deploy(records, desired) {
        return waiting(failed);
    }
    let (live_record, _) = releases::live_record(records, live.version, live_tag);
    let deployed_by_modalplan = records.iter().any(|record| {
        record.operation == ReleaseOperation::Deploy && record.fingerprint == desired
    });
    let since = live_record
        .filter(|_| deployed_by_modalplan)
        .and_then(|record| {
            Some((
                record.at.clone(),
                humantime::parse_rfc3339(&record.at).ok()?,
            ))
        });
    let Some((since, since_time)) = since else {
        return waiting(Wait::Unrecorded {
            version: live.version,
        });
    };
    if let Some(soak) = soak {
        let until = since_time + soak;
        if now < until {
            return waiting(Wait::Soaking {
                version: live.version,
                since,
                until: super::clock::rfc3339(until),
            });
        }
    }
    Verdict::Ready {
        version: live.version,
        since,
    }
}

/// The newest deploy of `desired` upstream, when it failed its smoke check (and no later deploy of it
/// passed).
fn failed_deploy(records: &[ReleaseRecord], desired: &str) -> Option<Wait> {
    let last = records.iter().rev().find(|record| {
        record.operation == ReleaseOperation::Deploy && record.fingerprint == desired
    })?;
    last.failed_smoke().then(|| Wait::SmokeFailed {
        version: last.version,
        at: last.at.clone(),
        message: last.smoke.as_ref().and_then(|smoke| smoke.message.clone()),
    })
}

/// The parts of two tags that differ, by name.
fn differing_parts(desired: &str, live: &str) -> Vec<String> {
    let (Ok(desired), Ok(live)) = (desired.parse::<Fingerprint>(), live.parse::<Fingerprint>())
    else {
        return vec!["tag".to_owned()];
    };
    let changes = desired.changes_from(&live);
    // The settings part hashes the image reference too: named only when the image itself is the same.
    [
        ("image", changes.image),
        ("secrets", changes.secrets),
        ("runtime", changes.runtime),
        ("code", changes.code),
        ("settings", changes.settings && !changes.image),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(part, _)| part.to_owned())
    .collect()
}

#[cfg(test)]
mod tests;
