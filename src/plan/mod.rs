//! The planner: a pure function from the validated manifest and what Modal has to a [`Plan`].

mod compare;
pub mod gate_words;
pub mod model;
pub mod options;
pub mod orphans;
pub mod planner;
pub mod promote;
pub mod words;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod promotion_tests;
#[cfg(test)]
mod releases_tests;
#[cfg(test)]
mod tests;

pub use model::{Action, ActionKind, Plan};
pub use options::{PlanOptions, SelectionError};
pub use planner::plan;
