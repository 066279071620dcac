//! `modalplan status`: what is deployed for each ref of one environment, whether it matches the manifest
//! (the deploy tag against the fingerprint `plan` computes), and the environment's apply lock.

use std::fmt::Write as _;

use super::context::Context;
use crate::error::Error;

use super::target;
use crate::backend::lock::LockState;
use crate::backend::{AppState, ModalBackend, Observed, ObservedApp};
use crate::cli::StatusArgs;
use crate::exit::ExitStatus;
use crate::manifest::ValidManifest;
use crate::manifest::valid::Processor;
use crate::plan::{Action, ActionKind, PlanOptions};
use crate::printer;
use crate::render::words;

pub async fn run(args: &StatusArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let environment = args.environment.as_str();
    target::check_environment(manifest, environment)?;
    let mut options = PlanOptions {
        environments: vec![environment.to_owned()],
        code: context.code_snapshot()?,
        now: Some(crate::promotion::clock::now()),
        ..PlanOptions::default()
    };
    if args.sandbox {
        options.sandbox =
            Some(
                crate::sandbox::current_owner()
                    .await
                    .map_err(|error| Error::NoSandboxOwner {
                        source: error,
                        help: Some("set USER and run in a git checkout"),
                    })?,
            );
    }
    let backend = context.backend();
    // Status shows managed apps only (no orphan's history is read), and the apply lock.
    let mut request = options.observe_request(manifest);
    request.locks = true;
    request.orphans = None;
    let observed = backend.observe(&request).await.map_err(Error::backend)?;
    let plan = crate::plan::plan(manifest, &observed, &options);
    let seen = observed.environments.get(environment);

    // A column of the promotion gate's verdicts, when this environment is gated for any processor.
    let gated = manifest
        .processors
        .iter()
        .any(|processor| manifest.promotion_gate(processor, environment).is_some());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut differing = 0;
    for processor in &manifest.processors {
        let reference = processor.reference.as_str();
        let Some(action) = plan
            .actions
            .iter()
            .find(|action| action.reference.as_deref() == Some(reference))
        else {
            // The processor does not deploy to this environment.
            continue;
        };
        let state = app_state(seen.and_then(|seen| seen.apps.get(&action.app_name)));
        let (version, tag) = match &action.before {
            Some(live) => (
                format!("v{}", live.version),
                live.tag.clone().unwrap_or_else(|| "-".to_owned()),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let verdict = manifest_verdict(action);
        if !verdict.starts_with("matches") {
            differing += 1;
        }
        let mut row = vec![
            reference.to_owned(),
            action.app_name.clone(),
            state,
            version,
            tag,
            verdict,
        ];
        if gated {
            row.push(promotion_cell(
                manifest, &observed, &options, processor, action,
            ));
        }
        rows.push(row);
    }
    let mut headers: Vec<String> = ["REF", "APP", "STATE", "VERSION", "TAG", "MANIFEST"]
        .map(str::to_owned)
        .to_vec();
    if gated {
        headers.push("PROMOTION".to_owned());
    }
    let mut out = format!("Environment `{environment}`:\n");
    let table: Vec<Vec<String>> = std::iter::once(headers)
        .chain(rows.iter().cloned())
        .collect();
    out.push_str(&crate::render::table::aligned("  ", &table));
    let _ = write!(
        out,
        "\n{} of {} match the manifest; `modalplan plan --env {environment}` shows the changes.\n",
        rows.len() - differing,
        rows.len()
    );
    if let Some(line) = lock_line(environment, seen.map(|seen| &seen.lock)) {
        out.push_str(&line);
    }
    printer::stdout(&out);
    Ok(ExitStatus::Success)
}

/// The environment's apply lock: free, held (and how to remove it if its run is gone), or not known.
fn lock_line(environment: &str, lock: Option<&LockState>) -> Option<String> {
    match lock? {
        LockState::Free => Some(format!("Apply lock of `{environment}`: free.\n")),
        LockState::Held { lock } => Some(format!(
            "Apply lock of `{environment}`: {}. If that run is gone: `modalplan force-unlock --env {environment} {}`\n",
            words::lock_holder(lock),
            lock.id
        )),
        LockState::Unreadable { reason } => Some(format!(
            "Apply lock of `{environment}`: not known, it could not be read: {reason}\n"
        )),
        LockState::NotRead => None,
    }
}

/// The app's state as Modal lists it; `absent` when it is not there.
fn app_state(app: Option<&ObservedApp>) -> String {
    match app {
        None => "absent".to_owned(),
        Some(app) => match &app.state {
            AppState::Deployed => "deployed".to_owned(),
            AppState::Stopped => "stopped".to_owned(),
            AppState::Other(other) => other.clone(),
        },
    }
}

/// Whether what is live matches the manifest: `matches`, `not deployed`, or `differs: ` and the
/// reasons; ` (apply blocked: CODES)` when the plan blocks its change.
fn manifest_verdict(action: &Action) -> String {
    let desired_tag = action.after.as_ref().map(|desired| desired.tag.as_str());
    let mut verdict = match &action.before {
        None => "not deployed".to_owned(),
        Some(live) if live.tag.as_deref() == desired_tag => "matches".to_owned(),
        Some(_) => {
            let reasons: Vec<String> = action.reasons.iter().map(words::reason).collect();
            format!("differs: {}", reasons.join("; "))
        }
    };
    if action.kind == ActionKind::Blocked {
        let codes: Vec<&str> = action.blockers.iter().map(|b| b.code.as_str()).collect();
        let _ = write!(verdict, " (apply blocked: {})", codes.join(", "));
    }
    verdict
}

/// The PROMOTION cell: the gate's verdict on the change, or, for what is live and matches (which has no
/// gate of its own), whether the upstream runs it too.
fn promotion_cell(
    manifest: &ValidManifest,
    observed: &Observed,
    options: &PlanOptions,
    processor: &Processor,
    action: &Action,
) -> String {
    let live = (action.kind == ActionKind::NoOp)
        .then(|| {
            crate::plan::planner::promotion_check(
                manifest,
                observed,
                options,
                processor,
                &action.environment,
                &action.app_name,
                &action.after.as_ref()?.tag,
            )
        })
        .flatten();
    match (&action.promotion, &live) {
        (Some(check), _) => crate::render::promotion::state(check),
        (None, Some(check)) => crate::render::promotion::live_state(check),
        (None, None) => "-".to_owned(),
    }
}
