//! Desired × observed → actions. No I/O: every input is a value, so it is tested with plain values.

use std::collections::BTreeSet;

use crate::backend::lock::LockState;
use crate::backend::releases::{
    self, ReleaseOperation, ReleaseRecord, ReleasedDeployment, ReleasesState,
};
use crate::backend::{AppState, Observed, ObservedApp, ObservedEnvironment};
use crate::code::CodeSnapshot;
use crate::codes::Code;
use crate::fingerprint::{Fingerprint, FingerprintInputs, ForeignTag};
use crate::manifest::ValidManifest;
use crate::manifest::valid::{Deployment, Processor};
use crate::promotion::PromotionCheck;
use crate::render;

use super::model::{
    Action, ActionKind, Desired, EnvironmentLock, FieldChange, Finding, Live, ManifestIdentity,
    PLAN_FORMAT_VERSION, Plan, Reason, RuntimeSpec, SmokeSpec,
};
use super::options::PlanOptions;
use super::orphans::OrphanRule;

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
            let finding = render::promotion::finding(
                wait,
                &render::promotion::Subject {
                    app_name,
                    reference: processor.reference.as_str(),
                    environment: self.environment,
                    upstream: &check.upstream,
                },
            );
            if self.options.skip_promotion_check {
                check.skipped = true;
                warnings.push(render::promotion::skipped(&finding));
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

fn desired(
    deployment: &Deployment,
    present_optional: &[String],
    fingerprint: &Fingerprint,
    module: &str,
) -> Desired {
    let runtime = &deployment.runtime;
    Desired {
        tag: fingerprint.to_string(),
        image: deployment.image.reference(),
        secrets: deployment
            .secrets_required
            .iter()
            .chain(present_optional)
            .cloned()
            .collect(),
        runtime: RuntimeSpec {
            cpu: runtime.cpu,
            memory_mb: runtime.memory_mb,
            gpu: runtime.gpu.clone(),
            timeout_s: runtime.timeout_s,
        },
        module: module.to_owned(),
        smoke: deployment.smoke.as_ref().map(|smoke| SmokeSpec {
            function: smoke.function.clone(),
            payload: smoke.payload.clone(),
            timeout_s: smoke.timeout.as_secs(),
        }),
    }
}

/// The kind and reasons of a processor's action from what is live, and the live side as the plan shows
/// it (with its release record when one matches its tag).
fn compare(
    app: Option<&ObservedApp>,
    records: &[ReleaseRecord],
    fingerprint: &Fingerprint,
    desired: &Desired,
    reference: &str,
    code: &CodeSnapshot,
) -> Compared {
    let Some(app) = app else {
        return Compared::new(ActionKind::Create, Vec::new(), None);
    };
    match app.state {
        AppState::Deployed => {}
        AppState::Stopped => return Compared::new(ActionKind::Create, vec![Reason::Stopped], None),
        // Ephemeral, initializing, stopping: nothing is deployed under the name; a deploy creates it.
        AppState::Other(_) => return Compared::new(ActionKind::Create, Vec::new(), None),
    }
    let Some(live) = &app.live else {
        // Listed as deployed without a readable history: never call that "no change".
        return Compared::new(ActionKind::Update, vec![Reason::Untagged], None);
    };
    let mut before = Live {
        version: live.version,
        tag: live.tag.clone(),
        release: None,
    };
    let Some(tag) = &live.tag else {
        return Compared::new(ActionKind::Update, vec![Reason::Untagged], Some(before));
    };
    let deployed = match tag.parse::<Fingerprint>() {
        Ok(deployed) => deployed,
        Err(ForeignTag::OlderFormat { .. }) => {
            let reasons = vec![Reason::OlderFormat { tag: tag.clone() }];
            return Compared::new(ActionKind::Update, reasons, Some(before));
        }
        Err(ForeignTag::Other(_)) => {
            let reasons = vec![Reason::ForeignTag { tag: tag.clone() }];
            return Compared::new(ActionKind::Update, reasons, Some(before));
        }
    };
    let (record, mismatch) = releases::live_record(records, live.version, tag);
    let released = record.and_then(|record| record.deployment.as_ref());
    let changes = fingerprint.changes_from(&deployed);
    let mut reasons = Vec::new();
    if changes.image {
        reasons.push(Reason::Image {
            from: Some(released.map_or_else(
                || format!("sha256:{}", deployed.image),
                |released| digest_of(&released.image).to_owned(),
            )),
            to: digest_of(&desired.image).to_owned(),
        });
    }
    if changes.secrets {
        let (added, removed) = released.map_or_else(Default::default, |released| {
            (
                missing_from(&desired.secrets, &released.secrets),
                missing_from(&released.secrets, &desired.secrets),
            )
        });
        reasons.push(Reason::Secrets {
            now: desired.secrets.clone(),
            added,
            removed,
        });
    }
    if changes.runtime {
        let changes = released.map_or_else(Vec::new, |released| {
            runtime_changes(&released.runtime, &desired.runtime)
        });
        reasons.push(Reason::Runtime { changes });
    }
    if changes.code {
        let files = released.map(|released| {
            code.changes_from(&CodeSnapshot {
                files: released.code.clone(),
            })
        });
        reasons.push(Reason::Code { files });
    }
    // The settings part hashes the whole image reference too, so it moves with every image change.
    if changes.settings && !changes.image {
        let changes = released.map_or_else(Vec::new, |released| {
            settings_changes(released, reference, desired)
        });
        reasons.push(Reason::Settings { changes });
    }
    before.release = record.cloned();
    let kind = if reasons.is_empty() {
        ActionKind::NoOp
    } else {
        ActionKind::Update
    };
    Compared {
        kind,
        reasons,
        before: Some(before),
        mismatch: mismatch.cloned(),
    }
}

/// What [`compare`] found.
struct Compared {
    kind: ActionKind,
    reasons: Vec<Reason>,
    before: Option<Live>,
    /// A record of the live version whose fingerprint is not the live tag: ignored, warned about.
    mismatch: Option<ReleaseRecord>,
}

impl Compared {
    fn new(kind: ActionKind, reasons: Vec<Reason>, before: Option<Live>) -> Self {
        Self {
            kind,
            reasons,
            before,
            mismatch: None,
        }
    }
}

/// `sha256:...` of an image reference.
fn digest_of(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, digest)| digest)
}

