//! Reading the apply lock for `plan` and `status`, on both read paths: the observe helper reads the
//! `modalplan-locks` Dict of each environment beside its lists (the [helper](super::helper)'s observe operation), the CLI path
//! runs `modal dict items modalplan-locks --json --env E`. Both make the same two calls (look the Dict up
//! without creating it, then stream its few entries) and give the same [`LockState`].
//!
//! A lock that cannot be read never fails the read that asked for it: it is [`LockState::Unreadable`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::ModalCli;
use super::cli_json::dict_entries;
use crate::backend::lock::{HEARTBEAT_PREFIX, LOCK_DICT, LOCK_KEY, LockRecord, LockState};

/// The helper's `lock` of one environment.
#[derive(Debug, Default, Deserialize)]
pub struct HelperLock {
    /// The Dict's entries (the lock record and heartbeats); none when no apply ever locked it.
    #[serde(default)]
    entries: Option<BTreeMap<String, Value>>,
    /// Why it could not be read.
    #[serde(default)]
    error: Option<String>,
}

/// The lock as the helper read it; `asked` says whether the request asked for it.
pub fn from_helper(asked: bool, reply: Option<HelperLock>) -> LockState {
    let Some(reply) = reply.filter(|_| asked) else {
        return if asked {
            LockState::Unreadable {
                reason: "the observe helper did not read it".into(),
            }
        } else {
            LockState::NotRead
        };
    };
    if let Some(reason) = reply.error {
        return LockState::Unreadable { reason };
    }
    match lock_of(&reply.entries.unwrap_or_default()) {
        Ok(Some(lock)) => LockState::Held { lock },
        Ok(None) => LockState::Free,
        Err(reason) => LockState::Unreadable { reason },
    }
}

/// The lock of `environment` through `modal dict items modalplan-locks --json --env E`.
pub async fn read_with_cli(cli: &ModalCli, environment: &str) -> LockState {
    let arguments = ["dict", "items", LOCK_DICT, "--json", "--env", environment];
    let spec = cli.config.modal(&arguments);
    let output = cli.run_limited(&spec).await;
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            return LockState::Unreadable {
                reason: error.to_string(),
            };
        }
    };
    if !output.success() {
        let printed = super::failure::printed(&output);
        let flat = super::failure::flatten(&printed);
        // No Dict: no apply ever locked this environment.
        if super::failure::names_missing(&printed, LOCK_DICT) {
            return LockState::Free;
        }
        return LockState::Unreadable {
            reason: format!(
                "`{}` failed{}: {flat}",
                spec.display(),
                crate::backend::exit_note(output.exit_code)
            ),
        };
    }
    match from_items(&output.stdout) {
        Ok(Some(lock)) => LockState::Held { lock },
        Ok(None) => LockState::Free,
        Err(reason) => LockState::Unreadable {
            reason: format!("`{}`: {reason}", spec.display()),
        },
    }
}

/// The lock in the output of `modal dict items --json` (1.0 keys `Key`/`Value`, 1.6 `key`/`value`):
/// `None` when no run holds it.
pub fn from_items(stdout: &str) -> Result<Option<LockRecord>, String> {
    lock_of(&dict_entries(stdout)?)
}

