//! The one error a command can end with. Each variant carries what its message, its code (see
//! [`Code`]) and its fix need; `main` renders it once, and [`Error::exit_status`] says how the run ends.

use std::fmt;

mod fix;
use std::path::PathBuf;

use crate::backend::BackendError;
use crate::backend::lock::LockRecord;
use crate::code::CodeError;
use crate::codes::Code;
use crate::exit::ExitStatus;
use crate::manifest::ManifestErrors;
use crate::plan::options::SelectionError;
use crate::sandbox::SandboxError;
use crate::saved_plan::SavedPlanError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The manifest.
    /// The manifest did not validate: the diagnostics with their source.
    #[error(transparent)]
    Manifest(Box<ManifestErrors>),
    /// The manifest did not validate; its diagnostics were already printed.
    #[error("{} is invalid ({count} error{})", path.display(), plural(*count))]
    InvalidManifest {
        path: PathBuf,
        code: Code,
        count: usize,
    },
    #[error("could not read {}: {source}", path.display())]
    ManifestUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {}: {source}", path.display())]
    ManifestUnwritable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} cannot be edited: {reason}", path.display())]
    ManifestUneditable { path: PathBuf, reason: String },
    #[error("could not read the code `modal deploy` ships: {0}")]
    CodeUnreadable(CodeError),

    // What the command line names.
    #[error(transparent)]
    Selection(SelectionError),
    #[error("`--ref {given}` is not a processor of {}{}", manifest.display(), did_you_mean(suggestion.as_deref()))]
    UnknownRef {
        given: String,
        manifest: PathBuf,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error("`{flag} {given}` is not an environment of {}{}", manifest.display(), did_you_mean(suggestion.as_deref()))]
    UnknownEnvironment {
        /// The option that named it: `--env`, or `--from`/`--to` of `promote`.
        flag: &'static str,
        given: String,
        manifest: PathBuf,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error("{reference} does not deploy to `{environment}`")]
    NotDeployedTo {
        reference: String,
        environment: String,
        enabled: Vec<String>,
    },
    /// `--app-name` is not a Modal app name (`flag`: whether to say so, as `name` does not).
    #[error("{}{reason}", if *flag { format!("`--app-name {name}`: ") } else { String::new() })]
    InvalidAppName {
        name: String,
        reason: String,
        flag: bool,
    },
    #[error("{0}")]
    InvalidRef(String),
    /// No sandbox name: no user or no branch (`help`: what the command can do instead).
    #[error("{source}")]
    NoSandboxOwner {
        source: SandboxError,
        help: Option<&'static str>,
    },
    #[error("`--timeout {given}` is not a duration")]
    InvalidTimeout { given: String },
    #[error("`--to {given}` is not a version")]
    InvalidVersion { given: String },
    #[error("`--image`: {reason}")]
    ImageNotPinned { reason: String },
    #[error("`--secrets`: `{name}` is not a secret name")]
    InvalidSecretName { name: String },
    #[error("`--payload-json` is not valid JSON: {message} at line {line}, column {column}")]
    PayloadNotJson {
        message: String,
        line: usize,
        column: usize,
        /// The payload's line with the error and a caret under its column.
        excerpt: String,
    },
    #[error("`--payload-json` must be a JSON object, not {kind}")]
    PayloadNotObject { kind: &'static str },
    #[error("refusing to invoke in mode `real` under CI=true")]
    RealModeInCi,
    /// `pin` was given flags that do not go together.
    #[error("{message}")]
    PinUsage { message: String },
    /// `promote` was given environments that do not go together.
    #[error("{message}")]
    PromoteUsage { message: String },

    // Modal.
    /// Modal (through the `modal` CLI) failed; `help` replaces the error's own fix.
    #[error("{error}")]
    Backend {
        error: BackendError,
        help: Option<String>,
    },
    #[error("app `{app}` is not deployed in environment `{environment}`")]
    AppNotDeployed {
        app: String,
        environment: String,
        /// The command that deploys it.
        deploy: String,
    },
    #[error("app `{app}` in environment `{environment}` has no function `{function}`")]
    FunctionNotFound {
        app: String,
        environment: String,
        function: String,
        deploy: String,
    },
    #[error("`{app}.{function}` in environment `{environment}` did not answer within {after}")]
    CallTimedOut {
        app: String,
        function: String,
        environment: String,
        after: String,
        /// The `modalplan logs` command for the app.
        logs: String,
    },
    #[error("`{app}.{function}` raised {message}")]
    FunctionRaised {
        app: String,
        function: String,
        message: String,
        logs: String,
    },
    #[error("mode `real` of {reference} needs the secret{} {} in environment `{environment}`, and {} missing", plural(names.len()), names.join(", "), if names.len() == 1 { "it is" } else { "they are" })]
    SecretsMissingForRealMode {
        reference: String,
        environment: String,
        names: Vec<String>,
        /// The commands that create them.
        fixes: Vec<String>,
    },

    // Plan and apply.
    #[error("could not write the plan to `{}`: {source}", path.display())]
    PlanNotWritten {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{error}")]
    SavedPlan { error: SavedPlanError },
    #[error("could not write the GitHub Actions step summary: {0}")]
    StepSummary(std::io::Error),
    /// The plan has blocked actions (`code`: the first blocker's).
    #[error("the plan has {count} blocked action(s): nothing was applied")]
    PlanBlocked { code: Code, count: usize },
    #[error("the apply lock of `{environment}` is {}{}: nothing was applied", crate::render::words::lock_holder(lock), waited_words(waited.as_deref()))]
    Locked {
        environment: String,
        lock: Box<LockRecord>,
        /// How long this run waited for it (`--lock-timeout`), in words.
        waited: Option<String>,
    },
    #[error(
        "the apply lock of `{environment}` is not `{given}`: it is {}; nothing was removed",
        crate::render::words::lock_holder(lock)
    )]
    LockIsAnother {
        environment: String,
        given: String,
        lock: Box<LockRecord>,
    },
    #[error("no apply lock is held in `{environment}`; nothing was removed")]
    NoLockHeld { environment: String },
    #[error("nothing to deploy for {reference} in `{environment}`")]
    NothingToDeploy {
        reference: String,
        environment: String,
    },
    #[error("no deployment in `{environment}`")]
    NoDeployment { environment: String },
    #[error("cannot deploy {reference} as `{app}` to `{environment}`:\n{}", messages.join("\n"))]
    DeployBlocked {
        code: Code,
        reference: String,
        app: String,
        environment: String,
        messages: Vec<String>,
        fixes: Vec<String>,
    },

    // Releases: history, rollback, destroy.
    #[error("`{app}` is not deployed in `{environment}`: there is nothing to roll back")]
    NothingToRollBack { app: String, environment: String },
    #[error("`{app}` in `{environment}` has no version before v{live}")]
    NoEarlierVersion {
        app: String,
        environment: String,
        live: u32,
    },
    #[error("`--to v{to}`: {}", if to == live { format!("v{to} is already live") } else { format!("`{app}` in `{environment}` has no v{to}") })]
    NotARollbackTarget {
        app: String,
        environment: String,
        to: u32,
        live: u32,
        known: Vec<u32>,
    },
    /// A rollback or stop was made but its release record was not written.
    #[error("the release record of the {operation} could not be written: {reason}")]
    RecordNotWritten {
        operation: RecordedOperation,
        reason: String,
    },
    #[error(
        "`{app}` is the CI app of {reference} in `{environment}`, not a sandbox: nothing was stopped"
    )]
    NotASandbox {
        app: String,
        reference: String,
        environment: String,
    },

    // Files the commands write.
    #[error("{} file{} already exist{}; nothing was written:\n{}", files.len(), plural(files.len()), if files.len() == 1 { "s" } else { "" }, files.join("\n"))]
    ScaffoldExists { files: Vec<String> },
    #[error("could not {} {}: {source}", if *folder { "create" } else { "write" }, path.display())]
    ScaffoldNotWritten {
        path: PathBuf,
        folder: bool,
        source: std::io::Error,
    },
    #[error("could not render the man page: {0}")]
    ManPage(std::io::Error),

    // git.
    #[error("could not list the branches of the git remote `{remote}`: {reason}")]
    GitRemote { remote: String, reason: String },

    // Secrets.
    /// A secret source file (`--from-dotenv`, `--from-json`) that cannot be used.
    #[error("{}: {reason}", path.display())]
    SecretSource {
        path: PathBuf,
        reason: String,
        help: &'static str,
    },
    #[error("`--only {name}` is not a secret of {}{}", manifest.display(), did_you_mean(suggestion.as_deref()))]
    UndeclaredSecret {
        name: String,
        manifest: PathBuf,
        suggestion: Option<String>,
        declared: Vec<String>,
    },
    /// Some secrets were not synced: the first one's code and fix.
    #[error("{} not synced to `{environment}`: {}", if names.len() == 1 { "1 secret".to_owned() } else { format!("{} secrets", names.len()) }, names.join(", "))]
    SecretsNotSynced {
        environment: String,
        names: Vec<String>,
        code: Code,
        help: String,
    },

    // Pins.
    #[error("{label}: cannot write the pin into {}: {reason}", path.display())]
    PinNotWritable {
        label: String,
        path: PathBuf,
        reason: String,
    },
    #[error("the pinned manifest would not validate: {first}")]
    PinWouldNotValidate { first: String },
    /// Tags that could not be resolved (`check`: by `pin --check`).
    #[error("{}", failures.join("\n"))]
    TagsUnresolved { failures: Vec<String>, check: bool },
    #[error("no processor's repository has the tag `{tag}`")]
    TagNowhere { tag: String },

    /// Interrupted by Ctrl-C or SIGTERM: what was left, in words.
    #[error("{0}")]
    Interrupted(&'static str),
}

