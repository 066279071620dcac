//! Reading a manifest: TOML syntax, then the schema, then the semantic checks.

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml_edit::ImDocument;

use super::diagnostics::{Diagnostic, ManifestErrors, SourceFile};
use super::raw::RawManifest;
use super::valid::ValidManifest;
use super::{document, schema, schema_check, semantic};
use crate::codes::Code;

/// A manifest that validated, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub manifest: ValidManifest,
    pub warnings: Vec<Diagnostic>,
}

/// The largest manifest read: hundreds of processors fit in a few hundred kilobytes.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and validates the manifest at `path`.
pub fn load(path: &Path) -> Result<LoadedManifest, ManifestErrors> {
    let file = path.display().to_string();
    let read_error = |message: String, help: &str| ManifestErrors {
        file: file.clone(),
        diagnostics: vec![Diagnostic::error(Code::ErrManifestRead, message).with_help(help)],
    };
    let could_not_read = |error: std::io::Error| {
        read_error(
            format!("could not read `{file}`: {error}"),
            "run modalplan where processors.toml is, or pass `--manifest PATH`",
        )
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|manifest| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(manifest, MAX_MANIFEST_BYTES + 1),
                &mut bytes,
            )
        })
        .map_err(could_not_read)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(read_error(
            format!("`{file}` is larger than {MAX_MANIFEST_BYTES} bytes"),
            "a manifest is a few kilobytes: check that `--manifest` names processors.toml",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        read_error(
            format!(
                "`{file}` is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
            "save the manifest as UTF-8",
        )
    })?;
    load_str(&text, path)
}

/// Validates manifest text as if read from `path` (which names it in diagnostics and anchors `workdir`).
pub fn load_str(source: &str, path: &Path) -> Result<LoadedManifest, ManifestErrors> {
    let raw = match parse_conforming(source) {
        Some(raw) => raw,
        None => diagnose_parse(source).map_err(|diagnostics| ManifestErrors {
            file: path.display().to_string(),
            diagnostics: finish(diagnostics, source, path),
        })?,
    };

    let sha256 = format!("sha256:{}", hex::encode(Sha256::digest(source.as_bytes())));
    let (manifest, diagnostics) = semantic::check(&raw, path, sha256);
    let diagnostics = finish(diagnostics, source, path);
    match manifest {
        Some(manifest) => Ok(LoadedManifest {
            manifest,
            warnings: diagnostics,
        }),
        None => Err(ManifestErrors {
            file: path.display().to_string(),
            diagnostics,
        }),
    }
}

/// The quick path, one parse: the typed manifest when the text is TOML, conforms to the schema and
/// deserializes. `None` says only that something is wrong; [`diagnose_parse`] then finds what and where.
pub(super) fn parse_conforming(source: &str) -> Option<RawManifest> {
    let table = toml::de::DeTable::parse(source).ok()?;
    let json = document::de_table_to_json(table.get_ref())?;
    if !schema::validator().is_valid(&json) {
        return None;
    }
    RawManifest::deserialize(toml::de::Deserializer::from(table)).ok()
}

/// The path that reports: the document with the layout and spans the diagnostics point into, its JSON
/// form and every schema error; then the typed deserialization. Taken only when the quick path failed.
pub(super) fn diagnose_parse(source: &str) -> Result<RawManifest, Vec<Diagnostic>> {
    let (schema_result, raw_result) = std::thread::scope(|scope| {
        let raw = scope.spawn(|| toml_edit::de::from_str::<RawManifest>(source));
        let schema = check_syntax_and_schema(source);
        let raw = raw
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (schema, raw)
    });
    schema_result?;
    raw_result.map_err(|error| {
        // The schema admits only what deserializes; this is a last line of defence.
        let span = error.span().unwrap_or(0..0);
        vec![
            Diagnostic::error(
                Code::ErrManifestSchema,
                error.message().trim_end().to_owned(),
            )
            .with_label(span, "")
            .with_help("see docs/manifest.md for the fields and their types"),
        ]
    })
}

/// TOML syntax, then the schema: the diagnostics of the first stage that fails.
fn check_syntax_and_schema(source: &str) -> Result<(), Vec<Diagnostic>> {
    let toml = match ImDocument::parse(source.to_owned()) {
        Ok(toml) => toml,
        Err(error) => {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim_end().to_owned();
            let help = syntax_help(&message);
            return Err(vec![
                Diagnostic::error(Code::ErrManifestSyntax, format!("invalid TOML: {message}"))
                    .with_label(span, "")
                    .with_help(help),
            ]);
        }
    };
    let json = document::to_json(&toml);
    let schema_errors = schema_check::check(&toml, &json);
    if schema_errors.is_empty() {
        Ok(())
    } else {
        Err(schema_errors)
    }
}

