//! The one integration test binary; topics are modules.

mod emulator_support;
mod github;
mod name;
mod naming;
mod people;
mod support;