/// What a release record that could not be written was of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedOperation {
    Rollback,
    Stop,
}

impl fmt::Display for RecordedOperation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            RecordedOperation::Rollback => "rollback",
            RecordedOperation::Stop => "stop",
        })
    }
}

impl Error {
    /// A backend error with its own code and fix.
    pub fn backend(error: BackendError) -> Self {
        Error::Backend { error, help: None }
    }

    /// How the run ends: 130 for an interrupt, 1 for anything else.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Interrupted(_) => ExitStatus::Interrupted,
            _ => ExitStatus::Failure,
        }
    }

    /// The stable code (`None` for the few failures of modalplan's own output).
    pub fn code(&self) -> Option<Code> {
        fix::code(self)
    }

    /// The fix, in words.
    pub fn help(&self) -> Option<String> {
        fix::help(self)
    }
}

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if let Error::Manifest(errors) = self {
            return errors.code();
        }
        Error::code(self).map(|code| Box::new(code.as_str()) as Box<dyn fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if let Error::Manifest(errors) = self {
            return errors.help();
        }
        Error::help(self).map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        match self {
            Error::Manifest(errors) => errors.severity(),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self {
            Error::Manifest(errors) => errors.source_code(),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match self {
            Error::Manifest(errors) => errors.labels(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        match self {
            Error::Manifest(errors) => errors.related(),
            _ => None,
        }
    }

    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            Error::Manifest(errors) => errors.url(),
            _ => None,
        }
    }

    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        match self {
            Error::Manifest(errors) => errors.diagnostic_source(),
            _ => None,
        }
    }
}

impl From<ManifestErrors> for Error {
    fn from(errors: ManifestErrors) -> Self {
        Error::Manifest(Box::new(errors))
    }
}

impl From<BackendError> for Error {
    fn from(error: BackendError) -> Self {
        Error::backend(error)
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |name| format!(" (did you mean `{name}`?)"))
}

fn waited_words(waited: Option<&str>) -> String {
    waited.map_or_else(String::new, |waited| format!(" after waiting {waited}"))
}
