//! Desired × observed → actions. No I/O: every input is a value, so it is tested with plain values.

use std::collections::BTreeSet;

use crate::backend::lock::LockState;
use crate::backend::{AppState, Observed, ObservedApp, ObservedEnvironment};
use crate::codes::Code;
use crate::fingerprint::Fingerprint;
use crate::manifest::ValidManifest;
use crate::manifest::valid::{Deployment, Processor};

use super::model::{
    Action, ActionKind, Desired, EnvironmentLock, Finding, Live, ManifestIdentity,
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
    }
}

struct Context<'a> {
    manifest: &'a ValidManifest,
    options: &'a PlanOptions,
    environment: &'a str,
    seen: &'a ObservedEnvironment,
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
        let fingerprint = Fingerprint::of(&processor.reference, &attached, &self.manifest.modal);
        let desired = desired(deployment, &present_optional, &fingerprint);

        let mut blockers = Vec::new();
        let mut required: Vec<&str> = deployment
            .secrets_required
            .iter()
            .map(String::as_str)
            .collect();
        if deployment.image.is_private_registry() && !required.contains(&REGISTRY_AUTH) {
            required.push(REGISTRY_AUTH);
        }
        for name in required {
            if !self.seen.secrets.contains(name) {
                blockers.push(self.missing_secret(Code::ErrMissingSecret, name, reference));
            }
        }
        let warnings = deployment
            .secrets_optional
            .iter()
            .filter(|name| !self.seen.secrets.contains(*name))
            .map(|name| self.missing_secret(Code::WarnOptionalSecretMissing, name, reference))
            .collect();
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

        let (kind, reasons, before) =
            compare(self.seen.apps.get(&app_name), &fingerprint, &desired);
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
        };
        (action, warnings)
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

fn desired(
    deployment: &Deployment,
    present_optional: &[String],
    fingerprint: &Fingerprint,
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
        smoke: deployment.smoke.as_ref().map(|smoke| SmokeSpec {
            function: smoke.function.clone(),
            payload: smoke.payload.clone(),
            timeout_s: smoke.timeout.as_secs(),
        }),
    }
}

/// The kind and reasons of a processor's action from what is live.
fn compare(
    app: Option<&ObservedApp>,
    fingerprint: &Fingerprint,
    desired: &Desired,
) -> (ActionKind, Vec<Reason>, Option<Live>) {
    let Some(app) = app else {
        return (ActionKind::Create, Vec::new(), None);
    };
    match app.state {
        AppState::Deployed => {}
        AppState::Stopped => return (ActionKind::Create, vec![Reason::Stopped], None),
        // Ephemeral, initializing, stopping: nothing is deployed under the name; a deploy creates it.
        AppState::Other(_) => return (ActionKind::Create, Vec::new(), None),
    }
    let Some(live) = &app.live else {
        // Listed as deployed without a readable history: never call that "no change".
        return (ActionKind::Update, vec![Reason::Untagged], None);
    };
    let before = Some(Live {
        version: live.version,
        tag: live.tag.clone(),
    });
    let Some(tag) = &live.tag else {
        return (ActionKind::Update, vec![Reason::Untagged], before);
    };
    let Ok(deployed) = tag.parse::<Fingerprint>() else {
        return (
            ActionKind::Update,
            vec![Reason::ForeignTag { tag: tag.clone() }],
            before,
        );
    };
    let changes = fingerprint.changes_from(&deployed);
    let mut reasons = Vec::new();
    if changes.image {
        reasons.push(Reason::Image {
            from: Some(format!("sha256:{}", deployed.image)),
            to: format!("sha256:{}", fingerprint.image),
        });
    }
    if changes.secrets {
        reasons.push(Reason::Secrets {
            now: desired.secrets.clone(),
        });
    }
    if changes.runtime {
        reasons.push(Reason::Runtime);
    }
    // The code part hashes the full image reference as well (it guards the 12-digit image part against
    // collisions), so it moves with every image change: only a change of the rest is a code change.
    if changes.code && !changes.image {
        reasons.push(Reason::Code);
    }
    if reasons.is_empty() {
        (ActionKind::NoOp, reasons, before)
    } else {
        (ActionKind::Update, reasons, before)
    }
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
        }),
        after: None,
        blockers: Vec::new(),
    }
}
