//! The manifest's settings: `[modal]`, `[smoke]` and `[promotion]`, defaults applied.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::{Checker, span, unknown_environment};
use crate::codes::Code;
use crate::manifest::diagnostics::Diagnostic;
use crate::manifest::raw::{RawManifest, RawProcessorPromotion, RawPromotion, RawSmoke};
use crate::manifest::valid::{ModalSettings, ProcessorPromotion, PromotionPolicy, SmokeSettings};

pub(super) const DEFAULT_SMOKE_FUNCTION: &str = "smoke";
pub(super) const DEFAULT_SMOKE_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);

impl Checker {
    pub(super) fn modal(&mut self, raw: &RawManifest, path: &Path) -> ModalSettings {
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
                .map_or(crate::manifest::valid::DEFAULT_DEPLOY_RETRIES, |retries| {
                    u32::from(*retries.get_ref())
                }),
        }
    }

    pub(super) fn smoke(&mut self, raw: Option<&RawSmoke>) -> SmokeSettings {
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

    /// `[promotion]`: the gated environments (default: every one after the first) and the soak time.
    pub(super) fn promotion(
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

    pub(super) fn processor_promotion(
        &mut self,
        raw: Option<&RawProcessorPromotion>,
    ) -> ProcessorPromotion {
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
}
