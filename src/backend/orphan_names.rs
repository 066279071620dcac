//! The names of orphan candidates, as data: what [`crate::plan::orphans::OrphanRule`] decides, handed to the
//! observe helper so it reads those apps' deployment histories in the same process.
//!
//! The test itself is written twice, here and as `named_like_ours` in `helper/observe.py` (the observe operation of [the helper](modal_cli/helper)),
//! because the helper runs in Python; both are checked against one table of names,
//! `tests/fixtures/orphan_names.json`.

use std::collections::BTreeSet;

/// `<owner_prefix><stem>…-v<digits>`: the shape of the app names one plan calls orphans.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrphanNames {
    /// Every candidate starts with this (the sandbox owner's `<user>-<branch>-`, or nothing).
    pub owner_prefix: String,
    /// After the owner prefix, a candidate starts with one of these. A stem ending in `-v` (`llm-litellm-v`)
    /// is the whole name before the version; any other (`llm-`) needs something between it and `-v`.
    pub stems: BTreeSet<String>,
}

impl OrphanNames {
    /// True when `app_name` has this shape: the owner prefix, a stem, and a last `-v` followed by ASCII
    /// digits only.
    pub fn matches(&self, app_name: &str) -> bool {
        let Some(rest) = app_name.strip_prefix(&self.owner_prefix) else {
            return false;
        };
        let Some((head, version)) = rest.rsplit_once("-v") else {
            return false;
        };
        if version.is_empty() || !version.bytes().all(|byte| byte.is_ascii_digit()) {
            return false;
        }
        let with_separator = format!("{head}-v");
        self.stems.iter().any(|stem| {
            if stem.ends_with("-v") {
                with_separator == *stem
            } else {
                // `<ns>-<rest>`: something must follow the namespace.
                head.len() > stem.len() && head.starts_with(stem.as_str())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table the helper's `named_like_ours` is checked against too (`tests/integration/naming.rs`).
    const TABLE: &str = include_str!("../../tests/fixtures/orphan_names.json");

    #[test]
    fn every_name_of_the_shared_table_matches_as_it_says() {
        let table: serde_json::Value = serde_json::from_str(TABLE).unwrap();
        let mut checked = 0;
        for case in table["cases"].as_array().unwrap() {
            let names = OrphanNames {
                owner_prefix: case["owner_prefix"].as_str().unwrap().to_owned(),
                stems: case["stems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|stem| stem.as_str().unwrap().to_owned())
                    .collect(),
            };
            for (name, expected) in case["names"].as_object().unwrap() {
                assert_eq!(
                    names.matches(name),
                    expected.as_bool().unwrap(),
                    "{name:?} with {names:?}"
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 30,
            "the table keeps at least 30 names ({checked})"
        );
    }
}
