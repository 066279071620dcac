//! Runs the built `modalplan` as a user would, in one fluent call:
//!
//! ```ignore
//! let run = Modalplan::new().current_dir(project).env_of(&emulator).args(["apply", "--yes"]).run();
//! run.assert_exit(0);
//! ```
//!
//! Every run starts from the same hermetic environment: no colour, `TZ=UTC`, no CI or GitHub Actions
//! variables and no `MODALPLAN_MANIFEST` inherited from the shell that runs the tests, stdin empty, and a
//! timeout so a hung child fails its test instead of the whole suite. A test adds what its session needs.
// Shared support: not every test module uses every helper.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::emulator::Emulator;

/// How long a run may take before it is killed (and its test fails on the exit code).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Variables of the test's own shell that would change what modalplan does.
const INHERITED_VARIABLES_REMOVED: [&str; 6] = [
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_ACTOR",
    "GITHUB_HEAD_REF",
    "GITHUB_STEP_SUMMARY",
    "MODALPLAN_MANIFEST",
];

/// One invocation of the built binary, built up step by step.
pub struct Modalplan {
    command: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
}

impl Default for Modalplan {
    fn default() -> Self {
        Modalplan::new()
    }
}

impl Modalplan {
    /// The binary with the hermetic environment described in the module's doc.
    pub fn new() -> Modalplan {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("modalplan"));
        command.env("NO_COLOR", "1").env("TZ", "UTC");
        for variable in INHERITED_VARIABLES_REMOVED {
            command.env_remove(variable);
        }
        Modalplan {
            command,
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Runs in `dir` (where modalplan looks for `processors.toml`).
    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Modalplan {
        self.command.current_dir(dir);
        self
    }

    /// Talks to `emulator` with its CLI: the variables of `Emulator::envs`.
    #[must_use]
    pub fn env_of(self, emulator: &Emulator) -> Modalplan {
        self.envs(emulator.envs())
    }

    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Modalplan {
        self.command.env(key, value);
        self
    }

    #[must_use]
    pub fn envs<K, V>(mut self, variables: impl IntoIterator<Item = (K, V)>) -> Modalplan
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(variables);
        self
    }

    /// Runs without `key`, even if the test's shell or an earlier step set it.
    #[must_use]
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Modalplan {
        self.command.env_remove(key);
        self
    }

    /// Runs with nothing but `variables` (and still the hermetic baseline's `NO_COLOR` and `TZ`).
    #[must_use]
    pub fn env_clear(mut self) -> Modalplan {
        self.command.env_clear();
        self.command.env("NO_COLOR", "1").env("TZ", "UTC");
        self
    }

    #[must_use]
    pub fn arg(mut self, argument: impl AsRef<OsStr>) -> Modalplan {
        self.command.arg(argument);
        self
    }

    #[must_use]
    pub fn args<A: AsRef<OsStr>>(mut self, arguments: impl IntoIterator<Item = A>) -> Modalplan {
        self.command.args(arguments);
        self
    }

    /// What the user types (or pipes) on stdin; empty otherwise.
    #[must_use]
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Modalplan {
        self.stdin = Some(input.into());
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Modalplan {
        self.timeout = timeout;
        self
    }

    /// Runs to the end (or the timeout) and returns what it printed and its exit code.
    pub fn run(self) -> Run {
        let Modalplan {
            mut command,
            stdin,
            timeout,
        } = self;
        if stdin.is_none() {
            command.stdin(Stdio::null());
        }
        let mut command = assert_cmd::Command::from_std(command);
        command.timeout(timeout);
        if let Some(input) = stdin {
            command.write_stdin(input);
        }
        Run {
            output: command.output().expect("run modalplan"),
        }
    }

    /// The `std::process::Command` to `spawn` when a test acts while modalplan runs (signals, locks);
    /// stdin is empty, or piped when `stdin` was given (the test writes it).
    pub fn into_command(self) -> Command {
        let mut command = self.command;
        if self.stdin.is_some() {
            command.stdin(Stdio::piped());
        } else {
            command.stdin(Stdio::null());
        }
        command
    }
}

/// What one run printed, and how it ended.
pub struct Run {
    output: Output,
}

impl Run {
    /// The exit code; `None` when a signal (or the timeout) ended the process.
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panics, showing both streams, unless the process exited with `code`.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Run {
        assert_eq!(self.code(), Some(code), "{self}");
        self
    }

    /// The exit code, then stdout and stderr each under a heading: what whole-output snapshots hold
    /// (`-1` when a signal ended the process).
    pub fn transcript(&self) -> String {
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code().unwrap_or(-1),
            self.stdout(),
            self.stderr()
        )
    }

    /// `transcript()` with the progress lines on stderr (`ENV/APP: deploying …`) grouped by app, apps in
    /// name order, in the place the first one had: concurrent deploys interleave their lines in any
    /// order, while each app's own lines keep theirs.
    pub fn transcript_with_progress_by_app(&self) -> String {
        fn app_of(line: &str) -> Option<&str> {
            let (head, _) = line.split_once(": ")?;
            (head.contains('/') && !head.contains(' ')).then_some(head)
        }
        let stderr = self.stderr();
        let mut lines: Vec<&str> = stderr.lines().collect();
        let slots: Vec<usize> = (0..lines.len())
            .filter(|&index| app_of(lines[index]).is_some())
            .collect();
        let mut progress: Vec<&str> = slots.iter().map(|&index| lines[index]).collect();
        progress.sort_by_key(|line| app_of(line));
        for (slot, line) in slots.into_iter().zip(progress) {
            lines[slot] = line;
        }
        let mut grouped = lines.join("\n");
        if stderr.ends_with('\n') {
            grouped.push('\n');
        }
        format!(
            "exit code: {}\n----- stdout -----\n{}----- stderr -----\n{grouped}",
            self.code().unwrap_or(-1),
            self.stdout(),
        )
    }

    pub fn into_output(self) -> Output {
        self.output
    }
}

/// Existing assertions read `output.status`, `output.stdout` and `output.stderr` as before.
impl std::ops::Deref for Run {
    type Target = Output;

    fn deref(&self) -> &Output {
        &self.output
    }
}

impl fmt::Display for Run {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

impl fmt::Debug for Run {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}
