//! `processors.toml`: read with spans, checked against the schema and the semantic rules, then turned
//! into a [`valid::ValidManifest`].
//!
//! [`load`] is the one entry point: syntax, then the JSON Schema (the same one editors use), then the
//! semantic checks. Every problem is a [`Diagnostic`] with a stable code, a span and a fix.

pub mod diagnostics;
mod document;
pub mod duration;
pub mod image;
mod load;
pub mod patterns;
#[cfg(test)]
mod proptests;
pub mod raw;
pub mod render;
pub mod schema;
mod schema_check;
mod semantic;
pub mod valid;

pub use diagnostics::{Diagnostic, Label, ManifestErrors, Position, Severity};
pub use load::{LoadedManifest, load, load_str};
pub use semantic::REGISTRY_AUTH;
pub use valid::ValidManifest;
