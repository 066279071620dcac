//! `modalplan plan`: read the manifest, read Modal (one helper process), check the registry, plan, render.

use std::path::Path;

use crate::error::Error;

use super::context::Context;
use crate::backend::lock::LockState;
use crate::backend::modal_cli::read::ReadPath;
use crate::backend::{ModalBackend, Observed};
use crate::cli::{PlanArgs, PlanFormat, SelectionArgs};
use crate::exit::ExitStatus;
use crate::github::annotate;
use crate::plan::{self, Plan, PlanOptions};
use crate::registry::{Credentials, Registry};
use crate::{printer, render, sandbox};

/// Room for the plan in a pull-request comment: GitHub's limit less the comment's marker line.
const COMMENT_BUDGET: usize = crate::github::comment::COMMENT_LIMIT - 200;

use crate::settings::REGISTRY_TIMEOUT;

pub async fn run(args: &PlanArgs) -> Result<ExitStatus, Error> {
    let mut context = Context::load_for_plan(&args.selection.manifest.manifest)?;
    // Its one read goes to a helper started now, so that Python starts while the code is hashed.
    if ReadPath::from_env() != ReadPath::Cli {
        context = context.with_session();
    }
    context.start_session().await;
    let plan = make_plan(&context, &args.selection, LockRead::Show).await;
    context.close().await;
    let plan = plan?;
    let rendered = match args.format {
        PlanFormat::Text => render::text(&plan),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => render::markdown(&plan),
    };
    printer::stdout(&rendered);
    if let Some(out) = &args.out {
        save(out, &plan)?;
    }
    let markdown = render::markdown(&plan);
    if args.github_comment {
        // The comment never changes the plan's exit code: a failure to post is reported as a warning.
        let body = render::markdown::render_within(&plan, COMMENT_BUDGET);
        let manifest_path = args.selection.manifest.manifest.display().to_string();
        printer::stderr(&crate::github::publish_plan_comment(&manifest_path, &body).await);
    }
    crate::github::actions::report_plan(crate::settings::env::var, &plan, &markdown)
        .map_err(Error::StepSummary)?;
    tracing::debug!(manifest = %context.manifest.path.display(), "planned");
    Ok(exit_status(&plan, args.detailed_exitcode))
}

/// 1 when anything is blocked; with `--detailed-exitcode`, 2 for changes and 0 for none.
pub fn exit_status(plan: &Plan, detailed: bool) -> ExitStatus {
    let summary = plan.summary();
    if summary.blocked > 0 {
        ExitStatus::Failure
    } else if detailed && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}

/// Whether a plan reads the apply locks of its environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockRead {
    /// `plan`: read them and note the held ones (not for `--sandbox`: sandbox applies take no lock).
    Show,
    /// `apply`: it takes the locks itself, meanwhile.
    Skip,
}

/// Reads Modal and the registry, and plans the context's manifest: what `plan` and `apply` without a
/// plan file both start from.
pub async fn make_plan(
    context: &Context,
    selection: &SelectionArgs,
    locks: LockRead,
) -> Result<Plan, Error> {
    let environment = crate::settings::env::var;
    let manifest = &context.manifest;
    let mut options = PlanOptions::select(manifest, &selection.environments, &selection.targets)
        .map_err(Error::Selection)?;
    options.prune = selection.prune;
    options.retry_failed = selection.retry_failed;
    options.skip_promotion_check = selection.skip_promotion_check;
    options.now = Some(crate::promotion::clock::now());
    if selection.skip_promotion_check && manifest.promotion.is_some() {
        printer::stderr(
            "warning: --skip-promotion-check: changes that [promotion] holds back are planned and applied anyway; each one's release record says so\n",
        );
    }
    options.code = context.code_snapshot()?;
    if selection.sandbox {
        options.sandbox =
            Some(
                sandbox::current_owner()
                    .await
                    .map_err(|error| Error::NoSandboxOwner {
                        source: error,
                        help: None,
                    })?,
            );
    }
    let backend = context.backend();
    let mut request = options.observe_request(manifest);
    request.locks = locks == LockRead::Show && options.sandbox.is_none();
    let observed = backend.observe(&request).await.map_err(Error::backend)?;
    printer::stderr(&unread_lock_warnings(&observed));
    if !selection.no_registry_check {
        let images: Vec<_> = manifest
            .processors
            .iter()
            .filter(|processor| options.targets_ref(processor.reference.as_str()))
            .flat_map(|processor| {
                processor
                    .deployments
                    .iter()
                    .filter(|(environment, _)| request.environments.contains_key(*environment))
                    .map(|(_, deployment)| deployment.image.clone())
            })
            .collect();
        options.unavailable_images = Registry::new(Credentials::from_env(), REGISTRY_TIMEOUT)
            .check_all(&images)
            .await;
    }
    let plan = plan::plan(manifest, &observed, &options);
    printer::stderr(&annotate::plan_findings(
        environment,
        &manifest.path.display().to_string(),
        std::fs::read_to_string(&manifest.path).ok().as_deref(),
        &plan,
    ));
    Ok(plan)
}

/// A warning per environment whose apply lock could not be read: informational, it never fails a read.
pub fn unread_lock_warnings(observed: &Observed) -> String {
    observed
        .environments
        .iter()
        .filter_map(|(environment, seen)| match &seen.lock {
            LockState::Unreadable { reason } => Some(format!(
                "warning: could not read the apply lock of `{environment}`, so whether an apply is running there is not known: {reason}\n"
            )),
            LockState::NotRead | LockState::Free | LockState::Held { .. } => None,
        })
        .collect()
}

fn save(path: &Path, plan: &Plan) -> Result<(), Error> {
    crate::saved_plan::save(path, plan).map_err(|error| Error::PlanNotWritten {
        path: path.to_owned(),
        source: error,
    })
}
