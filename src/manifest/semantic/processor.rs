//! One `[[processor]]`: its ref and app name, the environments it deploys to, and each environment's
//! deployment with the overrides of `[processor.env.<env>]` applied.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use toml::Spanned;

use super::{Checker, REGISTRY_AUTH, span, unknown_environment};
use crate::codes::Code;
use crate::manifest::diagnostics::Diagnostic;
use crate::manifest::image::{self, ImageError};
use crate::manifest::raw::{
    RawImage, RawOverride, RawProcessor, RawProcessorSmoke, RawRuntime, RawSecretLists,
};
use crate::manifest::schema_check::did_you_mean;
use crate::manifest::valid::{
    Deployment, ImageRef, ModalSettings, Processor, Runtime, SecretPolicy, SmokeSettings,
};
use crate::naming::{AppName, MAX_APP_NAME_LEN, ProcessorRef};

/// What every processor is checked against: the resolved settings and the declared names.
pub(super) struct Context<'a> {
    pub(super) modal: &'a ModalSettings,
    pub(super) default_smoke: &'a SmokeSettings,
    pub(super) declared: &'a BTreeMap<String, SecretPolicy>,
    /// Each environment of `[modal].environments`, at its place in the file.
    pub(super) environment_spans: &'a HashMap<&'a str, Range<usize>>,
}

/// The processor's own values, before an environment's override.
struct Base<'a> {
    image: Option<ImageRef>,
    required: Option<Vec<String>>,
    optional: Option<Vec<String>>,
    runtime: Runtime,
    /// Borrowed when the processor has no smoke table of its own: most do not.
    smoke: Option<Cow<'a, SmokeSettings>>,
}

