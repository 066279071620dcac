//! `processors.toml`: read with spans, checked against the schema and the semantic rules, then turned
//! into a [`valid::ValidManifest`].

pub mod valid;

pub use valid::ValidManifest;
