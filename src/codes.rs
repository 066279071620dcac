//! Stable diagnostic codes. Each is documented with its fix in `docs/errors.md`; a test keeps the two in step.

use std::fmt;

/// A stable code that scripts and people can search for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    // The manifest's own.
    ErrManifestRead,
    ErrManifestSyntax,
    ErrManifestSchema,
    ErrManifestVersion,
    ErrUnknownKey,
    ErrInvalidRef,
    ErrDuplicateRef,
    ErrImageUnpinned,
    ErrNameCollision,
    ErrUndeclaredSecret,
    ErrInvalidSecretName,
    ErrUnknownEnvironment,
    ErrRegistryAuthMissing,
    ErrEmptyManifest,
    ErrNoEnvironment,
    ErrInvalidAppName,
    ErrInvalidPath,
    // Modal and the deploy path.
    ErrMissingSecret,
    ErrImageUnavailable,
    ErrAppNotDeployed,
    ErrFunctionNotFound,
    /// A function called by `modalplan invoke` raised an exception.
    ErrFunctionFailed,
    ErrDeployFailed,
    ErrSmokeFailed,
    ErrRollbackFailed,
    ErrModalCli,
    ErrModalTimeout,
    ErrStalePlan,
    ErrPlanFile,
    ErrConcurrentChange,
    /// The deployment planned failed its smoke check before and was rolled back.
    ErrFailedBefore,
    /// Modal's release records of an environment could not be read or written.
    ErrReleaseRecord,
    /// A change in a gated environment is not live, smoke-checked and soaked upstream yet.
    ErrNotPromoted,
    /// Another run holds the apply lock of an environment.
    ErrLocked,
    ErrInterrupted,
    ErrUsage,
    // Secrets sync and pins.
    /// A key a secret declares has no value, or an empty one, in the source `secrets sync` reads.
    ErrSecretValueMissing,
    /// The dotenv or JSON file `secrets sync` reads cannot be read or parsed.
    ErrSecretSource,
    /// `pin --check`: a tag recorded in a pin now points at another digest.
    ErrTagMoved,
    // Warnings.
    WarnOptionalSecretMissing,
    WarnUnusedSecret,
    WarnNameShortened,
}

impl Code {
    /// Every code, in documentation order.
    pub const ALL: &'static [Code] = &[
        Code::ErrManifestRead,
        Code::ErrManifestSyntax,
        Code::ErrManifestSchema,
        Code::ErrManifestVersion,
        Code::ErrUnknownKey,
        Code::ErrInvalidRef,
        Code::ErrDuplicateRef,
        Code::ErrImageUnpinned,
        Code::ErrNameCollision,
        Code::ErrUndeclaredSecret,
        Code::ErrInvalidSecretName,
        Code::ErrUnknownEnvironment,
        Code::ErrRegistryAuthMissing,
        Code::ErrEmptyManifest,
        Code::ErrNoEnvironment,
        Code::ErrInvalidAppName,
        Code::ErrInvalidPath,
        Code::ErrMissingSecret,
        Code::ErrImageUnavailable,
        Code::ErrAppNotDeployed,
        Code::ErrFunctionNotFound,
        Code::ErrFunctionFailed,
        Code::ErrDeployFailed,
        Code::ErrSmokeFailed,
        Code::ErrRollbackFailed,
        Code::ErrModalCli,
        Code::ErrModalTimeout,
        Code::ErrStalePlan,
        Code::ErrPlanFile,
        Code::ErrConcurrentChange,
        Code::ErrFailedBefore,
        Code::ErrReleaseRecord,
        Code::ErrNotPromoted,
        Code::ErrLocked,
        Code::ErrInterrupted,
        Code::ErrUsage,
        Code::ErrSecretValueMissing,
        Code::ErrSecretSource,
        Code::ErrTagMoved,
        Code::WarnOptionalSecretMissing,
        Code::WarnUnusedSecret,
        Code::WarnNameShortened,
    ];

    /// The code as printed: `ERR_MISSING_SECRET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ErrManifestRead => "ERR_MANIFEST_READ",
            Code::ErrManifestSyntax => "ERR_MANIFEST_SYNTAX",
            Code::ErrManifestSchema => "ERR_MANIFEST_SCHEMA",
            Code::ErrManifestVersion => "ERR_MANIFEST_VERSION",
            Code::ErrUnknownKey => "ERR_UNKNOWN_KEY",
            Code::ErrInvalidRef => "ERR_INVALID_REF",
            Code::ErrDuplicateRef => "ERR_DUPLICATE_REF",
            Code::ErrImageUnpinned => "ERR_IMAGE_UNPINNED",
            Code::ErrNameCollision => "ERR_NAME_COLLISION",
            Code::ErrUndeclaredSecret => "ERR_UNDECLARED_SECRET",
            Code::ErrInvalidSecretName => "ERR_INVALID_SECRET_NAME",
            Code::ErrUnknownEnvironment => "ERR_UNKNOWN_ENVIRONMENT",
            Code::ErrRegistryAuthMissing => "ERR_REGISTRY_AUTH_MISSING",
            Code::ErrEmptyManifest => "ERR_EMPTY_MANIFEST",
            Code::ErrNoEnvironment => "ERR_NO_ENVIRONMENT",
            Code::ErrInvalidAppName => "ERR_INVALID_APP_NAME",
            Code::ErrInvalidPath => "ERR_INVALID_PATH",
            Code::ErrMissingSecret => "ERR_MISSING_SECRET",
            Code::ErrImageUnavailable => "ERR_IMAGE_UNAVAILABLE",
            Code::ErrAppNotDeployed => "ERR_APP_NOT_DEPLOYED",
            Code::ErrFunctionNotFound => "ERR_FUNCTION_NOT_FOUND",
            Code::ErrFunctionFailed => "ERR_FUNCTION_FAILED",
            Code::ErrDeployFailed => "ERR_DEPLOY_FAILED",
            Code::ErrSmokeFailed => "ERR_SMOKE_FAILED",
            Code::ErrRollbackFailed => "ERR_ROLLBACK_FAILED",
            Code::ErrModalCli => "ERR_MODAL_CLI",
            Code::ErrModalTimeout => "ERR_MODAL_TIMEOUT",
            Code::ErrStalePlan => "ERR_STALE_PLAN",
            Code::ErrPlanFile => "ERR_PLAN_FILE",
            Code::ErrConcurrentChange => "ERR_CONCURRENT_CHANGE",
            Code::ErrFailedBefore => "ERR_FAILED_BEFORE",
            Code::ErrReleaseRecord => "ERR_RELEASE_RECORD",
            Code::ErrNotPromoted => "ERR_NOT_PROMOTED",
            Code::ErrLocked => "ERR_LOCKED",
            Code::ErrInterrupted => "ERR_INTERRUPTED",
            Code::ErrUsage => "ERR_USAGE",
            Code::ErrSecretValueMissing => "ERR_SECRET_VALUE_MISSING",
            Code::ErrSecretSource => "ERR_SECRET_SOURCE",
            Code::ErrTagMoved => "ERR_TAG_MOVED",
            Code::WarnOptionalSecretMissing => "WARN_OPTIONAL_SECRET_MISSING",
            Code::WarnUnusedSecret => "WARN_UNUSED_SECRET",
            Code::WarnNameShortened => "WARN_NAME_SHORTENED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
