//! The schema rules that are manifest rules with their own codes: a pinned image, a secret name.

use std::ops::Range;

use super::super::diagnostics::Diagnostic;
use super::super::image::{self, ImageError};
use crate::codes::Code;

pub(super) fn image_diagnostic(value: &str, span: Range<usize>) -> Option<Diagnostic> {
    match image::parse(value) {
        Err(ImageError::Unpinned(message)) => Some(
            Diagnostic::error(Code::ErrImageUnpinned, message)
                .with_label(span, "not pinned by digest")
                .with_help(
                    "pin the image by its digest, `registry/repository@sha256:<64 hex>`; `docker buildx imagetools inspect IMAGE:TAG` prints it",
                ),
        ),
        Err(ImageError::Name(message)) => Some(
            Diagnostic::error(Code::ErrManifestSchema, message)
                .with_label(span, "")
                .with_help("write `registry/repository@sha256:<64 hex>` in lowercase, e.g. `ghcr.io/acme/theory/llm-litellm@sha256:...`"),
        ),
        Ok(_) => None,
    }
}

pub(crate) fn invalid_secret_name(name: &str, span: Range<usize>) -> Diagnostic {
    Diagnostic::error(
        Code::ErrInvalidSecretName,
        format!("`{name}` is not a valid environment variable name"),
    )
    .with_label(span, "")
    .with_help(format!(
        "use uppercase letters, digits and `_`, not starting with a digit: `{}`",
        env_var_name(name)
    ))
}

/// The nearest valid environment variable name, as a suggestion.
pub(super) fn env_var_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|ch: char| ch.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}
