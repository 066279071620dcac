//! The words every renderer uses for kinds, reasons and the summary.

use std::fmt::Write as _;

use crate::backend::lock::LockRecord;
use crate::plan::model::{ActionKind, Reason, Summary};

/// The summary line: `Plan: 1 to create, 2 to update, 0 to stop, 0 blocked.`, or the no-change line,
/// which names the manifest as given (`--manifest`).
pub fn summary_line(summary: &Summary, manifest: &str) -> String {
    if summary.create + summary.update + summary.stop + summary.blocked == 0 {
        format!("No changes. Modal matches {manifest}.")
    } else {
        format!(
            "Plan: {} to create, {} to update, {} to stop, {} blocked.",
            summary.create, summary.update, summary.stop, summary.blocked
        )
    }
}

/// The Terraform-like symbol of a kind.
pub fn symbol(kind: ActionKind) -> char {
    match kind {
        ActionKind::Create => '+',
        ActionKind::Update => '~',
        ActionKind::Stop => '-',
        ActionKind::Blocked => '!',
        ActionKind::Orphan => '?',
        ActionKind::NoOp => '=',
    }
}

/// What happens to the app, in words.
pub fn kind_words(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Create => "will be created",
        ActionKind::Update => "will be updated",
        ActionKind::Stop => "will be stopped",
        ActionKind::Blocked => "is blocked",
        ActionKind::Orphan => "is not in the manifest (orphan)",
        ActionKind::NoOp => "is up to date",
    }
}

/// One reason, for people.
pub fn reason(reason: &Reason) -> String {
    match reason {
        Reason::Image { from, to } => match from {
            Some(from) => format!("image {}… → {}…", short_digest(from), short_digest(to)),
            None => format!("image → {}…", short_digest(to)),
        },
        Reason::Secrets { added, removed, .. } if !added.is_empty() || !removed.is_empty() => {
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("+ {}", added.join(", ")));
            }
            if !removed.is_empty() {
                parts.push(format!("- {}", removed.join(", ")));
            }
            format!("secrets {}", parts.join(" "))
        }
        Reason::Secrets { now, .. } if now.is_empty() => "secrets changed: now none".to_owned(),
        Reason::Secrets { now, .. } => format!("secrets changed: now {}", now.join(", ")),
        Reason::Runtime { changes } if changes.is_empty() => "runtime settings changed".to_owned(),
        Reason::Runtime { changes } => changes
            .iter()
            .map(|change| field_change(&format!("runtime.{}", change.field), change))
            .collect::<Vec<_>>()
            .join(", "),
        Reason::Code { files: None } => {
            "code changed (the live deployment has no release record naming its files)".to_owned()
        }
        Reason::Code { files: Some(files) } => {
            let mut parts = Vec::new();
            if !files.changed.is_empty() {
                parts.push(format!("{} changed", files.changed.join(", ")));
            }
            if !files.added.is_empty() {
                parts.push(format!("{} added", files.added.join(", ")));
            }
            if !files.removed.is_empty() {
                parts.push(format!("{} removed", files.removed.join(", ")));
            }
            if parts.is_empty() {
                "code changed".to_owned()
            } else {
                format!("code: {}", parts.join("; "))
            }
        }
        Reason::Settings { changes } if changes.is_empty() => {
            "the processor ref, image repository or module changed".to_owned()
        }
        Reason::Settings { changes } => changes
            .iter()
            .map(|change| field_change(&change.field, change))
            .collect::<Vec<_>>()
            .join(", "),
        Reason::OlderFormat { tag } => {
            format!("deployed by an older modalplan (fingerprint format changed: `{tag}`)")
        }
        Reason::Untagged => "deployed outside modalplan (no deploy tag)".to_owned(),
        Reason::ForeignTag { tag } => {
            format!("deployed outside modalplan (tag `{tag}` is not a modalplan fingerprint)")
        }
        Reason::Stopped => "the app is stopped".to_owned(),
        Reason::Protected => "listed in `protect`: `--prune` leaves it".to_owned(),
    }
}

/// `sha256:` and the first 12 hex digits of a digest (a tag's 12 digits stay as they are).
pub fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn field_change(name: &str, change: &crate::plan::model::FieldChange) -> String {
    let value = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".to_owned());
    format!("{name} {} → {}", value(&change.from), value(&change.to))
}

/// What an orphan's action says when `protect` does not explain it.
pub fn orphan_hint(action: &crate::plan::model::Action) -> Option<&'static str> {
    (action.kind == ActionKind::Orphan && !action.reasons.contains(&Reason::Protected))
        .then_some("left running; `--prune` stops it")
}

/// An apply lock as people read it: holder, operation, since when, last heartbeat, id (`ERR_LOCKED`,
/// `force-unlock`, the plan's note, `status`).
pub fn lock_holder(lock: &LockRecord) -> String {
    let mut text = format!(
        "held by {}",
        if lock.who.is_empty() {
            "(unknown)"
        } else {
            &lock.who
        }
    );
    let doing: Vec<&str> = [lock.operation.as_str(), lock.manifest.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    if !doing.is_empty() {
        let _ = write!(text, " ({})", doing.join(", "));
    }
    if !lock.created_at.is_empty() {
        let _ = write!(text, " since {}", lock.created_at);
    }
    let _ = write!(
        text,
        ", last heartbeat {}, lock id {}",
        lock.heartbeat_at.as_deref().unwrap_or("unknown"),
        lock.id
    );
    text
}

/// The plan's note of an apply lock held in a planned environment.
pub fn lock_note(environment: &str, lock: &LockRecord) -> String {
    format!(
        "an apply holds the lock of `{environment}`: {} — this plan may change when it ends",
        lock_holder(lock)
    )
}

// The words of a deployment are the plan's (its checks before a deploy use them too).
pub use crate::plan::words::{live_deployment, planned_deployment};
