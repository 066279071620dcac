//! Promotion: an environment only gets what passed the one before it.
//!
//! `[modal].environments` is the rollout order; `[promotion]` says which environments are gated. A create
//! or update in a gated environment goes ahead only when [`gate::check`] finds the same deployment live
//! upstream, smoke-checked there and soaked. The gate is a pure function of values; the planner calls it
//! with what the plan read of the upstream environment.

pub mod clock;
pub mod gate;

pub use gate::{Upstream, Verdict, Wait};

/// What the plan says of one gated action: its upstream and the gate's verdict.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PromotionCheck {
    /// The environment whose live deployment the action must match.
    pub upstream: String,
    pub verdict: Verdict,
    /// The verdict was a wait, and `--skip-promotion-check` let the action go ahead anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl PromotionCheck {
    /// The wait, when the action is (or, skipped, would have been) held back.
    pub fn wait(&self) -> Option<&Wait> {
        match &self.verdict {
            Verdict::Waiting { wait } => Some(wait),
            Verdict::Ready { .. } => None,
        }
    }
}
