//! A plan saved with `modalplan plan --out`: written with an integrity hash, read back, and refused when
//! edited by hand or stale.
//!
//! The file is the plan's JSON plus `integrity`: `sha256:` of the plan's canonical content (the compact
//! JSON of the [`Plan`] as this modalplan reads it). A file whose content no longer hashes to it was
//! changed after `modalplan plan` wrote it, and is refused: a reviewed plan is applied exactly or not at all.
//!
//! A saved plan is applied exactly as it was reviewed, so it must still describe Modal: the manifest it
//! was made from is unchanged, every app it covers has the live deployment it saw (same version and
//! tag; absent when it was absent), and every secret a deploy of it attaches is still in its environment.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use crate::render::json::{INTEGRITY_KEY, integrity};

use crate::backend::{AppState, BackendError, ModalBackend, ObserveRequest};
use crate::codes::Code;
use crate::plan::model::PLAN_FORMAT_VERSION;
use crate::plan::{ActionKind, Plan};

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a modalplan plan: {reason}")]
    Format { path: String, reason: String },
    #[error(
        "{path} was changed after `modalplan plan` wrote it: its content does not match its integrity hash ({reason}); plan again"
    )]
    Integrity { path: String, reason: String },
    #[error("{path} is larger than {MAX_PLAN_FILE_BYTES} bytes: it is not a plan modalplan wrote")]
    TooLarge { path: String },
    #[error(
        "{path} has plan format {found}; this modalplan reads format {PLAN_FORMAT_VERSION}: plan again with this version"
    )]
    Version { path: String, found: u32 },
    #[error(
        "the plan is stale: the manifest changed since it was made ({planned} then, {now} now); plan again"
    )]
    ManifestChanged { planned: String, now: String },
    #[error("the plan is stale: the code `modal deploy` ships changed since it was made ({}); plan again", .changes)]
    CodeChanged { changes: String },
    #[error("the plan is stale: Modal changed since it was made; plan again\n{}", .changes.join("\n"))]
    ModalChanged {
        /// One line per app that moved (`main/app: v2 tagged … when planned, v3 tagged … now`), then one
        /// per secret gone (``main/app: needs secret `S`, which is no longer in environment `main` ``).
        changes: Vec<String>,
    },
    #[error("could not read Modal to check the plan is current: {0}")]
    Backend(BackendError),
}

impl SavedPlanError {
    pub fn code(&self) -> Code {
        match self {
            SavedPlanError::Read { .. }
            | SavedPlanError::Format { .. }
            | SavedPlanError::Integrity { .. }
            | SavedPlanError::TooLarge { .. }
            | SavedPlanError::Version { .. } => Code::ErrPlanFile,
            SavedPlanError::ManifestChanged { .. }
            | SavedPlanError::CodeChanged { .. }
            | SavedPlanError::ModalChanged { .. } => Code::ErrStalePlan,
            SavedPlanError::Backend(error) => error.code(),
        }
    }
}

