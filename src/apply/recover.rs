//! After a failed deploy or smoke check: find out what is live and put back what the plan saw (roll back
//! an update, stop a new app), then smoke-check what was put back.

use super::Event;
use super::checks::{moved_since_plan, smoke_check};
use super::context::Context;
use super::report::{AppError, Outcome};
use crate::backend::DeploymentRecord;
use crate::codes::Code;
use crate::plan::Action;

/// After a failure: find out what is live and put back what the plan saw (unless `--no-rollback`).
pub(super) async fn recover(
    context: &Context,
    action: &Action,
    cause: AppError,
    deployed: Option<DeploymentRecord>,
) -> (Outcome, Vec<AppError>) {
    let environment = action.environment.as_str();
    let app_name = action.app_name.as_str();
    let before_version = action.before.as_ref().map(|live| live.version);
    let mut errors = vec![cause];
    let live = match deployed {
        Some(deployed) => Some(deployed),
        None => match context.backend.live_deployment(environment, app_name).await {
            Ok(live) => live,
            Err(error) => {
                errors.push(AppError::new(
                    Code::ErrRollbackFailed,
                    format!("could not read what is live to roll back: {error}"),
                ));
                return (Outcome::LeftFailed { version: None }, errors);
            }
        },
    };
    if moved_since_plan(action, live.as_ref()).is_none() {
        return (
            Outcome::Kept {
                version: before_version,
            },
            errors,
        );
    }
    let live_version = live.as_ref().map(|live| live.version);
    let ours = live.as_ref().and_then(|live| live.tag.as_deref())
        == action.after.as_ref().map(|desired| desired.tag.as_str());
    if !ours {
        errors.push(AppError::new(
            Code::ErrConcurrentChange,
            format!(
                "`{app_name}` in `{environment}` was changed by someone else during this apply; not rolled back"
            ),
        ));
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    if !context.settings.rollback {
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    match before_version {
        None => stop_new_app(context, action, live_version, errors).await,
        Some(before) => roll_back(context, action, before, live_version, errors).await,
    }
}

/// A new app that failed: stop it.
async fn stop_new_app(
    context: &Context,
    action: &Action,
    live_version: Option<u32>,
    mut errors: Vec<AppError>,
) -> (Outcome, Vec<AppError>) {
    let (environment, app_name) = (action.environment.as_str(), action.app_name.as_str());
    context.emit(&Event::Stopping {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
    });
    match context.backend.stop(environment, app_name).await {
        Ok(()) => (Outcome::Stopped, errors),
        Err(error) => {
            errors.push(AppError::new(
                    Code::ErrRollbackFailed,
                    format!(
                        "stopping the new app failed: {error}; {} deployed by this apply, is still live",
                        live_version.map_or_else(|| "the version".to_owned(), |version| format!("v{version},"))
                    ),
                ));
            (
                Outcome::LeftFailed {
                    version: live_version,
                },
                errors,
            )
        }
    }
}

/// An update that failed: roll back to the version the plan saw, then smoke-check it.
async fn roll_back(
    context: &Context,
    action: &Action,
    before: u32,
    live_version: Option<u32>,
    mut errors: Vec<AppError>,
) -> (Outcome, Vec<AppError>) {
    let (environment, app_name) = (action.environment.as_str(), action.app_name.as_str());
    context.emit(&Event::RollingBack {
        environment: environment.to_owned(),
        app_name: app_name.to_owned(),
        to: before,
    });
    if let Err(error) = context
        .backend
        .rollback(environment, app_name, before)
        .await
    {
        errors.push(AppError::new(
            Code::ErrRollbackFailed,
            format!(
                "rolling back to v{before} failed: {error}; {} deployed by this apply, is still live",
                live_version.map_or_else(|| "the version".to_owned(), |version| format!("v{version},"))
            ),
        ));
        return (
            Outcome::LeftFailed {
                version: live_version,
            },
            errors,
        );
    }
    let now_live = context
        .backend
        .live_deployment(environment, app_name)
        .await
        .ok()
        .flatten()
        .map(|live| live.version);
    if let Some(smoke) = action
        .after
        .as_ref()
        .and_then(|desired| desired.smoke.as_ref())
    {
        context.emit(&Event::SmokeChecking {
            environment: environment.to_owned(),
            app_name: app_name.to_owned(),
            version: now_live.unwrap_or(before),
        });
        if let Err(error) = smoke_check(context, environment, app_name, smoke).await {
            errors.push(AppError::new(
                Code::ErrRollbackFailed,
                format!(
                    "rolled back to v{before}, but its smoke check failed too: {}",
                    error.message
                ),
            ));
        }
    }
    (
        Outcome::RolledBack {
            to: before,
            live: now_live,
        },
        errors,
    )
}
