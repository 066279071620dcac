//! The one integration test binary; topics are modules.
#![allow(
    clippy::too_many_lines,
    reason = "an end-to-end test reads as one session of a user, step by step"
)]

mod action;
mod apply;
mod apply_lock;
mod architecture;
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
