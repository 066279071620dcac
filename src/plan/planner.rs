//! Desired × observed → actions. No I/O: every input is a value, so it is tested with plain values.

use std::collections::BTreeSet;

use crate::backend::lock::LockState;
use crate::backend::releases::{ReleaseOperation, ReleaseRecord, ReleasesState};
use crate::backend::{AppState, Observed, ObservedEnvironment};
use crate::codes::Code;
use crate::fingerprint::{Fingerprint, FingerprintInputs};
use crate::manifest::ValidManifest;
use crate::manifest::valid::{Deployment, Processor};
use crate::promotion::PromotionCheck;

use super::compare::{compare, desired};
use super::gate_words;
use super::model::{
    Action, ActionKind, EnvironmentLock, Finding, Live, ManifestIdentity, PLAN_FORMAT_VERSION, Plan,
};
use super::options::PlanOptions;
use super::orphans::{OrphanRule, orphan_action};

/// The secret a private registry's pull needs in every environment an image on it deploys to.
pub const REGISTRY_AUTH: &str = "REGISTRY_AUTH";

/// Compares the manifest with what Modal has and says what to do, per environment (manifest order) and
/// app name.
pub fn plan(manifest: &ValidManifest, observed: &Observed, options: &PlanOptions) -> Plan {
    let environments = options.planned_environments(manifest);
    let orphan_rule = OrphanRule::new(manifest, options);
    let empty = ObservedEnvironment::default();
    let mut actions = Vec::new();
    let mut warnings = Vec::new();
    for environment in &environments {
        let seen = observed.environments.get(environment).unwrap_or(&empty);
        let mut in_environment = Vec::new();
        let mut managed = BTreeSet::new();
        for processor in &manifest.processors {
            if !options.targets_ref(processor.reference.as_str()) {
                continue;
            }
            let Some(deployment) = processor.deployments.get(environment) else {
                continue;
            };
            let app_name = options.app_name(&processor.app_name).to_string();
            managed.insert(app_name.clone());
            let context = Context {
                manifest,
                options,
                environment,
                seen,
                observed,
            };
            let (action, mut found) = context.processor_action(processor, deployment, app_name);
            in_environment.push(action);
            warnings.append(&mut found);
        }
        for (app_name, app) in &seen.apps {
            if app.state != AppState::Deployed
                || managed.contains(app_name)
                || !orphan_rule.matches(app_name)
            {
                continue;
            }
            in_environment.push(orphan_action(manifest, options, environment, app_name, app));
        }
        in_environment.sort_by(|a, b| a.app_name.cmp(&b.app_name));
        actions.append(&mut in_environment);
    }
    let locks = environments
        .iter()
        .filter_map(
            |environment| match &observed.environments.get(environment)?.lock {
                LockState::Held { lock } => Some(EnvironmentLock {
                    environment: environment.clone(),
                    lock: lock.clone(),
                }),
                LockState::NotRead | LockState::Free | LockState::Unreadable { .. } => None,
            },
        )
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        manifest: ManifestIdentity {
            path: manifest.path.display().to_string(),
            sha256: manifest.sha256.clone(),
        },
        environments,
        actions,
        warnings,
        locks,
        code: options.code.clone(),
    }
}

struct Context<'a> {
    manifest: &'a ValidManifest,
    options: &'a PlanOptions,
    environment: &'a str,
    seen: &'a ObservedEnvironment,
    /// Every environment read: a gated one's upstream too.
    observed: &'a Observed,
}

