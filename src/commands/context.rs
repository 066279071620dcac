//! What a command that works on the manifest and Modal holds for its whole run, made once: the validated
//! manifest and the one backend its `[modal]` section configures. Nothing below a command loads the
//! manifest again or builds a second backend; an `apply` or a `plan` also gives that backend its session
//! helper, started as soon as the manifest says which interpreter to run.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::backend::modal_cli::{CliConfig, ModalCli};
use crate::backend::retry::{Backoff, RetryPolicy};
use crate::error::Error;
use crate::github::annotate;
use crate::manifest::{self, ValidManifest, render};
use crate::printer;

/// How many `modal` processes a read may run at once (the per-call fallback only).
const READ_CONCURRENCY: usize = 8;

/// The manifest of a command and the backend it configures.
#[derive(Debug)]
pub struct Context {
    pub manifest: ValidManifest,
    /// Built on first use: a command that fails before it talks to Modal never looks for `modal`, and
    /// `secrets sync` masks its values before anything (the backend's debug line too) is written.
    backend: OnceLock<Arc<ModalCli>>,
    /// Whether the backend carries its helper requests in one session helper ([`Context::with_session`]).
    session: bool,
}

impl Context {
    /// The manifest at `path`, as the commands for people report it: an invalid one has its diagnostics
    /// printed on standard error, warnings are printed.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let (context, warnings) = Self::load_deferring_warnings(path)?;
        print_warnings(&warnings);
        Ok(context)
    }

    /// Like [`Context::load`], with the warnings returned instead of printed: for a command that must
    /// print something else first (`secrets sync` masks values under GitHub Actions before any output).
    pub fn load_deferring_warnings(
        path: &Path,
    ) -> Result<(Self, Vec<manifest::Diagnostic>), Error> {
        match manifest::load(path) {
            Ok(loaded) => Ok((Self::new(loaded.manifest), loaded.warnings)),
            Err(errors) => {
                printer::stderr(&render::human(
                    &errors.diagnostics,
                    crate::settings::diagnostic_style(),
                ));
                let count = errors.error_count();
                let code = errors
                    .errors()
                    .next()
                    .map_or(crate::codes::Code::ErrManifestRead, |diagnostic| {
                        diagnostic.code
                    });
                Err(Error::InvalidManifest {
                    path: path.to_owned(),
                    code,
                    count,
                })
            }
        }
    }

    /// The manifest at `path`, as `plan` and `apply` report it: its diagnostics as workflow annotations
    /// under GitHub Actions too, and an invalid one's diagnostics in the error.
    pub fn load_for_plan(path: &Path) -> Result<Self, Error> {
        let environment = crate::settings::env::var;
        let loaded = manifest::load(path).map_err(|errors| {
            printer::stderr(&annotate::manifest_diagnostics(
                environment,
                &errors.diagnostics,
            ));
            Error::from(errors)
        })?;
        printer::stderr(&annotate::manifest_diagnostics(
            environment,
            &loaded.warnings,
        ));
        print_warnings(&loaded.warnings);
        Ok(Self::new(loaded.manifest))
    }

    /// The context of an already validated manifest.
    pub fn new(manifest: ValidManifest) -> Self {
        Self {
            manifest,
            backend: OnceLock::new(),
            session: false,
        }
    }

    /// The same context, whose backend will carry its reads, smoke calls and release records in one
    /// session helper ([`ModalCli::with_session`]). Taken by value, so no backend was built without it.
    #[must_use]
    pub fn with_session(self) -> Self {
        Self {
            session: true,
            ..self
        }
    }

    /// Starts the backend's session helper now, if it has one, so that the interpreter's start and the
    /// SDK's import run while the command does its own work.
    pub async fn start_session(&self) {
        self.backend().start_session().await;
    }

    /// Ends the session helper, if one runs.
    pub async fn close(&self) {
        if let Some(backend) = self.backend.get() {
            backend.close_session().await;
        }
    }

    /// The one backend of this command.
    pub fn backend(&self) -> Arc<ModalCli> {
        Arc::clone(self.backend.get_or_init(|| {
            let backend = backend_for(&self.manifest);
            Arc::new(if self.session {
                backend.with_session()
            } else {
                backend
            })
        }))
    }

    /// The code every deploy of the manifest ships ([`ModalSettings::code_snapshot`]).
    ///
    /// [`ModalSettings::code_snapshot`]: crate::manifest::valid::ModalSettings::code_snapshot
    pub fn code_snapshot(&self) -> Result<crate::code::CodeSnapshot, Error> {
        self.manifest
            .modal
            .code_snapshot()
            .map_err(Error::CodeUnreadable)
    }
}

/// Prints the warnings of a manifest that loaded, in human words.
pub fn print_warnings(warnings: &[manifest::Diagnostic]) {
    if !warnings.is_empty() {
        printer::stderr(&render::human(
            warnings,
            crate::settings::diagnostic_style(),
        ));
    }
}

/// The `modal` CLI backend the manifest's `[modal]` section (or `MODALPLAN_MODAL_BIN`) names.
fn backend_for(manifest: &ValidManifest) -> ModalCli {
    let config = CliConfig::from_manifest(
        &manifest.modal.cli,
        manifest.modal.python.as_deref(),
        manifest.modal.read_timeout,
    );
    ModalCli::new(config, READ_CONCURRENCY).with_retry(RetryPolicy {
        deploy: Backoff::deploy(manifest.modal.deploy_retries),
        ..RetryPolicy::default()
    })
}
