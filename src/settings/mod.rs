//! Settings every command shares, and their defaults in one place.

use std::time::Duration;

pub mod env;

/// Where deploy logs go (`apply --log-dir`; `deploy` always).
pub const LOG_DIR: &str = ".modalplan/logs";

/// Limit of each registry request (the pre-flight check of `plan`, `apply` and `deploy`; `pin`).
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(20);

/// After Ctrl-C or SIGTERM, how long running deploys may go on before they are killed.
pub const GRACE_PERIOD_SECONDS: u64 = 30;

/// [`GRACE_PERIOD_SECONDS`] as a duration.
pub const GRACE_PERIOD: Duration = Duration::from_secs(GRACE_PERIOD_SECONDS);

use std::io::IsTerminal;
use std::sync::OnceLock;

use crate::manifest::render::Style;

/// `--color`: whether diagnostics are drawn in colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--color`, decided once by `main` before any command runs.
static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Records `--color` for the run (the first call wins; `main` makes it).
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// How diagnostics are drawn on standard error: box drawing and colour on a terminal (or with
/// `--color always`); plain ASCII anywhere else (or with `--color never`), so logs and snapshots are stable.
pub fn diagnostic_style() -> Style {
    let terminal = match COLOR.get().copied().unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal(),
    };
    if terminal {
        Style::Terminal
    } else {
        Style::Plain
    }
}

/// Whether `plan` and `apply` carry their reads, smoke calls and release records in one long-lived helper process
/// (`src/backend/modal_cli/session.rs`): on unless `MODALPLAN_SESSION` is `off` (or `0`), which forces one
/// helper process per request, as before the session helper.
pub fn session_helper() -> bool {
    !matches!(env::session().as_deref(), Some("off" | "0"))
}
