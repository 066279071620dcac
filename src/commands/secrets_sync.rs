//! `modalplan secrets sync`: makes each secret of the policy (`[secrets]`, the allow-list) hold exactly
//! its declared keys on Modal, values from the process environment, a dotenv file or a JSON file.
//!
//! Values are read into [`crate::backend::SecretValue`]s, masked under GitHub Actions before anything prints, and handed
//! to the backend, which passes them on standard input (never on a command line). Nothing prints a value:
//! the report names secrets and keys only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use miette::{Report, miette};

use super::secret_source::SecretSource;
use super::target;
use crate::backend::{BackendError, ModalBackend as _, SecretWrite};
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

pub async fn run(args: &SecretsSyncArgs) -> Result<ExitStatus, Report> {
    let (manifest, warnings) = target::load_manifest_deferring_warnings(&args.manifest.manifest)?;
    let environment = args.environment.as_str();
    target::check_environment(&manifest, environment)?;
    let selected = selection(&manifest, &args.only)?;
    let source = SecretSource::read(args.from_dotenv.as_deref(), args.from_json.as_deref())?;

    let mut rows = Vec::new();
    let mut writes = Vec::new();
    let mut read = Vec::new();
    for (name, policy) in &manifest.secrets {
        let keys = if policy.keys.is_empty() {
            vec![name.clone()]
        } else {
            policy.keys.clone()
        };
        if !selected.contains(name.as_str()) {
            rows.push(Row {
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
                    read.push(value.clone());
                    values.insert(key.clone(), value);
                }
            }
        }
        if missing.is_empty() {
            writes.push((
                keys,
                SecretWrite {
                    name: name.clone(),
                    values,
                },
            ));
        } else {
            rows.push(Row {
                name: name.clone(),
                keys,
                outcome: Outcome::MissingValues(missing),
            });
        }
    }
    // Masked before anything could print them (the runner hides a value only once it saw its mask):
    // every value read, and every value of a file, declared or not.
    read.extend(source.file_values());
    for value in &read {
        crate::github::actions::mask_secret(value.expose());
    }
    target::print_warnings(&warnings);
    let declared: BTreeSet<&str> = manifest
        .secrets
        .iter()
        .flat_map(|(name, policy)| {
            if policy.keys.is_empty() {
                vec![name.as_str()]
            } else {
                policy.keys.iter().map(String::as_str).collect()
            }
        })
        .collect();
    let ignored: Vec<&str> = source
        .file_keys()
        .into_iter()
        .filter(|key| !declared.contains(key))
        .collect();

    let backend = target::backend(&manifest);
    let present = target::secrets_present(backend.as_ref(), environment)
        .await
        .map_err(|error| target::backend_report(&error, None))?;
    let outcomes: Vec<Outcome> = if args.dry_run {
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
            .map_err(|error| target::backend_report(&error, None))?;
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
    printer::stdout(&render(
        &manifest,
        environment,
        &source,
        &rows,
        &ignored,
        args.dry_run,
    ));
    failure(&rows, environment, &source).map_or(Ok(ExitStatus::Success), Err)
}

/// The secrets `--only` selects (every declared one without it); an undeclared name is an error.
fn selection<'a>(
    manifest: &'a ValidManifest,
    only: &'a [String],
) -> Result<BTreeSet<&'a str>, Report> {
    if only.is_empty() {
        return Ok(manifest.secrets.keys().map(String::as_str).collect());
    }
    for name in only {
        if !manifest.secrets.contains_key(name) {
            let suggestion = did_you_mean(name, manifest.secrets.keys().map(String::as_str));
            return Err(miette!(
                code = Code::ErrUndeclaredSecret.as_str(),
                help = format!(
                    "sync only secrets `[secrets]` of {} declares ({}), or declare it there with its keys",
                    manifest.path.display(),
                    manifest
                        .secrets
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "`--only {name}` is not a secret of {}{}",
                manifest.path.display(),
                suggestion.map_or_else(String::new, |known| format!(" (did you mean `{known}`?)"))
            ));
        }
    }
    Ok(only.iter().map(String::as_str).collect())
}

fn render(
    manifest: &ValidManifest,
    environment: &str,
    source: &SecretSource,
    rows: &[Row],
    ignored: &[&str],
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
fn failure(rows: &[Row], environment: &str, source: &SecretSource) -> Option<Report> {
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
    Some(miette!(
        code = code.as_str(),
        help = help,
        "{} not synced to `{environment}`: {}",
        if failed.len() == 1 {
            "1 secret".to_owned()
        } else {
            format!("{} secrets", failed.len())
        },
        names.join(", ")
    ))
}
