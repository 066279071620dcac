//! The one integration test binary; topics are modules.

mod action;
mod apply;
mod emulator_support;
mod github;
mod manifest_docs;
mod matrix;
mod name;
mod naming;
mod network;
mod people;
mod pin;
mod plan;
mod processes;
mod promotion;
mod registry;
mod releases;
mod reliability;
mod secrets_leak;
mod secrets_sync;
mod signals;
mod support;
mod validate;
