//! The schema check: every error the JSON Schema finds, turned into a diagnostic on the exact key or value,
//! with the manifest's own code where the schema rule is one of its named rules (an unpinned image, a ref,
//! a secret name) so editors and `modalplan validate` agree on what is wrong and the CLI says why.

use std::ops::Range;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;
use toml_edit::ImDocument;

use super::diagnostics::Diagnostic;
use super::document;
use super::schema;
use crate::codes::Code;
use crate::naming::ProcessorRef;

mod rules;
mod words;

use rules::image_diagnostic;
pub(crate) use rules::invalid_secret_name;
pub(crate) use words::{did_you_mean, key_path};
use words::{first_sentence, shape, table_name, toml_inline, toml_type_name, toml_type_of};

/// Checks the document against the schema; empty when it conforms.
pub fn check(toml: &ImDocument<String>, json: &Value) -> Vec<Diagnostic> {
    let schema = schema::generate_cached();
    let mut diagnostics = Vec::new();
    let errors: Vec<_> = schema::validator().iter_errors(json).collect();
    // A misspelt key is reported once, as unknown with its suggestion, not also as a missing one.
    let mut misspelt: Vec<(String, String)> = Vec::new();
    for error in &errors {
        if let ValidationErrorKind::AdditionalProperties { unexpected } = &error.kind {
            let pointer = error.instance_path.as_str();
            let context = Context {
                toml,
                schema,
                pointer,
                schema_path: error.schema_path.as_str(),
                instance: &error.instance,
            };
            let allowed = context.allowed_keys();
            for key in unexpected {
                if let Some(meant) = did_you_mean(key, allowed.iter().copied()) {
                    misspelt.push((pointer.to_owned(), meant.to_owned()));
                }
            }
        }
    }
    for error in errors {
        let pointer = error.instance_path.as_str();
        let schema_path = error.schema_path.as_str();
        let context = Context {
            toml,
            schema,
            pointer,
            schema_path,
            instance: &error.instance,
        };
        match &error.kind {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    diagnostics.push(context.unknown_key(key));
                }
            }
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default();
                let is_misspelt = misspelt
                    .iter()
                    .any(|(at, meant)| at == pointer && meant == property);
                if !is_misspelt {
                    diagnostics.push(context.missing(property));
                }
            }
            ValidationErrorKind::PropertyNames { error: inner } => {
                let key = inner.instance.as_str().unwrap_or_default();
                diagnostics.push(context.bad_table_name(key));
            }
            ValidationErrorKind::Pattern { .. } => diagnostics.push(context.pattern()),
            ValidationErrorKind::Type { kind } => diagnostics.push(context.wrong_type(kind)),
            ValidationErrorKind::MinItems { .. } => diagnostics.push(context.empty_list()),
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::Maximum { limit }
                if pointer == "/version" =>
            {
                let _ = limit;
                diagnostics.push(context.version());
            }
            _ => diagnostics.push(context.generic(&error.to_string())),
        }
    }
    diagnostics
}

struct Context<'a> {
    toml: &'a ImDocument<String>,
    schema: &'a Value,
    pointer: &'a str,
    schema_path: &'a str,
    instance: &'a Value,
}

