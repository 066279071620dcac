//! modalplan's helper: one Python program ([`helper/`](helper/sdk.py)) that runs on the `modal` CLI's own
//! interpreter (which has the Modal SDK) for what one `modal` process per call would make slow (a plan's
//! reads, an apply's re-checks, smoke calls and release records) or unsafe (secret values, which must not
//! go on a command line), and for the apply lock, which a process must hold while apply runs.
//!
//! One protocol for every operation ([`Op`]): a request line `{"id", "op", "request"}` on the helper's
//! standard input, reply lines `{"id", "reply"}` on its standard output, which carries nothing else. A
//! one-shot helper answers the request of its first line (id 0); the session ([`Op::Session`]) answers
//! many. A failure is one document ([`Failure`]) whatever the operation, classified once, in the helper
//! (`failure` in `sdk.py`); what each kind means to the caller is the caller's.
//!
//! The names modalplan defines for what it keeps on Modal (the lock's Dict and keys, the releases' Dict)
//! are defined here in Rust and given to the program, not written again in Python.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use super::ModalCli;
use crate::backend::process::ProcessSpec;

use crate::backend::lock::{HEARTBEAT_PREFIX, LOCK_DICT, LOCK_KEY};
use crate::backend::releases::RELEASES_DICT;

/// The program's files, in the order they run.
const FILES: [&str; 7] = [
    include_str!("helper/sdk.py"),
    include_str!("helper/observe.py"),
    include_str!("helper/call.py"),
    include_str!("helper/lock.py"),
    include_str!("helper/secrets_write.py"),
    include_str!("helper/session.py"),
    include_str!("helper/main.py"),
];

/// What a helper process is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A plan's reads, or one release record (`observe.py`).
    Observe,
    /// One call of a deployed function (`call.py`).
    Call,
    /// The apply lock: take and hold, show, force-unlock (`lock.py`).
    Lock,
    /// `secrets sync`'s writes (`secrets_write.py`).
    SecretsWrite,
    /// Many observe and call requests in one process (`session.py`).
    Session,
}

impl Op {
    /// The operation's name in a request.
    pub fn name(self) -> &'static str {
        match self {
            Op::Observe => "observe",
            Op::Call => "call",
            Op::Lock => "lock",
            Op::SecretsWrite => "secrets_write",
            Op::Session => "session",
        }
    }

    /// How a process run for it is named: the first line of its program, so a process listing tells
    /// them apart.
    pub fn title(self) -> &'static str {
        match self {
            Op::Observe => "modalplan's observe helper",
            Op::Call => "modalplan's call helper",
            Op::Lock => "modalplan's apply lock helper",
            Op::SecretsWrite => "modalplan's secrets writer",
            Op::Session => "modalplan's session helper",
        }
    }
}

/// The program a helper run for `op` is given (`python -c`).
pub fn program(op: Op) -> String {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| {
        let names = format!(
            "LOCKS_DICT = {LOCK_DICT:?}\nLOCK_KEY = {LOCK_KEY:?}\nHEARTBEAT_PREFIX = {HEARTBEAT_PREFIX:?}\nRELEASES_DICT = {RELEASES_DICT:?}\n"
        );
        std::iter::once(names.as_str())
            .chain(FILES)
            .collect::<Vec<_>>()
            .join("\n")
    });
    format!("# {}\n{body}", op.title())
}

/// A one-shot helper on `python` (the CLI's interpreter) for `op`, `request` on its standard input.
pub fn one_shot(
    cli: &ModalCli,
    python: &Path,
    op: Op,
    request: &serde_json::Value,
    timeout: Duration,
) -> ProcessSpec {
    ProcessSpec {
        argv: vec![python.display().to_string(), "-c".into(), program(op)],
        env: cli.config.env.clone(),
        cwd: None,
        timeout,
        stdin: Some(request_line(0, op, request).into_bytes()),
    }
}

/// One request line, newline included.
pub fn request_line(id: u64, op: Op, request: &serde_json::Value) -> String {
    let mut line = serde_json::json!({ "id": id, "op": op.name(), "request": request }).to_string();
    line.push('\n');
    line
}

/// One reply line as the helper writes it, newline included.
pub fn reply_line(id: u64, reply: &serde_json::Value) -> String {
    let mut line = serde_json::json!({ "id": id, "reply": reply }).to_string();
    line.push('\n');
    line
}

