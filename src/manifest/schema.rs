//! The JSON Schema of `processors.toml` (draft 2020-12), generated from the [`raw`](super::raw) types.
//!
//! `schemas/processors.schema.json` is this schema as printed by `modalplan schema`; a test fails when the
//! two differ. Validation uses the generated value, so editors and `modalplan validate` judge by the same
//! rules.

use std::sync::OnceLock;

use schemars::r#gen::SchemaSettings;
use serde_json::{Value, json};

use super::patterns;
use super::raw::RawManifest;

/// The URI of the meta-schema the generated schema conforms to.
pub const META_SCHEMA: &str = "https://json-schema.org/draft/2020-12/schema";

/// Where the committed schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schemas/processors.schema.json";

/// The schema as a JSON value.
pub fn generate() -> Value {
    let mut settings = SchemaSettings::draft2019_09();
    settings.meta_schema = Some(META_SCHEMA.to_owned());
    settings.option_add_null_type = false;
    // Inlined subschemas keep every property at a path an editor and a person can follow.
    settings.inline_subschemas = true;
    let root = settings
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    let mut schema = serde_json::to_value(root).unwrap_or(Value::Null);
    name_map_keys(&mut schema);
    remove_null_defaults(&mut schema);
    schema
}

/// `#[serde(default)]` on an `Option` makes schemars write `"default": null`, which TOML cannot express
/// and editors would offer; the descriptions say what the default is.
fn remove_null_defaults(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            if object.get("default").is_some_and(Value::is_null) {
                object.remove("default");
            }
            object.values_mut().for_each(remove_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_null_defaults),
        _ => {}
    }
}

/// The schema as printed: pretty JSON with a final newline.
pub fn to_pretty_string() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema, generated once per process.
pub fn generate_cached() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(generate)
}

/// The compiled validator, built once per process.
pub fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(generate_cached())
            // The schema is generated from our own types; a failure here is a bug caught by every test.
            .expect("the generated schema compiles")
    })
}

/// Table names that are map keys (`[secrets.NAME]`, `[processor.env.ENV]`) get a pattern for the key,
/// which schemars cannot derive from a map type.
fn name_map_keys(schema: &mut Value) {
    if let Some(secrets) = schema.pointer_mut("/properties/secrets") {
        set_property_names(secrets, patterns::SECRET_NAME, "REGISTRY_AUTH");
    }
    if let Some(env) = schema.pointer_mut("/properties/processor/items/properties/env") {
        set_property_names(env, patterns::ENVIRONMENT, "main");
    }
}

fn set_property_names(map_schema: &mut Value, pattern: &str, example: &str) {
    if let Some(object) = map_schema.as_object_mut() {
        object.insert(
            "propertyNames".to_owned(),
            json!({ "pattern": pattern, "examples": [example] }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_declares_draft_2020_12_and_compiles() {
        let schema = generate();
        assert_eq!(schema["$schema"], META_SCHEMA);
        assert!(jsonschema::meta::is_valid(&schema));
        let _ = validator();
    }

    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_PATH);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == to_pretty_string(),
            "{SCHEMA_PATH} differs from the schema generated from src/manifest/raw.rs; regenerate it with\n\n    cargo run -- schema > {SCHEMA_PATH}\n"
        );
    }
}