/// Attaches the file and sorts by position, then code, so output is stable.
fn finish(diagnostics: Vec<Diagnostic>, source: &str, path: &Path) -> Vec<Diagnostic> {
    // A valid manifest without warnings (the common case) needs no copy of the text.
    if diagnostics.is_empty() {
        return diagnostics;
    }
    let file = &SourceFile::new(path, source.to_owned());
    let mut diagnostics: Vec<Diagnostic> = diagnostics
        .into_iter()
        .map(|diagnostic| diagnostic.in_file(file))
        .collect();
    diagnostics.sort_by_key(|diagnostic| {
        (
            diagnostic
                .labels
                .first()
                .map_or(0, |label| label.span.start),
            diagnostic.code,
        )
    });
    if diagnostics.len() > MAX_DIAGNOSTICS {
        let more = diagnostics.len() - MAX_DIAGNOSTICS;
        let last_code = diagnostics[MAX_DIAGNOSTICS].code;
        let errors = diagnostics[MAX_DIAGNOSTICS..]
            .iter()
            .any(Diagnostic::is_error);
        diagnostics.truncate(MAX_DIAGNOSTICS);
        let message = format!("{more} more problems not shown");
        let summary = if errors {
            Diagnostic::error(last_code, message)
        } else {
            Diagnostic::warning(last_code, message)
        };
        diagnostics.push(
            summary
                .with_help("fix the ones shown and validate again")
                .in_file(file),
        );
    }
    diagnostics
}

/// The most diagnostics reported for one manifest: a hostile file (a huge array of bad values) must not
/// print one per element.
pub const MAX_DIAGNOSTICS: usize = 100;

