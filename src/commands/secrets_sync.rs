//! `modalplan secrets sync`: makes each secret of the policy (`[secrets]`, the allow-list) hold exactly
//! its declared keys on Modal, values from the process environment, a dotenv file or a JSON file.
//!
//! Values are read into [`SecretValue`]s, masked under GitHub Actions before anything prints, and handed
//! to the backend, which passes them on standard input (never on a command line). Nothing prints a value:
//! the report names secrets and keys only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::context::Context;
use crate::error::Error;

use super::secret_source::SecretSource;
use super::target;
use crate::backend::{BackendError, ModalBackend, SecretValue, SecretWrite};
use crate::cli::SecretsSyncArgs;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::manifest::ValidManifest;
use crate::plan::options::did_you_mean;
use crate::printer;

/// What happened to one declared secret.
#[derive(Debug)]
enum Outcome {
    Created,
    Replaced,
    WouldCreate,
    WouldReplace,
    /// Not selected by `--only`.
    Skipped,
    /// Keys with no value (or an empty one): nothing was written for it.
    MissingValues(Vec<(String, &'static str)>),
    /// The write failed.
    Failed(BackendError),
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Replaced => "replaced",
            Outcome::WouldCreate => "would create",
            Outcome::WouldReplace => "would replace",
            Outcome::Skipped => "skipped",
            Outcome::MissingValues(_) | Outcome::Failed(_) => "failed",
        }
    }
}

/// One line of the report.
#[derive(Debug)]
struct Row {
    name: String,
    keys: Vec<String>,
    outcome: Outcome,
}

/// The secrets of one run, before anything is asked of Modal.
struct Prepared {
    /// Skipped and missing-value rows.
    rows: Vec<Row>,
    /// The declared keys (in manifest order) and the write of each secret that has every value.
    writes: Vec<(Vec<String>, SecretWrite)>,
    /// Every value read, for the masks.
    read: Vec<SecretValue>,
    /// Keys of the file that no secret declares.
    ignored: Vec<String>,
}

