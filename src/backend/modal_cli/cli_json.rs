//! The `--json` output of every 1.x `modal` CLI, and the rows both read paths (the helper and the CLI)
//! produce, so both assemble the same [`ObservedEnvironment`].
//!
//! The CLI prints tables as a JSON list of objects keyed by column. 1.0 keys are the column titles
//! (`"App ID"`, `"Time deployed"`); 1.6 keys are their `snake_case` form (`app_id`, `time_deployed`). Every
//! key is read through [`json_key`], the same reduction 1.6 applies, so both (and anything between) read
//! alike. `app history` drops its `Tag` column when no deployment has a tag.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::backend::{AppState, DeploymentRecord, ObservedApp, ObservedEnvironment};

/// One row of `modal app list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct AppRow {
    pub app_id: String,
    /// The app's name for a deployed app.
    pub description: String,
    /// As the CLI prints it: `deployed`, `stopped`, `ephemeral`, `stopping...`.
    pub state: String,
}

/// One row of `modal app history`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct HistoryRow {
    pub version: u32,
    pub tag: Option<String>,
    pub deployed_at: Option<String>,
    pub deployed_by: Option<String>,
}

/// A column title reduced to a key, as the 1.6 CLI does: runs of characters outside `[a-zA-Z0-9]` become
/// `_`, lowercased, `_` trimmed.
pub fn json_key(title: &str) -> String {
    let mut key = String::with_capacity(title.len());
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            key.push(ch.to_ascii_lowercase());
        } else if !key.ends_with('_') {
            key.push('_');
        }
    }
    key.trim_matches('_').to_owned()
}

/// Why a document is not what the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

fn rows(stdout: &str) -> Result<Vec<BTreeMap<String, Value>>, ShapeError> {
    let document: Value = serde_json::from_str(stdout.trim()).map_err(|error| {
        ShapeError(format!(
            "not JSON ({error}); it starts with `{}`",
            stdout.trim().chars().take(80).collect::<String>()
        ))
    })?;
    let Value::Array(items) = document else {
        return Err(ShapeError("expected a JSON list of rows".into()));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(object) => Ok(normalize(object)),
            other => Err(ShapeError(format!("row {index} is not an object: {other}"))),
        })
        .collect()
}

fn normalize(object: Map<String, Value>) -> BTreeMap<String, Value> {
    object
        .into_iter()
        .map(|(key, value)| (json_key(&key), value))
        .collect()
}

fn text(row: &BTreeMap<String, Value>, key: &str, index: usize) -> Result<String, ShapeError> {
    match row.get(key) {
        Some(Value::String(value)) => Ok(value.clone()),
        Some(Value::Null) => Ok(String::new()),
        Some(other) => Err(ShapeError(format!(
            "row {index}: `{key}` is {other}, not a string"
        ))),
        None => Err(ShapeError(format!("row {index} has no `{key}` column"))),
    }
}

fn optional_text(row: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match row.get(key) {
        Some(Value::String(value)) if !value.is_empty() => Some(value.clone()),
        _ => None,
    }
}

/// `modal app list --json`.
pub fn parse_app_list(stdout: &str) -> Result<Vec<AppRow>, ShapeError> {
    rows(stdout)?
        .iter()
        .enumerate()
        .map(|(index, row)| {
            Ok(AppRow {
                app_id: text(row, "app_id", index)?,
                description: text(row, "description", index)?,
                state: text(row, "state", index)?,
            })
        })
        .collect()
}

/// `modal secret list --json`: the names.
pub fn parse_secret_list(stdout: &str) -> Result<Vec<String>, ShapeError> {
    rows(stdout)?
        .iter()
        .enumerate()
        .map(|(index, row)| text(row, "name", index))
        .collect()
}

/// `modal app history NAME --json`: versions are printed `v3`.
pub fn parse_history(stdout: &str) -> Result<Vec<HistoryRow>, ShapeError> {
    rows(stdout)?
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let version = text(row, "version", index)?;
            let version = version
                .strip_prefix('v')
                .unwrap_or(&version)
                .parse::<u32>()
                .map_err(|_| {
                    ShapeError(format!(
                        "row {index}: version `{version}` is not `v<number>`"
                    ))
                })?;
            Ok(HistoryRow {
                version,
                tag: optional_text(row, "tag"),
                deployed_at: optional_text(row, "time_deployed"),
                deployed_by: optional_text(row, "deployed_by"),
            })
        })
        .collect()
}

/// An app's state from the CLI's words for it.
pub fn app_state(printed: &str) -> AppState {
    match printed {
        "deployed" => AppState::Deployed,
        "stopped" => AppState::Stopped,
        other => AppState::Other(other.to_owned()),
    }
}

/// The live deployment: the newest entry (a rollback is a new entry, so the newest is what runs).
pub fn live(history: &[HistoryRow]) -> Option<DeploymentRecord> {
    history.iter().max_by_key(|row| row.version).map(record)
}