fn syntax_help(message: &str) -> &'static str {
    if message.contains("duplicate key") {
        "each key may appear once in a table; merge the two or remove one"
    } else if message.contains("invalid table header") || message.contains("duplicate") {
        "each table header may appear once; use `[[processor]]` for each processor"
    } else if message.contains("string") {
        "close the string with the quote it was opened with"
    } else {
        "fix the TOML syntax (https://toml.io/en/v1.0.0)"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The quick path accepts a text only when the reporting path accepts it too, with the same typed
    /// manifest, spans included: it never hides a diagnostic nor moves one.
    #[test]
    fn the_quick_path_agrees_with_the_reporting_path() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<(String, String)> = Vec::new();
        for folder in [
            "tests/fixtures/manifests/valid",
            "tests/fixtures/manifests/warning",
            "tests/fixtures/manifests/invalid",
            "examples",
            ".",
        ] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(folder))
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                texts.push((path.display().to_string(), text));
            }
        }
        let minimal = include_str!("../../examples/minimal.toml");
        let variants = [
            ("byte order mark", format!("\u{feff}{minimal}")),
            ("CRLF line ends", minimal.replace('\n', "\r\n")),
            (
                "datetime in a payload",
                format!(
                    "{minimal}\n[smoke]\npayload = {{ at = 1979-05-27T07:32:00Z, day = 1979-05-27 }}\n"
                ),
            ),
            (
                "datetime as a string field",
                minimal.replace("module = \"modal_app\"", "module = 1979-05-27"),
            ),
            (
                "integer forms",
                minimal.replace("version = 1", "version = 0x1"),
            ),
            (
                "integer out of range",
                minimal.replace("version = 1", "version = 99999999999999999999"),
            ),
            (
                "float version",
                minimal.replace("version = 1", "version = 1.0"),
            ),
            (
                "nan",
                format!("{minimal}\n[smoke]\npayload = {{ x = nan, y = -inf }}\n"),
            ),
            ("literal strings", minimal.replace('"', "'")),
            (
                "TOML 1.1 trailing comma",
                format!("{minimal}\n[smoke]\npayload = {{ x = 1, }}\n"),
            ),
            (
                "TOML 1.1 newline in inline table",
                format!("{minimal}\n[smoke]\npayload = {{ x = 1,\n y = 2 }}\n"),
            ),
            (
                "TOML 1.1 escape",
                format!("{minimal}\n[smoke]\npayload = {{ x = \"\\e\" }}\n"),
            ),
            (
                "TOML 1.1 time without seconds",
                format!("{minimal}\n[smoke]\npayload = {{ x = 07:32 }}\n"),
            ),
        ];
        texts.extend(
            variants
                .into_iter()
                .map(|(name, text)| (name.to_owned(), text)),
        );
        let mut quick_count = 0;
        for (name, text) in &texts {
            let reporting = diagnose_parse(text);
            match parse_conforming(text) {
                Some(quick) => {
                    quick_count += 1;
                    let reporting = reporting.unwrap_or_else(|diagnostics| {
                        panic!("{name}: the quick path accepts what the reporting path refuses: {diagnostics:?}")
                    });
                    assert_eq!(format!("{quick:#?}"), format!("{reporting:#?}"), "{name}");
                }
                None => assert!(
                    reporting.is_err(),
                    "{name}: only the reporting path accepts it"
                ),
            }
        }
        assert!(
            quick_count >= 8,
            "only {quick_count} texts took the quick path"
        );
        for (name, text) in texts
            .iter()
            .filter(|(name, _)| name.starts_with("TOML 1.1"))
        {
            assert!(parse_conforming(text).is_none(), "{name} is not TOML 1.0");
        }
    }

    #[test]
    fn a_manifest_given_by_bare_file_name_deploys_from_the_current_folder() {
        let text = include_str!("../../examples/minimal.toml");
        let manifest = load_str(text, Path::new("processors.toml"))
            .expect("examples/minimal.toml is valid")
            .manifest;
        assert_eq!(manifest.modal.workdir, Path::new("."));
    }

    #[test]
    fn the_repository_manifest_resolves() {
        let text = include_str!("../../processors.toml");
        let loaded =
            load_str(text, Path::new("processors.toml")).expect("processors.toml is valid");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let manifest = loaded.manifest;
        assert_eq!(manifest.modal.module, "modal_app");
        assert_eq!(manifest.modal.workdir, Path::new("examples"));
        assert_eq!(manifest.modal.environments, ["dev", "staging", "main"]);
        assert!(manifest.modal.cli.is_empty(), "{:?}", manifest.modal.cli);
        assert_eq!(manifest.modal.deploy_timeout, Duration::from_secs(600));
        let names: Vec<&str> = manifest
            .processors
            .iter()
            .map(|p| p.app_name.as_str())
            .collect();
        assert_eq!(
            names,
            ["llm-litellm-v1", "replicate-generic-v1", "audio-whisper-v2"]
        );
        let litellm = &manifest.processors[0];
        let main = &litellm.deployments["main"];
        assert_eq!(main.image.registry, "ghcr.io");
        assert_eq!(main.image.repository, "acme/theory/llm-litellm");
        assert_eq!(main.secrets_required, ["OPENAI_API_KEY"]);
        assert_eq!(main.secrets_optional, ["LITELLM_API_BASE"]);
        assert_eq!(main.runtime.memory_mb, Some(2048));
        let smoke = main.smoke.as_ref().expect("smoke is on");
        assert_eq!(smoke.function, "smoke");
        assert_eq!(smoke.timeout, Duration::from_secs(300));
        let whisper = &manifest.processors[2];
        assert_eq!(
            whisper.deployments.keys().collect::<Vec<_>>(),
            ["dev", "staging"]
        );
        assert_eq!(
            whisper.deployments["dev"].smoke.as_ref().map(|s| s.timeout),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            whisper.deployments["dev"].runtime.gpu.as_deref(),
            Some("A10G")
        );
        assert!(manifest.sha256.starts_with("sha256:"));
        assert_eq!(manifest.sha256.len(), 71);
    }

    #[test]
    fn errors_render_in_full_through_a_miette_report() {
        let text = "version = 2\n[modal]\nmodule = \"modal_app\"\nenvironments = [\"dev\"]\n";
        let errors = load_str(text, Path::new("deploy/processors.toml")).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "deploy/processors.toml: invalid (1 error)"
        );
        let report = miette::Report::new(errors);
        let mut rendered = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::none())
            .with_width(100)
            .render_report(&mut rendered, report.as_ref())
            .unwrap();
        let rendered: Vec<&str> = rendered.lines().map(str::trim_end).collect();
        assert_eq!(
            rendered.join("\n"),
            concat!(
                "ERR_MANIFEST_VERSION\n",
                "\n",
                "  x deploy/processors.toml: invalid (1 error)\n",
                "  help: run `modalplan validate --manifest deploy/processors.toml` for the same report\n",
                "\n",
                "Error: ERR_MANIFEST_VERSION\n",
                "\n",
                "  x manifest version 2 is not supported: this modalplan reads version 1\n",
                "   ,-[deploy/processors.toml:1:11]\n",
                " 1 | version = 2\n",
                "   :           ^\n",
                " 2 | [modal]\n",
                "   `----\n",
                "  help: set `version = 1`, or upgrade modalplan if the file was written for a newer one",
            )
        );
    }

    #[test]
    fn overrides_replace_what_they_name_and_keep_the_rest() {
        let text = r#"
version = 1
[modal]
module = "modal_app"
environments = ["dev", "main"]
[secrets.A]
keys = ["A"]
[secrets.B]
keys = ["B"]
[[processor]]
ref = "x/y@1"
image.oci = "docker.io/acme/y@sha256:0000000000000000000000000000000000000000000000000000000000000001"
secrets.required = ["A"]
runtime = { cpu = 1, memory_mb = 512 }
[processor.env.dev]
image.oci = "docker.io/acme/y@sha256:0000000000000000000000000000000000000000000000000000000000000002"
secrets.optional = ["B"]
runtime = { memory_mb = 1024 }
smoke = { enabled = false }
"#;
        let manifest = load_str(text, Path::new("m/processors.toml"))
            .expect("valid")
            .manifest;
        assert_eq!(manifest.modal.workdir, Path::new("m"));
        let processor = &manifest.processors[0];
        let dev = &processor.deployments["dev"];
        let main = &processor.deployments["main"];
        assert!(dev.image.digest.ends_with('2'));
        assert!(main.image.digest.ends_with('1'));
        assert_eq!(dev.secrets_required, ["A"]);
        assert_eq!(dev.secrets_optional, ["B"]);
        assert!(main.secrets_optional.is_empty());
        assert_eq!(dev.runtime.cpu, Some(1.0));
        assert_eq!(dev.runtime.memory_mb, Some(1024));
        assert_eq!(main.runtime.memory_mb, Some(512));
        assert!(dev.smoke.is_none());
        assert!(main.smoke.is_some());
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        const VALID: &str = include_str!("../../processors.toml");

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn any_text_validates_or_is_refused_without_panicking(source in ".{0,600}") {
                let _ = load_str(&source, Path::new("processors.toml"));
            }

            #[test]
            fn a_valid_manifest_with_one_byte_changed_never_panics(index in 0_usize..8192, byte in 0x20_u8..0x7f) {
                let mut bytes = VALID.as_bytes().to_vec();
                let index = index % bytes.len();
                bytes[index] = byte;
                if let Ok(source) = String::from_utf8(bytes) {
                    let _ = load_str(&source, Path::new("processors.toml"));
                }
            }

            #[test]
            fn a_valid_manifest_with_a_line_cut_or_doubled_never_panics(line in 0_usize..200, double in any::<bool>()) {
                let mut lines: Vec<&str> = VALID.lines().collect();
                let line = line % lines.len();
                if double { lines.insert(line, lines[line]); } else { lines.remove(line); }
                let _ = load_str(&lines.join("\n"), Path::new("processors.toml"));
            }
        }

        #[test]
        fn deeply_nested_arrays_and_tables_are_refused_not_overflowed() {
            for depth in [100, 10_000, 100_000] {
                let arrays = format!(
                    "version = 1\nx = {}{}\n",
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                let inline = format!(
                    "version = 1\nx = {}{}\n",
                    "{a = ".repeat(depth),
                    "}".repeat(depth)
                );
                let dotted = format!("version = 1\n[{}]\n", vec!["a"; depth].join("."));
                for source in [arrays, inline, dotted] {
                    let errors = load_str(&source, Path::new("processors.toml")).unwrap_err();
                    assert!(!errors.diagnostics.is_empty());
                }
            }
        }

        #[test]
        fn a_huge_array_is_refused_with_a_bounded_number_of_diagnostics() {
            let source = format!(
                "version = 1\n[modal]\nmodule = \"m\"\nenvironments = [{}]\n",
                vec!["\"bad name!\""; 100_000].join(", ")
            );
            let errors = load_str(&source, Path::new("processors.toml")).unwrap_err();
            assert!(!errors.diagnostics.is_empty());
            assert_eq!(errors.diagnostics.len(), MAX_DIAGNOSTICS + 1);
            let last = errors.diagnostics.last().unwrap();
            assert_eq!(
                last.message,
                format!("{} more problems not shown", 100_000 - MAX_DIAGNOSTICS)
            );
            assert!(last.is_error());
        }
    }
}
