//! What a failed Modal call says went wrong: the one place modalplan reads meaning out of the words the
//! `modal` CLI printed. Each caller turns the [`Said`] into its own [`BackendError`] (an app history that
//! is not found is an app not deployed; a Dict that is not found is one never written), and
//! [`transient`](crate::backend::transient) decides whether trying again may help.
//!
//! Two kinds of output are read differently. A read (`app list`, `app history`, `dict items`) prints only
//! the CLI's own words, which the 1.0 CLI wraps in a box whatever `COLUMNS` says: its text is flattened
//! and matched case-insensitively, loosely. An action (`deploy`, `app rollback`, `app stop`, `app logs`)
//! also prints the app's own build and run output, which may say anything: only Modal's exact phrases
//! count there.
//!
//! The phrases come from the CLIs themselves (the table tests below hold what 1.0.0 and 1.6.4 printed
//! against the emulator); the SDK's own failures, in the helpers, are told apart by their exception
//! classes and gRPC status in `helper/sdk.py`.

use crate::backend::process::ProcessOutput;

/// What Modal said went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// No token, or a token Modal refused.
    NotLoggedIn,
    /// The environment does not exist; its name when the message gives it.
    UnknownEnvironment(Option<String>),
    /// The app (or object) the command named does not exist: which one is the caller's to say.
    NotFound,
    /// `modal app stop` of an app that is stopped already.
    AlreadyStopped,
    /// Anything else: the command's own failure.
    Other,
}

/// Whose words a failed command printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    /// A read: everything is the CLI's own words.
    Read,
    /// An action: the app's own output is mixed in.
    Action,
}

/// Everything a command printed, standard error first.
pub fn printed(output: &ProcessOutput) -> String {
    format!("{}\n{}", output.stderr, output.stdout)
}

/// What `text` (what a command printed, or [`modal_message`] of it) says went wrong.
pub fn said(text: &str, printed: Printed) -> Said {
    match printed {
        Printed::Action => action(text),
        Printed::Read => read(text),
    }
}

/// Modal's exact phrases: an action's output holds the app's own words too.
fn action(text: &str) -> Said {
    if not_logged_in(text) {
        Said::NotLoggedIn
    } else if let Some(environment) = unknown_environment(text) {
        Said::UnknownEnvironment(Some(environment))
    } else if text.contains("App is already stopped") {
        Said::AlreadyStopped
    } else if text.contains("Could not find") || text.contains(" not found") {
        Said::NotFound
    } else {
        Said::Other
    }
}

/// A read's words, flattened and in any case. A read knows which environment it asked for, so an
/// unknown one is not named from the text (which the 1.0 CLI's box may have cut mid-name).
fn read(text: &str) -> Said {
    let flat = flatten(text);
    let lower = flat.to_lowercase();
    if not_logged_in(&flat)
        || lower.contains("token missing")
        || lower.contains("could not authenticate")
        || lower.contains("unauthenticated")
        || lower.contains("token") && (lower.contains("invalid") || lower.contains("refused"))
    {
        Said::NotLoggedIn
    } else if lower.contains("environment") && lower.contains("not found") {
        Said::UnknownEnvironment(None)
    } else if lower.contains("could not find a deployed app") || lower.contains("no app with name")
    {
        Said::NotFound
    } else {
        Said::Other
    }
}

fn not_logged_in(text: &str) -> bool {
    text.contains("Token missing")
        || text.contains("UNAUTHENTICATED")
        || text.contains("Token ID is malformed")
        || text.contains("invalid token")
}

/// Whether a read's failure says the object named `name` (a Dict) does not exist.
pub fn names_missing(text: &str, name: &str) -> bool {
    let lower = flatten(text).to_lowercase();
    lower.contains("not found") && lower.contains(&format!("'{name}'"))
}

/// The environment of "Environment 'x' not found" (both CLI versions, from the server).
fn unknown_environment(text: &str) -> Option<String> {
    let start = text.find("Environment '")? + "Environment '".len();
    let rest = &text[start..];
    let end = rest.find('\'')?;
    rest[end..]
        .starts_with("' not found")
        .then(|| rest[..end].to_owned())
}