impl Context<'_> {
    fn processor_action(
        &self,
        processor: &Processor,
        deployment: &Deployment,
        app_name: String,
    ) -> (Action, Vec<Finding>) {
        let reference = processor.reference.as_str();
        let present_optional: Vec<String> = deployment
            .secrets_optional
            .iter()
            .filter(|name| self.seen.secrets.contains(*name))
            .cloned()
            .collect();
        // The tag hashes the secrets that will be attached, so creating an optional secret later shows
        // as a change to deploy.
        let attached = Deployment {
            secrets_optional: present_optional.clone(),
            ..deployment.clone()
        };
        let fingerprint = Fingerprint::of(FingerprintInputs {
            reference: &processor.reference,
            deployment: &attached,
            modal: &self.manifest.modal,
            code: &self.options.code,
        });
        let desired = desired(
            deployment,
            &present_optional,
            &fingerprint,
            &self.manifest.modal.module,
        );

        let (mut blockers, mut warnings) = self.missing_secrets(deployment, reference);
        let image = deployment.image.reference();
        if let Some(why) = self.options.unavailable_images.get(&image) {
            blockers.push(Finding {
                code: Code::ErrImageUnavailable,
                message: format!(
                    "image `{image}` of {reference} cannot be pulled: {why}"
                ),
                fix: format!(
                    "push the image (linux/amd64) or pin a digest that exists in `image.oci` of {reference}; check the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD"
                ),
            });
        }

        let records = self.seen.releases.of(&app_name);
        let compared = compare(
            self.seen.apps.get(&app_name),
            records,
            &fingerprint,
            &desired,
            reference,
            &self.options.code,
        );
        let (kind, reasons, before) = (compared.kind, compared.reasons, compared.before);
        if let Some(mismatch) = compared.mismatch {
            warnings.push(self.record_mismatch(&app_name, &mismatch, before.as_ref()));
        }
        if matches!(kind, ActionKind::Create | ActionKind::Update) {
            if let Some(failed) = failed_before(records, &desired.tag) {
                let finding = self.failed_before(&app_name, records, failed);
                if self.options.retry_failed {
                    warnings.push(Finding {
                        code: Code::ErrFailedBefore,
                        fix: "`--retry-failed` deploys it again on purpose".to_owned(),
                        ..finding
                    });
                } else {
                    blockers.push(finding);
                }
            }
        }
        let promotion = if matches!(kind, ActionKind::Create | ActionKind::Update) {
            self.gate(
                processor,
                &app_name,
                &desired.tag,
                &mut blockers,
                &mut warnings,
            )
        } else {
            None
        };
        let kind = if blockers.is_empty() {
            kind
        } else {
            ActionKind::Blocked
        };
        let action = Action {
            environment: self.environment.to_owned(),
            reference: Some(reference.to_owned()),
            app_name,
            kind,
            reasons,
            before,
            after: Some(desired),
            blockers,
            promotion,
        };
        (action, warnings)
    }

    /// A blocker per required secret missing in the environment (with `REGISTRY_AUTH` for a private
    /// image), and a warning per optional one.
    fn missing_secrets(
        &self,
        deployment: &Deployment,
        reference: &str,
    ) -> (Vec<Finding>, Vec<Finding>) {
        let mut required: Vec<&str> = deployment
            .secrets_required
            .iter()
            .map(String::as_str)
            .collect();
        if deployment.image.is_private_registry() && !required.contains(&REGISTRY_AUTH) {
            required.push(REGISTRY_AUTH);
        }
        let blockers = required
            .into_iter()
            .filter(|name| !self.seen.secrets.contains(*name))
            .map(|name| self.missing_secret(Code::ErrMissingSecret, name, reference))
            .collect();
        let warnings = deployment
            .secrets_optional
            .iter()
            .filter(|name| !self.seen.secrets.contains(*name))
            .map(|name| self.missing_secret(Code::WarnOptionalSecretMissing, name, reference))
            .collect();
        (blockers, warnings)
    }

    /// The promotion gate of a create or update: what it waits for is a blocker, or a warning with
    /// `--skip-promotion-check`.
    fn gate(
        &self,
        processor: &Processor,
        app_name: &str,
        tag: &str,
        blockers: &mut Vec<Finding>,
        warnings: &mut Vec<Finding>,
    ) -> Option<PromotionCheck> {
        let mut check = self.promotion_check(processor, app_name, tag)?;
        if let Some(wait) = check.wait() {
            let finding = gate_words::finding(
                wait,
                &gate_words::Subject {
                    app_name,
                    reference: processor.reference.as_str(),
                    environment: self.environment,
                    upstream: &check.upstream,
                },
            );
            if self.options.skip_promotion_check {
                check.skipped = true;
                warnings.push(gate_words::skipped(&finding));
            } else {
                blockers.push(finding);
            }
        }
        Some(check)
    }

    /// The promotion gate of a create or update (see [`promotion_check`]).
    fn promotion_check(
        &self,
        processor: &Processor,
        app_name: &str,
        tag: &str,
    ) -> Option<PromotionCheck> {
        promotion_check(
            self.manifest,
            self.observed,
            self.options,
            processor,
            self.environment,
            app_name,
            tag,
        )
    }

    fn record_mismatch(
        &self,
        app_name: &str,
        record: &ReleaseRecord,
        live: Option<&Live>,
    ) -> Finding {
        let environment = self.environment;
        let tag = live
            .and_then(|live| live.tag.as_deref())
            .unwrap_or("(none)");
        Finding {
            code: Code::ErrReleaseRecord,
            message: format!(
                "the release record of `{app_name}` v{} in `{environment}` names `{}`, but the live tag is `{tag}`: the record is ignored and the plan reads the tag",
                record.version, record.fingerprint
            ),
            fix: format!(
                "the app was redeployed outside modalplan at the same version, or the record was edited; `modalplan history --env {environment} --app-name {app_name}` shows both"
            ),
        }
    }

    fn failed_before(
        &self,
        app_name: &str,
        records: &[ReleaseRecord],
        failed: &ReleaseRecord,
    ) -> Finding {
        let environment = self.environment;
        let undone = records
            .iter()
            .find(|record| {
                record.operation == ReleaseOperation::Rollback
                    && record.rollback_of == Some(failed.version)
            })
            .and_then(|rollback| rollback.restored)
            .map_or_else(
                || "was taken down".to_owned(),
                |restored| format!("was rolled back to v{restored}"),
            );
        let since = records
            .iter()
            .filter(|record| {
                record.operation != ReleaseOperation::Rollback && record.version > failed.version
            })
            .count();
        let since = match since {
            0 => "in the last run".to_owned(),
            1 => "1 release ago".to_owned(),
            n => format!("{n} releases ago"),
        };
        let why = failed
            .smoke
            .as_ref()
            .and_then(|smoke| smoke.message.as_deref())
            .map_or_else(String::new, |message| format!(": {message}"));
        Finding {
            code: Code::ErrFailedBefore,
            message: format!(
                "this deployment of `{app_name}` failed its smoke check on {environment} at v{} ({}, {since}) and {undone}{why}",
                failed.version, failed.at
            ),
            fix: "change the code or the image so it deploys something else, or deploy it again on purpose with `--retry-failed`".to_owned(),
        }
    }

    fn missing_secret(&self, code: Code, name: &str, reference: &str) -> Finding {
        let environment = self.environment;
        let (adjective, effect) = if code == Code::ErrMissingSecret {
            ("required", "it cannot be deployed")
        } else {
            ("optional", "it deploys without it")
        };
        Finding {
            code,
            message: format!(
                "secret `{name}` ({adjective} by {reference}) is missing in environment `{environment}`: {effect}"
            ),
            fix: self.manifest.secret_create_command(name, environment),
        }
    }
}

