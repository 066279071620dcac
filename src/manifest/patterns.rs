//! The string grammars of the manifest, as JSON Schema patterns.
//!
//! They are written for the regex engines of every reader of the schema (the `jsonschema` crate, Taplo,
//! Tombi): no look-around, no backreferences. The semantic checks parse the same values with the
//! stricter Rust parsers (`ProcessorRef`, `ImageRef`), whose messages say exactly what is wrong.

/// `namespace/name@version`, the version digits with an optional leading `v`.
pub const REF: &str = r"^[^/@\s]+/[^/@\s]+@[vV]?[0-9]+$";

/// `registry/repository@sha256:<64 lowercase hex>`, optionally with the tag the pin was resolved from
/// before the `@` (`repository:tag@sha256:...`).
pub const IMAGE: &str = r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$";

/// A secret or key name that is also a valid environment variable name.
pub const SECRET_NAME: &str = r"^[A-Z_][A-Z0-9_]*$";

/// A Modal environment name.
pub const ENVIRONMENT: &str = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$";

/// A dotted Python module name: `modal_app`, `deploy.modal_app`.
pub const MODULE: &str = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$";

/// A relative folder of plain names: no leading `/`, no `..`, nothing a shell would expand.
pub const WORKDIR: &str =
    r"^(\.|\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*)(/(\.|\.?[A-Za-z0-9_-][A-Za-z0-9_.-]*))*/?$";

/// A Python function name.
pub const FUNCTION: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// A duration: one or more of a number and a unit, `300s`, `5m`, `1h30m`, `500ms`.
pub const DURATION: &str = r"^([0-9]+(ms|s|m|h))+$";

/// A Modal GPU type with an optional count: `A10G`, `H100:2`.
pub const GPU: &str = r"^[A-Za-z0-9-]+(:[1-9][0-9]?)?$";

/// A Modal app name: 1 to 64 characters of `[a-zA-Z0-9._-]`.
pub const APP_NAME: &str = r"^[A-Za-z0-9._-]{1,64}$";
