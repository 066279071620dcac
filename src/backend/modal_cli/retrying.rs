//! The `modal` CLI backend's calls with their retries ([`crate::backend::retry`]): reads, smoke calls,
//! rollbacks and stops are tried again while they fail transiently; a deploy is decided by what Modal
//! published before it is tried again.

use super::{ModalCli, actions, read};
use crate::backend::retry::{self, retrying};
use crate::backend::{
    BackendError, CallRequest, DeployRequest, DeploymentRecord, ObserveRequest, Observed,
};

pub async fn observe(cli: &ModalCli, request: &ObserveRequest) -> Result<Observed, BackendError> {
    retrying("reading Modal", cli.retry.read, || {
        read::observe(cli, request)
    })
    .await
}

pub async fn live_deployment(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
) -> Result<Option<DeploymentRecord>, BackendError> {
    let what = format!("reading the live deployment of `{app_name}` in `{environment}`");
    retrying(&what, cli.retry.read, || {
        read::live_deployment(cli, environment, app_name)
    })
    .await
}

/// A deploy that failed transiently may still have published (the client lost `AppPublish`'s answer
/// and gave up, or the read after it failed): the app's live deployment decides. Tagged with this
/// deploy's fingerprint, it went out and counts as deployed (never deployed again); otherwise nothing
/// was published and the deploy is tried again, up to `[modal].deploy_retries` times.
pub async fn deploy(
    cli: &ModalCli,
    request: &DeployRequest,
) -> Result<DeploymentRecord, BackendError> {
    let backoff = cli.retry.deploy;
    let mut retries = 0;
    loop {
        let error = match actions::deploy(cli, request).await {
            Ok(deployed) => return Ok(deployed),
            Err(error) => error,
        };
        let Some(why) = retry::reason(&error).map(str::to_owned) else {
            return Err(error);
        };
        let live = live_deployment(cli, &request.environment, &request.app_name).await;
        match live {
            Ok(Some(live)) if live.tag.as_deref() == Some(request.tag.as_str()) => {
                tracing::info!(
                    "deploy of `{}` to `{}` failed transiently ({why}) but Modal published v{} tagged {}: counted as deployed, not deployed again",
                    request.app_name,
                    request.environment,
                    live.version,
                    request.tag
                );
                return Ok(live);
            }
            Ok(_) => {}
            // What went out is not known: deploying again could publish it twice.
            Err(read_error) => {
                tracing::info!(
                    "deploy of `{}` failed transiently ({why}) and what is live cannot be read ({read_error}): not retried",
                    request.app_name
                );
                return Err(retry::settled(error));
            }
        }
        if retries >= backoff.retries {
            tracing::info!(
                "deploy of `{}` to `{}` still failing ({why}) after {retries} retries; giving up",
                request.app_name,
                request.environment
            );
            return Err(retry::settled(error));
        }
        retries += 1;
        let wait = backoff.wait(retries);
        tracing::info!(
            "deploy of `{}` to `{}` failed transiently before publishing ({why}); retry {retries} of {} in {} ms",
            request.app_name,
            request.environment,
            backoff.retries,
            wait.as_millis()
        );
        tokio::time::sleep(wait).await;
    }
}

pub async fn call(
    cli: &ModalCli,
    request: &CallRequest,
) -> Result<serde_json::Value, BackendError> {
    let what = format!(
        "calling `{}.{}` in `{}`",
        request.app_name, request.function, request.environment
    );
    retrying(&what, cli.retry.call, || actions::call(cli, request)).await
}

pub async fn rollback(
    cli: &ModalCli,
    environment: &str,
    app_name: &str,
    version: u32,
) -> Result<(), BackendError> {
    let what = format!("rolling `{app_name}` in `{environment}` back to v{version}");
    retrying(&what, cli.retry.change, || {
        actions::rollback(cli, environment, app_name, version)
    })
    .await
}

pub async fn stop(cli: &ModalCli, environment: &str, app_name: &str) -> Result<(), BackendError> {
    let what = format!("stopping `{app_name}` in `{environment}`");
    retrying(&what, cli.retry.change, || {
        actions::stop(cli, environment, app_name)
    })
    .await
}