/// The text on one line, without the 1.0 CLI's box drawing.
pub fn flatten(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|ch| {
            if ('\u{2500}'..='\u{257f}').contains(&ch) {
                ' '
            } else {
                ch
            }
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Modal's own message from a failed command's output: the error box or `Error:` lines of either CLI
/// version, the last line of a traceback, in one line.
pub fn modal_message(output: &ProcessOutput) -> String {
    let source = if output.stderr.trim().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    };
    let text = without_teardown_noise(&strip_ansi(source));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if lines
        .iter()
        .any(|line| line.starts_with("Traceback (most recent call last)"))
    {
        if let Some(last) = lines.iter().rev().find(|line| !line.is_empty()) {
            return (*last).to_owned();
        }
    }
    let mut parts = Vec::new();
    for line in lines {
        let line = line
            .trim_start_matches(['│', '┃', '|'])
            .trim_end_matches(['│', '┃', '|'])
            .trim();
        let decoration = line
            .chars()
            .all(|c| matches!(c, '─' | '━' | '╭' | '╮' | '╰' | '╯' | ' ') || c == '╴');
        if line.is_empty()
            || decoration
            || line.starts_with("Usage:")
            || line.starts_with("Try '")
            || (line.starts_with('╭') && line.contains("Error"))
        {
            continue;
        }
        parts.push(
            line.strip_prefix("Error:")
                .unwrap_or(line)
                .trim()
                .to_owned(),
        );
    }
    let message = parts.join(" ");
    if message.is_empty() {
        format!("exit code {:?} with no output", output.exit_code)
    } else {
        message
    }
}

/// The text without what the Python interpreter prints while it shuts down, after the CLI's own error:
/// "Exception ignored in: ..." blocks (up to their exception line) and asyncio's "Loop <...> that
/// handles pid N is closed". The 1.0 CLI prints both when a deploy fails while its `git` subprocesses
/// are still running; read as the error, they would hide Modal's message.
fn without_teardown_noise(text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_ignored_block = false;
    for line in text.lines() {
        if in_ignored_block {
            // The block ends with its exception line: the first one that is not indented and is not
            // the traceback's header.
            let frame = line.starts_with(' ') || line.starts_with('\t');
            if !frame && !line.starts_with("Traceback (most recent call last)") {
                in_ignored_block = false;
            }
            continue;
        }
        if line.trim_start().starts_with("Exception ignored in:") {
            in_ignored_block = true;
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("Loop <") && trimmed.contains("that handles pid") {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n")
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(stderr: &str) -> ProcessOutput {
        ProcessOutput {
            exit_code: Some(1),
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn interpreter_teardown_noise_after_the_error_is_not_the_message() {
        // What the 1.0 CLI printed for a deploy to a missing environment, its `git` subprocesses still
        // running when it exited.
        let stderr = "╭─ Error: Not found ──────────────────╮\n│ Environment 'nope' not found         │\n╰──────────────────────────────────────╯\nLoop <_UnixSelectorEventLoop running=False closed=True debug=False> that handles pid 24120 is closed\nException ignored in: <function BaseSubprocessTransport.__del__ at 0x7ff86282e700>\nTraceback (most recent call last):\n  File \"/usr/lib/python3.11/asyncio/base_subprocess.py\", line 126, in __del__\n    self.close()\n  File \"/usr/lib/python3.11/asyncio/base_events.py\", line 519, in _check_closed\n    raise RuntimeError('Event loop is closed')\nRuntimeError: Event loop is closed\n";
        assert_eq!(
            modal_message(&failed(stderr)),
            "Environment 'nope' not found"
        );
    }

    #[test]
    fn reads_modal_messages_of_both_cli_versions() {
        assert_eq!(
            modal_message(&failed(
                "Error: Image build for im-X4Ov5 failed with the exception:\nFailed to pull image ghcr.io/acme/x@sha256:dead: manifest unknown\n"
            )),
            "Image build for im-X4Ov5 failed with the exception: Failed to pull image ghcr.io/acme/x@sha256:dead: manifest unknown"
        );
        assert_eq!(
            modal_message(&failed(
                "╭─ Error ──────────────────────────────────────────────────────────────────────╮\n│ Could not find a deployed app named 'llm-litellm-v1' in the 'dev'            │\n│ environment.                                                                 │\n╰──────────────────────────────────────────────────────────────────────────────╯\n"
            )),
            "Could not find a deployed app named 'llm-litellm-v1' in the 'dev' environment."
        );
        assert_eq!(
            modal_message(&failed(
                "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n"
            )),
            "ValueError: boom"
        );
        assert_eq!(
            modal_message(&failed(
                "\u{1b}[31mError: Secret 'NOPE' not found in environment 'staging'\u{1b}[0m\n"
            )),
            "Secret 'NOPE' not found in environment 'staging'"
        );
        assert_eq!(
            modal_message(&failed("")),
            "exit code Some(1) with no output"
        );
    }

    /// What failed commands printed (the CLIs against the emulator, and Modal's words in a deploy's
    /// output), as each kind of output reads it.
    const CASES: [(&str, &str, Printed, Said); 15] = [
        (
            "1.6.4 deploy to an environment that does not exist",
            "Error: Environment 'nope' not found\n",
            Printed::Action,
            Said::UnknownEnvironment(Some(String::new())),
        ),
        (
            "1.0.0 deploy to an environment that does not exist, in its box",
            "╭─ Error: Not found ──────────────────╮\n│ Environment 'nope' not found         │\n╰──────────────────────────────────────╯\n",
            Printed::Action,
            Said::UnknownEnvironment(Some(String::new())),
        ),
        (
            "any command without a token",
            "Error: Token missing. Could not authenticate client.\n",
            Printed::Action,
            Said::NotLoggedIn,
        ),
        (
            "a token the server refused, its status named",
            "UNAUTHENTICATED: invalid credentials\n",
            Printed::Action,
            Said::NotLoggedIn,
        ),
        (
            "1.0.0 app list without a token, the box wrapping its words",
            "╭─ Error ──────────────────────╮\n│ Token missing. Could not     │\n│ authenticate client.         │\n╰──────────────────────────────╯\n",
            Printed::Read,
            Said::NotLoggedIn,
        ),
        (
            "a read whose token was refused, in other words",
            "Error: the token was refused by the server\n",
            Printed::Read,
            Said::NotLoggedIn,
        ),
        (
            "the same words in a deploy's build output are the app's, not Modal's",
            "Step 3/4: the token was refused by the server\nError: Image build failed\n",
            Printed::Action,
            Said::Other,
        ),
        (
            "1.0.0 app list of an environment that does not exist, wrapped mid-name",
            "╭─ Error ─────────────────────╮\n│ Environment 'stag           │\n│ ing' not found              │\n╰─────────────────────────────╯\n",
            Printed::Read,
            Said::UnknownEnvironment(None),
        ),
        (
            "1.0.0 app history of an app that is not deployed",
            "╭─ Error ──────────────────────────────────────────────────────╮\n│ Could not find a deployed app named 'llm-litellm-v1' in the   │\n│ 'dev' environment.                                            │\n╰───────────────────────────────────────────────────────────────╯\n",
            Printed::Read,
            Said::NotFound,
        ),
        (
            "1.6.4 app history of an app that is not deployed",
            "Error: No app with name 'llm-litellm-v1' found in the 'dev' environment\n",
            Printed::Read,
            Said::NotFound,
        ),
        (
            "app stop of a stopped app",
            "Error: App is already stopped\n",
            Printed::Action,
            Said::AlreadyStopped,
        ),
        (
            "app stop of an app that is not deployed",
            "Error: Could not find a deployed app named 'x' in the 'dev' environment.\n",
            Printed::Action,
            Said::NotFound,
        ),
        (
            "app logs of an app that is not deployed",
            "Error: App 'llm-litellm-v1' not found in environment 'dev'\n",
            Printed::Action,
            Said::NotFound,
        ),
        (
            "a secret a deploy names that does not exist: not found, which the deploy reports as its own failure",
            "Error: Secret 'NOPE' not found in environment 'staging'\n",
            Printed::Action,
            Said::NotFound,
        ),
        (
            "a rate limit is no meaning of its own (transient.rs decides the retry)",
            "╭─ Error: Resource exhausted ───────────────╮\n│ rate limit exceeded                        │\n╰────────────────────────────────────────────╯\n",
            Printed::Read,
            Said::Other,
        ),
    ];

    #[test]
    fn every_failure_says_what_the_table_says() {
        for (case, text, printed, expected) in CASES {
            let expected = match expected {
                Said::UnknownEnvironment(Some(_)) => Said::UnknownEnvironment(Some("nope".into())),
                other => other,
            };
            assert_eq!(said(text, printed), expected, "{case}");
        }
    }

    #[test]
    fn a_dict_that_is_not_found_is_named_by_its_name() {
        let text = "╭─ Error ─────────────────────────────────────╮\n│ Dict 'modalplan-locks' not found in          │\n│ environment 'main'                           │\n╰──────────────────────────────────────────────╯\n";
        assert!(names_missing(text, "modalplan-locks"));
        assert!(!names_missing(text, "modalplan-releases"));
        assert!(!names_missing(
            "Error: Environment 'main' not found\n",
            "modalplan-locks"
        ));
    }
}