/// The newest deploy of `tag` that failed its smoke check, when no later deploy of it passed.
fn failed_before<'a>(records: &'a [ReleaseRecord], tag: &str) -> Option<&'a ReleaseRecord> {
    let last = records
        .iter()
        .rev()
        .find(|record| record.operation == ReleaseOperation::Deploy && record.fingerprint == tag)?;
    last.failed_smoke().then_some(last)
}

/// The promotion gate of the deployment with tag `tag` of `app_name` in `environment`, when that
/// environment is gated for this processor: what the upstream environment has live of the same app.
/// Sandbox names are never gated.
pub fn promotion_check(
    manifest: &ValidManifest,
    observed: &Observed,
    options: &PlanOptions,
    processor: &Processor,
    environment: &str,
    app_name: &str,
    tag: &str,
) -> Option<PromotionCheck> {
    if options.sandbox.is_some() {
        return None;
    }
    let gate = manifest.promotion_gate(processor, environment)?;
    let empty = ObservedEnvironment::default();
    let upstream = observed.environments.get(&gate.upstream).unwrap_or(&empty);
    let verdict = crate::promotion::gate::check(
        tag,
        crate::promotion::Upstream {
            app: upstream.apps.get(app_name),
            records: upstream.releases.of(app_name),
            records_read: matches!(upstream.releases, ReleasesState::Read { .. }),
        },
        gate.soak,
        options.now.unwrap_or(std::time::UNIX_EPOCH),
    );
    Some(PromotionCheck {
        upstream: gate.upstream,
        verdict,
        skipped: false,
    })
}
