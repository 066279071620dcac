//! How a deployment is named where the plan's own checks speak (a stale saved plan, a deployment that
//! moved since the plan): the same words as the rendered plan, which re-exports them.

use crate::backend::DeploymentRecord;

use super::model::Live;

/// The deployment a plan saw: `v3 tagged mp2-…`, `v1 untagged` or `absent`.
pub fn planned_deployment(before: Option<&Live>) -> String {
    deployment(before.map(|live| (live.version, live.tag.as_deref())))
}

/// The deployment live now, in the same words as [`planned_deployment`].
pub fn live_deployment(live: Option<&DeploymentRecord>) -> String {
    deployment(live.map(|live| (live.version, live.tag.as_deref())))
}

fn deployment(deployment: Option<(u32, Option<&str>)>) -> String {
    match deployment {
        None => "absent".to_owned(),
        Some((version, Some(tag))) => format!("v{version} tagged {tag}"),
        Some((version, None)) => format!("v{version} untagged"),
    }
}
