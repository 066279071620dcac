//! The one place modalplan reads the time of day: the release records' `at` and the soak gate's "now".
//!
//! `MODALPLAN_NOW` (RFC 3339, `2026-12-03T14:02:00Z`) sets it, so a test drives a soak without waiting;
//! a value that is not RFC 3339 is ignored.

use std::time::SystemTime;

/// The variable that sets the clock.
pub const NOW_VARIABLE: &str = crate::settings::env::NOW;

/// Now, or the time `MODALPLAN_NOW` names.
pub fn now() -> SystemTime {
    crate::settings::env::now()
        .and_then(|text| humantime::parse_rfc3339(text.trim()).ok())
        .unwrap_or_else(SystemTime::now)
}

/// `time` as the records write it: RFC 3339 UTC to the second.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Now, as the records write it.
pub fn now_rfc3339() -> String {
    rfc3339(now())
}