/// The lock record of the Dict's entries with its heartbeat: the one reading of the record, for the
/// CLI's `dict items`, the observe helper's entries and the lock helper's.
pub fn lock_of(entries: &BTreeMap<String, Value>) -> Result<Option<LockRecord>, String> {
    let Some(record) = entries.get(LOCK_KEY) else {
        return Ok(None);
    };
    let not_ours = || format!("its `{LOCK_KEY}` entry is not a lock modalplan wrote");
    let Value::Object(record) = record else {
        return Err(not_ours());
    };
    let Some(Value::String(id)) = record.get("id") else {
        return Err(not_ours());
    };
    let text = |name: &str| match record.get(name) {
        Some(Value::String(value)) => value.clone(),
        _ => String::new(),
    };
    let heartbeat_at = entries
        .get(&format!("{HEARTBEAT_PREFIX}{id}"))
        .and_then(|heartbeat| heartbeat.get("heartbeat_at"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Some(LockRecord {
        id: id.clone(),
        who: text("who"),
        operation: text("operation"),
        manifest: text("manifest"),
        created_at: text("created_at"),
        heartbeat_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(heartbeat_at: Option<&str>) -> LockRecord {
        LockRecord {
            id: "lk-0123456789ab".into(),
            who: "alice@laptop".into(),
            operation: "apply".into(),
            manifest: "processors.toml".into(),
            created_at: "2026-03-01T10:00:00Z".into(),
            heartbeat_at: heartbeat_at.map(str::to_owned),
        }
    }

    #[test]
    fn reads_the_lock_and_its_heartbeat_from_either_clis_items() {
        let old = r#"[
          {"Key": "apply/heartbeat/lk-000000000000", "Value": {"heartbeat_at": "2026-01-01T00:00:00Z"}},
          {"Key": "apply", "Value": {"id": "lk-0123456789ab", "who": "alice@laptop", "operation": "apply",
                                     "manifest": "processors.toml", "created_at": "2026-03-01T10:00:00Z"}},
          {"Key": "apply/heartbeat/lk-0123456789ab", "Value": {"heartbeat_at": "2026-03-01T10:00:30Z"}}
        ]"#;
        assert_eq!(
            from_items(old),
            Ok(Some(alice(Some("2026-03-01T10:00:30Z"))))
        );
        let new = old
            .replace("\"Key\"", "\"key\"")
            .replace("\"Value\"", "\"value\"");
        assert_eq!(
            from_items(&new),
            Ok(Some(alice(Some("2026-03-01T10:00:30Z"))))
        );
    }

    #[test]
    fn a_lock_without_its_heartbeat_has_none_and_an_empty_dict_is_free() {
        let only_record = r#"[{"key": "apply", "value": {"id": "lk-0123456789ab", "who": "alice@laptop",
            "operation": "apply", "manifest": "processors.toml", "created_at": "2026-03-01T10:00:00Z"}}]"#;
        assert_eq!(from_items(only_record), Ok(Some(alice(None))));
        assert_eq!(from_items("[]"), Ok(None));
        // A heartbeat left behind is no lock.
        assert_eq!(
            from_items(r#"[{"key": "apply/heartbeat/lk-1", "value": {"heartbeat_at": "x"}}]"#),
            Ok(None)
        );
    }

    #[test]
    fn an_apply_entry_modalplan_did_not_write_is_unreadable_not_free() {
        assert_eq!(
            from_items(r#"[{"key": "apply", "value": "busy"}]"#),
            Err("its `apply` entry is not a lock modalplan wrote".to_owned())
        );
        assert_eq!(
            from_items(r#"[{"key": "apply", "value": {"who": "x"}}]"#),
            Err("its `apply` entry is not a lock modalplan wrote".to_owned())
        );
        assert!(from_items("Usage: modal dict").is_err());
    }

    #[test]
    fn the_helpers_answer_is_the_lock_state() {
        let reply = |json: &str| Some(serde_json::from_str::<HelperLock>(json).unwrap());
        assert_eq!(
            from_helper(false, reply(r#"{"entries": {}}"#)),
            LockState::NotRead
        );
        assert_eq!(
            from_helper(true, reply(r#"{"entries": {}}"#)),
            LockState::Free
        );
        assert_eq!(
            from_helper(
                true,
                reply(
                    r#"{"entries": {"apply": {"id": "lk-0123456789ab", "who": "alice@laptop",
                        "operation": "apply", "manifest": "processors.toml",
                        "created_at": "2026-03-01T10:00:00Z"},
                        "apply/heartbeat/lk-0123456789ab": {"heartbeat_at": "2026-03-01T10:00:30Z"}}}"#
                )
            ),
            LockState::Held {
                lock: alice(Some("2026-03-01T10:00:30Z"))
            }
        );
        assert_eq!(
            from_helper(true, reply(r#"{"entries": {"apply": "busy"}}"#)),
            LockState::Unreadable {
                reason: "its `apply` entry is not a lock modalplan wrote".into()
            }
        );
        assert_eq!(
            from_helper(true, reply(r#"{"error": "GRPCError: unavailable"}"#)),
            LockState::Unreadable {
                reason: "GRPCError: unavailable".into()
            }
        );
        assert_eq!(
            from_helper(true, None),
            LockState::Unreadable {
                reason: "the observe helper did not read it".into()
            }
        );
    }
}
