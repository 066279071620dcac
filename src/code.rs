//! The code a deploy ships: the files under `[modal].workdir` whose content changes what Modal runs.
//!
//! `modal deploy -m MODULE` (every 1.x client, `modal/_utils/function_utils.py`,
//! `FunctionInfo.get_entrypoint_mount`) ships the module itself: a single-file module (`modal_app.py`) as
//! that file, a package (`pkg.app`) as every file of its top-level package folder, leaving out
//! `__pycache__`, `*.pyc` and dot-prefixed names (`modal/mount.py`, `module_mount_condition`). Since 1.0
//! the client no longer mounts the other local modules the module imports: `add_local_python_source`
//! ships them, and the deploy imports them locally to build the app, so they shape what is deployed either
//! way. A static reader cannot tell which the module ships, so every local `*.py` under the workdir counts
//! (never a missed change; at worst a deploy too many). `[modal].code` adds globs for what the rule
//! misses (data files that `add_local_dir` ships) and, prefixed with `!`, leaves out what it should not
//! count (`!tests/**`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest, Sha256};

/// The code of one deploy: each file's path relative to the workdir (`/`-separated) and its content's
/// sha256, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeSnapshot {
    pub files: Vec<CodeFile>,
}

/// One file of a [`CodeSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct CodeFile {
    /// Relative to the workdir, `/`-separated: `modal_app.py`, `helpers/io.py`.
    pub path: String,
    /// Lowercase hex sha256 of the file's bytes.
    pub sha256: String,
}

/// The files of two snapshots that differ, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl CodeChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl CodeSnapshot {
    /// What changed from `before` to `self`.
    pub fn changes_from(&self, before: &CodeSnapshot) -> CodeChanges {
        let old: BTreeMap<&str, &str> = before
            .files
            .iter()
            .map(|file| (file.path.as_str(), file.sha256.as_str()))
            .collect();
        let new: BTreeMap<&str, &str> = self
            .files
            .iter()
            .map(|file| (file.path.as_str(), file.sha256.as_str()))
            .collect();
        let mut changes = CodeChanges::default();
        for (path, sha256) in &new {
            match old.get(path) {
                None => changes.added.push((*path).to_owned()),
                Some(previous) if previous != sha256 => changes.changed.push((*path).to_owned()),
                Some(_) => {}
            }
        }
        changes.removed = old
            .keys()
            .filter(|path| !new.contains_key(*path))
            .map(|path| (*path).to_owned())
            .collect();
        changes
    }
}

/// Why the code could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("`{pattern}` in `[modal].code` is not a glob: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("could not read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

/// The `[modal].code` patterns, compiled: what to add and what to leave out.
#[derive(Debug, Clone)]
pub struct CodeRule {
    include: GlobSet,
    exclude: GlobSet,
}

