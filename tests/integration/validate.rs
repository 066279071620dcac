//! `modalplan validate` and `modalplan schema`, through the built binary. Each manifest under
//! `tests/fixtures/manifests/invalid/` has a snapshot of its whole output; the valid ones print one line.

use std::path::{Path, PathBuf};

use crate::support::run::{Modalplan, Run};

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.toml` files of a folder, relative to the repository root, sorted.
fn manifests_in(folder: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repository().join(folder))
        .unwrap_or_else(|error| panic!("{folder}: {error}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| path.strip_prefix(repository()).unwrap().to_path_buf())
        .collect();
    paths.sort();
    paths
}

fn modalplan(args: &[&str], dir: &Path) -> Run {
    modalplan_with(args, dir, &[])
}

/// Outside GitHub Actions unless `env` sets `GITHUB_ACTIONS`, so that a CI runner does not change the
/// snapshots.
fn modalplan_with(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Run {
    Modalplan::new()
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .run()
}

fn validate(manifest: &Path, extra: &[&str]) -> Run {
    let manifest = manifest.to_str().unwrap();
    let mut args = vec!["validate", "--manifest", manifest];
    args.extend_from_slice(extra);
    modalplan(&args, repository())
}

#[test]
fn every_invalid_manifest_fails_with_its_diagnostic() {
    let fixtures = manifests_in("tests/fixtures/manifests/invalid");
    assert!(
        fixtures.len() >= 25,
        "only {} invalid fixtures",
        fixtures.len()
    );
    for fixture in fixtures {
        let run = validate(&fixture, &[]);
        let name = fixture.file_stem().unwrap().to_str().unwrap();
        assert_eq!(run.code(), Some(1), "{name}: {}", run.transcript());
        assert!(run.stdout().is_empty(), "{name}: {}", run.stdout());
        insta::assert_snapshot!(format!("invalid__{name}"), run.transcript());
    }
}

#[test]
fn every_valid_manifest_passes_with_only_a_summary_line() {
    let mut manifests = manifests_in("tests/fixtures/manifests/valid");
    manifests.extend(manifests_in("examples"));
    manifests.push(PathBuf::from("processors.toml"));
    let mut summaries = String::new();
    for manifest in manifests {
        let run = validate(&manifest, &["--strict"]);
        assert_eq!(run.code(), Some(0), "{}", run.transcript());
        assert_eq!(run.stderr(), "", "{}", manifest.display());
        assert_eq!(run.stdout().lines().count(), 1, "{}", run.stdout());
        summaries.push_str(&run.stdout());
    }
    insta::assert_snapshot!(summaries, @r"
    tests/fixtures/manifests/valid/every-field.toml: valid (2 processors, 3 environments)
    tests/fixtures/manifests/valid/minimal-public-image.toml: valid (1 processor, 1 environment)
    examples/minimal.toml: valid (1 processor, 1 environment)
    examples/staged-rollout.toml: valid (2 processors, 3 environments)
    processors.toml: valid (3 processors, 3 environments)
    ");
}

#[test]
fn warnings_pass_unless_strict() {
    for fixture in manifests_in("tests/fixtures/manifests/warning") {
        let name = fixture.file_stem().unwrap().to_str().unwrap();
        let run = validate(&fixture, &[]);
        assert_eq!(run.code(), Some(0), "{name}");
        insta::assert_snapshot!(format!("warning__{name}"), run.transcript());
        let strict = validate(&fixture, &["--strict"]);
        assert_eq!(strict.code(), Some(1), "{name}");
        insta::assert_snapshot!(format!("warning__{name}__strict"), strict.transcript());
    }
}

#[test]
fn json_format_lists_every_diagnostic_with_its_position() {
    let run = validate(
        Path::new("tests/fixtures/manifests/invalid/many-problems.toml"),
        &["--format", "json"],
    );
    assert_eq!(run.code(), Some(1));
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn github_format_annotates_each_line() {
    let run = validate(
        Path::new("tests/fixtures/manifests/invalid/many-problems.toml"),
        &["--format", "github"],
    );
    assert_eq!(run.code(), Some(1));
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn github_format_reports_warnings_as_warnings() {
    let run = validate(
        Path::new("tests/fixtures/manifests/warning/unused-secret.toml"),
        &["--format", "github"],
    );
    assert_eq!(run.code(), Some(0));
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn under_actions_errors_are_annotations_too_without_format_github() {
    let run = modalplan_with(
        &[
            "validate",
            "--manifest",
            "tests/fixtures/manifests/invalid/image-tag.toml",
        ],
        repository(),
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout(), "");
    let stderr = run.stderr();
    let annotations: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("::"))
        .collect();
    assert_eq!(
        annotations,
        [
            "::error file=tests/fixtures/manifests/invalid/image-tag.toml,line=19,col=13,endLine=19,\
             endColumn=53,title=ERR_IMAGE_UNPINNED::`ghcr.io/acme/theory/llm-litellm:latest` is pinned \
             by the tag `latest`, which can move%0Ahelp: pin the image by its digest, \
             `registry/repository@sha256:<64 hex>`; `docker buildx imagetools inspect IMAGE:TAG` prints it"
        ]
    );
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn under_actions_json_stays_alone_on_stdout_and_warnings_are_annotated() {
    let run = modalplan_with(
        &[
            "validate",
            "--manifest",
            "tests/fixtures/manifests/warning/unused-secret.toml",
            "--format",
            "json",
        ],
        repository(),
        &[("GITHUB_ACTIONS", "true")],
    );
    assert_eq!(run.code(), Some(0));
    let parsed: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(parsed.as_array().map(Vec::len), Some(1));
    insta::assert_snapshot!(run.transcript());
}

#[test]
fn outside_actions_no_annotation_is_written() {
    let run = modalplan_with(
        &[
            "validate",
            "--manifest",
            "tests/fixtures/manifests/invalid/image-tag.toml",
        ],
        repository(),
        &[("GITHUB_ACTIONS", "false")],
    );
    assert_eq!(run.code(), Some(1));
    assert!(!run.stderr().contains("::error"), "{}", run.stderr());
}

#[test]
fn a_missing_manifest_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere").join("processors.toml");
    let run = validate(&missing, &[]);
    assert_eq!(run.code(), Some(1));
    insta::with_settings!({filters => vec![(regex_escape(dir.path().to_str().unwrap()).as_str(), "[TEMP]")]}, {
        insta::assert_snapshot!(run.transcript());
    });
}

#[test]
fn the_default_manifest_is_processors_toml_in_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repository().join("examples/minimal.toml"),
        dir.path().join("processors.toml"),
    )
    .unwrap();
    let run = modalplan(&["validate"], dir.path());
    assert_eq!(run.code(), Some(0), "{}", run.transcript());
    assert_eq!(
        run.stdout(),
        "processors.toml: valid (1 processor, 1 environment)\n"
    );
    assert_eq!(run.stderr(), "");
}

#[test]
fn schema_prints_the_committed_schema() {
    let run = modalplan(&["schema"], repository());
    assert_eq!(run.code(), Some(0));
    let committed =
        std::fs::read_to_string(repository().join("schemas/processors.schema.json")).unwrap();
    assert!(
        run.stdout() == committed,
        "schemas/processors.schema.json is stale; regenerate it with\n\n    cargo run -- schema > schemas/processors.schema.json\n"
    );
    assert_eq!(run.stderr(), "");
}

/// A literal path as a regex for insta filters.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
