//! The deploy step and its contract with the module: the variables `modal deploy` exports to
//! `modal_app.py`, and where each deploy's log goes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::context::Context;
use super::report::AppError;
use crate::backend::{BackendError, DeployRequest, DeploymentRecord};
use crate::codes::Code;
use crate::plan::Action;
use crate::plan::model::Desired;

/// Lines of a failed deploy's log shown in the report.
const LOG_TAIL_LINES: usize = 20;

pub(super) fn log_path(log_dir: &Path, environment: &str, app_name: &str) -> PathBuf {
    log_dir.join(environment).join(format!("{app_name}.log"))
}

pub(super) async fn deploy(
    context: &Context,
    action: &Action,
    desired: &Desired,
    log: &Path,
) -> Result<DeploymentRecord, AppError> {
    if let Some(folder) = log.parent() {
        tokio::fs::create_dir_all(folder).await.map_err(|error| {
            AppError::new(
                Code::ErrDeployFailed,
                format!(
                    "could not create the log folder {}: {error}",
                    folder.display()
                ),
            )
        })?;
    }
    let request = DeployRequest {
        environment: action.environment.clone(),
        app_name: action.app_name.clone(),
        tag: desired.tag.clone(),
        workdir: context.settings.workdir.clone(),
        module: context.settings.module.clone(),
        env: deploy_environment(action, desired),
        log_file: log.to_path_buf(),
        timeout: context.settings.deploy_timeout,
    };
    match context.backend.deploy(&request).await {
        Ok(deployed) => Ok(deployed),
        Err(error) => {
            let mut app_error = AppError::from_backend(&error);
            let log = match &error {
                BackendError::DeployFailed { log: Some(log), .. } => log.clone(),
                _ => log.to_path_buf(),
            };
            if let Ok(text) = tokio::fs::read_to_string(&log).await {
                app_error.log_tail = tail(&text, LOG_TAIL_LINES);
                app_error.log = Some(log);
            }
            Err(app_error)
        }
    }
}

/// The variables exported to `modal deploy`, read by `modal_app.py`.
pub fn deploy_environment(action: &Action, desired: &Desired) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(reference) = &action.reference {
        env.insert("PROCESSOR_REF".to_owned(), reference.clone());
    }
    env.insert("IMAGE_REF".to_owned(), desired.image.clone());
    env.insert("TOOL_SECRETS".to_owned(), desired.secrets.join(","));
    env.insert("MODAL_ENVIRONMENT".to_owned(), action.environment.clone());
    env.insert("MODAL_APP_NAME".to_owned(), action.app_name.clone());
    let runtime = &desired.runtime;
    if let Some(cpu) = runtime.cpu {
        env.insert("MODALPLAN_CPU".to_owned(), cpu.to_string());
    }
    if let Some(memory) = runtime.memory_mb {
        env.insert("MODALPLAN_MEMORY_MB".to_owned(), memory.to_string());
    }
    if let Some(gpu) = &runtime.gpu {
        env.insert("MODALPLAN_GPU".to_owned(), gpu.clone());
    }
    if let Some(timeout) = runtime.timeout_s {
        env.insert("MODALPLAN_TIMEOUT_S".to_owned(), timeout.to_string());
    }
    env
}

fn tail(text: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}
