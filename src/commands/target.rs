//! What the commands for people share: the processor a `--ref` names (with a did-you-mean), the
//! environment, the app name they act on, and the reads of one app's releases and one environment's
//! secrets. The manifest and the backend are the command's [`Context`].

use super::context::Context;
use crate::backend::{BackendError, ModalBackend};
use crate::error::Error;
use crate::manifest::ValidManifest;
use crate::manifest::valid::{Deployment, Processor};
use crate::naming::{AppName, ProcessorRef};
use crate::plan::options::did_you_mean;
use crate::sandbox;

/// The processor `--ref` names: the ref as the manifest writes it, or any ref with the same app name
/// (`llm/litellm@v1` for `llm/litellm@1`).
pub fn find_processor<'a>(
    manifest: &'a ValidManifest,
    given: &str,
) -> Result<&'a Processor, Error> {
    let parsed: Option<ProcessorRef> = given.parse().ok();
    let found = manifest.processors.iter().find(|processor| {
        processor.reference.as_str() == given
            || parsed
                .as_ref()
                .is_some_and(|parsed| parsed.app_name() == processor.reference.app_name())
    });
    if let Some(processor) = found {
        return Ok(processor);
    }
    let known: Vec<&str> = manifest
        .processors
        .iter()
        .map(|processor| processor.reference.as_str())
        .collect();
    let suggestion = did_you_mean(given, known.iter().copied());
    Err(Error::UnknownRef {
        given: given.to_owned(),
        manifest: manifest.path.clone(),
        suggestion,
        known: known.iter().map(|name| (*name).to_owned()).collect(),
    })
}

/// Checks `--env` against the manifest's environments.
pub fn check_environment(manifest: &ValidManifest, environment: &str) -> Result<(), Error> {
    check_environment_named(manifest, "--env", environment)
}

/// [`check_environment`] of an environment named by the option `flag`.
pub fn check_environment_named(
    manifest: &ValidManifest,
    flag: &'static str,
    environment: &str,
) -> Result<(), Error> {
    let known = &manifest.modal.environments;
    if known.iter().any(|name| name == environment) {
        return Ok(());
    }
    let suggestion = did_you_mean(environment, known.iter().map(String::as_str));
    Err(Error::UnknownEnvironment {
        flag,
        given: environment.to_owned(),
        manifest: manifest.path.clone(),
        suggestion,
        known: known.clone(),
    })
}

/// The processor's deployment in `environment`; an error when it does not deploy there.
pub fn deployment<'a>(
    processor: &'a Processor,
    environment: &str,
) -> Result<&'a Deployment, Error> {
    processor
        .deployments
        .get(environment)
        .ok_or_else(|| Error::NotDeployedTo {
            reference: processor.reference.to_string(),
            environment: environment.to_owned(),
            enabled: processor.deployments.keys().cloned().collect(),
        })
}

/// Which app a command acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameChoice {
    /// The caller's sandbox name, `<user>-<branch>-<app>`.
    Sandbox,
    /// The CI name, `<app>`.
    Ci,
}

/// `--app-name` as given (checked against Modal's rules), else the sandbox or CI name of the processor.
pub async fn app_name(
    processor: &Processor,
    choice: NameChoice,
    app_name: Option<&str>,
) -> Result<AppName, Error> {
    if let Some(name) = app_name {
        return AppName::parse(name).map_err(|error| Error::InvalidAppName {
            name: name.to_owned(),
            reason: error.to_string(),
            flag: true,
        });
    }
    match choice {
        NameChoice::Ci => Ok(processor.app_name.clone()),
        NameChoice::Sandbox => {
            let owner = sandbox::current_owner()
                .await
                .map_err(|source| Error::NoSandboxOwner {
                    source,
                    help: Some("set USER and run in a git checkout, or pass --app-name NAME"),
                })?;
            Ok(owner.app_name(&processor.app_name))
        }
    }
}

/// The app a release command (`history`, `rollback`) works on: `--app-name`, the sandbox name with
/// `--sandbox`, else the CI name.
pub async fn release_target(
    args: &crate::cli::ReleaseTargetArgs,
) -> Result<(Context, Processor, AppName), Error> {
    let context = Context::load(&args.manifest.manifest)?;
    check_environment(&context.manifest, &args.environment)?;
    let processor = find_processor(&context.manifest, &args.reference)?.clone();
    let choice = if args.sandbox {
        NameChoice::Sandbox
    } else {
        NameChoice::Ci
    };
    let app_name = app_name(&processor, choice, args.app_name.as_deref()).await?;
    Ok((context, processor, app_name))
}

/// The release records and live deployment of one app, in one read (one helper process).
pub async fn releases_of(
    backend: &dyn ModalBackend,
    environment: &str,
    app_name: &str,
) -> Result<
    (
        Vec<crate::backend::releases::ReleaseRecord>,
        Option<crate::backend::ObservedApp>,
    ),
    BackendError,
> {
    let mut request = crate::backend::ObserveRequest {
        releases: true,
        ..crate::backend::ObserveRequest::default()
    };
    request.environments.insert(
        environment.to_owned(),
        std::collections::BTreeSet::from([app_name.to_owned()]),
    );
    let mut observed = backend.observe(&request).await?;
    let Some(seen) = observed.environments.remove(environment) else {
        return Ok((Vec::new(), None));
    };
    if let crate::backend::releases::ReleasesState::Unreadable { reason } = &seen.releases {
        crate::printer::stderr(&format!(
            "warning: {}: the release records of `{environment}` could not be read, so only Modal's history is shown: {reason}\n",
            crate::codes::Code::ErrReleaseRecord
        ));
    }
    let records = seen.releases.of(app_name).to_vec();
    Ok((records, seen.apps.get(app_name).cloned()))
}

/// The names of the secrets present in an environment (values are never read).
pub async fn secrets_present(
    backend: &dyn ModalBackend,
    environment: &str,
) -> Result<std::collections::BTreeSet<String>, BackendError> {
    let mut request = crate::backend::ObserveRequest::default();
    request
        .environments
        .insert(environment.to_owned(), std::collections::BTreeSet::new());
    let mut observed = backend.observe(&request).await?;
    Ok(observed
        .environments
        .remove(environment)
        .map(|seen| seen.secrets)
        .unwrap_or_default())
}

/// A value quoted for a POSIX shell, for the commands modalplan suggests.
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./@:=,".contains(&b))
    {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_only_what_a_shell_would_split_or_expand() {
        assert_eq!(shell_quote("llm/litellm@1"), "llm/litellm@1");
        assert_eq!(shell_quote(r#"{"mode":"mock"}"#), r#"'{"mode":"mock"}'"#);
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
