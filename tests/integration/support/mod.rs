//! Test support shared by the topics of the integration binary.

pub mod github_api;
