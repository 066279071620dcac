//! The words of promotion: why a change waits on its upstream, the fix, and the lines the plan and
//! `status` show per gated environment.

use crate::plan::Plan;
use crate::plan::model::Action;
use crate::plan::promote::{Candidate, Outcome};
use crate::promotion::{PromotionCheck, Verdict};

// The words of a wait itself are the plan's (the planner writes its findings); shown here too.
pub use crate::plan::gate_words::{Subject, finding, short, skipped, time};

/// The gate's verdict of one action in a few words, for `status`.
pub fn state(check: &PromotionCheck) -> String {
    match &check.verdict {
        Verdict::Ready { version, .. } => {
            format!("promoted from {} (v{version})", check.upstream)
        }
        Verdict::Waiting { wait } if check.skipped => {
            format!("skipped: {}", short(wait, &check.upstream))
        }
        Verdict::Waiting { wait } => format!("waiting: {}", short(wait, &check.upstream)),
    }
}

/// The gate's verdict of what is live and matches the manifest, for `status`: whether upstream runs it.
pub fn live_state(check: &PromotionCheck) -> String {
    match &check.verdict {
        Verdict::Ready { version, .. } => {
            format!("promoted from {} (v{version})", check.upstream)
        }
        Verdict::Waiting { wait } => format!("not promoted: {}", short(wait, &check.upstream)),
    }
}

/// The actions of `environment` the gate holds back (or would have, when skipped).
pub fn waiting<'a>(plan: &'a Plan, environment: &str) -> Vec<(&'a Action, &'a PromotionCheck)> {
    plan.actions
        .iter()
        .filter(|action| action.environment == environment)
        .filter_map(|action| Some((action, action.promotion.as_ref()?)))
        .filter(|(_, check)| check.wait().is_some())
        .collect()
}

/// The plan's line per waiting change of an environment: `llm-litellm-v1 waits on staging: live on
/// staging since ..., soaks until ...`.
pub fn environment_lines(plan: &Plan, environment: &str) -> Vec<String> {
    waiting(plan, environment)
        .into_iter()
        .filter_map(|(action, check)| {
            let wait = check.wait()?;
            let verb = if check.skipped {
                "skips its wait on"
            } else {
                "waits on"
            };
            Some(format!(
                "{} {verb} {}: {}",
                action.app_name,
                check.upstream,
                short(wait, &check.upstream)
            ))
        })
        .collect()
}

/// `promote`'s line for one processor: what it writes, or why not.
pub fn promote_line(candidate: &Candidate, from: &str, to: &str) -> String {
    let reference = &candidate.reference;
    match &candidate.outcome {
        Outcome::Promote {
            current,
            image,
            version,
        } => format!(
            "{reference}: {} -> {} (live on {from} as v{version})",
            current.short_digest(),
            image.short_digest()
        ),
        Outcome::UpToDate { image } => {
            format!("{reference}: up to date ({})", image.short_digest())
        }
        Outcome::Held { wait } => format!("{reference}: held back: {}", short(wait, from)),
        Outcome::OtherUpstream { upstream } => format!(
            "{reference}: {to} takes it from {upstream}, not {from}: `modalplan promote --from {upstream} --to {to} --ref {reference}`"
        ),
    }
}

/// `promote`'s last line: the counts, and what became of the manifest.
pub fn promote_summary(candidates: &[Candidate], manifest: &str, check: bool) -> String {
    let count = |wanted: fn(&Outcome) -> bool| {
        candidates
            .iter()
            .filter(|candidate| wanted(&candidate.outcome))
            .count()
    };
    let promoted = count(Outcome::promotes);
    let up_to_date = count(|outcome| matches!(outcome, Outcome::UpToDate { .. }));
    let held = candidates.len() - promoted - up_to_date;
    if check {
        let waits = if promoted == 1 { "waits" } else { "wait" };
        return format!(
            "{promoted} {waits} to be promoted, {up_to_date} up to date, {held} held back; {manifest} is unchanged."
        );
    }
    let outcome = if promoted == 0 {
        "is unchanged"
    } else {
        "rewritten"
    };
    format!("{promoted} promoted, {up_to_date} up to date, {held} held back; {manifest} {outcome}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Code;
    use crate::promotion::Wait;

    #[test]
    fn times_read_as_utc_minutes() {
        assert_eq!(time("2026-12-03T14:02:00Z"), "2026-12-03 14:02 UTC");
        assert_eq!(time("2026-12-03T14:02:07Z"), "2026-12-03 14:02:07 UTC");
        assert_eq!(time("soon"), "soon");
    }

    #[test]
    fn each_wait_has_its_reason_and_fix() {
        let subject = Subject {
            app_name: "llm-litellm-v1",
            reference: "llm/litellm@1",
            environment: "main",
            upstream: "staging",
        };
        let cases = [
            (
                Wait::NotDeployed,
                "`llm-litellm-v1` is not deployed to staging: main only takes what is live on staging",
                "modalplan apply --env staging --target llm/litellm@1",
            ),
            (
                Wait::Differs {
                    version: 3,
                    parts: vec!["image".into()],
                    since: Some("2026-12-03T10:00:00Z".into()),
                },
                "this deployment of `llm-litellm-v1` is not the one on staging: staging runs another deployment (v3, live since 2026-12-03 10:00 UTC): image differs; or take the image staging runs: `modalplan promote --from staging --to main --ref llm/litellm@1`",
                "modalplan apply --env staging --target llm/litellm@1",
            ),
            (
                Wait::Differs {
                    version: 3,
                    parts: vec!["image".into(), "runtime".into(), "code".into()],
                    since: None,
                },
                "this deployment of `llm-litellm-v1` is not the one on staging: staging runs another deployment (v3): image, runtime and code differ",
                "modalplan apply --env staging --target llm/litellm@1",
            ),
            (
                Wait::SmokeFailed {
                    version: 7,
                    at: "2026-12-03T14:05:00Z".into(),
                    message: Some("status: error".into()),
                },
                "this deployment of `llm-litellm-v1` failed its smoke check on staging at v7 (2026-12-03 14:05 UTC): status: error; fix it, then apply it to staging again",
                "modalplan apply --env staging --target llm/litellm@1",
            ),
            (
                Wait::Soaking {
                    version: 4,
                    since: "2026-12-03T14:02:00Z".into(),
                    until: "2026-12-03T14:32:00Z".into(),
                },
                "`llm-litellm-v1` is live on staging since 2026-12-03 14:02 UTC, soaks until 2026-12-03 14:32 UTC",
                "wait until 2026-12-03 14:32 UTC ([promotion].soak), then run it again",
            ),
        ];
        for (wait, message, fix) in cases {
            let finding = finding(&wait, &subject);
            assert_eq!(finding.code, Code::ErrNotPromoted);
            assert_eq!(finding.message, message);
            assert_eq!(finding.fix, fix);
        }
    }
}
