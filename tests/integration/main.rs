//! The one integration test binary; topics are modules.

mod apply;
mod emulator_support;
mod github;
mod manifest_docs;
mod matrix;
mod name;
mod naming;
mod network;
mod people;
mod plan;
mod registry;
mod reliability;
mod secrets_leak;
mod signals;
mod support;
mod validate;
