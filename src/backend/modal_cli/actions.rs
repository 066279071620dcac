//! Changing Modal: deploy, call, rollback, stop. Owned by the apply work.

use super::ModalCli;
use crate::backend::{BackendError, CallRequest, DeployRequest, DeploymentRecord};

fn not_yet(what: &str) -> BackendError {
    BackendError::UnexpectedOutput {
        command: what.into(),
        reason: "not implemented yet".into(),
    }
}

pub async fn deploy(
    _cli: &ModalCli,
    _request: &DeployRequest,
) -> Result<DeploymentRecord, BackendError> {
    Err(not_yet("modal deploy"))
}

pub async fn call(
    _cli: &ModalCli,
    _request: &CallRequest,
) -> Result<serde_json::Value, BackendError> {
    Err(not_yet("function call"))
}

pub async fn rollback(
    _cli: &ModalCli,
    _environment: &str,
    _app_name: &str,
    _version: u32,
) -> Result<(), BackendError> {
    Err(not_yet("modal app rollback"))
}

pub async fn stop(
    _cli: &ModalCli,
    _environment: &str,
    _app_name: &str,
) -> Result<(), BackendError> {
    Err(not_yet("modal app stop"))
}