impl CodeRule {
    /// Compiles `[modal].code`; a pattern starting with `!` leaves its matches out.
    pub fn new(patterns: &[String]) -> Result<Self, CodeError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        for pattern in patterns {
            let (builder, glob) = match pattern.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, pattern.as_str()),
            };
            let glob = Glob::new(glob).map_err(|error| CodeError::BadPattern {
                pattern: pattern.clone(),
                reason: error.kind().to_string(),
            })?;
            builder.add(glob);
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|error| CodeError::BadPattern {
                pattern: patterns.join(", "),
                reason: error.to_string(),
            })
        };
        Ok(Self {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// True when the file at `relative` (to the workdir) is part of the deploy's code.
    fn counts(&self, relative: &str, module_files: &ModuleFiles) -> bool {
        if self.exclude.is_match(relative) {
            return false;
        }
        module_files.contains(relative)
            || Path::new(relative)
                .extension()
                .is_some_and(|ext| ext == "py")
            || self.include.is_match(relative)
    }
}

/// The files the client ships as the module itself.
enum ModuleFiles {
    /// `modal_app.py`.
    File(String),
    /// Everything under `pkg/`.
    Package(String),
}

impl ModuleFiles {
    fn of(workdir: &Path, module: &str) -> Self {
        let top = module.split('.').next().unwrap_or(module);
        if workdir.join(top).is_dir() {
            ModuleFiles::Package(format!("{top}/"))
        } else {
            ModuleFiles::File(format!("{}.py", module.replace('.', "/")))
        }
    }

    fn contains(&self, relative: &str) -> bool {
        match self {
            ModuleFiles::File(file) => relative == file,
            ModuleFiles::Package(folder) => relative.starts_with(folder.as_str()),
        }
    }
}

/// Reads the code of a deploy from `workdir`: see the module's documentation for the rule.
pub fn snapshot(workdir: &Path, module: &str, rule: &CodeRule) -> Result<CodeSnapshot, CodeError> {
    let module_files = ModuleFiles::of(workdir, module);
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(workdir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !skipped_by_the_client(entry.file_name()));
    for entry in walker {
        let entry = entry.map_err(|error| CodeError::Unreadable {
            path: error
                .path()
                .map_or_else(|| workdir.to_path_buf(), Path::to_path_buf),
            reason: error.to_string(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(workdir) else {
            continue;
        };
        let relative = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if !rule.counts(&relative, &module_files) {
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(|error| CodeError::Unreadable {
            path: entry.path().to_path_buf(),
            reason: error.to_string(),
        })?;
        files.push(CodeFile {
            path: relative,
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    files.sort();
    Ok(CodeSnapshot { files })
}

/// Names the client never ships from a module's folder: bytecode and dot-prefixed names.
fn skipped_by_the_client(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || name == "__pycache__" || name.ends_with(".pyc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn paths(snapshot: &CodeSnapshot) -> Vec<&str> {
        snapshot
            .files
            .iter()
            .map(|file| file.path.as_str())
            .collect()
    }

    #[test]
    fn a_single_file_module_and_every_local_python_file_count() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "modal_app.py", "app = 1\n");
        write(dir.path(), "helpers/io.py", "x = 1\n");
        write(
            dir.path(),
            "helpers/__pycache__/io.cpython-311.pyc",
            "bytecode",
        );
        write(dir.path(), ".venv/lib/site.py", "not ours");
        write(dir.path(), "README.md", "docs");
        write(dir.path(), "prompts/system.txt", "be brief");
        let rule = CodeRule::new(&[]).unwrap();
        let snapshot = snapshot(dir.path(), "modal_app", &rule).unwrap();
        assert_eq!(paths(&snapshot), ["helpers/io.py", "modal_app.py"]);
        assert_eq!(
            snapshot.files[1].sha256,
            hex::encode(Sha256::digest(b"app = 1\n"))
        );
    }

    #[test]
    fn a_package_module_ships_its_whole_folder_and_globs_add_and_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pkg/__init__.py", "");
        write(dir.path(), "pkg/app.py", "app = 1\n");
        write(dir.path(), "pkg/data/model.json", "{}");
        write(dir.path(), "prompts/system.txt", "be brief");
        write(dir.path(), "tests/test_app.py", "def test(): pass\n");
        let rule = CodeRule::new(&["prompts/**".to_owned(), "!tests/**".to_owned()]).unwrap();
        let snapshot = snapshot(dir.path(), "pkg.app", &rule).unwrap();
        assert_eq!(
            paths(&snapshot),
            [
                "pkg/__init__.py",
                "pkg/app.py",
                "pkg/data/model.json",
                "prompts/system.txt"
            ]
        );
    }

    #[test]
    fn a_bad_glob_is_named() {
        let error = CodeRule::new(&["src/[".to_owned()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`src/[` in `[modal].code` is not a glob: unclosed character class; missing ']'"
        );
    }

    #[test]
    fn changes_name_added_changed_and_removed_files() {
        let file = |path: &str, sha256: &str| CodeFile {
            path: path.into(),
            sha256: sha256.into(),
        };
        let before = CodeSnapshot {
            files: vec![file("a.py", "1"), file("b.py", "2"), file("c.py", "3")],
        };
        let after = CodeSnapshot {
            files: vec![file("a.py", "1"), file("b.py", "9"), file("d.py", "4")],
        };
        assert_eq!(
            after.changes_from(&before),
            CodeChanges {
                added: vec!["d.py".into()],
                changed: vec!["b.py".into()],
                removed: vec!["c.py".into()],
            }
        );
        assert!(after.changes_from(&after).is_empty());
    }
}
