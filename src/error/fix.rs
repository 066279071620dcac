//! Each error's code and its fix, in one table per question.

use super::Error;
use crate::codes::Code;
use crate::plan::options::SelectionError;

pub(super) fn code(error: &Error) -> Option<Code> {
    Some(match error {
        Error::Manifest(_) | Error::StepSummary(_) | Error::ManPage(_) => return None,
        Error::InvalidManifest { code, .. }
        | Error::PlanBlocked { code, .. }
        | Error::DeployBlocked { code, .. }
        | Error::SecretsNotSynced { code, .. } => *code,
        Error::ManifestUnreadable { .. }
        | Error::ManifestUnwritable { .. }
        | Error::CodeUnreadable(_) => Code::ErrManifestRead,
        Error::ManifestUneditable { .. } => Code::ErrManifestSyntax,
        Error::PinNotWritable { .. } | Error::PinWouldNotValidate { .. } => Code::ErrManifestSchema,
        Error::Selection(_)
        | Error::UnknownRef { .. }
        | Error::NoSandboxOwner { .. }
        | Error::InvalidTimeout { .. }
        | Error::InvalidVersion { .. }
        | Error::PayloadNotJson { .. }
        | Error::PayloadNotObject { .. }
        | Error::RealModeInCi
        | Error::PinUsage { .. }
        | Error::PromoteUsage { .. }
        | Error::NoLockHeld { .. }
        | Error::NothingToDeploy { .. }
        | Error::NoDeployment { .. }
        | Error::NoEarlierVersion { .. }
        | Error::NotARollbackTarget { .. }
        | Error::NotASandbox { .. }
        | Error::ScaffoldExists { .. }
        | Error::ScaffoldNotWritten { .. }
        | Error::GitRemote { .. } => Code::ErrUsage,
        Error::UnknownEnvironment { .. } | Error::NotDeployedTo { .. } => {
            Code::ErrUnknownEnvironment
        }
        Error::InvalidAppName { .. } => Code::ErrInvalidAppName,
        Error::InvalidRef(_) => Code::ErrInvalidRef,
        Error::ImageNotPinned { .. } => Code::ErrImageUnpinned,
        Error::InvalidSecretName { .. } => Code::ErrInvalidSecretName,
        Error::Backend { error, .. } => error.code(),
        Error::AppNotDeployed { .. } | Error::NothingToRollBack { .. } => Code::ErrAppNotDeployed,
        Error::FunctionNotFound { .. } => Code::ErrFunctionNotFound,
        Error::CallTimedOut { .. } => Code::ErrModalTimeout,
        Error::FunctionRaised { .. } => Code::ErrFunctionFailed,
        Error::SecretsMissingForRealMode { .. } => Code::ErrMissingSecret,
        Error::PlanNotWritten { .. } => Code::ErrPlanFile,
        Error::SavedPlan { error } => error.code(),
        Error::Locked { .. } | Error::LockIsAnother { .. } => Code::ErrLocked,
        Error::RecordNotWritten { .. } => Code::ErrReleaseRecord,
        Error::SecretSource { .. } => Code::ErrSecretSource,
        Error::UndeclaredSecret { .. } => Code::ErrUndeclaredSecret,
        Error::TagsUnresolved { .. } | Error::TagNowhere { .. } => Code::ErrImageUnavailable,
        Error::Interrupted(_) => Code::ErrInterrupted,
    })
}

