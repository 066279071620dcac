//! Every environment variable modalplan reads for itself, read here and nowhere else, each under the name
//! of what it sets. (Secret values, which `secrets sync` reads by the key names the manifest declares, are
//! data, not settings: `commands/secret_source.rs`.)

use std::ffi::OsString;
use std::path::PathBuf;

/// The process environment, for the code that takes a lookup function (GitHub Actions' variables, the
/// annotations, the comment) so that its tests can pass their own.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable that is set to something other than blanks.
fn non_empty(name: &str) -> Option<String> {
    var(name).filter(|value| !value.trim().is_empty())
}

/// `MODALPLAN_MODAL_BIN`: the `modal` program, first in the order `backend/modal_cli/locate.rs` documents.
pub fn modal_bin() -> Option<String> {
    var("MODALPLAN_MODAL_BIN")
}

/// `MODALPLAN_PYTHON`: the interpreter of the helpers, before `[modal].python`.
pub fn python() -> Option<PathBuf> {
    std::env::var_os("MODALPLAN_PYTHON").map(PathBuf::from)
}

/// `PATH`, where `modal` is looked for last.
pub fn search_path() -> Option<OsString> {
    std::env::var_os("PATH")
}

/// `MODALPLAN_OBSERVE`: how the plan reads Modal (`auto`, `helper`, `cli`).
pub fn observe() -> Option<String> {
    var("MODALPLAN_OBSERVE")
}

/// `MODALPLAN_SESSION`: `off` or `0` forces one helper process per request in `plan` and `apply`.
pub fn session() -> Option<String> {
    var("MODALPLAN_SESSION")
}

/// The variable that sets the clock of the promotion gate and the release records.
pub const NOW: &str = "MODALPLAN_NOW";

/// [`NOW`]: an RFC 3339 time that stands for now (tests drive a soak with it).
pub fn now() -> Option<String> {
    var(NOW)
}

/// `REGISTRY_USERNAME` and `REGISTRY_PASSWORD`, when both are set and not empty.
pub fn registry_credentials() -> Option<(String, String)> {
    let username = var("REGISTRY_USERNAME")?;
    let password = var("REGISTRY_PASSWORD")?;
    (!username.is_empty() && !password.is_empty()).then_some((username, password))
}

/// `MODALPLAN_REGISTRY_URL_<SUFFIX>`: the base URL of one registry, then `MODALPLAN_REGISTRY_MIRROR`
/// for all of them; blank values do not count.
pub fn registry_url(suffix: &str) -> Option<String> {
    non_empty(&format!("MODALPLAN_REGISTRY_URL_{suffix}"))
        .or_else(|| non_empty("MODALPLAN_REGISTRY_MIRROR"))
}

/// `CI=true` (or `1`), as CI services set it.
pub fn in_ci() -> bool {
    var("CI").is_some_and(|value| {
        let value = value.trim();
        value.eq_ignore_ascii_case("true") || value == "1"
    })
}

/// Who runs modalplan: `USER`, else `GITHUB_ACTOR`.
pub fn user() -> Option<String> {
    non_empty("USER").or_else(|| non_empty("GITHUB_ACTOR"))
}

/// The branch of a sandbox name when git cannot say: `MODALPLAN_BRANCH`, else `GITHUB_HEAD_REF`.
pub fn branch() -> Option<String> {
    non_empty("MODALPLAN_BRANCH").or_else(|| non_empty("GITHUB_HEAD_REF"))
}
