//! `modalplan deploy`: one processor to the caller's sandbox, through the same plan and apply path as
//! `modalplan apply` (re-check, deploy, smoke check, and a stop or rollback of what fails).

use std::path::PathBuf;
use std::sync::Arc;

use super::context::Context;
use crate::error::Error;

use super::target::{self, NameChoice};
use crate::apply::{self, AppReport, ApplySettings, Event, Interrupt, Outcome};
use crate::backend::ModalBackend;
use crate::cli::DeployArgs;
use crate::exit::ExitStatus;
use crate::manifest::ValidManifest;
use crate::manifest::valid::Processor;
use crate::naming::AppName;
use crate::plan::{ActionKind, PlanOptions};
use crate::printer;
use crate::registry::{Credentials, Registry};

/// The diagnostic of a deploy cut before it started.
fn nothing_deployed() -> Error {
    Error::Interrupted("interrupted before the deploy started: nothing was changed")
}

use crate::settings::{GRACE_PERIOD, LOG_DIR, REGISTRY_TIMEOUT};

pub async fn run(args: &DeployArgs, interrupt: &Interrupt) -> Result<ExitStatus, Error> {
    let target = &args.target;
    let context = Context::load(&target.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment(manifest, &target.environment)?;
    let processor = target::find_processor(manifest, &target.reference)?;
    target::deployment(processor, &target.environment)?;
    let app_name =
        target::app_name(processor, NameChoice::Sandbox, target.app_name.as_deref()).await?;
    let sandbox = sandbox_manifest(manifest, processor, &target.environment, args, &app_name)?;
    let reference = processor.reference.as_str().to_owned();

    let backend = context.backend();
    let mut options = PlanOptions {
        environments: vec![target.environment.clone()],
        targets: vec![reference.clone()],
        code: context.code_snapshot()?,
        // A person deploying to a sandbox asks for this deployment on purpose, even one that failed.
        retry_failed: true,
        ..PlanOptions::default()
    };
    if !args.no_registry_check {
        let images: Vec<_> = sandbox.processors[0]
            .deployments
            .values()
            .map(|deployment| deployment.image.clone())
            .collect();
        let registry = Registry::new(Credentials::from_env(), REGISTRY_TIMEOUT);
        let Some(unavailable) = interrupt.cut(registry.check_all(&images)).await else {
            return Err(nothing_deployed());
        };
        options.unavailable_images = unavailable;
    }
    let Some(observed) = interrupt
        // One app is deployed: no orphan's history is read.
        .cut(backend.observe(&crate::backend::ObserveRequest {
            orphans: None,
            ..options.observe_request(&sandbox)
        }))
        .await
    else {
        return Err(nothing_deployed());
    };
    let observed = observed.map_err(Error::backend)?;
    let mut plan = crate::plan::plan(&sandbox, &observed, &options);
    plan.actions
        .retain(|action| action.reference.as_deref() == Some(reference.as_str()));
    let Some(action) = plan.actions.first_mut() else {
        return Err(Error::NothingToDeploy {
            reference: reference.clone(),
            environment: target.environment.clone(),
        });
    };
    if action.kind == ActionKind::Blocked {
        return Err(blocked(action, &app_name, &target.environment));
    }
    for warning in &plan.warnings {
        printer::stderr(&format!(
            "warning: {}: {}\n  fix: {}\n",
            warning.code, warning.message, warning.fix
        ));
    }
    // A person who asks for a deploy wants one, even of the fingerprint that is live.
    if action.kind == ActionKind::NoOp {
        action.kind = ActionKind::Update;
    }

    let settings = ApplySettings {
        parallelism: 1,
        fail_fast: true,
        rollback: true,
        log_dir: PathBuf::from(LOG_DIR),
        workdir: sandbox.modal.workdir.clone(),
        module: sandbox.modal.module.clone(),
        deploy_timeout: sandbox.modal.deploy_timeout,
        protect: sandbox.protect.clone(),
        grace_period: GRACE_PERIOD,
        // One app: nothing to spread.
        launch_spacing: std::time::Duration::ZERO,
        provenance: crate::sandbox::provenance(&sandbox.path).await,
    };
    let events: apply::EventSink = Arc::new(|event: &Event| {
        if !matches!(event, Event::Finished(_)) {
            printer::stderr(&format!("{}\n", crate::render::apply::event(event)));
        }
    });
    let backend: Arc<dyn ModalBackend> = backend;
    let report = apply::execute(backend, &plan, &settings, interrupt.clone(), events).await;

    let Some(app) = report.apps.first() else {
        return Ok(report.exit_status());
    };
    if app.failed() {
        printer::stderr(&failure(app, &reference, &app_name, &target.environment));
        return Ok(report.exit_status());
    }
    printer::stdout(&deployed(
        args, manifest, &sandbox, app, &reference, &app_name,
    ));
    Ok(report.exit_status())
}

/// What a deploy that went through says: the version, the smoke check, and how to call it.
fn deployed(
    args: &DeployArgs,
    manifest: &ValidManifest,
    sandbox: &ValidManifest,
    app: &AppReport,
    reference: &str,
    app_name: &AppName,
) -> String {
    let target = &args.target;
    let version = match app.outcome {
        Outcome::Deployed { version } => format!("v{version}"),
        other => crate::render::apply::outcome(other),
    };
    let smoke = if args.no_smoke {
        "smoke check skipped"
    } else if sandbox.processors[0]
        .deployments
        .get(&target.environment)
        .is_some_and(|deployment| deployment.smoke.is_some())
    {
        "smoke check passed"
    } else {
        "smoke check disabled in the manifest"
    };
    let payload = crate::smoke::mock_payload(&manifest.smoke.payload);
    let payload = serde_json::to_string(&payload).unwrap_or_else(|_| "{}".to_owned());
    let app_flag = target
        .app_name
        .as_deref()
        .map(|name| format!(" --app-name {}", target::shell_quote(name)))
        .unwrap_or_default();
    format!(
        "Deployed {reference} to `{env}` as `{app_name}` ({version}, {smoke}).\nCall it with:\n  modalplan invoke --env {env} --ref {reference}{app_flag} --payload-json {payload}\n",
        env = target.environment,
        payload = target::shell_quote(&payload),
    )
}

/// The refusal of a deploy the plan blocks: each blocker with its fix.
fn blocked(action: &crate::plan::Action, app_name: &AppName, environment: &str) -> Error {
    let messages: Vec<String> = action
        .blockers
        .iter()
        .map(|blocker| format!("{}: {}", blocker.code, blocker.message))
        .collect();
    let code = action
        .blockers
        .first()
        .map_or(crate::codes::Code::ErrUsage, |b| b.code);
    Error::DeployBlocked {
        code,
        reference: action.reference.clone().unwrap_or_default(),
        app: app_name.to_string(),
        environment: environment.to_owned(),
        messages,
        fixes: action.blockers.iter().map(|b| b.fix.clone()).collect(),
    }
}

/// What a failed deploy says: the outcome, each error with its log and the log's tail.
fn failure(app: &AppReport, reference: &str, app_name: &AppName, environment: &str) -> String {
    format!(
        "error: deploy of {reference} as `{app_name}` to `{environment}` failed; {}\n{}",
        crate::render::apply::outcome(app.outcome),
        crate::render::apply::errors(app)
    )
}

/// The manifest as this deploy sees it: only the processor, only the environment, named as the sandbox,
/// with the command line's image, secrets and smoke choices.
fn sandbox_manifest(
    manifest: &ValidManifest,
    processor: &Processor,
    environment: &str,
    args: &DeployArgs,
    app_name: &crate::naming::AppName,
) -> Result<ValidManifest, Error> {
    let mut deployment = processor
        .deployments
        .get(environment)
        .cloned()
        .ok_or_else(|| Error::NoDeployment {
            environment: environment.to_owned(),
        })?;
    if let Some(image) = &args.image {
        deployment.image =
            crate::manifest::image::parse(image).map_err(|error| Error::ImageNotPinned {
                reason: error.message().to_string(),
            })?;
    }
    if let Some(secrets) = &args.secrets {
        let mut names: Vec<String> = Vec::new();
        for name in secrets.iter().map(|name| name.trim()) {
            if name.is_empty() {
                continue;
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                return Err(Error::InvalidSecretName {
                    name: name.to_owned(),
                });
            }
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
        }
        deployment.secrets_required = names;
        deployment.secrets_optional = Vec::new();
    }
    if args.no_smoke {
        deployment.smoke = None;
    }
    let mut sandboxed = processor.clone();
    sandboxed.app_name = app_name.clone();
    sandboxed.deployments = [(environment.to_owned(), deployment)].into_iter().collect();
    let mut sandbox = manifest.clone();
    sandbox.processors = vec![sandboxed];
    sandbox.modal.environments = vec![environment.to_owned()];
    Ok(sandbox)
}