/// The largest plan file read: a plan of thousands of actions is a few megabytes.
pub const MAX_PLAN_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Writes a plan file. When the write fails (a full disk) a partial regular file is removed, so no
/// half-written plan is left to be applied.
pub fn save(path: &Path, plan: &Plan) -> std::io::Result<()> {
    let result = std::fs::write(path, crate::render::json(plan));
    if result.is_err() && std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file()) {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Reads a plan file.
pub fn load(path: &Path) -> Result<Plan, SavedPlanError> {
    let shown = path.display().to_string();
    let read_error = |error: std::io::Error| SavedPlanError::Read {
        path: shown.clone(),
        reason: error.to_string(),
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PLAN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PLAN_FILE_BYTES {
        return Err(SavedPlanError::TooLarge { path: shown });
    }
    parse(&shown, &bytes)
}

/// Reads a plan file's content; `shown` names it in errors.
pub fn parse(shown: &str, bytes: &[u8]) -> Result<Plan, SavedPlanError> {
    let shown = shown.to_owned();
    let mut document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| SavedPlanError::Format {
            path: shown.clone(),
            reason: error.to_string(),
        })?;
    match document
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(found) if found != u64::from(PLAN_FORMAT_VERSION) => {
            return Err(SavedPlanError::Version {
                path: shown,
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        _ => {}
    }
    let recorded = match &mut document {
        serde_json::Value::Object(fields) => fields.shift_remove(INTEGRITY_KEY),
        _ => None,
    };
    let plan: Plan = serde_json::from_value(document).map_err(|error| SavedPlanError::Format {
        path: shown.clone(),
        reason: error.to_string(),
    })?;
    let recorded = match recorded {
        Some(serde_json::Value::String(recorded)) => recorded,
        Some(_) => {
            return Err(SavedPlanError::Integrity {
                path: shown,
                reason: format!("`{INTEGRITY_KEY}` is not a string"),
            });
        }
        None => {
            return Err(SavedPlanError::Integrity {
                path: shown,
                reason: format!("it has no `{INTEGRITY_KEY}`"),
            });
        }
    };
    let actual = integrity(&plan);
    if recorded != actual {
        return Err(SavedPlanError::Integrity {
            path: shown,
            reason: format!("recorded {recorded}, content {actual}"),
        });
    }
    Ok(plan)
}

/// Refuses the plan when the manifest's hash differs from the one it was made from, when any app it
/// covers has another live deployment now, or when a secret a planned deploy attaches is no longer in its
/// environment (the deploy would fail on it). Reads Modal once, for every app of the plan.
pub async fn check_current(
    plan: &Plan,
    manifest_sha256: &str,
    code: &crate::code::CodeSnapshot,
    backend: &dyn ModalBackend,
) -> Result<(), SavedPlanError> {
    if plan.manifest.sha256 != manifest_sha256 {
        return Err(SavedPlanError::ManifestChanged {
            planned: plan.manifest.sha256.clone(),
            now: manifest_sha256.to_owned(),
        });
    }
    let code_changes = code.changes_from(&plan.code);
    if !code_changes.is_empty() {
        let reason = crate::plan::model::Reason::Code {
            files: Some(code_changes),
        };
        return Err(SavedPlanError::CodeChanged {
            changes: crate::render::words::reason(&reason),
        });
    }
    let mut environments: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Orphans the plan only shows are not checked below, so their histories are not read.
    for action in plan
        .actions
        .iter()
        .filter(|action| action.kind != ActionKind::Orphan)
    {
        environments
            .entry(action.environment.clone())
            .or_default()
            .insert(action.app_name.clone());
    }
    if environments.is_empty() {
        return Ok(());
    }
    let observed = backend
        .observe(&ObserveRequest {
            releases: false,
            environments,
            locks: false,
            orphans: None,
        })
        .await
        .map_err(SavedPlanError::Backend)?;
    let mut changes: Vec<String> = plan
        .actions
        .iter()
        // Orphans left alone are not checked: apply does nothing to them. An orphan to stop is checked
        // like any change, unless the plan has no live deployment for it (a plan of a modalplan that did
        // not read orphans' histories): that one is only re-checked right before it is stopped.
        .filter(|action| match action.kind {
            ActionKind::Orphan => false,
            ActionKind::Stop => action.before.is_some(),
            _ => true,
        })
        .filter_map(|action| {
            let live = observed
                .environments
                .get(&action.environment)
                .and_then(|environment| environment.apps.get(&action.app_name))
                .filter(|app| app.state == AppState::Deployed)
                .and_then(|app| app.live.as_ref());
            (!crate::plan::model::Live::matches(action.before.as_ref(), live)).then(|| {
                format!(
                    "  {}/{}: {} when planned, {} now",
                    action.environment,
                    action.app_name,
                    crate::plan::words::planned_deployment(action.before.as_ref()),
                    crate::plan::words::live_deployment(live)
                )
            })
        })
        .collect();
    for action in &plan.actions {
        if !matches!(action.kind, ActionKind::Create | ActionKind::Update) {
            continue;
        }
        let Some(desired) = &action.after else {
            continue;
        };
        let present = observed
            .environments
            .get(&action.environment)
            .map(|environment| &environment.secrets);
        for secret in &desired.secrets {
            if !present.is_some_and(|present| present.contains(secret)) {
                changes.push(format!(
                    "  {}/{}: needs secret `{secret}`, which is no longer in environment `{}`",
                    action.environment, action.app_name, action.environment
                ));
            }
        }
    }
    if changes.is_empty() {
        Ok(())
    } else {
        Err(SavedPlanError::ModalChanged { changes })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::{PlanOptions, fixtures, plan};

    fn a_plan() -> Plan {
        let manifest = fixtures::manifest();
        let observed = fixtures::observed(&manifest);
        let options = PlanOptions::select(&manifest, &[], &[]).unwrap();
        plan(&manifest, &observed, &options)
    }

    #[test]
    fn a_written_plan_reads_back_the_same() {
        let plan = a_plan();
        let text = crate::render::json(&plan);
        assert_eq!(parse("plan.json", text.as_bytes()), Ok(plan));
    }

    #[test]
    fn a_plan_edited_by_hand_is_refused() {
        let plan = a_plan();
        let text = crate::render::json(&plan);
        let edited = text.replacen("\"kind\": \"update\"", "\"kind\": \"no_op\"", 1);
        assert_ne!(edited, text);
        let error = parse("plan.json", edited.as_bytes()).unwrap_err();
        assert_eq!(error.code(), Code::ErrPlanFile);
        let message = error.to_string();
        assert!(
            message.starts_with(
                "plan.json was changed after `modalplan plan` wrote it: its content does not match its integrity hash (recorded sha256:"
            ),
            "{message}"
        );
        // Only layout changed: the same plan.
        let reindented =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap())
                .unwrap();
        assert_eq!(parse("plan.json", reindented.as_bytes()), Ok(plan));
    }

    #[test]
    fn a_plan_without_its_hash_is_refused() {
        let plan = a_plan();
        let bare = serde_json::to_string(&plan).unwrap();
        let error = parse("plan.json", bare.as_bytes()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plan.json was changed after `modalplan plan` wrote it: its content does not match its integrity hash (it has no `integrity`); plan again"
        );
    }

    #[test]
    fn an_oversized_plan_file_is_refused_without_reading_it_all() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("plan.json");
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: no disk used.
        file.set_len(MAX_PLAN_FILE_BYTES + 10).unwrap();
        let error = load(&path).unwrap_err();
        assert_eq!(error.code(), Code::ErrPlanFile);
        assert_eq!(
            error,
            SavedPlanError::TooLarge {
                path: path.display().to_string()
            }
        );
    }

    #[test]
    fn a_plan_that_cannot_be_written_leaves_no_file() {
        let error = save(Path::new("/dev/full"), &a_plan()).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(28), "{error}");
        assert!(Path::new("/dev/full").exists(), "the device is left alone");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn loading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse("plan.json", &bytes);
        }

        #[test]
        fn loading_any_json_never_panics(document in json_value()) {
            let _ = parse("plan.json", document.to_string().as_bytes());
        }

        #[test]
        fn any_change_to_a_written_plan_is_caught(index in 0_usize..4096, byte in any::<u8>()) {
            let plan = a_plan();
            let mut text = crate::render::json(&plan).into_bytes();
            let index = index % text.len();
            prop_assume!(text[index] != byte);
            text[index] = byte;
            match parse("plan.json", &text) {
                Ok(read) => prop_assert_eq!(read, plan),
                Err(error) => prop_assert_eq!(error.code(), Code::ErrPlanFile),
            }
        }
    }

    /// Any JSON, biased toward plan-shaped keys.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-z_:0-9]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("format_version".to_owned()),
                        Just("manifest".to_owned()),
                        Just("actions".to_owned()),
                        Just("integrity".to_owned()),
                        Just("kind".to_owned()),
                        "[a-z_]{1,8}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }
}
