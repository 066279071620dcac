//! The semantic checks: what the schema cannot say (a secret that is named but not declared, two refs that
//! map to one app name, ...), and the resolution of defaults and overrides into a [`ValidManifest`].
//!
//! [`check`] walks the manifest once: the settings (`settings.rs`: `[modal]`, `[smoke]`, `[promotion]`),
//! each processor with its overrides (`processor.rs`), then what needs the whole manifest (duplicate refs
//! and app names, unused secrets, `protect`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::Diagnostic;
use super::duration;
use super::raw::{RawManifest, RawSecretLists};
use super::schema_check::did_you_mean;
use super::valid::{ModalSettings, SecretPolicy, ValidManifest};
use crate::codes::Code;
use crate::naming::AppName;

mod processor;
mod settings;

/// The secret that holds the credentials of a private registry.
pub const REGISTRY_AUTH: &str = "REGISTRY_AUTH";

/// Checks a manifest that conforms to the schema and resolves it. Returns the manifest when there is no
/// error, and every diagnostic found (warnings included) either way.
pub fn check(
    raw: &RawManifest,
    path: &Path,
    sha256: String,
) -> (Option<ValidManifest>, Vec<Diagnostic>) {
    let mut checker = Checker::default();
    let manifest = checker.manifest(raw, path, sha256);
    let has_errors = checker.diagnostics.iter().any(Diagnostic::is_error);
    ((!has_errors).then_some(manifest), checker.diagnostics)
}

#[derive(Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
}

fn span<T>(value: &Spanned<T>) -> Range<usize> {
    value.span()
}

impl Checker {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn duration(&mut self, value: Option<&Spanned<String>>, default: Duration) -> Duration {
        self.optional_duration(value).unwrap_or(default)
    }

    /// A duration the manifest may leave out: `None` when absent or not a duration (then reported).
    fn optional_duration(&mut self, value: Option<&Spanned<String>>) -> Option<Duration> {
        let value = value?;
        let parsed = duration::parse(value.get_ref());
        if parsed.is_none() {
            self.push(
                Diagnostic::error(
                    Code::ErrManifestSchema,
                    format!("`{}` is not a duration longer than zero", value.get_ref()),
                )
                .with_label(span(value), "")
                .with_help(
                    "write a number and a unit (`ms`, `s`, `m`, `h`), e.g. `\"300s\"`, `\"5m\"`",
                ),
            );
        }
        parsed
    }

    fn manifest(&mut self, raw: &RawManifest, path: &Path, sha256: String) -> ValidManifest {
        let modal = self.modal(raw, path);
        let promotion = self.promotion(raw.promotion.as_ref(), &modal);
        let smoke = self.smoke(raw.smoke.as_ref());
        let secrets = secret_policies(raw);

        if raw.processors.is_empty() {
            self.push(
                Diagnostic::error(Code::ErrEmptyManifest, "the manifest declares no processor")
                    .with_label(span(&raw.version), "")
                    .with_help(
                        "add one:\n[[processor]]\nref = \"llm/litellm@1\"\nimage.oci = \"ghcr.io/acme/theory/llm-litellm@sha256:<64 hex>\"",
                    ),
            );
        }

        let environment_spans: HashMap<&str, Range<usize>> = raw
            .modal
            .environments
            .get_ref()
            .iter()
            .map(|environment| (environment.get_ref().as_str(), span(environment)))
            .collect();
        let mut processors = Vec::with_capacity(raw.processors.len());
        let mut by_ref: HashMap<&str, Range<usize>> = HashMap::with_capacity(raw.processors.len());
        let mut by_app: HashMap<AppName, (&str, Range<usize>)> =
            HashMap::with_capacity(raw.processors.len());
        let context = processor::Context {
            modal: &modal,
            default_smoke: &smoke,
            declared: &secrets,
            environment_spans: &environment_spans,
        };
        for processor in &raw.processors {
            let resolved = self.processor(processor, &context);
            let Some(resolved) = resolved else {
                continue;
            };
            let ref_span = span(&processor.reference);
            let text = processor.reference.get_ref().as_str();
            if let Some(first) = by_ref.get(text) {
                self.push(
                    Diagnostic::error(Code::ErrDuplicateRef, format!("`{text}` is declared twice"))
                        .with_label(ref_span, "declared again here")
                        .with_label(first.clone(), "first declared here")
                        .with_help("keep one `[[processor]]` per ref; use `[processor.env.ENV]` for what differs per environment"),
                );
                continue;
            }
            by_ref.insert(text, ref_span.clone());
            if let Some((other, other_span)) = by_app.get(&resolved.app_name) {
                self.push(
                    Diagnostic::error(
                        Code::ErrNameCollision,
                        format!(
                            "`{text}` and `{other}` both map to the Modal app name `{}`",
                            resolved.app_name
                        ),
                    )
                    .with_label(ref_span, "this ref")
                    .with_label(other_span.clone(), "and this one")
                    .with_help("rename one of them: app names are the ref lowercased, with each run of other characters as one `-`"),
                );
                continue;
            }
            by_app.insert(resolved.app_name.clone(), (text, ref_span));
            processors.push(resolved);
        }

        self.unused_secrets(raw);
        let protect = self.protect(raw);

        ValidManifest {
            path: path.to_path_buf(),
            sha256,
            modal,
            smoke,
            secrets,
            processors,
            protect,
            promotion,
        }
    }

