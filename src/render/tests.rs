use crate::plan::fixtures;
use crate::plan::{PlanOptions, plan};

use super::markdown::{GITHUB_COMMENT_LIMIT, render_within};

fn mixed_plan() -> crate::plan::Plan {
    let mut manifest = fixtures::manifest();
    manifest.protect = vec!["llm-router-v2".into()];
    let observed = fixtures::observed(&manifest);
    let mut options = PlanOptions::select(&manifest, &[], &[]).unwrap();
    options.prune = true;
    plan(&manifest, &observed, &options)
}

#[test]
fn text_of_a_mixed_plan() {
    let text = super::text(&mixed_plan());
    insta::assert_snapshot!(anstream::adapter::strip_str(&text).to_string());
}

#[test]
fn text_carries_styles_for_the_printer_to_keep_or_strip() {
    let text = super::text(&mixed_plan());
    assert!(text.contains("\u{1b}["), "no ANSI styles in {text}");
}

#[test]
fn json_of_a_mixed_plan() {
    let json = super::json(&mixed_plan());
    insta::assert_snapshot!(json);
    let back: crate::plan::Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, mixed_plan());
}

#[test]
fn markdown_of_a_mixed_plan() {
    insta::assert_snapshot!(super::markdown(&mixed_plan()));
}

#[test]
fn an_orphan_left_running_says_how_to_stop_it() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let options = PlanOptions::select(&manifest, &["dev".into()], &[]).unwrap();
    let text = anstream::adapter::strip_str(&super::text(&plan(&manifest, &observed, &options)))
        .to_string();
    assert!(
        text.contains("  ? llm-litellm-v0 is not in the manifest (orphan)\n      left running; `--prune` stops it\n      live v9 (v0.9)\n"),
        "{text}"
    );
}

#[test]
fn no_changes() {
    let manifest = fixtures::manifest();
    let mut observed = fixtures::observed(&manifest);
    observed.environments.remove("dev");
    observed.environments.remove("staging");
    let main = observed.environments.get_mut("main").unwrap();
    main.apps.remove("llm-router-v2");
    main.apps.remove("replicate-generic-v1");
    let options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    let plan = plan(&manifest, &observed, &options);
    let text = anstream::adapter::strip_str(&super::text(&plan)).to_string();
    assert_eq!(
        text,
        "modalplan plan of processors.toml (main)\n\nEnvironment main\n  = 1 up to date: llm-litellm-v1\n\nWarnings\n      WARN_OPTIONAL_SECRET_MISSING secret `LITELLM_API_BASE` (optional by llm/litellm@1) is missing in environment `main`: it deploys without it\n        fix: modal secret create LITELLM_API_BASE --env main LITELLM_API_BASE=...\n\nNo changes. Modal matches processors.toml.\n"
    );
}

#[test]
fn the_no_change_line_names_the_manifest_as_given() {
    let mut manifest = fixtures::manifest();
    manifest.path = "deploy/processors.toml".into();
    let mut observed = fixtures::observed(&manifest);
    observed.environments.retain(|name, _| name == "main");
    let main = observed.environments.get_mut("main").unwrap();
    main.apps.remove("llm-router-v2");
    main.apps.remove("replicate-generic-v1");
    let options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    let plan = plan(&manifest, &observed, &options);
    let text = anstream::adapter::strip_str(&super::text(&plan)).to_string();
    assert!(
        text.starts_with("modalplan plan of deploy/processors.toml (main)\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\nNo changes. Modal matches deploy/processors.toml.\n"),
        "{text}"
    );
    assert!(
        super::markdown(&plan).contains("**No changes. Modal matches deploy/processors.toml.**"),
    );
}

#[test]
fn markdown_never_passes_the_limit_and_says_it_was_cut() {
    let plan = mixed_plan();
    let whole = super::markdown(&plan);
    assert!(whole.chars().count() < GITHUB_COMMENT_LIMIT);
    assert!(!whole.contains("too long for one comment"));
    for limit in [400, 900, 1500, 2000] {
        let cut = render_within(&plan, limit);
        assert!(
            cut.chars().count() <= limit,
            "{limit}: {}",
            cut.chars().count()
        );
        assert!(cut.contains("too long for one comment"), "{limit}");
        assert_eq!(
            cut.matches("<details>").count(),
            cut.matches("</details>").count(),
            "{cut}"
        );
        assert!(cut.starts_with("<!-- modalplan plan -->\n### modalplan plan\n\n**Plan: 2 to create, 1 to update, 1 to stop, 1 blocked.**"));
    }
}

#[test]
fn a_huge_plan_fits_one_comment() {
    let mut manifest = fixtures::manifest();
    let template = manifest.processors[1].clone();
    manifest.processors = (0..1500)
        .map(|index| {
            let mut processor = template.clone();
            let reference = format!("replicate/generic-{index}@1");
            processor.reference = reference.parse().unwrap();
            processor.app_name = processor.reference.app_name();
            processor
        })
        .collect();
    let plan = plan(
        &manifest,
        &crate::backend::Observed::default(),
        &PlanOptions::select(&manifest, &[], &[]).unwrap(),
    );
    let comment = super::markdown(&plan);
    assert!(comment.chars().count() <= GITHUB_COMMENT_LIMIT);
    assert!(comment.contains("too long for one comment"));
}

