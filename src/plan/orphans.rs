//! Which deployed apps the plan calls orphans.
//!
//! The rule, in one place (documented in `docs/plan-format.md`): in an environment the plan covers, an app
//! that Modal lists as *deployed*, that the plan does not manage there, and whose name has the shape of a
//! managed name:
//!
//! - without `--target`: `<ns>-<rest>-v<digits>`, where `<ns>` is the sanitized namespace of a processor
//!   of the manifest (so another version of a processor, a processor removed from the manifest, or a
//!   processor the manifest no longer deploys to that environment);
//! - with `--target`: `<ns>-<name>-v<digits>` for a targeted ref's sanitized namespace and name (other
//!   versions of the targeted processors only);
//! - with `--sandbox`: the same shapes after the owner's `<user>-<branch>-` prefix, and only names with
//!   that prefix.
//!
//! Stopped and ephemeral apps are never orphans: there is nothing to stop.

use std::collections::BTreeSet;

use crate::manifest::ValidManifest;
use crate::naming::sanitize;

use super::PlanOptions;

/// The name shapes that mark an app as "named like ours" for one plan.
#[derive(Debug, Clone)]
pub struct OrphanRule {
    /// Every candidate starts with this (the sandbox owner's prefix, or nothing).
    owner_prefix: String,
    /// After the owner prefix, a candidate starts with one of these (`llm-`, or `llm-litellm-v`).
    stems: BTreeSet<String>,
}

impl OrphanRule {
    pub fn new(manifest: &ValidManifest, options: &PlanOptions) -> Self {
        let stems = manifest
            .processors
            .iter()
            .filter(|processor| {
                options.targets.is_empty() || options.targets_ref(processor.reference.as_str())
            })
            .map(|processor| {
                let namespace = sanitize(processor.reference.namespace());
                if options.targets.is_empty() {
                    format!("{namespace}-")
                } else {
                    format!("{namespace}-{}-v", sanitize(processor.reference.name()))
                }
            })
            .collect();
        Self {
            owner_prefix: options
                .sandbox
                .as_ref()
                .map(crate::naming::SandboxOwner::prefix)
                .unwrap_or_default(),
            stems,
        }
    }

    /// True when `app_name` is shaped like a name this plan manages.
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
