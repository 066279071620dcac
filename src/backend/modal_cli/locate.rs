//! Which `modal` program modalplan runs. Installed with pip (`pip install modalplan modal`, the GitHub
//! Action, `uvx`), modalplan's binary sits in a virtual environment's `bin/` next to that environment's
//! `modal`; that one is the CLI the user installed for it, so it comes before whatever `PATH` finds first.
//!
//! The order, first match wins:
//! 1. `MODALPLAN_MODAL_BIN`, for CI and tests that point at one venv;
//! 2. the manifest's `[modal].cli`;
//! 3. a `modal` in the folder of modalplan's own executable (its virtual environment);
//! 4. `modal` on `PATH`.

use std::path::{Path, PathBuf};

/// Where the `modal` program came from, for messages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModalSource {
    /// `MODALPLAN_MODAL_BIN`.
    Variable,
    /// The manifest's `[modal].cli`.
    Manifest,
    /// The folder of modalplan's executable.
    OwnEnvironment,
    /// `modal`, found on `PATH` when it runs.
    Path,
}

/// What the lookup reads, gathered by the caller so that the lookup itself is a pure function.
#[derive(Debug, Clone, Copy)]
pub struct ModalLookup<'a> {
    /// `MODALPLAN_MODAL_BIN`, when set.
    pub variable: Option<&'a str>,
    /// The manifest's `[modal].cli` (empty when the manifest has none).
    pub manifest_cli: &'a [String],
    /// modalplan's own executable (`std::env::current_exe`, symbolic links resolved).
    pub own_executable: Option<&'a Path>,
}

/// The name of the `modal` program on this platform (`modal.exe` in a Windows venv's `Scripts\`).
pub fn program_name() -> String {
    format!("modal{}", std::env::consts::EXE_SUFFIX)
}

impl ModalLookup<'_> {
    /// The program and leading arguments to run, and where they came from. `is_file` says whether a path
    /// is an existing file; the real caller passes [`Path::is_file`].
    pub fn locate(&self, is_file: impl Fn(&Path) -> bool) -> (Vec<String>, ModalSource) {
        if let Some(variable) = self.variable.filter(|value| !value.trim().is_empty()) {
            return (vec![variable.to_owned()], ModalSource::Variable);
        }
        if !self.manifest_cli.is_empty() {
            return (self.manifest_cli.to_vec(), ModalSource::Manifest);
        }
        if let Some(beside) = self.beside_own_executable()
            && is_file(&beside)
        {
            return (
                vec![beside.display().to_string()],
                ModalSource::OwnEnvironment,
            );
        }
        (vec!["modal".to_owned()], ModalSource::Path)
    }

    fn beside_own_executable(&self) -> Option<PathBuf> {
        let folder = self.own_executable?.parent()?;
        Some(folder.join(program_name()))
    }
}

/// The lookup with this process's environment and executable.
pub fn locate_for_this_process(manifest_cli: &[String]) -> (Vec<String>, ModalSource) {
    let variable = crate::settings::env::modal_bin();
    let own_executable = std::env::current_exe().ok();
    ModalLookup {
        variable: variable.as_deref(),
        manifest_cli,
        own_executable: own_executable.as_deref(),
    }
    .locate(Path::is_file)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ModalLookup, ModalSource};

    const VENV_MODALPLAN: &str = "/home/ci/venv/bin/modalplan";
    const VENV_MODAL: &str = "/home/ci/venv/bin/modal";

    fn lookup<'a>(variable: Option<&'a str>, manifest_cli: &'a [String]) -> ModalLookup<'a> {
        ModalLookup {
            variable,
            manifest_cli,
            own_executable: Some(Path::new(VENV_MODALPLAN)),
        }
    }

    fn venv_has_modal(path: &Path) -> bool {
        path == Path::new(VENV_MODAL)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn the_variable_wins_over_the_manifest_and_the_venv() {
        let cli = strings(&["uvx", "modal"]);
        assert_eq!(
            lookup(Some("/opt/modal-1.6.4/bin/modal"), &cli).locate(venv_has_modal),
            (
                strings(&["/opt/modal-1.6.4/bin/modal"]),
                ModalSource::Variable
            )
        );
    }

    #[test]
    fn a_blank_variable_counts_as_unset() {
        assert_eq!(
            lookup(Some("  "), &[]).locate(venv_has_modal),
            (strings(&[VENV_MODAL]), ModalSource::OwnEnvironment)
        );
    }

    #[test]
    fn the_manifest_wins_over_the_venv() {
        let cli = strings(&["uvx", "--from", "modal==1.6.4", "modal"]);
        assert_eq!(
            lookup(None, &cli).locate(venv_has_modal),
            (cli.clone(), ModalSource::Manifest)
        );
    }

    #[test]
    fn the_modal_beside_modalplan_wins_over_path() {
        assert_eq!(
            lookup(None, &[]).locate(venv_has_modal),
            (strings(&[VENV_MODAL]), ModalSource::OwnEnvironment)
        );
    }

    #[test]
    fn without_a_modal_beside_it_path_decides() {
        assert_eq!(
            lookup(None, &[]).locate(|_| false),
            (strings(&["modal"]), ModalSource::Path)
        );
        let unknown_executable = ModalLookup {
            variable: None,
            manifest_cli: &[],
            own_executable: None,
        };
        assert_eq!(
            unknown_executable.locate(|_| true),
            (strings(&["modal"]), ModalSource::Path)
        );
    }

    #[test]
    fn only_the_executables_own_folder_is_looked_at() {
        let looked_at = std::cell::RefCell::new(Vec::new());
        let _ = lookup(None, &[]).locate(|path| {
            looked_at.borrow_mut().push(path.to_path_buf());
            false
        });
        assert_eq!(
            looked_at.into_inner(),
            vec![Path::new("/home/ci/venv/bin").join(super::program_name())]
        );
    }
}
