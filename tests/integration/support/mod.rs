//! Test support shared by the topics of the integration binary.

pub mod argv;
pub mod emulator;
pub mod github_api;
pub mod registry;