#[derive(Deserialize)]
struct Envelope {
    id: u64,
    reply: serde_json::Value,
}

/// The id and reply of one line the helper wrote; `None` for a line that is not one.
pub fn read_reply(line: &str) -> Option<(u64, serde_json::Value)> {
    let Envelope { id, reply } = serde_json::from_str(line.trim()).ok()?;
    Some((id, reply))
}

/// Every reply in a one-shot helper's output, in order.
pub fn replies(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(read_reply)
        .map(|(_, reply)| reply)
        .collect()
}

/// The one reply of a one-shot helper (its last, should it have written more).
pub fn reply(stdout: &str) -> Option<serde_json::Value> {
    replies(stdout).pop()
}

/// A failure the helper answered, whatever the operation.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// `not_logged_in`, `unknown_environment`, `not_found`, `modal`, `raised`, `timeout` or `internal`.
    #[serde(default)]
    pub kind: String,
    /// The exception's class.
    #[serde(default, rename = "type")]
    pub type_name: Option<String>,
    #[serde(default)]
    pub message: String,
    /// The gRPC status name of a failure of Modal itself.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
}

impl Failure {
    /// The message with its gRPC status in front when it has one, as
    /// [`transient_reason`](crate::backend::transient::transient_reason) reads it.
    pub fn with_status(&self, message: &str) -> String {
        match &self.status {
            Some(status) => format!("{status}: {message}"),
            None => message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_names_its_purpose_first_and_defines_the_names_once() {
        let program = program(Op::Lock);
        assert!(program.starts_with("# modalplan's apply lock helper\nLOCKS_DICT = \"modalplan-locks\"\nLOCK_KEY = \"apply\"\nHEARTBEAT_PREFIX = \"apply/heartbeat/\"\nRELEASES_DICT = \"modalplan-releases\"\n"));
        for file in FILES {
            assert!(
                !file.contains("= \"modalplan-locks\""),
                "a Dict's name written again in Python"
            );
            assert!(
                !file.contains("= \"apply/heartbeat/\""),
                "a lock key written again in Python"
            );
        }
        assert_eq!(program.matches("\ndef main():").count(), 1);
    }

    #[test]
    fn no_file_redefines_a_name_of_another() {
        // The files run in one namespace: a second `CALLS = ...` would silently replace the first.
        let mut seen = std::collections::BTreeMap::new();
        for (index, file) in FILES.iter().enumerate() {
            for line in file.lines() {
                let name = line
                    .strip_prefix("def ")
                    .or_else(|| line.strip_prefix("class "))
                    .map(|rest| rest.split(['(', ':']).next().unwrap_or_default())
                    .or_else(|| {
                        let (name, _) = line.split_once(" = ")?;
                        (!name.starts_with([' ', '#']) && !name.contains(['[', '.', '(']))
                            .then_some(name)
                    });
                if let Some(name) = name {
                    let first = *seen.entry(name.to_owned()).or_insert(index);
                    assert_eq!(
                        first, index,
                        "`{name}` is defined in two of the helper's files"
                    );
                }
            }
        }
        assert!(seen.contains_key("failure") && seen.contains_key("CALL_THREADS"));
    }

    #[test]
    fn requests_and_replies_are_one_envelope() {
        assert_eq!(
            request_line(3, Op::Call, &serde_json::json!({"app": "a"})),
            "{\"id\":3,\"op\":\"call\",\"request\":{\"app\":\"a\"}}\n"
        );
        let stdout = format!(
            "{}not a reply\n{}",
            reply_line(0, &serde_json::json!({"ok": true, "name": "a"})),
            reply_line(
                0,
                &serde_json::json!({"ok": false, "kind": "modal", "status": "UNAVAILABLE", "message": "down"})
            )
        );
        assert_eq!(replies(&stdout).len(), 2);
        let failure: Failure = serde_json::from_value(reply(&stdout).unwrap()).unwrap();
        assert_eq!(failure.kind, "modal");
        assert_eq!(failure.with_status(&failure.message), "UNAVAILABLE: down");
        assert_eq!(
            read_reply("{\"id\": 7, \"reply\": null}"),
            Some((7, serde_json::Value::Null))
        );
        assert_eq!(read_reply("MODALPLAN_RESULT {}"), None);
    }
}