pub async fn run(args: &SecretsSyncArgs) -> Result<ExitStatus, Error> {
    let (context, warnings) = Context::load_deferring_warnings(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let environment = args.environment.as_str();
    target::check_environment(manifest, environment)?;
    let selected = selection(manifest, &args.only)?;
    let source = SecretSource::read(args.from_dotenv.as_deref(), args.from_json.as_deref())?;
    let mut prepared = prepare(manifest, &selected, &source);
    // Masked before anything could print them (the runner hides a value only once it saw its mask):
    // every value read, and every value of a file, declared or not.
    for value in &prepared.read {
        crate::github::actions::mask_secret(value.expose());
    }
    prepared.read.clear();
    super::context::print_warnings(&warnings);
    let backend = context.backend();
    let ignored = std::mem::take(&mut prepared.ignored);
    let rows = sync(backend.as_ref(), environment, prepared, args.dry_run).await?;
    printer::stdout(&render(
        manifest,
        environment,
        &source,
        &rows,
        &ignored,
        args.dry_run,
    ));
    failure(&rows, environment, &source).map_or(Ok(ExitStatus::Success), Err)
}

/// Looks up every selected secret's keys in `source`.
fn prepare(manifest: &ValidManifest, selected: &BTreeSet<&str>, source: &SecretSource) -> Prepared {
    let mut prepared = Prepared {
        rows: Vec::new(),
        writes: Vec::new(),
        read: source.file_values(),
        ignored: Vec::new(),
    };
    let keys_of = |name: &String, keys: &Vec<String>| {
        if keys.is_empty() {
            vec![name.clone()]
        } else {
            keys.clone()
        }
    };
    for (name, policy) in &manifest.secrets {
        let keys = keys_of(name, &policy.keys);
        if !selected.contains(name.as_str()) {
            prepared.rows.push(Row {
                name: name.clone(),
                keys,
                outcome: Outcome::Skipped,
            });
            continue;
        }
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for key in &keys {
            match source.get(key) {
                None => missing.push((key.clone(), "no value")),
                Some(value) if value.expose().is_empty() => missing.push((key.clone(), "empty")),
                Some(value) => {
                    prepared.read.push(value.clone());
                    values.insert(key.clone(), value);
                }
            }
        }
        if missing.is_empty() {
            let write = SecretWrite {
                name: name.clone(),
                values,
            };
            prepared.writes.push((keys, write));
        } else {
            prepared.rows.push(Row {
                name: name.clone(),
                keys,
                outcome: Outcome::MissingValues(missing),
            });
        }
    }
    let declared: BTreeSet<String> = manifest
        .secrets
        .iter()
        .flat_map(|(name, policy)| keys_of(name, &policy.keys))
        .collect();
    prepared.ignored = source
        .file_keys()
        .into_iter()
        .filter(|key| !declared.contains(*key))
        .map(str::to_owned)
        .collect();
    prepared
}

/// Reads which secrets exist, then writes (or, for a dry run, only classifies) the prepared ones; every
/// row, by name.
async fn sync(
    backend: &dyn ModalBackend,
    environment: &str,
    prepared: Prepared,
    dry_run: bool,
) -> Result<Vec<Row>, Error> {
    let Prepared {
        mut rows, writes, ..
    } = prepared;
    let present = target::secrets_present(backend, environment)
        .await
        .map_err(Error::backend)?;
    let outcomes: Vec<Outcome> = if dry_run {
        writes
            .iter()
            .map(|(_, write)| {
                if present.contains(&write.name) {
                    Outcome::WouldReplace
                } else {
                    Outcome::WouldCreate
                }
            })
            .collect()
    } else {
        let requests: Vec<SecretWrite> = writes.iter().map(|(_, write)| write.clone()).collect();
        let results = backend
            .write_secrets(environment, &requests)
            .await
            .map_err(Error::backend)?;
        writes
            .iter()
            .zip(results)
            .map(|((_, write), result)| match result {
                Ok(()) if present.contains(&write.name) => Outcome::Replaced,
                Ok(()) => Outcome::Created,
                Err(error) => Outcome::Failed(error),
            })
            .collect()
    };
    for ((keys, write), outcome) in writes.into_iter().zip(outcomes) {
        rows.push(Row {
            name: write.name,
            keys,
            outcome,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The secrets `--only` selects (every declared one without it); an undeclared name is an error.
fn selection<'a>(
    manifest: &'a ValidManifest,
    only: &'a [String],
) -> Result<BTreeSet<&'a str>, Error> {
    if only.is_empty() {
        return Ok(manifest.secrets.keys().map(String::as_str).collect());
    }
    for name in only {
        if !manifest.secrets.contains_key(name) {
            let suggestion = did_you_mean(name, manifest.secrets.keys().map(String::as_str));
            return Err(Error::UndeclaredSecret {
                name: name.clone(),
                manifest: manifest.path.clone(),
                suggestion,
                declared: manifest.secrets.keys().cloned().collect(),
            });
        }
    }
    Ok(only.iter().map(String::as_str).collect())
}

fn render(
    manifest: &ValidManifest,
    environment: &str,
    source: &SecretSource,
    rows: &[Row],
    ignored: &[String],
    dry_run: bool,
) -> String {
    let mut out = format!(
        "Secrets of {} in environment `{environment}`, values from {}{}:\n",
        manifest.path.display(),
        source.describe(),
        if dry_run {
            " (dry run: nothing is written)"
        } else {
            ""
        }
    );
    let word_width = rows
        .iter()
        .map(|row| row.outcome.word().len())
        .max()
        .unwrap_or(0);
    let name_width = rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
    for row in rows {
        let detail = match &row.outcome {
            Outcome::Skipped => "not in --only".to_owned(),
            Outcome::MissingValues(missing) => {
                let keys: Vec<String> = missing
                    .iter()
                    .map(|(key, why)| format!("{key} ({why})"))
                    .collect();
                format!(
                    "nothing written: {} in {}",
                    keys.join(", "),
                    source.describe()
                )
            }
            Outcome::Failed(error) => format!("{}: {error}", row.keys.join(", ")),
            _ => row.keys.join(", "),
        };
        let _ = writeln!(
            out,
            "  {:<word_width$}  {:<name_width$}  {detail}",
            row.outcome.word(),
            row.name
        );
    }
    if !ignored.is_empty() {
        let _ = writeln!(
            out,
            "Ignored {} in {}: no secret of [secrets] declares {}.",
            ignored.join(", "),
            source.describe(),
            if ignored.len() == 1 { "it" } else { "them" }
        );
    }
    let count = |words: &[&str]| {
        rows.iter()
            .filter(|row| words.contains(&row.outcome.word()))
            .count()
    };
    let _ = if dry_run {
        writeln!(
            out,
            "\n{} to create, {} to replace, {} skipped, {} failed.",
            count(&["would create"]),
            count(&["would replace"]),
            count(&["skipped"]),
            count(&["failed"])
        )
    } else {
        writeln!(
            out,
            "\n{} created, {} replaced, {} skipped, {} failed.",
            count(&["created"]),
            count(&["replaced"]),
            count(&["skipped"]),
            count(&["failed"])
        )
    };
    out
}

/// The run's error when a secret failed: what failed and the fix.
fn failure(rows: &[Row], environment: &str, source: &SecretSource) -> Option<Error> {
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|row| matches!(row.outcome, Outcome::MissingValues(_) | Outcome::Failed(_)))
        .collect();
    let first = failed.first()?;
    let names: Vec<&str> = failed.iter().map(|row| row.name.as_str()).collect();
    let (code, help) = match &first.outcome {
        Outcome::MissingValues(missing) => (
            Code::ErrSecretValueMissing,
            match source {
                SecretSource::Environment => format!(
                    "set {} in the environment (in CI, from the repository's secrets); a secret is written only when every key it declares has a value",
                    missing[0].0
                ),
                SecretSource::File { path, .. } => format!(
                    "add {} to {}; a secret is written only when every key it declares has a value",
                    missing[0].0,
                    path.display()
                ),
            },
        ),
        Outcome::Failed(error) => (error.code(), error.help()),
        _ => unreachable!("only failures are kept"),
    };
    Some(Error::SecretsNotSynced {
        environment: environment.to_owned(),
        names: names.iter().map(|name| (*name).to_owned()).collect(),
        code,
        help,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::backend::fake::{FakeBackend, FakeCall};

    const MANIFEST: &str = "version = 1\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \".\"\nenvironments = [\"dev\"]\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n\n[secrets.OPENAI_API_KEY]\nkeys = [\"OPENAI_API_KEY\"]\n\n[[processor]]\nref = \"llm/litellm@1\"\nimage.oci = \"ghcr.io/acme/llm@sha256:1111111111111111111111111111111111111111111111111111111111111111\"\nsecrets.required = [\"OPENAI_API_KEY\"]\n";

    fn manifest() -> ValidManifest {
        crate::manifest::load_str(MANIFEST, Path::new("processors.toml"))
            .expect("valid")
            .manifest
    }

    fn file(values: &[(&str, &str)]) -> SecretSource {
        SecretSource::File {
            path: PathBuf::from("ci.env"),
            values: values
                .iter()
                .map(|(key, value)| ((*key).to_owned(), SecretValue::new(*value)))
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_failed_write_fails_only_its_secret_and_its_message_is_shown() {
        let manifest = manifest();
        let backend = FakeBackend::new().with_secret("dev", "OPENAI_API_KEY");
        backend.fail_secret_write(
            "REGISTRY_AUTH",
            BackendError::CommandFailed {
                command: "the secrets writer (environment `dev`)".into(),
                exit_code: None,
                stderr: "PERMISSION_DENIED: token may not write secrets".into(),
            },
        );
        let source = file(&[
            ("REGISTRY_USERNAME", "bot"),
            ("REGISTRY_PASSWORD", "pw-1"),
            ("OPENAI_API_KEY", "sk-1"),
        ]);
        let selected = selection(&manifest, &[]).unwrap();
        let prepared = prepare(&manifest, &selected, &source);
        let rows = sync(&backend, "dev", prepared, false).await.unwrap();
        assert_eq!(
            render(&manifest, "dev", &source, &rows, &[], false),
            "Secrets of processors.toml in environment `dev`, values from ci.env:\n  replaced  OPENAI_API_KEY  OPENAI_API_KEY\n  failed    REGISTRY_AUTH   REGISTRY_USERNAME, REGISTRY_PASSWORD: `the secrets writer (environment `dev`)` failed: PERMISSION_DENIED: token may not write secrets\n\n0 created, 1 replaced, 0 skipped, 1 failed.\n"
        );
        let report = failure(&rows, "dev", &source).expect("a failure");
        assert_eq!(
            report.code().map(|code| code.to_string()).as_deref(),
            Some("ERR_MODAL_CLI")
        );
        assert_eq!(
            report.to_string(),
            "1 secret not synced to `dev`: REGISTRY_AUTH"
        );
        assert_eq!(
            backend.call_log(),
            [
                "secret dev/OPENAI_API_KEY OPENAI_API_KEY",
                "secret dev/REGISTRY_AUTH REGISTRY_PASSWORD,REGISTRY_USERNAME"
            ]
        );
        let written = backend
            .secret_values("dev", "OPENAI_API_KEY")
            .expect("written");
        assert_eq!(written["OPENAI_API_KEY"].expose(), "sk-1");
        assert_eq!(backend.secret_values("dev", "REGISTRY_AUTH"), None);
    }

    #[tokio::test]
    async fn a_dry_run_writes_nothing_and_ignored_keys_are_named() {
        let manifest = manifest();
        let backend = FakeBackend::new();
        let source = file(&[("OPENAI_API_KEY", "sk-1"), ("UNRELATED", "x")]);
        let only = vec!["OPENAI_API_KEY".to_owned()];
        let selected = selection(&manifest, &only).unwrap();
        let mut prepared = prepare(&manifest, &selected, &source);
        assert_eq!(prepared.ignored, ["UNRELATED"]);
        // The masks cover the file's every value, declared or not.
        let mut read: Vec<&str> = prepared.read.iter().map(SecretValue::expose).collect();
        read.sort_unstable();
        assert_eq!(read, ["sk-1", "sk-1", "x"]);
        let ignored = std::mem::take(&mut prepared.ignored);
        let rows = sync(&backend, "dev", prepared, true).await.unwrap();
        assert_eq!(
            render(&manifest, "dev", &source, &rows, &ignored, true),
            "Secrets of processors.toml in environment `dev`, values from ci.env (dry run: nothing is written):\n  would create  OPENAI_API_KEY  OPENAI_API_KEY\n  skipped       REGISTRY_AUTH   not in --only\nIgnored UNRELATED in ci.env: no secret of [secrets] declares it.\n\n1 to create, 0 to replace, 1 skipped, 0 failed.\n"
        );
        assert!(failure(&rows, "dev", &source).is_none());
        assert_eq!(backend.calls(), Vec::<FakeCall>::new());
    }
}