fn alice() -> crate::backend::lock::LockRecord {
    crate::backend::lock::LockRecord {
        id: "lk-0123456789ab".into(),
        who: "alice@laptop".into(),
        operation: "apply".into(),
        manifest: "processors.toml".into(),
        created_at: "2026-03-01T10:00:00Z".into(),
        heartbeat_at: Some("2026-03-01T10:00:30Z".into()),
    }
}

const ALICES_NOTE: &str = "an apply holds the lock of `main`: held by alice@laptop (apply, processors.toml) since 2026-03-01T10:00:00Z, last heartbeat 2026-03-01T10:00:30Z, lock id lk-0123456789ab — this plan may change when it ends";

/// The plan of `no_changes`, with main's apply lock in the state given.
fn up_to_date_plan(lock: crate::backend::lock::LockState) -> crate::plan::Plan {
    let manifest = fixtures::manifest();
    let mut observed = fixtures::observed(&manifest);
    let main = observed.environments.get_mut("main").unwrap();
    main.apps.remove("llm-router-v2");
    main.apps.remove("replicate-generic-v1");
    main.lock = lock;
    let options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    plan(&manifest, &observed, &options)
}

#[test]
fn a_held_lock_is_a_note_under_its_environment_and_changes_nothing_else() {
    use crate::backend::lock::LockState;
    let held = up_to_date_plan(LockState::Held { lock: alice() });
    let free = up_to_date_plan(LockState::Free);
    assert_eq!(
        anstream::adapter::strip_str(&super::text(&held)).to_string(),
        format!(
            "modalplan plan of processors.toml (main)\n\nEnvironment main\n  note: {ALICES_NOTE}\n  = 1 up to date: llm-litellm-v1\n\nWarnings\n      WARN_OPTIONAL_SECRET_MISSING secret `LITELLM_API_BASE` (optional by llm/litellm@1) is missing in environment `main`: it deploys without it\n        fix: modal secret create LITELLM_API_BASE --env main LITELLM_API_BASE=...\n\nNo changes. Modal matches processors.toml.\n"
        )
    );
    // Informational: the same actions, warnings and exit code as without it.
    assert_eq!(held.actions, free.actions);
    assert_eq!(held.warnings, free.warnings);
    for detailed in [false, true] {
        assert_eq!(
            crate::commands::plan::exit_status(&held, detailed),
            crate::commands::plan::exit_status(&free, detailed)
        );
    }
    // Free, unread or unreadable: no note, and the plan is the one without a lock.
    for state in [
        LockState::NotRead,
        LockState::Unreadable {
            reason: "GRPCError: unavailable".into(),
        },
    ] {
        assert_eq!(up_to_date_plan(state), free);
    }
    assert!(free.locks.is_empty());
    assert!(!super::text(&free).contains("note:"));
}

#[test]
fn a_held_lock_is_a_note_atop_the_comment() {
    let plan = up_to_date_plan(crate::backend::lock::LockState::Held { lock: alice() });
    let markdown = super::markdown(&plan);
    let free = super::markdown(&up_to_date_plan(crate::backend::lock::LockState::Free));
    let head = "<!-- modalplan plan -->\n### modalplan plan\n\n**No changes. Modal matches processors.toml.**\n\n";
    assert!(free.starts_with(head), "{free}");
    // The comment is the one without the lock, with the note right after the summary.
    assert_eq!(
        markdown,
        free.replacen(head, &format!("{head}> [!NOTE]\n> - {ALICES_NOTE}\n\n"), 1)
    );
}

#[test]
fn a_lock_holder_cannot_break_the_comment() {
    let mut lock = alice();
    lock.who = "mallory\n</details><img src=x>".into();
    let plan = up_to_date_plan(crate::backend::lock::LockState::Held { lock });
    let markdown = super::markdown(&plan);
    assert!(
        markdown.contains("> - an apply holds the lock of `main`: held by mallory &lt;/details&gt;&lt;img src=x&gt; (apply, processors.toml) since"),
        "{markdown}"
    );
    assert_eq!(markdown.matches("</details>").count(), 1, "{markdown}");
}

#[test]
fn json_lists_held_locks_last_and_leaves_the_field_out_without_one() {
    use crate::backend::lock::LockState;
    let held = up_to_date_plan(LockState::Held { lock: alice() });
    let json = super::json(&held);
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        document["locks"],
        serde_json::json!([{
            "environment": "main",
            "lock": {
                "id": "lk-0123456789ab",
                "who": "alice@laptop",
                "operation": "apply",
                "manifest": "processors.toml",
                "created_at": "2026-03-01T10:00:00Z",
                "heartbeat_at": "2026-03-01T10:00:30Z"
            }
        }])
    );
    let keys: Vec<&str> = document
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "format_version",
            "manifest",
            "environments",
            "actions",
            "warnings",
            "locks",
            "code",
            "integrity"
        ]
    );
    // A saved plan with a lock reads back whole, its integrity intact.
    assert_eq!(
        crate::saved_plan::parse("plan.json", json.as_bytes()),
        Ok(held)
    );
    // Without one the document is the one modalplan wrote before the field existed.
    let free = super::json(&up_to_date_plan(LockState::Free));
    assert!(!free.contains("\"locks\""), "{free}");
    assert!(crate::saved_plan::parse("plan.json", free.as_bytes()).is_ok());
}
