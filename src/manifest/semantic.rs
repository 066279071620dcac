//! The semantic checks: what the schema cannot say (a secret that is named but not declared, two refs that
//! map to one app name, ...), and the resolution of defaults and overrides into a [`ValidManifest`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::Diagnostic;
use super::duration;
use super::image::{self, ImageError};
use super::raw::{
    RawImage, RawManifest, RawProcessor, RawProcessorPromotion, RawProcessorSmoke, RawPromotion,
    RawRuntime, RawSecretLists, RawSmoke,
};
use super::schema_check::did_you_mean;
use super::valid::{
    Deployment, ImageRef, ModalSettings, Processor, ProcessorPromotion, PromotionPolicy, Runtime,
    SecretPolicy, SmokeSettings, ValidManifest,
};
use crate::codes::Code;
use crate::naming::{AppName, MAX_APP_NAME_LEN, ProcessorRef, sanitize};

/// The secret that holds the credentials of a private registry.
pub const REGISTRY_AUTH: &str = "REGISTRY_AUTH";

const DEFAULT_SMOKE_FUNCTION: &str = "smoke";
const DEFAULT_SMOKE_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);

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

    /// `[promotion]`: the gated environments (default: every one after the first) and the soak time.
    fn promotion(
        &mut self,
        raw: Option<&RawPromotion>,
        modal: &ModalSettings,
    ) -> Option<PromotionPolicy> {
        let raw = raw?;
        let soak = self.optional_duration(raw.soak.as_ref());
        let gated = match &raw.gated {
            None => modal.environments.iter().skip(1).cloned().collect(),
            Some(list) => {
                let mut gated: Vec<&str> = Vec::new();
                for environment in list.get_ref() {
                    let name = environment.get_ref().as_str();
                    if !modal.environments.iter().any(|known| known == name) {
                        self.push(unknown_environment(name, span(environment), modal));
                    } else if modal
                        .environments
                        .first()
                        .is_some_and(|first| first == name)
                    {
                        self.push(
                            Diagnostic::error(
                                Code::ErrUnknownEnvironment,
                                format!("`{name}` is the first environment of `[modal].environments`: no environment comes before it to promote from"),
                            )
                            .with_label(span(environment), "no upstream")
                            .with_help(format!("remove `{name}` from `[promotion].gated`; the rollout order is the order of `[modal].environments`")),
                        );
                    } else if !gated.contains(&name) {
                        gated.push(name);
                    }
                }
                modal
                    .environments
                    .iter()
                    .filter(|environment| gated.contains(&environment.as_str()))
                    .cloned()
                    .collect()
            }
        };
        Some(PromotionPolicy { gated, soak })
    }

    fn processor_promotion(&mut self, raw: Option<&RawProcessorPromotion>) -> ProcessorPromotion {
        let Some(raw) = raw else {
            return ProcessorPromotion::default();
        };
        ProcessorPromotion {
            ungated: raw.gated == Some(false),
            soak: self.optional_duration(raw.soak.as_ref()),
        }
    }

    /// `[modal].code`, each pattern compiled once here so a bad one is reported at its span.
    fn code_patterns(&mut self, patterns: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
        let Some(patterns) = patterns else {
            return Vec::new();
        };
        let mut valid = Vec::new();
        for pattern in patterns.get_ref() {
            let text = pattern.get_ref().clone();
            match crate::code::CodeRule::new(std::slice::from_ref(&text)) {
                Ok(_) => valid.push(text),
                Err(error) => self.push(
                    Diagnostic::error(Code::ErrManifestSchema, error.to_string())
                        .with_label(span(pattern), "")
                        .with_help("write a glob relative to `workdir`, e.g. `\"prompts/**\"`, or `\"!tests/**\"` to leave files out"),
                ),
            }
        }
        valid
    }

    fn manifest(&mut self, raw: &RawManifest, path: &Path, sha256: String) -> ValidManifest {
        let modal = self.modal(raw, path);
        let promotion = self.promotion(raw.promotion.as_ref(), &modal);
        let smoke = self.smoke(raw.smoke.as_ref());
        let secrets: BTreeMap<String, SecretPolicy> = raw
            .secrets
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
            .collect();

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
        let used_secrets = named_secrets(raw);
        let mut processors = Vec::with_capacity(raw.processors.len());
        let mut by_ref: HashMap<&str, Range<usize>> = HashMap::with_capacity(raw.processors.len());
        let mut by_app: HashMap<AppName, (&str, Range<usize>)> =
            HashMap::with_capacity(raw.processors.len());
        for processor in &raw.processors {
            let resolved = self.processor(processor, &modal, &smoke, &secrets, &environment_spans);
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

    fn modal(&mut self, raw: &RawManifest, path: &Path) -> ModalSettings {
        let modal = &raw.modal;
        let mut environments: Vec<String> = Vec::new();
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for environment in modal.environments.get_ref() {
            let name = environment.get_ref().as_str();
            if let Some(first) = seen.get(name) {
                self.push(
                    Diagnostic::error(
                        Code::ErrManifestSchema,
                        format!("the environment `{name}` is listed twice"),
                    )
                    .with_label(span(environment), "listed again here")
                    .with_label(first.clone(), "first listed here")
                    .with_help("list each Modal environment once"),
                );
                continue;
            }
            seen.insert(name, span(environment));
            environments.push(name.to_owned());
        }
        let manifest_folder = path.parent().unwrap_or_else(|| Path::new(""));
        let mut workdir = modal.workdir.as_ref().map_or_else(
            || manifest_folder.to_path_buf(),
            |workdir| manifest_folder.join(workdir.get_ref()),
        );
        // A manifest named by a bare file name lives in the current folder: `.`, never an empty path.
        if workdir.as_os_str().is_empty() {
            workdir = PathBuf::from(".");
        }
        let cli = match &modal.cli {
            Some(cli) => {
                if cli.get_ref().iter().any(|part| part.trim().is_empty()) {
                    self.push(
                        Diagnostic::error(Code::ErrManifestSchema, "`[modal].cli` has an empty argument")
                            .with_label(span(cli), "")
                            .with_help("name the program first, then its arguments, e.g. `cli = [\"uvx\", \"modal\"]`"),
                    );
                }
                cli.get_ref().clone()
            }
            // Without one, the backend looks for `modal` beside modalplan, then on PATH.
            None => Vec::new(),
        };
        let code = self.code_patterns(modal.code.as_ref());
        ModalSettings {
            code,
            module: modal.module.get_ref().clone(),
            workdir,
            environments,
            cli,
            python: modal
                .python
                .as_ref()
                .map(|python| PathBuf::from(python.get_ref())),
            read_timeout: self.duration(modal.read_timeout.as_ref(), DEFAULT_READ_TIMEOUT),
            deploy_timeout: self.duration(modal.deploy_timeout.as_ref(), DEFAULT_DEPLOY_TIMEOUT),
            deploy_retries: modal
                .deploy_retries
                .as_ref()
                .map_or(crate::backend::retry::DEFAULT_DEPLOY_RETRIES, |retries| {
                    u32::from(*retries.get_ref())
                }),
        }
    }

    fn smoke(&mut self, raw: Option<&RawSmoke>) -> SmokeSettings {
        let default_payload = serde_json::json!({ "schema": "v1", "mode": "mock", "params": {} });
        let Some(raw) = raw else {
            return SmokeSettings {
                function: DEFAULT_SMOKE_FUNCTION.to_owned(),
                payload: default_payload,
                timeout: DEFAULT_SMOKE_TIMEOUT,
            };
        };
        SmokeSettings {
            function: raw.function.as_ref().map_or_else(
                || DEFAULT_SMOKE_FUNCTION.to_owned(),
                |f| f.get_ref().clone(),
            ),
            payload: raw
                .payload
                .clone()
                .map_or(default_payload, serde_json::Value::Object),
            timeout: self.duration(raw.timeout.as_ref(), DEFAULT_SMOKE_TIMEOUT),
        }
    }

    fn processor_smoke(
        &mut self,
        base: Option<&SmokeSettings>,
        defaults: &SmokeSettings,
        raw: Option<&RawProcessorSmoke>,
    ) -> Option<SmokeSettings> {
        let Some(raw) = raw else {
            return base.cloned();
        };
        if raw.enabled == Some(false) {
            return None;
        }
        let base = base.unwrap_or(defaults);
        Some(SmokeSettings {
            function: raw
                .function
                .as_ref()
                .map_or_else(|| base.function.clone(), |f| f.get_ref().clone()),
            payload: raw
                .payload
                .clone()
                .map_or_else(|| base.payload.clone(), serde_json::Value::Object),
            timeout: self.duration(raw.timeout.as_ref(), base.timeout),
        })
    }

    fn image(&mut self, raw: &RawImage) -> Option<ImageRef> {
        let oci = &raw.oci;
        match image::parse(oci.get_ref()) {
            Ok(image) => Some(image),
            Err(ImageError::Unpinned(message)) => {
                self.push(
                    Diagnostic::error(Code::ErrImageUnpinned, message)
                        .with_label(span(oci), "not pinned by digest")
                        .with_help("pin the image by its digest, `registry/repository@sha256:<64 hex>`; `docker buildx imagetools inspect IMAGE:TAG` prints it"),
                );
                None
            }
            Err(ImageError::Name(message)) => {
                self.push(
                    Diagnostic::error(Code::ErrManifestSchema, message)
                        .with_label(span(oci), "")
                        .with_help("write `registry/repository@sha256:<64 hex>`, e.g. `ghcr.io/acme/theory/llm-litellm@sha256:...`"),
                );
                None
            }
        }
    }

    fn secret_lists(
        &mut self,
        lists: &RawSecretLists,
        declared: &BTreeMap<String, SecretPolicy>,
    ) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let mut check = |list: &Option<Vec<Spanned<String>>>, kind: &str| {
            list.as_ref().map(|names| {
                let mut seen: BTreeSet<&str> = BTreeSet::new();
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    let text = name.get_ref();
                    if !declared.contains_key(text) {
                        let help = match did_you_mean(text, declared.keys().map(String::as_str)) {
                            Some(suggestion) => format!(
                                "did you mean `{suggestion}`? Otherwise declare it:\n[secrets.{text}]\nkeys = [\"{text}\"]"
                            ),
                            None => format!("declare it:\n[secrets.{text}]\nkeys = [\"{text}\"]"),
                        };
                        self.diagnostics.push(
                            Diagnostic::error(
                                Code::ErrUndeclaredSecret,
                                format!("the {kind} secret `{text}` is not declared in `[secrets]`"),
                            )
                            .with_label(span(name), "not in [secrets]")
                            .with_help(help),
                        );
                    }
                    if seen.insert(text.as_str()) {
                        out.push(text.clone());
                    }
                }
                out
            })
        };
        let required = check(&lists.required, "required");
        let optional = check(&lists.optional, "optional");
        if let (Some(required_names), Some(optional_spans)) = (&required, &lists.optional) {
            for name in optional_spans {
                if required_names.contains(name.get_ref()) {
                    self.push(
                        Diagnostic::error(
                            Code::ErrManifestSchema,
                            format!(
                                "the secret `{}` is both required and optional",
                                name.get_ref()
                            ),
                        )
                        .with_label(span(name), "")
                        .with_help("list it in `required` or in `optional`, not both"),
                    );
                }
            }
        }
        (required, optional)
    }

    #[allow(clippy::too_many_arguments)]
    fn processor(
        &mut self,
        raw: &RawProcessor,
        modal: &ModalSettings,
        default_smoke: &SmokeSettings,
        declared: &BTreeMap<String, SecretPolicy>,
        environment_spans: &HashMap<&str, Range<usize>>,
    ) -> Option<Processor> {
        let reference_text = raw.reference.get_ref();
        let reference = match reference_text.parse::<ProcessorRef>() {
            Ok(reference) => Some(reference),
            Err(error) => {
                self.push(
                    Diagnostic::error(Code::ErrInvalidRef, error.to_string())
                        .with_label(span(&raw.reference), "")
                        .with_help(
                            "write the ref as `namespace/name@version`, e.g. `llm/litellm@1`",
                        ),
                );
                None
            }
        };
        let app_name = reference.as_ref().map(ProcessorRef::app_name);
        // The full name is at most one character longer than the ref (`a/b@1` -> `a-b-v1`), so only a
        // long ref can have been shortened.
        let may_be_shortened = reference_text.len() >= MAX_APP_NAME_LEN;
        if let (Some(reference), Some(app_name), true) = (&reference, &app_name, may_be_shortened) {
            let full = format!(
                "{}-{}-v{}",
                sanitize(reference.namespace()),
                sanitize(reference.name()),
                reference.version()
            );
            if full.len() > MAX_APP_NAME_LEN {
                self.push(
                    Diagnostic::warning(
                        Code::WarnNameShortened,
                        format!(
                            "`{reference_text}` maps to an app name of {} characters; Modal allows {MAX_APP_NAME_LEN}, so it deploys as `{app_name}`",
                            full.len()
                        ),
                    )
                    .with_label(span(&raw.reference), "")
                    .with_help("shorten the namespace or the name for a readable app name; the hash tail keeps it unique"),
                );
            }
        }

        let base_image = self.image(&raw.image);
        let (base_required, base_optional) = self.secret_lists(
            raw.secrets.as_ref().unwrap_or(&RawSecretLists::default()),
            declared,
        );
        let base_runtime = runtime(raw.runtime.as_ref(), &Runtime::default());
        // Borrowed when the processor has no smoke table of its own: most do not.
        let base_smoke = match raw.smoke.as_ref() {
            None => Some(Cow::Borrowed(default_smoke)),
            Some(smoke) => self
                .processor_smoke(Some(default_smoke), default_smoke, Some(smoke))
                .map(Cow::Owned),
        };

        let targets: Vec<&str> = match &raw.environments {
            None => modal.environments.iter().map(String::as_str).collect(),
            Some(list) => {
                let mut targets = Vec::new();
                for environment in list.get_ref() {
                    let name = environment.get_ref().as_str();
                    if environment_spans.contains_key(name) {
                        if !targets.contains(&name) {
                            targets.push(name);
                        }
                    } else {
                        self.push(unknown_environment(name, span(environment), modal));
                    }
                }
                // In the order of `[modal].environments`, the rollout order.
                modal
                    .environments
                    .iter()
                    .map(String::as_str)
                    .filter(|environment| targets.contains(environment))
                    .collect()
            }
        };

        let mut overrides = HashMap::new();
        for (name, override_table) in &raw.env {
            let text = name.get_ref().as_str();
            if !environment_spans.contains_key(text) {
                self.push(unknown_environment(text, span(name), modal));
            } else if !targets.contains(&text) {
                self.push(
                    Diagnostic::error(
                        Code::ErrUnknownEnvironment,
                        format!("`{reference_text}` does not deploy to `{text}`, so this override never applies"),
                    )
                    .with_label(span(name), "")
                    .with_help(format!("add `{text}` to the processor's `environments`, or remove `[processor.env.{text}]`")),
                );
            } else {
                overrides.insert(text, override_table);
            }
        }

        let mut deployments = BTreeMap::new();
        for &environment in &targets {
            let override_table = overrides.get(environment);
            if override_table.is_some_and(|o| o.enabled == Some(false)) {
                continue;
            }
            let image = match override_table.and_then(|o| o.image.as_ref()) {
                Some(image) => self.image(image),
                None => base_image.clone(),
            };
            let (required, optional) = match override_table.and_then(|o| o.secrets.as_ref()) {
                Some(lists) => {
                    let (required, optional) = self.secret_lists(lists, declared);
                    (
                        required.or_else(|| base_required.clone()),
                        optional.or_else(|| base_optional.clone()),
                    )
                }
                None => (base_required.clone(), base_optional.clone()),
            };
            let runtime = runtime(
                override_table.and_then(|o| o.runtime.as_ref()),
                &base_runtime,
            );
            let smoke = self.processor_smoke(
                base_smoke.as_deref(),
                default_smoke,
                override_table.and_then(|o| o.smoke.as_ref()),
            );
            let Some(image) = image else {
                continue;
            };
            if image.is_private_registry() && !declared.contains_key(REGISTRY_AUTH) {
                let image_span = override_table
                    .and_then(|o| o.image.as_ref())
                    .map_or_else(|| span(&raw.image.oci), |i| span(&i.oci));
                let already = self.diagnostics.iter().any(|d| {
                    d.code == Code::ErrRegistryAuthMissing
                        && d.labels.first().is_some_and(|l| l.span == image_span)
                });
                if !already {
                    self.push(
                        Diagnostic::error(
                            Code::ErrRegistryAuthMissing,
                            format!(
                                "`{}` is a private registry: pulling the image needs the `{REGISTRY_AUTH}` secret, which `[secrets]` does not declare",
                                image.registry
                            ),
                        )
                        .with_label(image_span, "private image")
                        .with_help(format!(
                            "declare it:\n[secrets.{REGISTRY_AUTH}]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]"
                        )),
                    );
                }
            }
            deployments.insert(
                environment.to_owned(),
                Deployment {
                    image,
                    secrets_required: required.unwrap_or_default(),
                    secrets_optional: optional.unwrap_or_default(),
                    runtime,
                    smoke,
                },
            );
        }

        if deployments.is_empty() && !targets.is_empty() && base_image.is_some() {
            self.push(
                Diagnostic::error(
                    Code::ErrNoEnvironment,
                    format!("`{reference_text}` deploys to no environment: every override has `enabled = false`"),
                )
                .with_label(span(&raw.reference), "")
                .with_help("enable it in at least one environment, or remove the processor"),
            );
        }

        let promotion = self.processor_promotion(raw.promotion.as_ref());
        Some(Processor {
            reference: reference?,
            app_name: app_name?,
            promotion,
            deployments,
        })
    }
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

fn runtime(raw: Option<&RawRuntime>, base: &Runtime) -> Runtime {
    let Some(raw) = raw else {
        return base.clone();
    };
    Runtime {
        cpu: raw.cpu.or(base.cpu),
        memory_mb: raw.memory_mb.or(base.memory_mb),
        gpu: raw.gpu.clone().or_else(|| base.gpu.clone()),
        timeout_s: raw.timeout_s.or(base.timeout_s),
    }
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
