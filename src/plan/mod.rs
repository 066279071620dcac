//! The planner: a pure function from the validated manifest and what Modal has to a [`Plan`].

pub mod model;

pub use model::{Action, ActionKind, Plan};
