//! The checks an app's deploy and its recovery share: has the live deployment moved since the plan, and
//! does the deployed version pass its smoke check.

use std::time::Duration;

use super::context::Context;
use super::report::AppError;
use crate::backend::{BackendError, DeploymentRecord};
use crate::codes::Code;
use crate::plan::model::{Live, SmokeSpec};
use crate::plan::{Action, ActionKind};
use crate::smoke::{SmokeCall, SmokeFailure};

/// `ERR_CONCURRENT_CHANGE` when the live deployment is not the one the plan saw.
pub(super) fn moved_since_plan(
    action: &Action,
    live: Option<&DeploymentRecord>,
) -> Option<AppError> {
    if Live::matches(action.before.as_ref(), live) {
        return None;
    }
    let untouched = if action.kind == ActionKind::Stop {
        "modalplan did not stop it"
    } else {
        "nothing was deployed"
    };
    Some(AppError::new(
        Code::ErrConcurrentChange,
        format!(
            "`{}` in `{}` changed since the plan ({} then, {} now): another apply may be running; {untouched}, plan again",
            action.app_name,
            action.environment,
            crate::plan::words::planned_deployment(action.before.as_ref()),
            crate::plan::words::live_deployment(live)
        ),
    ))
}

/// The smoke check of a deploy (or of the version a rollback put back), as an app error.
pub(super) async fn smoke_check(
    context: &Context,
    environment: &str,
    app_name: &str,
    smoke: &SmokeSpec,
) -> Result<(), AppError> {
    let call = SmokeCall {
        environment,
        app_name,
        function: &smoke.function,
        payload: &smoke.payload,
        timeout: Duration::from_secs(smoke.timeout_s),
    };
    let failed = |message: String| {
        AppError::new(
            Code::ErrSmokeFailed,
            format!(
                "smoke check `{}` of `{app_name}` failed: {message}",
                smoke.function
            ),
        )
    };
    match crate::smoke::check(context.backend.as_ref(), call).await {
        Ok(()) => Ok(()),
        Err(SmokeFailure::Reported(message) | SmokeFailure::Raised(message)) => {
            Err(failed(message))
        }
        Err(SmokeFailure::Backend(BackendError::Timeout { timeout, .. })) => {
            Err(failed(format!("no answer within {}s", timeout.as_secs())))
        }
        Err(SmokeFailure::Backend(error)) => Err(AppError::from_backend(&error)),
    }
}