impl Checker {
    pub(super) fn processor(
        &mut self,
        raw: &RawProcessor,
        context: &Context<'_>,
    ) -> Option<Processor> {
        let reference = self.reference(raw);
        let app_name = reference.as_ref().map(ProcessorRef::app_name);
        let (required, optional) = self.secret_lists(
            raw.secrets.as_ref().unwrap_or(&RawSecretLists::default()),
            context.declared,
        );
        let base = Base {
            image: self.image(&raw.image),
            required,
            optional,
            runtime: runtime(raw.runtime.as_ref(), &Runtime::default()),
            smoke: match raw.smoke.as_ref() {
                None => Some(Cow::Borrowed(context.default_smoke)),
                Some(smoke) => self
                    .processor_smoke(
                        Some(context.default_smoke),
                        context.default_smoke,
                        Some(smoke),
                    )
                    .map(Cow::Owned),
            },
        };
        let targets = self.targets(raw, context);
        let overrides = self.overrides(raw, &targets, context);

        let mut deployments = BTreeMap::new();
        for &environment in &targets {
            let override_table = overrides.get(environment).copied();
            if override_table.is_some_and(|o| o.enabled == Some(false)) {
                continue;
            }
            if let Some(deployment) = self.deployment(raw, override_table, &base, context) {
                deployments.insert(environment.to_owned(), deployment);
            }
        }

        if deployments.is_empty() && !targets.is_empty() && base.image.is_some() {
            self.push(
                Diagnostic::error(
                    Code::ErrNoEnvironment,
                    format!(
                        "`{}` deploys to no environment: every override has `enabled = false`",
                        raw.reference.get_ref()
                    ),
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

    /// The ref, parsed; a warning when its app name had to be shortened to fit Modal's limit.
    fn reference(&mut self, raw: &RawProcessor) -> Option<ProcessorRef> {
        let reference_text = raw.reference.get_ref();
        let reference = match reference_text.parse::<ProcessorRef>() {
            Ok(reference) => reference,
            Err(error) => {
                self.push(
                    Diagnostic::error(Code::ErrInvalidRef, error.to_string())
                        .with_label(span(&raw.reference), "")
                        .with_help(
                            "write the ref as `namespace/name@version`, e.g. `llm/litellm@1`",
                        ),
                );
                return None;
            }
        };
        // The full name is at most one character longer than the ref (`a/b@1` -> `a-b-v1`), so only a
        // long ref can have been shortened.
        if reference_text.len() >= MAX_APP_NAME_LEN {
            let full = reference.full_app_name();
            if full.len() > MAX_APP_NAME_LEN {
                let app_name: AppName = reference.app_name();
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
        Some(reference)
    }

    /// The environments it deploys to, in the order of `[modal].environments` (the rollout order).
    fn targets<'c>(&mut self, raw: &RawProcessor, context: &Context<'c>) -> Vec<&'c str> {
        let modal = context.modal;
        let Some(list) = &raw.environments else {
            return modal.environments.iter().map(String::as_str).collect();
        };
        let mut targets = Vec::new();
        for environment in list.get_ref() {
            let name = environment.get_ref().as_str();
            if context.environment_spans.contains_key(name) {
                if !targets.contains(&name) {
                    targets.push(name);
                }
            } else {
                self.push(unknown_environment(name, span(environment), modal));
            }
        }
        modal
            .environments
            .iter()
            .map(String::as_str)
            .filter(|environment| targets.contains(environment))
            .collect()
    }

    /// The overrides of the environments it deploys to; one of another environment is an error.
    fn overrides<'r>(
        &mut self,
        raw: &'r RawProcessor,
        targets: &[&str],
        context: &Context<'_>,
    ) -> HashMap<&'r str, &'r RawOverride> {
        let reference_text = raw.reference.get_ref();
        let mut overrides = HashMap::new();
        for (name, override_table) in &raw.env {
            let text = name.get_ref().as_str();
            if !context.environment_spans.contains_key(text) {
                self.push(unknown_environment(text, span(name), context.modal));
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
        overrides
    }

    /// One environment's deployment: the base with its override applied; `None` when its image is not
    /// valid (already reported).
    fn deployment(
        &mut self,
        raw: &RawProcessor,
        override_table: Option<&RawOverride>,
        base: &Base<'_>,
        context: &Context<'_>,
    ) -> Option<Deployment> {
        let image = match override_table.and_then(|o| o.image.as_ref()) {
            Some(image) => self.image(image),
            None => base.image.clone(),
        };
        let (required, optional) = match override_table.and_then(|o| o.secrets.as_ref()) {
            Some(lists) => {
                let (required, optional) = self.secret_lists(lists, context.declared);
                (
                    required.or_else(|| base.required.clone()),
                    optional.or_else(|| base.optional.clone()),
                )
            }
            None => (base.required.clone(), base.optional.clone()),
        };
        let runtime = runtime(
            override_table.and_then(|o| o.runtime.as_ref()),
            &base.runtime,
        );
        let smoke = self.processor_smoke(
            base.smoke.as_deref(),
            context.default_smoke,
            override_table.and_then(|o| o.smoke.as_ref()),
        );
        let image = image?;
        let image_span = override_table
            .and_then(|o| o.image.as_ref())
            .map_or_else(|| span(&raw.image.oci), |i| span(&i.oci));
        self.registry_auth(&image, image_span, context.declared);
        Some(Deployment {
            image,
            secrets_required: required.unwrap_or_default(),
            secrets_optional: optional.unwrap_or_default(),
            runtime,
            smoke,
        })
    }

    /// An image on a private registry needs `REGISTRY_AUTH` declared: one error per image line.
    fn registry_auth(
        &mut self,
        image: &ImageRef,
        image_span: Range<usize>,
        declared: &BTreeMap<String, SecretPolicy>,
    ) {
        if !image.is_private_registry() || declared.contains_key(REGISTRY_AUTH) {
            return;
        }
        let already = self.diagnostics.iter().any(|d| {
            d.code == Code::ErrRegistryAuthMissing
                && d.labels.first().is_some_and(|l| l.span == image_span)
        });
        if already {
            return;
        }
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
