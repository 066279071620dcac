//! The manifest reference and the error codes page are kept true by these tests.

use std::path::Path;

use modalplan::codes::Code;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every property of the schema as a dotted path: `processor.env.<ENV>.image.oci`.
fn property_paths(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, property) in properties {
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            out.push(child.clone());
            property_paths(property, &child, out);
        }
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        let placeholder = if path == "secrets" { "<NAME>" } else { "<ENV>" };
        property_paths(values, &format!("{path}.{placeholder}"), out);
    }
    if let Some(items) = schema.get("items") {
        property_paths(items, path, out);
    }
}

#[test]
fn the_manifest_reference_documents_every_schema_property() {
    let doc = read("docs/manifest.md");
    let mut paths = Vec::new();
    property_paths(&modalplan::manifest::schema::generate(), "", &mut paths);
    assert!(paths.len() > 40, "{paths:?}");
    let missing: Vec<&String> = paths
        .iter()
        .filter(|path| !doc.contains(&format!("`{path}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/manifest.md does not document {missing:?}"
    );
}

#[test]
fn the_error_page_documents_every_code() {
    let doc = read("docs/errors.md");
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| code.as_str())
        .filter(|code| !doc.contains(&format!("### `{code}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md has no section for {missing:?}"
    );
    let documented = doc.matches("\n### `").count();
    assert_eq!(
        documented,
        Code::ALL.len(),
        "docs/errors.md documents a code that src/codes.rs does not have"
    );
}
