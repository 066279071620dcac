//! Release records on both read paths, and their writes.
//!
//! Reading: the observe helper streams the `modalplan-releases` Dict of each environment beside its
//! lists (the [helper](super::helper)'s observe operation); the CLI path runs `modal dict items modalplan-releases --json --env
//! E`. Each entry is an app's records as JSON text. Records that cannot be read never fail the plan: the
//! environment's state is [`ReleasesState::Unreadable`] and the plan reads the tags, as before records.
//!
//! Writing: one observe-helper process in its `record` mode per record (the SDK's `Dict.get`/`put`; the
//! CLI has no `dict put`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::ModalCli;
use super::cli_json::dict_entries;
use super::helper::{self, Op};
use super::session::Resend;
use crate::backend::BackendError;
use crate::backend::releases::{
    KEEP, RELEASES_DICT, ReleaseRecord, Releases, ReleasesState, parse_value,
};

/// The helper's `releases` of one environment.
#[derive(Debug, Default, Deserialize)]
pub struct HelperReleases {
    #[serde(default)]
    entries: BTreeMap<String, String>,
    #[serde(default)]
    error: Option<String>,
}

/// The records as the helper read them; `asked` says whether the request asked for them.
pub fn from_helper(asked: bool, reply: Option<HelperReleases>) -> ReleasesState {
    match (asked, reply) {
        (false, _) => ReleasesState::NotRead,
        (true, None) => ReleasesState::Unreadable {
            reason: "the observe helper did not read them".into(),
        },
        (
            true,
            Some(HelperReleases {
                error: Some(reason),
                ..
            }),
        ) => ReleasesState::Unreadable { reason },
        (true, Some(HelperReleases { entries, .. })) => from_entries(entries),
    }
}

fn from_entries(entries: BTreeMap<String, String>) -> ReleasesState {
    let mut releases = Releases::new();
    for (app, text) in entries {
        match parse_value(&app, &text) {
            Ok(records) => {
                releases.insert(app, records);
            }
            Err(reason) => return ReleasesState::Unreadable { reason },
        }
    }
    ReleasesState::Read { releases }
}

/// The records of `environment` through `modal dict items modalplan-releases --json --env E`.
pub async fn read_with_cli(cli: &ModalCli, environment: &str) -> ReleasesState {
    let arguments = [
        "dict",
        "items",
        RELEASES_DICT,
        "--json",
        "--env",
        environment,
    ];
    let spec = cli.config.modal(&arguments);
    let output = match cli.run_limited(&spec).await {
        Ok(output) => output,
        Err(error) => {
            return ReleasesState::Unreadable {
                reason: error.to_string(),
            };
        }
    };
    if !output.success() {
        let printed = super::failure::printed(&output);
        let flat = super::failure::flatten(&printed);
        // No Dict: modalplan never recorded a release in this environment.
        if super::failure::names_missing(&printed, RELEASES_DICT) {
            return ReleasesState::Read {
                releases: Releases::new(),
            };
        }
        return ReleasesState::Unreadable {
            reason: format!(
                "`{}` failed{}: {flat}",
                spec.display(),
                crate::backend::exit_note(output.exit_code)
            ),
        };
    }
    match entries_of_items(&output.stdout) {
        Ok(entries) => from_entries(entries),
        Err(reason) => ReleasesState::Unreadable {
            reason: format!("`{}`: {reason}", spec.display()),
        },
    }
}

/// The string entries of `modal dict items --json`: the JSON texts modalplan wrote.
fn entries_of_items(stdout: &str) -> Result<BTreeMap<String, String>, String> {
    Ok(dict_entries(stdout)?
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(text) => Some((key, text)),
            _ => None,
        })
        .collect())
}

#[derive(Debug, Deserialize)]
struct WriteReply {
    ok: bool,
    #[serde(default)]
    message: String,
}

/// Appends `record` to its app's records in `environment`, keeping the newest [`KEEP`].
pub async fn write(
    cli: &ModalCli,
    environment: &str,
    record: &ReleaseRecord,
) -> Result<(), BackendError> {
    let python = cli.config.python()?;
    let input = serde_json::json!({
        "mode": "record",
        "environment": environment,
        "app": record.app,
        "record": record,
        "keep": KEEP,
    });
    let spec = helper::one_shot(cli, &python, Op::Observe, &input, cli.config.read_timeout);
    let command = format!("the release record of `{}` in `{environment}`", record.app);
    // Appended: a record is written once at most.
    let output =
        super::session::run_limited(cli, Op::Observe, &spec, &input, Resend::Never).await?;
    let reply: WriteReply = helper::reply(&output.stdout)
        .ok_or_else(|| "no reply".to_owned())
        .and_then(|reply| serde_json::from_value(reply).map_err(|error| error.to_string()))
        .map_err(|error| BackendError::UnexpectedOutput {
            command: command.clone(),
            reason: format!(
                "no JSON reply ({error}){}; stderr: {}",
                crate::backend::exit_note(output.exit_code),
                output.stderr.trim()
            ),
        })?;
    if reply.ok {
        Ok(())
    } else {
        Err(BackendError::CommandFailed {
            command,
            exit_code: output.exit_code,
            stderr: reply.message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_either_clis_items() {
        let record = r#"[{"format": 1, "app": "a", "version": 2, "fingerprint": "t", "operation": "deploy", "by": "ci", "at": "2026-12-02T17:00:00Z"}]"#;
        let old = serde_json::json!([{"Key": "a", "Value": record}, {"Key": 3, "Value": "x"}])
            .to_string();
        let entries = entries_of_items(&old).unwrap();
        assert_eq!(entries.keys().collect::<Vec<_>>(), ["a"]);
        let new = old
            .replace("\"Key\"", "\"key\"")
            .replace("\"Value\"", "\"value\"");
        let ReleasesState::Read { releases } = from_entries(entries_of_items(&new).unwrap()) else {
            panic!("not read");
        };
        assert_eq!(releases["a"][0].version, 2);
        assert!(entries_of_items("Usage: modal dict").is_err());
    }

    #[test]
    fn the_helpers_answer_is_the_releases_state() {
        let reply = |json: &str| Some(serde_json::from_str::<HelperReleases>(json).unwrap());
        assert_eq!(
            from_helper(false, reply(r#"{"entries": {}}"#)),
            ReleasesState::NotRead
        );
        assert_eq!(
            from_helper(true, reply(r#"{"entries": {}}"#)),
            ReleasesState::Read {
                releases: Releases::new()
            }
        );
        assert_eq!(
            from_helper(true, reply(r#"{"error": "GRPCError: unavailable"}"#)),
            ReleasesState::Unreadable {
                reason: "GRPCError: unavailable".into()
            }
        );
        assert_eq!(
            from_helper(true, reply(r#"{"entries": {"a": "[1]"}}"#)),
            ReleasesState::Unreadable {
                reason: "the release records of `a` are not modalplan's: invalid type: integer `1`, expected struct ReleaseRecord at line 1 column 2".into()
            }
        );
    }
}
