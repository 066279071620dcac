//! The one integration test binary; topics are modules.

mod github;
mod name;
mod naming;
mod support;
