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
