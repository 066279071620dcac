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
//!
//! The rule's data ([`OrphanNames`]: the owner prefix and the stems) also goes to the backend in the
//! [`crate::backend::ObserveRequest`], which reads every candidate's live deployment with the managed
//! apps', so an orphan's action carries it in `before` and apply re-checks it before a prune stops it.

use crate::backend::{ObservedApp, OrphanNames};
use crate::manifest::ValidManifest;
use crate::naming::sanitize;

use super::PlanOptions;
use super::model::{Action, ActionKind, Live, Reason};

/// The name shapes that mark an app as "named like ours" for one plan.
#[derive(Debug, Clone)]
pub struct OrphanRule {
    /// The owner prefix and stems; the observe helper gets them as they are, to read these apps'
    /// histories in the same process.
    names: OrphanNames,
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
            names: OrphanNames {
                owner_prefix: options
                    .sandbox
                    .as_ref()
                    .map(crate::naming::SandboxOwner::prefix)
                    .unwrap_or_default(),
                stems,
            },
        }
    }

    /// True when `app_name` is shaped like a name this plan manages.
    pub fn matches(&self, app_name: &str) -> bool {
        self.names.matches(app_name)
    }

    /// The rule as data, for the backend to read candidates' histories with.
    pub fn names(&self) -> &OrphanNames {
        &self.names
    }
}

/// The action of a deployed app the manifest does not name: left running, or stopped with `--prune`
/// unless `protect` names it.
pub(super) fn orphan_action(
    manifest: &ValidManifest,
    options: &PlanOptions,
    environment: &str,
    app_name: &str,
    app: &ObservedApp,
) -> Action {
    let protected = manifest.protect.iter().any(|name| name == app_name);
    let kind = if options.prune && !protected {
        ActionKind::Stop
    } else {
        ActionKind::Orphan
    };
    let reasons = if options.prune && protected {
        vec![Reason::Protected]
    } else {
        Vec::new()
    };
    Action {
        environment: environment.to_owned(),
        reference: None,
        app_name: app_name.to_owned(),
        kind,
        reasons,
        before: app.live.as_ref().map(|live| Live {
            version: live.version,
            tag: live.tag.clone(),
            release: None,
        }),
        after: None,
        blockers: Vec::new(),
        promotion: None,
    }
}