fn missing_from(these: &[String], others: &[String]) -> Vec<String> {
    these
        .iter()
        .filter(|name| !others.contains(name))
        .cloned()
        .collect()
}

fn runtime_changes(before: &RuntimeSpec, after: &RuntimeSpec) -> Vec<FieldChange> {
    let fields = [
        (
            "cpu",
            before.cpu.map(|cpu| cpu.to_string()),
            after.cpu.map(|cpu| cpu.to_string()),
        ),
        (
            "memory_mb",
            before.memory_mb.map(|memory| memory.to_string()),
            after.memory_mb.map(|memory| memory.to_string()),
        ),
        ("gpu", before.gpu.clone(), after.gpu.clone()),
        (
            "timeout_s",
            before.timeout_s.map(|timeout| timeout.to_string()),
            after.timeout_s.map(|timeout| timeout.to_string()),
        ),
    ];
    changed(fields)
}

/// The fields whose value differs, in order.
fn changed<const N: usize>(
    fields: [(&str, Option<String>, Option<String>); N],
) -> Vec<FieldChange> {
    fields
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| FieldChange {
            field: field.to_owned(),
            from,
            to,
        })
        .collect()
}

fn settings_changes(
    released: &ReleasedDeployment,
    reference: &str,
    desired: &Desired,
) -> Vec<FieldChange> {
    let repository = |image: &str| {
        image
            .rsplit_once('@')
            .map_or(image, |(name, _)| name)
            .to_owned()
    };
    let fields = [
        (
            "ref",
            released.reference.clone(),
            Some(reference.to_owned()),
        ),
        (
            "image repository",
            Some(repository(&released.image)),
            Some(repository(&desired.image)),
        ),
        (
            "module",
            Some(released.module.clone()),
            Some(desired.module.clone()),
        ),
    ];
    changed(fields)
}

fn orphan_action(
    manifest: &ValidManifest,
    options: &PlanOptions,
    environment: &str,
    app_name: &str,
    app: &ObservedApp,
) -> Action {
    let protected = manifest.protect.iter().any(|name| name == app_name);
    let kind = if options.prune && !protected {
        ActionKind::Stop
    } else {
        ActionKind::Orphan
    };
    let reasons = if options.prune && protected {
        vec![Reason::Protected]
    } else {
        Vec::new()
    };
    Action {
        environment: environment.to_owned(),
        reference: None,
        app_name: app_name.to_owned(),
        kind,
        reasons,
        before: app.live.as_ref().map(|live| Live {
            version: live.version,
            tag: live.tag.clone(),
            release: None,
        }),
        after: None,
        blockers: Vec::new(),
        promotion: None,
    }
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