impl Context<'_> {
    fn span(&self) -> Range<usize> {
        document::value_span(self.toml, self.pointer).unwrap_or(0..0)
    }

    /// The schema of the object whose keyword failed (`/properties/modal` for
    /// `/properties/modal/additionalProperties`).
    fn parent_schema(&self) -> Option<&Value> {
        let parent = self
            .schema_path
            .rsplit_once('/')
            .map_or("", |(parent, _)| parent);
        self.schema.pointer(parent)
    }

    fn shape(&self) -> String {
        shape(self.pointer)
    }

    /// The keys the schema allows in the table this error is about.
    fn allowed_keys(&self) -> Vec<&str> {
        self.parent_schema()
            .and_then(|schema| schema.get("properties"))
            .and_then(Value::as_object)
            .map(|properties| properties.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The span of the table's first line (its header), not the whole table.
    fn header_span(&self) -> Range<usize> {
        let span = self.span();
        let text = self.toml.raw();
        let end = text
            .get(span.clone())
            .and_then(|inside| inside.find('\n'))
            .map_or(span.end, |newline| span.start + newline);
        span.start..end
    }

    fn unknown_key(&self, key: &str) -> Diagnostic {
        let allowed = self.allowed_keys();
        let span = document::key_span(self.toml, self.pointer, key).unwrap_or(0..0);
        let help = match did_you_mean(key, allowed.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!(
                "the keys allowed here are {}",
                allowed
                    .iter()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Diagnostic::error(
            Code::ErrUnknownKey,
            format!("unknown key `{key}` in {}", table_name(self.pointer)),
        )
        .with_label(span, "not a key of this table")
        .with_help(help)
    }

    fn missing(&self, property: &str) -> Diagnostic {
        let span = self.header_span();
        if self.pointer.is_empty() && property == "version" {
            return Diagnostic::error(Code::ErrManifestVersion, "the manifest has no `version`")
                .with_label(span, "")
                .with_help("add `version = 1` as the first line after the `#:schema` comment");
        }
        if self.pointer.is_empty() && property == "modal" {
            return Diagnostic::error(Code::ErrManifestSchema, "the manifest has no `[modal]` section")
                .with_label(span, "")
                .with_help(
                    "add it:\n[modal]\nmodule = \"modal_app\"\nenvironments = [\"dev\", \"staging\", \"main\"]",
                );
        }
        let example = self
            .parent_schema()
            .and_then(|schema| schema.pointer(&format!("/properties/{property}/examples/0")))
            .map_or_else(|| "...".to_owned(), toml_inline);
        let label = if span.is_empty() {
            String::new()
        } else {
            format!("`{property}` is missing here")
        };
        Diagnostic::error(
            Code::ErrManifestSchema,
            format!("{} has no `{property}`", table_name(self.pointer)),
        )
        .with_label(span, label)
        .with_help(format!("add `{property} = {example}`"))
    }

    fn bad_table_name(&self, key: &str) -> Diagnostic {
        let span = document::key_span(self.toml, self.pointer, key).unwrap_or(0..0);
        if self.shape() == "/secrets" {
            return invalid_secret_name(key, span);
        }
        Diagnostic::error(
            Code::ErrManifestSchema,
            format!("`{key}` is not a Modal environment name"),
        )
        .with_label(span, "")
        .with_help("use the name of an environment from `[modal].environments`: letters, digits, `-` and `_`")
    }

    fn pattern(&self) -> Diagnostic {
        let value = self.instance.as_str().unwrap_or_default();
        let span = self.span();
        let shape = self.shape();
        match shape.as_str() {
            "/processor/*/ref" => {
                let message = match value.parse::<ProcessorRef>() {
                    Err(error) => error.to_string(),
                    Ok(_) => format!("`{value}` is not a processor ref"),
                };
                Diagnostic::error(Code::ErrInvalidRef, message)
                    .with_label(span, "")
                    .with_help("write the ref as `namespace/name@version`, e.g. `llm/litellm@1`")
            }
            "/processor/*/image/oci" | "/processor/*/env/*/image/oci" => image_diagnostic(value, span)
                .unwrap_or_else(|| self.generic(&format!("`{value}` is not a pinned image reference"))),
            "/secrets/*/keys/*"
            | "/processor/*/secrets/required/*"
            | "/processor/*/secrets/optional/*"
            | "/processor/*/env/*/secrets/required/*"
            | "/processor/*/env/*/secrets/optional/*" => invalid_secret_name(value, span),
            "/modal/module" => Diagnostic::error(
                Code::ErrInvalidPath,
                format!("`{value}` is not a Python module name"),
            )
            .with_label(span, "")
            .with_help(
                "use a dotted Python name such as `modal_app` or `deploy.modal_app`; put the folder it is in in `workdir`",
            ),
            "/modal/workdir" => Diagnostic::error(
                Code::ErrInvalidPath,
                format!("`{value}` is not a folder inside the repository"),
            )
            .with_label(span, "")
            .with_help(
                "use a relative path of plain names (letters, digits, `.`, `_`, `-`), without `..`, e.g. `examples` or `deploy/modal`",
            ),
            "/protect/*" => Diagnostic::error(
                Code::ErrInvalidAppName,
                format!("`{value}` is not a Modal app name"),
            )
            .with_label(span, "")
            .with_help("use 1 to 64 characters of letters, digits, `.`, `_` and `-`"),
            "/modal/environments/*" | "/processor/*/environments/*" => Diagnostic::error(
                Code::ErrManifestSchema,
                format!("`{value}` is not a Modal environment name"),
            )
            .with_label(span, "")
            .with_help("use letters, digits, `-` and `_`, starting with a letter or digit, e.g. `dev`"),
            _ if shape.ends_with("timeout") => Diagnostic::error(
                Code::ErrManifestSchema,
                format!("`{value}` is not a duration"),
            )
            .with_label(span, "")
            .with_help("write a number and a unit (`ms`, `s`, `m`, `h`), e.g. `\"300s\"`, `\"5m\"`, `\"1h30m\"`"),
            _ if shape.ends_with("/function") => Diagnostic::error(
                Code::ErrManifestSchema,
                format!("`{value}` is not a Python function name"),
            )
            .with_label(span, "")
            .with_help("name a function of the Modal app, e.g. `smoke`"),
            _ if shape.ends_with("/gpu") => Diagnostic::error(
                Code::ErrManifestSchema,
                format!("`{value}` is not a Modal GPU type"),
            )
            .with_label(span, "")
            .with_help("write a GPU type with an optional count, e.g. `\"A10G\"`, `\"H100:2\"`"),
            _ => self.generic(&format!("`{value}` does not match the pattern of `{}`", key_path(self.pointer))),
        }
    }

    fn wrong_type(&self, kind: &TypeKind) -> Diagnostic {
        let expected = match kind {
            TypeKind::Single(single) => toml_type_name(&single.to_string()).to_owned(),
            TypeKind::Multiple(set) => set
                .iter()
                .map(|single| toml_type_name(&single.to_string()).to_owned())
                .collect::<Vec<_>>()
                .join(" or "),
        };
        let found = toml_type_of(self.instance);
        let path = key_path(self.pointer);
        let code = if self.pointer == "/version" {
            Code::ErrManifestVersion
        } else {
            Code::ErrManifestSchema
        };
        let span = if self.instance.is_object() {
            self.header_span()
        } else {
            self.span()
        };
        let mut diagnostic =
            Diagnostic::error(code, format!("`{path}` must be {expected}, not {found}"))
                .with_label(span, format!("this is {found}"));
        if self.pointer == "/processor" {
            diagnostic = diagnostic.with_help(
                "write each processor as `[[processor]]` (two brackets): an entry of an array of tables",
            );
        } else if let Some(example) = self
            .parent_schema()
            .and_then(|schema| schema.pointer("/examples/0"))
        {
            let key = self.pointer.rsplit('/').next().unwrap_or_default();
            let help = if key.parse::<usize>().is_ok() {
                format!("for example `{}`", toml_inline(example))
            } else {
                format!("for example `{key} = {}`", toml_inline(example))
            };
            diagnostic = diagnostic.with_help(help);
        }
        diagnostic
    }

    fn empty_list(&self) -> Diagnostic {
        let span = self.span();
        match self.shape().as_str() {
            "/modal/environments" => Diagnostic::error(
                Code::ErrNoEnvironment,
                "`[modal].environments` is empty: the manifest manages no environment",
            )
            .with_label(span, "")
            .with_help("list the Modal environments to deploy to, e.g. `environments = [\"dev\", \"staging\", \"main\"]`"),
            "/processor/*/environments" => Diagnostic::error(
                Code::ErrNoEnvironment,
                "this processor deploys to no environment",
            )
            .with_label(span, "")
            .with_help("list at least one environment, or remove `environments` to deploy to all of `[modal].environments`"),
            _ => Diagnostic::error(
                Code::ErrManifestSchema,
                format!("`{}` is empty", key_path(self.pointer)),
            )
            .with_label(span, "")
            .with_help("list at least one value, or remove the key"),
        }
    }

    fn version(&self) -> Diagnostic {
        Diagnostic::error(
            Code::ErrManifestVersion,
            format!(
                "manifest version {} is not supported: this modalplan reads version 1",
                self.instance
            ),
        )
        .with_label(self.span(), "")
        .with_help(
            "set `version = 1`, or upgrade modalplan if the file was written for a newer one",
        )
    }

    fn generic(&self, message: &str) -> Diagnostic {
        let path = key_path(self.pointer);
        let message = if message.contains(&format!("`{path}`")) || path.is_empty() {
            message.to_owned()
        } else {
            format!("`{path}`: {message}")
        };
        let mut diagnostic =
            Diagnostic::error(Code::ErrManifestSchema, message).with_label(self.span(), "");
        if let Some(description) = self
            .parent_schema()
            .and_then(|schema| schema.get("description"))
            .and_then(Value::as_str)
        {
            diagnostic = diagnostic.with_help(first_sentence(description));
        }
        diagnostic
    }
}

#[cfg(test)]
mod tests {
    use super::rules::env_var_name;
    use super::*;

    #[test]
    fn shapes_and_key_paths() {
        assert_eq!(
            shape("/processor/3/env/main/image/oci"),
            "/processor/*/env/*/image/oci"
        );
        assert_eq!(shape("/secrets/openai/keys/0"), "/secrets/*/keys/*");
        assert_eq!(shape("/modal/environments/1"), "/modal/environments/*");
        assert_eq!(key_path("/processor/3/image/oci"), "processor[3].image.oci");
        assert_eq!(table_name("/processor/0"), "`[[processor]]`");
        assert_eq!(
            table_name("/processor/0/env/main"),
            "`[processor.env.main]`"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("enviroments", ["module", "environments"]),
            Some("environments")
        );
        assert_eq!(did_you_mean("zzz", ["module", "environments"]), None);
        assert_eq!(env_var_name("openai-key"), "OPENAI_KEY");
        assert_eq!(env_var_name("1x"), "_1X");
    }
}
