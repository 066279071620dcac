//! The words of a change the promotion gate holds back: the blocker (`ERR_NOT_PROMOTED`, the reason and
//! the fix) and the warning of `--skip-promotion-check` the planner puts in the plan, and the wait in a
//! few words, which the plan's per-environment lines, `status` and the release records use too.

use crate::codes::Code;
use crate::plan::model::Finding;
use crate::promotion::Wait;

/// Whose wait a finding is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub app_name: &'a str,
    pub reference: &'a str,
    /// The gated environment.
    pub environment: &'a str,
    pub upstream: &'a str,
}

/// An RFC 3339 time of a record as people read it: `2026-12-03 14:02 UTC` (seconds only when not 0).
pub fn time(rfc3339: &str) -> String {
    let Some((date, clock)) = rfc3339.trim_end_matches('Z').split_once('T') else {
        return rfc3339.to_owned();
    };
    let clock = clock.strip_suffix(":00").unwrap_or(clock);
    format!("{date} {clock} UTC")
}

/// `image`, `image and code`, `image, runtime and code`.
fn listed(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The wait in a few words, for the per-environment lines of the plan and `status`.
pub fn short(wait: &Wait, upstream: &str) -> String {
    match wait {
        Wait::NotDeployed => format!("not deployed to {upstream}"),
        Wait::Differs {
            version,
            parts,
            since,
        } => {
            let since = since
                .as_deref()
                .map_or_else(String::new, |since| format!(", live since {}", time(since)));
            let verb = if parts.len() == 1 {
                "differs"
            } else {
                "differ"
            };
            format!(
                "{upstream} runs another deployment (v{version}{since}): {} {verb}",
                listed(parts)
            )
        }
        Wait::SmokeFailed { version, at, .. } => {
            format!(
                "failed its smoke check on {upstream} at v{version} ({})",
                time(at)
            )
        }
        Wait::Unrecorded { version } => {
            format!("live on {upstream} as v{version}, with no release record of its smoke check")
        }
        Wait::Soaking { since, until, .. } => format!(
            "live on {upstream} since {}, soaks until {}",
            time(since),
            time(until)
        ),
    }
}

/// The blocker of a change the gate holds back: `ERR_NOT_PROMOTED`, the reason and the fix.
pub fn finding(wait: &Wait, subject: &Subject<'_>) -> Finding {
    let Subject {
        app_name,
        reference,
        environment,
        upstream,
    } = *subject;
    // Fixes are commands where there is one: the Markdown plan shows them as code.
    let apply_upstream = format!("modalplan apply --env {upstream} --target {reference}");
    let (message, fix) = match wait {
        Wait::NotDeployed => (
            format!(
                "`{app_name}` is not deployed to {upstream}: {environment} only takes what is live on {upstream}"
            ),
            apply_upstream,
        ),
        Wait::Differs { parts, .. } => {
            let promote = if parts == &["image".to_owned()] {
                format!(
                    "; or take the image {upstream} runs: `modalplan promote --from {upstream} --to {environment} --ref {reference}`"
                )
            } else {
                String::new()
            };
            (
                format!(
                    "this deployment of `{app_name}` is not the one on {upstream}: {}{promote}",
                    short(wait, upstream)
                ),
                apply_upstream,
            )
        }
        Wait::SmokeFailed { message, .. } => (
            format!(
                "this deployment of `{app_name}` {}{}; fix it, then apply it to {upstream} again",
                short(wait, upstream),
                message
                    .as_deref()
                    .map_or_else(String::new, |message| format!(": {message}"))
            ),
            apply_upstream,
        ),
        Wait::Unrecorded { .. } => (
            format!(
                "`{app_name}` is {} (deployed outside modalplan, or its records could not be read); once it is checked, `--skip-promotion-check` takes it",
                short(wait, upstream)
            ),
            format!("modalplan smoke --env {upstream} --ref {reference}"),
        ),
        Wait::Soaking { until, .. } => (
            format!("`{app_name}` is {}", short(wait, upstream)),
            format!(
                "wait until {} ([promotion].soak), then run it again",
                time(until)
            ),
        ),
    };
    Finding {
        code: Code::ErrNotPromoted,
        message,
        fix,
    }
}

/// The warning of a wait that `--skip-promotion-check` overrode.
pub fn skipped(finding: &Finding) -> Finding {
    Finding {
        code: finding.code,
        message: format!("promotion check skipped: {}", finding.message),
        fix: "--skip-promotion-check deploys it anyway, for this run only; its release record says so"
            .to_owned(),
    }
}