/// The fix of each error, one arm per variant: a table, read as one.
#[allow(
    clippy::too_many_lines,
    reason = "one arm per Error variant; splitting the table would scatter it"
)]
pub(super) fn help(error: &Error) -> Option<String> {
    Some(match error {
        Error::Manifest(_)
        | Error::SavedPlan { .. }
        | Error::StepSummary(_)
        | Error::ManPage(_)
        | Error::InvalidRef(_)
        | Error::NothingToDeploy { .. }
        | Error::NoDeployment { .. }
        | Error::InvalidAppName { flag: false, .. } => return None,
        Error::InvalidManifest { path, .. } => format!(
            "fix it, then check with `modalplan validate --manifest {}`",
            path.display()
        ),
        Error::ManifestUnreadable { .. } => "check the file is readable".to_owned(),
        Error::ManifestUnwritable { .. } => {
            "check the folder is writable; the manifest was not changed".to_owned()
        }
        Error::ManifestUneditable { path, .. } => format!(
            "check it with `modalplan validate --manifest {}`",
            path.display()
        ),
        Error::CodeUnreadable(_) => "make the files under `[modal].workdir` readable, or leave them out with a `!` glob in `[modal].code`".to_owned(),
        Error::Selection(SelectionError::UnknownEnvironment { .. }) => {
            "pass one of the environments of `[modal].environments`, or add it there".to_owned()
        }
        Error::Selection(SelectionError::UnknownTarget { .. }) => {
            "pass a `ref` of a `[[processor]]` of the manifest, e.g. `--target llm/litellm@1`"
                .to_owned()
        }
        Error::UnknownRef {
            manifest, known, ..
        } => format!(
            "pass one of the refs {} lists: {}",
            manifest.display(),
            known.join(", ")
        ),
        Error::UnknownEnvironment { known, .. } => format!(
            "pass one of the environments [modal].environments lists: {}",
            known.join(", ")
        ),
        Error::NotDeployedTo {
            reference,
            environment,
            enabled,
        } => format!(
            "{reference} deploys to: {}; pick one of those, or enable it for `{environment}` in the manifest",
            enabled.join(", ")
        ),
        Error::InvalidAppName { flag: true, .. } => {
            "Modal app names are at most 64 characters of [a-zA-Z0-9._-]".to_owned()
        }
        Error::NoSandboxOwner { help, .. } => return help.map(str::to_owned),
        Error::InvalidTimeout { .. } => "write a duration such as `30s`, `2m` or `1m30s`".to_owned(),
        Error::InvalidVersion { .. } => {
            "write a version of `modalplan history`, e.g. `--to v3`".to_owned()
        }
        Error::ImageNotPinned { .. } => "pin it by digest: --image REGISTRY/REPOSITORY@sha256:<64 hex> (`docker buildx imagetools inspect IMAGE` prints the digest)".to_owned(),
        Error::InvalidSecretName { .. } => "secret names are letters, digits, `_`, `-` and `.`, separated by commas: --secrets OPENAI_API_KEY,LITELLM_API_BASE".to_owned(),
        Error::PayloadNotJson { excerpt, .. } => format!(
            "{excerpt}\nfix the JSON there; in a shell, quote it in single quotes: --payload-json '{{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{{}}}}'"
        ),
        Error::PayloadNotObject { .. } => "pass an object, e.g. --payload-json '{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{}}'".to_owned(),
        Error::RealModeInCi => "real mode calls external providers with real secrets; pass --allow-real-in-ci if this job is meant to, or use --mode mock".to_owned(),
        Error::PinUsage { .. } => "see `modalplan pin --help`".to_owned(),
        Error::PromoteUsage { .. } => {
            "promote from an environment to one after it in `[modal].environments`: see `modalplan promote --help`".to_owned()
        }
        Error::Backend { error, help } => help.clone().unwrap_or_else(|| error.help()),
        Error::AppNotDeployed { deploy, .. } => format!("deploy it first: {deploy}"),
        Error::FunctionNotFound { deploy, .. } => format!(
            "check --function (the module defines the functions), or redeploy: {deploy}"
        ),
        Error::CallTimedOut { logs, .. } => {
            format!("raise it with --timeout, or look at what the function did: {logs}")
        }
        Error::FunctionRaised { logs, .. } => format!("its logs may say why: {logs}"),
        Error::SecretsMissingForRealMode { fixes, .. } => {
            format!("create it, then invoke again:\n{}", fixes.join("\n"))
        }
        Error::PlanNotWritten { .. } => {
            "pass `--out` a path in a folder that exists and is writable".to_owned()
        }
        Error::PlanBlocked { .. } => {
            "fix what the plan lists under each blocked app, then plan again".to_owned()
        }
        Error::Locked {
            environment, lock, ..
        } => format!(
            "wait for that run to end, or pass `--lock-timeout 10m` to wait for it; if that run is gone (its last heartbeat is old), remove its lock: `modalplan force-unlock --env {environment} {}`",
            lock.id
        ),
        Error::LockIsAnother {
            environment, lock, ..
        } => format!(
            "pass the id of the lock held now, if its run is gone: `modalplan force-unlock --env {environment} {}`",
            lock.id
        ),
        Error::NoLockHeld { .. } => "nothing to do: the next apply takes the lock".to_owned(),
        Error::DeployBlocked { fixes, .. } => format!("then deploy again:\n{}", fixes.join("\n")),
        Error::NothingToRollBack { environment, .. } => {
            format!("`modalplan status --env {environment}` lists what is deployed")
        }
        Error::NoEarlierVersion { .. } => {
            "there is only one version: stop the app instead, or deploy another".to_owned()
        }
        Error::NotARollbackTarget { known, .. } => format!(
            "pass one of: {}",
            known
                .iter()
                .map(|version| format!("v{version}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Error::RecordNotWritten { operation, .. } => match operation {
            super::RecordedOperation::Rollback => {
                "the rollback is done; `modalplan history` shows it from Modal's history"
            }
            super::RecordedOperation::Stop => "the app is stopped; only its record is missing",
        }
        .to_owned(),
        Error::NotASandbox {
            app,
            reference,
            environment,
        } => format!(
            "CI apps are stopped by removing them from the manifest and `modalplan apply --prune`; to stop it by hand anyway: modalplan destroy --env {environment} --ref {reference} --app-name {app} --yes"
        ),
        Error::ScaffoldExists { .. } => {
            "pass --force to overwrite them, or --dir to scaffold in another folder".to_owned()
        }
        Error::ScaffoldNotWritten { .. } => "check the folder's permissions, or pass --dir".to_owned(),
        Error::GitRemote { .. } => {
            "run in a git checkout whose remote is reachable, or pass --remote NAME".to_owned()
        }
        Error::SecretSource { help, .. } => (*help).to_owned(),
        Error::UndeclaredSecret {
            manifest, declared, ..
        } => format!(
            "sync only secrets `[secrets]` of {} declares ({}), or declare it there with its keys",
            manifest.display(),
            declared.join(", ")
        ),
        Error::SecretsNotSynced { help, .. } => help.clone(),
        Error::PinNotWritable { .. } => {
            "write the pin by hand, or give the table its usual shape".to_owned()
        }
        Error::PinWouldNotValidate { .. } => {
            "nothing was written; report it with the manifest".to_owned()
        }
        Error::TagsUnresolved { check: false, .. } => "check the tag was pushed, and REGISTRY_USERNAME/REGISTRY_PASSWORD; nothing is pinned for what failed".to_owned(),
        Error::TagsUnresolved { check: true, .. } => "a registry that cannot be asked is an error, never a pass: check the tag, the network and REGISTRY_USERNAME/REGISTRY_PASSWORD".to_owned(),
        Error::TagNowhere { .. } => {
            "push the images with that tag first, or check its spelling".to_owned()
        }
        Error::Interrupted(_) => "run it again when you are ready".to_owned(),
    })
}
