//! Renderers: a [`Plan`](crate::plan::Plan) as text for people, JSON for machines, Markdown for a pull
//! request. They return strings; [`crate::printer`] writes them. Text carries ANSI styles; the printer
//! strips them where colour is not wanted (not a terminal, `NO_COLOR`, `--color never`).
//!
//! Secret values never reach a renderer: the plan holds secret names only.

pub mod apply;
pub mod history;
pub mod json;
pub mod markdown;
pub mod promotion;
pub mod table;
pub mod text;
pub mod words;

pub use json::render as json;
pub use markdown::render as markdown;
pub use text::render as text;

#[cfg(test)]
mod tests;
