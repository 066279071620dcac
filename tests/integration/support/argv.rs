//! Records the argv of every process modalplan starts: `modal` and the interpreter of its helpers are
//! replaced by small wrappers that append their argv (one JSON array a line) to a log, then `exec` the
//! real program. A process listing shows exactly these argvs to every user of the machine.
// Shared support: not every test module uses every helper.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::emulator::Emulator;

/// The wrappers of one emulator's `modal` and Python, and their log.
pub struct ArgvRecorder {
    dir: TempDir,
}

impl ArgvRecorder {
    /// Wrappers around `emulator`'s `modal` and Python.
    pub fn new(emulator: &Emulator) -> ArgvRecorder {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-argv-")
            .tempdir()
            .expect("temp dir");
        let recorder = ArgvRecorder { dir };
        let python = emulator.python();
        recorder.wrap("modal", &python, &emulator.modal_bin());
        recorder.wrap("python", &python, &python);
        recorder
    }

    fn wrap(&self, name: &str, python: &Path, real: &Path) {
        let script = format!(
            "#!{python}\nimport json, os, sys\nwith open({log:?}, \"a\") as log:\n    log.write(json.dumps(sys.argv) + \"\\n\")\nos.execv({real:?}, [{real:?}] + sys.argv[1:])\n",
            python = python.display(),
            log = self.log().display().to_string(),
            real = real.display().to_string(),
        );
        let path = self.dir.path().join(name);
        fs::write(&path, script).expect("write wrapper");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("argv.jsonl")
    }

    /// `MODALPLAN_MODAL_BIN` and `MODALPLAN_PYTHON` pointing at the wrappers (after `Emulator::envs`).
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![
            (
                "MODALPLAN_MODAL_BIN".into(),
                self.dir.path().join("modal").display().to_string(),
            ),
            (
                "MODALPLAN_PYTHON".into(),
                self.dir.path().join("python").display().to_string(),
            ),
        ]
    }

    /// Every argv recorded so far, oldest first.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("an argv line"))
            .collect()
    }

    /// The argvs with the helper source after `-c` shortened to its first line, for assertions.
    pub fn summaries(&self) -> Vec<String> {
        self.argvs()
            .into_iter()
            .map(|argv| {
                let program = Path::new(&argv[0])
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut words = vec![program];
                let mut arguments = argv[1..].iter();
                while let Some(argument) = arguments.next() {
                    words.push(argument.clone());
                    if argument == "-c" {
                        if let Some(code) = arguments.next() {
                            words.push(format!(
                                "<{}>",
                                code.lines()
                                    .next()
                                    .unwrap_or_default()
                                    .trim_matches(['"', '#', ' '])
                                    .split(':')
                                    .next()
                                    .unwrap_or_default()
                            ));
                        }
                    }
                }
                words.join(" ")
            })
            .collect()
    }
}
