//! The one integration test binary; topics are modules.

mod apply;
mod emulator_support;
mod github;
mod name;
mod naming;
mod support;
