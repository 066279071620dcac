//! What differs between what is live and what the manifest wants: the kind and reasons of a processor's
//! action, and the field changes the plan shows.

use crate::backend::releases::{self, ReleaseRecord, ReleasedDeployment};
use crate::backend::{AppState, ObservedApp};
use crate::code::CodeSnapshot;
use crate::fingerprint::{Fingerprint, ForeignTag};
use crate::manifest::valid::Deployment;

use super::model::{ActionKind, Desired, FieldChange, Live, Reason, RuntimeSpec, SmokeSpec};

pub(super) fn desired(
    deployment: &Deployment,
    present_optional: &[String],
    fingerprint: &Fingerprint,
    module: &str,
) -> Desired {
    let runtime = &deployment.runtime;
    Desired {
        tag: fingerprint.to_string(),
        image: deployment.image.reference(),
        secrets: deployment
            .secrets_required
            .iter()
            .chain(present_optional)
            .cloned()
            .collect(),
        runtime: RuntimeSpec {
            cpu: runtime.cpu,
            memory_mb: runtime.memory_mb,
            gpu: runtime.gpu.clone(),
            timeout_s: runtime.timeout_s,
        },
        module: module.to_owned(),
        smoke: deployment.smoke.as_ref().map(|smoke| SmokeSpec {
            function: smoke.function.clone(),
            payload: smoke.payload.clone(),
            timeout_s: smoke.timeout.as_secs(),
        }),
    }
}

/// The kind and reasons of a processor's action from what is live, and the live side as the plan shows
/// it (with its release record when one matches its tag).
pub(super) fn compare(
    app: Option<&ObservedApp>,
    records: &[ReleaseRecord],
    fingerprint: &Fingerprint,
    desired: &Desired,
    reference: &str,
    code: &CodeSnapshot,
) -> Compared {
    let Some(app) = app else {
        return Compared::new(ActionKind::Create, Vec::new(), None);
    };
    match app.state {
        AppState::Deployed => {}
        AppState::Stopped => return Compared::new(ActionKind::Create, vec![Reason::Stopped], None),
        // Ephemeral, initializing, stopping: nothing is deployed under the name; a deploy creates it.
        AppState::Other(_) => return Compared::new(ActionKind::Create, Vec::new(), None),
    }
    let Some(live) = &app.live else {
        // Listed as deployed without a readable history: never call that "no change".
        return Compared::new(ActionKind::Update, vec![Reason::Untagged], None);
    };
    let mut before = Live {
        version: live.version,
        tag: live.tag.clone(),
        release: None,
    };
    let Some(tag) = &live.tag else {
        return Compared::new(ActionKind::Update, vec![Reason::Untagged], Some(before));
    };
    let deployed = match tag.parse::<Fingerprint>() {
        Ok(deployed) => deployed,
        Err(ForeignTag::OlderFormat { .. }) => {
            let reasons = vec![Reason::OlderFormat { tag: tag.clone() }];
            return Compared::new(ActionKind::Update, reasons, Some(before));
        }
        Err(ForeignTag::Other(_)) => {
            let reasons = vec![Reason::ForeignTag { tag: tag.clone() }];
            return Compared::new(ActionKind::Update, reasons, Some(before));
        }
    };
    let (record, mismatch) = releases::live_record(records, live.version, tag);
    let released = record.and_then(|record| record.deployment.as_ref());
    let changes = fingerprint.changes_from(&deployed);
    let mut reasons = Vec::new();
    if changes.image {
        reasons.push(Reason::Image {
            from: Some(released.map_or_else(
                || format!("sha256:{}", deployed.image),
                |released| digest_of(&released.image).to_owned(),
            )),
            to: digest_of(&desired.image).to_owned(),
        });
    }
    if changes.secrets {
        let (added, removed) = released.map_or_else(Default::default, |released| {
            (
                missing_from(&desired.secrets, &released.secrets),
                missing_from(&released.secrets, &desired.secrets),
            )
        });
        reasons.push(Reason::Secrets {
            now: desired.secrets.clone(),
            added,
            removed,
        });
    }
    if changes.runtime {
        let changes = released.map_or_else(Vec::new, |released| {
            runtime_changes(&released.runtime, &desired.runtime)
        });
        reasons.push(Reason::Runtime { changes });
    }
    if changes.code {
        let files = released.map(|released| {
            code.changes_from(&CodeSnapshot {
                files: released.code.clone(),
            })
        });
        reasons.push(Reason::Code { files });
    }
    // The settings part hashes the whole image reference too, so it moves with every image change.
    if changes.settings && !changes.image {
        let changes = released.map_or_else(Vec::new, |released| {
            settings_changes(released, reference, desired)
        });
        reasons.push(Reason::Settings { changes });
    }
    before.release = record.cloned();
    let kind = if reasons.is_empty() {
        ActionKind::NoOp
    } else {
        ActionKind::Update
    };
    Compared {
        kind,
        reasons,
        before: Some(before),
        mismatch: mismatch.cloned(),
    }
}

/// What [`compare`] found.
/// What [`compare`] found.
pub(super) struct Compared {
    pub kind: ActionKind,
    pub reasons: Vec<Reason>,
    pub before: Option<Live>,
    /// A record of the live version whose fingerprint is not the live tag: ignored, warned about.
    pub mismatch: Option<ReleaseRecord>,
}

impl Compared {
    fn new(kind: ActionKind, reasons: Vec<Reason>, before: Option<Live>) -> Self {
        Self {
            kind,
            reasons,
            before,
            mismatch: None,
        }
    }
}

/// `sha256:...` of an image reference.
fn digest_of(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, digest)| digest)
}

fn missing_from(these: &[String], others: &[String]) -> Vec<String> {
    these
        .iter()
        .filter(|name| !others.contains(name))
        .cloned()
        .collect()
}

fn runtime_changes(before: &RuntimeSpec, after: &RuntimeSpec) -> Vec<FieldChange> {
    let fields = [
        (
            "cpu",
            before.cpu.map(|cpu| cpu.to_string()),
            after.cpu.map(|cpu| cpu.to_string()),
        ),
        (
            "memory_mb",
            before.memory_mb.map(|memory| memory.to_string()),
            after.memory_mb.map(|memory| memory.to_string()),
        ),
        ("gpu", before.gpu.clone(), after.gpu.clone()),
        (
            "timeout_s",
            before.timeout_s.map(|timeout| timeout.to_string()),
            after.timeout_s.map(|timeout| timeout.to_string()),
        ),
    ];
    changed(fields)
}

/// The fields whose value differs, in order.
fn changed<const N: usize>(
    fields: [(&str, Option<String>, Option<String>); N],
) -> Vec<FieldChange> {
    fields
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| FieldChange {
            field: field.to_owned(),
            from,
            to,
        })
        .collect()
}

fn settings_changes(
    released: &ReleasedDeployment,
    reference: &str,
    desired: &Desired,
) -> Vec<FieldChange> {
    let repository = |image: &str| {
        image
            .rsplit_once('@')
            .map_or(image, |(name, _)| name)
            .to_owned()
    };
    let fields = [
        (
            "ref",
            released.reference.clone(),
            Some(reference.to_owned()),
        ),
        (
            "image repository",
            Some(repository(&released.image)),
            Some(repository(&desired.image)),
        ),
        (
            "module",
            Some(released.module.clone()),
            Some(desired.module.clone()),
        ),
    ];
    changed(fields)
}
