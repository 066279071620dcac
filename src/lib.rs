//! modalplan: plan and apply deployments of processors to Modal from one declarative manifest.
//!
//! Data flows one way: [`manifest`] → [`backend`] observes Modal → [`plan`] (pure) → [`render`] or
//! [`apply`] → report → [`render`]. Only [`printer`] writes to the terminal.

pub mod apply;
pub mod backend;
pub mod cli;
pub mod code;
pub mod codes;
pub mod commands;
pub mod error;
pub mod exit;
pub mod fingerprint;
pub mod github;
pub mod history;
pub mod interrupt;
pub mod manifest;
pub mod naming;
pub mod plan;
pub mod printer;
pub mod promotion;
pub mod registry;
pub mod render;
pub mod sandbox;
pub mod saved_plan;
pub mod settings;
pub mod smoke;