/// One history row as a deployment.
pub fn record(row: &HistoryRow) -> DeploymentRecord {
    DeploymentRecord {
        version: row.version,
        tag: row.tag.clone(),
        deployed_at: row.deployed_at.clone(),
        deployed_by: row.deployed_by.clone(),
    }
}

/// Rank of a listed app when several share a name: a deployed one wins, then a running one, then the
/// latest stopped one (the list is newest first).
fn rank(state: &AppState) -> u8 {
    match state {
        AppState::Deployed => 0,
        AppState::Other(_) => 1,
        AppState::Stopped => 2,
    }
}

/// One environment from its rows: apps by name (one per name), secret names, and the live deployment of
/// each app whose history was read.
pub fn assemble(
    apps: &[AppRow],
    secrets: &[String],
    histories: &BTreeMap<String, Vec<HistoryRow>>,
) -> ObservedEnvironment {
    let mut environment = ObservedEnvironment::default();
    for row in apps {
        if row.description.is_empty() {
            continue;
        }
        let state = app_state(&row.state);
        let keep = environment
            .apps
            .get(&row.description)
            .is_none_or(|existing| rank(&state) < rank(&existing.state));
        if keep {
            environment.apps.insert(
                row.description.clone(),
                ObservedApp {
                    app_id: row.app_id.clone(),
                    state,
                    live: None,
                },
            );
        }
    }
    for (name, history) in histories {
        if let Some(app) = environment.apps.get_mut(name) {
            app.live = live(history);
        }
    }
    environment.secrets = secrets.iter().cloned().collect();
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by the 1.0.0 CLI against the emulator.
    const APP_LIST_1_0: &str = r#"[
  {
    "App ID": "ap-AAAAAAAAAAAAAAAAAAAAAA",
    "Description": "llm-litellm-v1",
    "State": "deployed",
    "Tasks": "0",
    "Created at": "2026-01-05 10:00:00+00:00",
    "Stopped at": null
  },
  {
    "App ID": "ap-BBBBBBBBBBBBBBBBBBBBBB",
    "Description": "replicate-generic-v1",
    "State": "stopped",
    "Tasks": "0",
    "Created at": "2026-01-03 08:00:00+00:00",
    "Stopped at": "2026-01-20 17:45:00+00:00"
  }
]"#;

    // Printed by the 1.6.4 CLI against the emulator.
    const APP_LIST_1_6: &str = r#"[
  {
    "app_id": "ap-AAAAAAAAAAAAAAAAAAAAAA",
    "description": "llm-litellm-v1",
    "state": "deployed",
    "tasks": "0",
    "created_at": "2026-01-05 10:00:00+00:00",
    "stopped_at": null
  },
  {
    "app_id": "ap-BBBBBBBBBBBBBBBBBBBBBB",
    "description": "replicate-generic-v1",
    "state": "stopped",
    "tasks": "0",
    "created_at": "2026-01-03 08:00:00+00:00",
    "stopped_at": "2026-01-20 17:45:00+00:00"
  }
]"#;

    #[test]
    fn both_app_list_shapes_read_alike() {
        let old = parse_app_list(APP_LIST_1_0).unwrap();
        assert_eq!(old, parse_app_list(APP_LIST_1_6).unwrap());
        assert_eq!(
            old[1],
            AppRow {
                app_id: "ap-BBBBBBBBBBBBBBBBBBBBBB".into(),
                description: "replicate-generic-v1".into(),
                state: "stopped".into(),
            }
        );
    }

    #[test]
    fn history_with_and_without_tags() {
        let old = r#"[{"Version": "v2", "Time deployed": "2026-01-12 09:30:00+00:00", "Client": "1.6.4",
            "Deployed by": "modalplan-ci", "Commit": null, "Tag": "mp1-111111111111-aaaaaa-bbbbbb-cccccc"},
            {"Version": "v1", "Time deployed": "2026-01-05 10:00:00+00:00", "Client": "1.0.0",
            "Deployed by": "alice", "Commit": null, "Tag": null}]"#;
        let rows = parse_history(old).unwrap();
        assert_eq!(
            live(&rows),
            Some(DeploymentRecord {
                version: 2,
                tag: Some("mp1-111111111111-aaaaaa-bbbbbb-cccccc".into()),
                deployed_at: Some("2026-01-12 09:30:00+00:00".into()),
                deployed_by: Some("modalplan-ci".into()),
            })
        );
        let untagged = r#"[{"version": "v1", "time_deployed": "2026-01-05 10:00:00+00:00",
            "client": "1.0.0", "deployed_by": "alice", "commit": null}]"#;
        let rows = parse_history(untagged).unwrap();
        assert_eq!(live(&rows).unwrap().tag, None);
        assert_eq!(live(&rows).unwrap().version, 1);
    }

    #[test]
    fn secrets_of_both_shapes() {
        let old = r#"[{"Name": "OPENAI_API_KEY", "Created at": "x", "Last used at": "-"}]"#;
        let new = r#"[{"name": "OPENAI_API_KEY", "created_at": "x", "created_by": "a", "last_used_at": "-"}]"#;
        assert_eq!(parse_secret_list(old).unwrap(), ["OPENAI_API_KEY"]);
        assert_eq!(parse_secret_list(new).unwrap(), ["OPENAI_API_KEY"]);
    }

    #[test]
    fn unexpected_output_says_what_is_wrong() {
        assert!(
            parse_app_list("Apps in environment 'main'\n┏━━")
                .unwrap_err()
                .0
                .starts_with("not JSON")
        );
        assert_eq!(
            parse_app_list(r#"{"apps": []}"#).unwrap_err().0,
            "expected a JSON list of rows"
        );
        assert_eq!(
            parse_app_list(r#"[{"App ID": "ap-1", "State": "deployed"}]"#)
                .unwrap_err()
                .0,
            "row 0 has no `description` column"
        );
        assert_eq!(
            parse_history(r#"[{"Version": "two"}]"#).unwrap_err().0,
            "row 0: version `two` is not `v<number>`"
        );
    }

    #[test]
    fn json_key_matches_the_1_6_reduction() {
        assert_eq!(json_key("App ID"), "app_id");
        assert_eq!(json_key("Time deployed"), "time_deployed");
        assert_eq!(json_key("Last used at"), "last_used_at");
        assert_eq!(json_key("app_id"), "app_id");
    }

    #[test]
    fn one_app_per_name_a_deployed_one_first() {
        let apps = vec![
            AppRow {
                app_id: "ap-old".into(),
                description: "llm-litellm-v1".into(),
                state: "stopped".into(),
            },
            AppRow {
                app_id: "ap-new".into(),
                description: "llm-litellm-v1".into(),
                state: "deployed".into(),
            },
            AppRow {
                app_id: "ap-run".into(),
                description: String::new(),
                state: "ephemeral".into(),
            },
        ];
        let environment = assemble(&apps, &["A".into()], &BTreeMap::new());
        assert_eq!(environment.apps.len(), 1);
        assert_eq!(environment.apps["llm-litellm-v1"].app_id, "ap-new");
        assert_eq!(environment.apps["llm-litellm-v1"].state, AppState::Deployed);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn cell() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "v?[0-9]{0,12}".prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
            proptest::collection::vec(".{0,4}".prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("app_id".to_owned()),
            Just("App ID".to_owned()),
            Just("description".to_owned()),
            Just("state".to_owned()),
            Just("name".to_owned()),
            Just("Version".to_owned()),
            Just("version".to_owned()),
            Just("tag".to_owned()),
            Just("time_deployed".to_owned()),
            Just("deployed_by".to_owned()),
            ".{0,10}",
        ]
    }

    fn rows() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::collection::btree_map(key(), cell(), 0..8), 0..6)
            .prop_map(|rows| {
                Value::from(
                    rows.into_iter()
                        .map(|row| Value::Object(row.into_iter().collect()))
                        .collect::<Vec<_>>(),
                )
                .to_string()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(stdout in ".{0,400}") {
            let _ = parse_app_list(&stdout);
            let _ = parse_secret_list(&stdout);
            let _ = parse_history(&stdout);
        }

        #[test]
        fn any_rows_parse_or_are_refused_and_assemble_without_panicking(
            apps in rows(), secrets in rows(), history in rows(), cut in 0_usize..400
        ) {
            let apps = parse_app_list(&apps);
            let secrets = parse_secret_list(&secrets);
            let history_rows = parse_history(&history);
            if let (Ok(apps), Ok(secrets), Ok(history_rows)) = (apps, secrets, history_rows) {
                let names: BTreeMap<String, Vec<HistoryRow>> = apps
                    .iter()
                    .map(|app| (app.description.clone(), history_rows.clone()))
                    .collect();
                let _ = assemble(&apps, &secrets, &names);
            }
            // Truncated output is refused, never half read.
            let cut = cut.min(history.len());
            if cut < history.len() && history.is_char_boundary(cut) {
                prop_assert!(parse_history(&history[..cut]).is_err());
            }
        }

        #[test]
        fn deep_nesting_is_refused_without_overflowing_the_stack(depth in 100_usize..5000) {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            prop_assert!(parse_app_list(&nested).is_err());
        }
    }

    #[test]
    fn a_huge_list_of_rows_reads_in_one_pass() {
        let row = r#"{"app_id": "ap-1", "description": "x", "state": "stopped"}"#;
        let stdout = format!("[{}]", vec![row; 200_000].join(","));
        assert_eq!(parse_app_list(&stdout).unwrap().len(), 200_000);
    }
}