    /// A warning per declared secret that no processor names.
    fn unused_secrets(&mut self, raw: &RawManifest) {
        let used_secrets = named_secrets(raw);
        // With no processor, every secret is unused; the error about that says enough.
        let secrets_to_check = if raw.processors.is_empty() {
            &BTreeMap::new()
        } else {
            &raw.secrets
        };
        for name in secrets_to_check.keys() {
            if !used_secrets.contains(name.get_ref().as_str()) {
                self.push(
                    Diagnostic::warning(
                        Code::WarnUnusedSecret,
                        format!("the secret `{}` is declared but no processor uses it", name.get_ref()),
                    )
                    .with_label(span(name), "")
                    .with_help(format!(
                        "attach it to a processor (`secrets.required = [\"{0}\"]`) or remove `[secrets.{0}]`",
                        name.get_ref()
                    )),
                );
            }
        }
    }

    /// `protect`: app names as Modal shows them.
    fn protect(&mut self, raw: &RawManifest) -> Vec<String> {
        let mut protect = Vec::with_capacity(raw.protect.len());
        for name in &raw.protect {
            match AppName::parse(name.get_ref()) {
                Ok(app) => protect.push(app.to_string()),
                Err(error) => self.push(
                    Diagnostic::error(Code::ErrInvalidAppName, error.to_string())
                        .with_label(span(name), "")
                        .with_help("list app names as Modal shows them, e.g. `llm-litellm-v1`"),
                ),
            }
        }
        protect
    }
}

/// `[secrets]`: each secret's keys and description.
fn secret_policies(raw: &RawManifest) -> BTreeMap<String, SecretPolicy> {
    raw.secrets
        .iter()
        .map(|(name, policy)| {
            (
                name.get_ref().clone(),
                SecretPolicy {
                    keys: policy
                        .keys
                        .get_ref()
                        .iter()
                        .map(|key| key.get_ref().clone())
                        .collect(),
                    description: policy.description.clone(),
                },
            )
        })
        .collect()
}

/// Every secret a processor names anywhere (whether or not it resolved), and `REGISTRY_AUTH` when an image
/// is on a private registry: what makes a declared secret used.
fn named_secrets(raw: &RawManifest) -> BTreeSet<&str> {
    fn add_lists<'a>(names: &mut BTreeSet<&'a str>, lists: Option<&'a RawSecretLists>) {
        for list in lists.into_iter().flat_map(|l| [&l.required, &l.optional]) {
            names.extend(list.iter().flatten().map(|name| name.get_ref().as_str()));
        }
    }
    let mut names = BTreeSet::new();
    let mut private = false;
    for processor in &raw.processors {
        add_lists(&mut names, processor.secrets.as_ref());
        for override_table in processor.env.values() {
            add_lists(&mut names, override_table.secrets.as_ref());
        }
        let images = std::iter::once(&processor.image)
            .chain(processor.env.values().filter_map(|o| o.image.as_ref()));
        for image in images {
            // What `ImageRef::is_private_registry` says of a parsed one, without parsing it again.
            private |= image.oci.get_ref().starts_with("ghcr.io/");
        }
    }
    if private {
        names.insert(REGISTRY_AUTH);
    }
    names
}

fn unknown_environment(name: &str, span: Range<usize>, modal: &ModalSettings) -> Diagnostic {
    let declared = modal
        .environments
        .iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match did_you_mean(name, modal.environments.iter().map(String::as_str)) {
        Some(suggestion) => format!("did you mean `{suggestion}`? The manifest manages {declared}"),
        None => format!("use one of {declared}, or add `{name}` to `[modal].environments`"),
    };
    Diagnostic::error(
        Code::ErrUnknownEnvironment,
        format!("`{name}` is not an environment of `[modal].environments`"),
    )
    .with_label(span, "")
    .with_help(help)
}
