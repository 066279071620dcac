//! Observing Modal: apps, their live deployments and secrets. Owned by the plan work.

use super::ModalCli;
use crate::backend::{BackendError, DeploymentRecord, ObserveRequest, Observed};

pub async fn observe(_cli: &ModalCli, _request: &ObserveRequest) -> Result<Observed, BackendError> {
    Err(BackendError::UnexpectedOutput {
        command: "modal app list".into(),
        reason: "observing Modal is not implemented yet".into(),
    })
}

pub async fn live_deployment(
    _cli: &ModalCli,
    _environment: &str,
    _app_name: &str,
) -> Result<Option<DeploymentRecord>, BackendError> {
    Err(BackendError::UnexpectedOutput {
        command: "modal app history".into(),
        reason: "reading history is not implemented yet".into(),
    })
}
