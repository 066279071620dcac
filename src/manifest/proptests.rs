//! A malformed manifest never panics: arbitrary bytes, and valid manifests mutated at random, go through
//! the whole pipeline (parse, schema, semantic checks, every renderer).

use std::path::Path;

use proptest::prelude::*;

use super::render::{self, Style};
use super::{Diagnostic, load_str};

const VALID: &str = include_str!("../../processors.toml");
const EVERY_FIELD: &str = include_str!("../../tests/fixtures/manifests/valid/every-field.toml");

/// Loads and renders; panics only if the pipeline does.
fn exercise(text: &str) {
    let diagnostics: Vec<Diagnostic> = match load_str(text, Path::new("processors.toml")) {
        Ok(loaded) => loaded.warnings,
        Err(errors) => {
            assert!(
                errors.error_count() > 0,
                "an invalid manifest has at least one error"
            );
            errors.diagnostics
        }
    };
    for diagnostic in &diagnostics {
        if let Some(position) = diagnostic.position() {
            assert!(position.line >= 1 && position.column >= 1);
        }
    }
    let _ = render::human(&diagnostics, Style::Plain);
    let _ = render::human(&diagnostics, Style::Terminal);
    let _ = render::json(&diagnostics);
    let _ = crate::github::annotate::github(&diagnostics);
}

/// One edit of a text: delete, insert or replace a range, or duplicate a line.
#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { line: usize },
    SwapLines { first: usize, second: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = prop_oneof![
        "[\\[\\]{}=\".,@:/#\\n a-zA-Z0-9_-]{1,12}",
        Just("[[processor]]\n".to_owned()),
        Just("[processor.env.main]\n".to_owned()),
        Just("enabled = false\n".to_owned()),
        Just("\"\"\"".to_owned()),
        Just("\u{00e9}\u{1f600}".to_owned()),
        Just("= { a = [1, 2.5, true, 1979-05-27T07:32:00Z] }".to_owned()),
        Just("nan".to_owned()),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), fragment).prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(first, second)| Mutation::SwapLines { first, second }),
    ]
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn apply(text: &str, mutation: &Mutation) -> String {
    match mutation {
        Mutation::Delete { at, len } => {
            let start = floor_boundary(text, at % (text.len() + 1));
            let end = floor_boundary(text, start + len);
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Insert { at, text: inserted } => {
            let at = floor_boundary(text, at % (text.len() + 1));
            format!("{}{inserted}{}", &text[..at], &text[at..])
        }
        Mutation::DuplicateLine { line } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let index = line % lines.len();
                lines.insert(index, lines[index]);
            }
            lines.join("\n")
        }
        Mutation::SwapLines { first, second } => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let count = lines.len();
                lines.swap(first % count, second % count);
            }
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_toml_like_text_never_panics(text in "[\\[\\]{}=\".,@:/#\\n a-z0-9_-]{0,300}") {
        exercise(&text);
    }

    #[test]
    fn mutated_valid_manifests_never_panic(
        base in prop_oneof![Just(VALID), Just(EVERY_FIELD)],
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut text = base.to_owned();
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        exercise(&text);
    }

    #[test]
    fn the_quick_path_accepts_only_what_the_reporting_path_accepts(
        base in prop_oneof![Just(VALID), Just(EVERY_FIELD)],
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut text = base.to_owned();
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        if let Some(quick) = super::load::parse_conforming(&text) {
            let reporting = super::load::diagnose_parse(&text);
            prop_assert!(reporting.is_ok(), "{text}");
            prop_assert_eq!(format!("{:?}", Some(quick)), format!("{:?}", reporting.ok()));
        }
    }
}
