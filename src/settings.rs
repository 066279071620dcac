//! Settings every command shares, and their defaults in one place.

use std::time::Duration;

/// Where deploy logs go (`apply --log-dir`; `deploy` always).
pub const LOG_DIR: &str = ".modalplan/logs";

/// Limit of each registry request (the pre-flight check of `plan`, `apply` and `deploy`; `pin`).
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(20);

/// After Ctrl-C or SIGTERM, how long running deploys may go on before they are killed.
pub const GRACE_PERIOD_SECONDS: u64 = 30;

/// [`GRACE_PERIOD_SECONDS`] as a duration.
pub const GRACE_PERIOD: Duration = Duration::from_secs(GRACE_PERIOD_SECONDS);
