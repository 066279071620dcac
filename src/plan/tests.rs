use std::collections::BTreeMap;

use super::fixtures::{self, GENERIC_DIGEST, LITELLM_DIGEST, LITELLM_NEW_DIGEST, deployed, tag_of};
use super::model::{ActionKind, Live, Reason};
use super::options::{PlanOptions, SelectionError};
use super::plan;
use crate::backend::{AppState, Observed, ObservedApp};
use crate::codes::Code;
use crate::naming::SandboxOwner;

fn kinds(plan: &super::Plan) -> Vec<(String, String, ActionKind)> {
    plan.actions
        .iter()
        .map(|action| {
            (
                action.environment.clone(),
                action.app_name.clone(),
                action.kind,
            )
        })
        .collect()
}

fn all(manifest: &crate::manifest::ValidManifest) -> PlanOptions {
    PlanOptions::select(manifest, &[], &[]).unwrap()
}

#[test]
fn every_kind_in_environment_then_name_order() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let plan = plan(&manifest, &observed, &all(&manifest));
    let expected = vec![
        ("dev", "llm-litellm-v0", ActionKind::Orphan),
        ("dev", "llm-litellm-v1", ActionKind::Update),
        ("dev", "replicate-generic-v1", ActionKind::Create),
        ("staging", "llm-litellm-v1", ActionKind::Blocked),
        ("main", "llm-litellm-v1", ActionKind::NoOp),
        ("main", "llm-router-v2", ActionKind::Orphan),
        ("main", "replicate-generic-v1", ActionKind::Create),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(env, app, kind)| (env.to_owned(), app.to_owned(), kind))
        .collect();
    assert_eq!(kinds(&plan), expected);
    assert_eq!(plan.environments, ["dev", "staging", "main"]);
    assert_eq!(plan.manifest.path, "processors.toml");
    let summary = plan.summary();
    assert_eq!(
        (
            summary.create,
            summary.update,
            summary.stop,
            summary.blocked
        ),
        (2, 1, 0, 1)
    );
    assert_eq!((summary.orphan, summary.unchanged), (2, 1));
}

#[test]
fn an_image_change_names_both_digests_and_not_code() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let plan = plan(&manifest, &observed, &all(&manifest));
    let update = &plan.actions[1];
    assert_eq!(update.app_name, "llm-litellm-v1");
    assert_eq!(
        update.reasons,
        vec![Reason::Image {
            // The live side has no release record: its tag's 12 digits; the new one is whole.
            from: Some(LITELLM_DIGEST[..19].to_owned()),
            to: LITELLM_NEW_DIGEST.to_owned(),
        }]
    );
    let before = update.before.as_ref().unwrap();
    assert_eq!(before.version, 4);
    let after = update.after.as_ref().unwrap();
    assert_eq!(
        after.tag,
        tag_of(&manifest, "llm/litellm@1", "dev", &["LITELLM_API_BASE"])
    );
    assert_eq!(after.secrets, ["OPENAI_API_KEY", "LITELLM_API_BASE"]);
    assert_eq!(
        after.image,
        format!("ghcr.io/acme/theory/llm-litellm@{LITELLM_NEW_DIGEST}")
    );
}

#[test]
fn a_missing_required_secret_blocks_with_the_exact_fix_and_an_optional_one_warns() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let plan = plan(&manifest, &observed, &all(&manifest));
    let blocked = &plan.actions[3];
    assert_eq!(blocked.kind, ActionKind::Blocked);
    assert_eq!(blocked.blockers.len(), 1);
    assert_eq!(blocked.blockers[0].code, Code::ErrMissingSecret);
    assert_eq!(
        blocked.blockers[0].message,
        "secret `OPENAI_API_KEY` (required by llm/litellm@1) is missing in environment `staging`: it cannot be deployed"
    );
    assert_eq!(
        blocked.blockers[0].fix,
        "modal secret create OPENAI_API_KEY --env staging OPENAI_API_KEY=..."
    );
    // What it would have been without the blocker is still shown.
    assert!(blocked.before.is_none());
    assert_eq!(blocked.after.as_ref().unwrap().secrets, ["OPENAI_API_KEY"]);
    let warnings: Vec<_> = plan
        .warnings
        .iter()
        .map(|finding| (finding.code, finding.fix.as_str()))
        .collect();
    assert_eq!(
        warnings,
        [
            (
                Code::WarnOptionalSecretMissing,
                "modal secret create LITELLM_API_BASE --env staging LITELLM_API_BASE=..."
            ),
            (
                Code::WarnOptionalSecretMissing,
                "modal secret create LITELLM_API_BASE --env main LITELLM_API_BASE=..."
            ),
        ]
    );
}

#[test]
fn registry_auth_is_required_for_a_private_image_with_its_policy_keys() {
    let manifest = fixtures::manifest();
    let mut observed = fixtures::observed(&manifest);
    observed
        .environments
        .get_mut("main")
        .unwrap()
        .secrets
        .remove("REGISTRY_AUTH");
    let options = PlanOptions::select(&manifest, &["main".into()], &[]).unwrap();
    let plan = plan(&manifest, &observed, &options);
    let litellm = &plan.actions[0];
    assert_eq!(litellm.app_name, "llm-litellm-v1");
    assert_eq!(litellm.kind, ActionKind::Blocked);
    assert_eq!(
        litellm.blockers[0].fix,
        "modal secret create REGISTRY_AUTH --env main REGISTRY_USERNAME=... REGISTRY_PASSWORD=..."
    );
    // docker.io is public: generic is not blocked.
    assert_eq!(plan.actions[2].kind, ActionKind::Create);
}

#[test]
fn an_unavailable_image_blocks() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let mut options = PlanOptions::select(&manifest, &["main".into()], &[]).unwrap();
    options.unavailable_images.insert(
        format!("docker.io/acme/replicate-generic@{GENERIC_DIGEST}"),
        "the registry has no manifest with this digest".into(),
    );
    let plan = plan(&manifest, &observed, &options);
    let generic = &plan.actions[2];
    assert_eq!(generic.kind, ActionKind::Blocked);
    assert_eq!(generic.blockers[0].code, Code::ErrImageUnavailable);
    assert_eq!(
        generic.blockers[0].message,
        format!(
            "image `docker.io/acme/replicate-generic@{GENERIC_DIGEST}` of replicate/generic@1 cannot be pulled: the registry has no manifest with this digest"
        )
    );
    // A stopped app is created again, with that reason.
    assert_eq!(generic.reasons, vec![Reason::Stopped]);
}

#[test]
fn untagged_foreign_and_per_part_changes() {
    let manifest = fixtures::manifest();
    let options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    let with_live = |tag: Option<&str>| Observed {
        environments: BTreeMap::from([(
            "main".to_owned(),
            fixtures::environment(
                vec![("llm-litellm-v1", deployed("ap-1", 7, tag))],
                &["REGISTRY_AUTH", "OPENAI_API_KEY", "LITELLM_API_BASE"],
            ),
        )]),
    };
    let reasons = |tag: Option<&str>| {
        let plan = plan(&manifest, &with_live(tag), &options);
        assert_eq!(plan.actions.len(), 1);
        (plan.actions[0].kind, plan.actions[0].reasons.clone())
    };
    assert_eq!(reasons(None), (ActionKind::Update, vec![Reason::Untagged]));
    assert_eq!(
        reasons(Some("release-7")),
        (
            ActionKind::Update,
            vec![Reason::ForeignTag {
                tag: "release-7".into()
            }]
        )
    );
    // The optional secret appeared since the last deploy: the secrets part changed.
    let without_optional = tag_of(&manifest, "llm/litellm@1", "main", &[]);
    assert_eq!(
        reasons(Some(&without_optional)),
        (
            ActionKind::Update,
            vec![Reason::Secrets {
                now: vec!["OPENAI_API_KEY".into(), "LITELLM_API_BASE".into()],
                added: vec![],
                removed: vec![],
            }]
        )
    );
    let same = tag_of(&manifest, "llm/litellm@1", "main", &["LITELLM_API_BASE"]);
    assert_eq!(reasons(Some(&same)), (ActionKind::NoOp, vec![]));
    // Runtime and code parts.
    let mut parts: Vec<String> = same.split('-').map(str::to_owned).collect();
    parts[3] = "000000".into();
    assert_eq!(
        reasons(Some(&parts.join("-"))),
        (
            ActionKind::Update,
            vec![Reason::Runtime { changes: vec![] }]
        )
    );
    let mut parts: Vec<String> = same.split('-').map(str::to_owned).collect();
    parts[4] = "000000".into();
    assert_eq!(
        reasons(Some(&parts.join("-"))),
        (ActionKind::Update, vec![Reason::Code { files: None }])
    );
    let noop = plan(&manifest, &with_live(Some(&same)), &options);
    assert_eq!(
        noop.actions[0].before,
        Some(Live {
            version: 7,
            tag: Some(same.clone()),
            release: None,
        })
    );
}

#[test]
fn a_deployed_app_without_history_is_never_unchanged() {
    let manifest = fixtures::manifest();
    let options =
        PlanOptions::select(&manifest, &["main".into()], &["llm/litellm@1".into()]).unwrap();
    let observed = Observed {
        environments: BTreeMap::from([(
            "main".to_owned(),
            fixtures::environment(
                vec![(
                    "llm-litellm-v1",
                    ObservedApp {
                        app_id: "ap-1".into(),
                        state: AppState::Deployed,
                        live: None,
                    },
                )],
                &["REGISTRY_AUTH", "OPENAI_API_KEY"],
            ),
        )]),
    };
    let plan = plan(&manifest, &observed, &options);
    assert_eq!(plan.actions[0].kind, ActionKind::Update);
    assert_eq!(plan.actions[0].reasons, vec![Reason::Untagged]);
}

#[test]
fn prune_stops_orphans_except_protected_ones() {
    let mut manifest = fixtures::manifest();
    manifest.protect = vec!["llm-router-v2".into()];
    let observed = fixtures::observed(&manifest);
    let mut options = all(&manifest);
    options.prune = true;
    let plan = plan(&manifest, &observed, &options);
    let orphans: Vec<_> = plan
        .actions
        .iter()
        .filter(|action| action.reference.is_none())
        .map(|action| {
            (
                action.app_name.as_str(),
                action.kind,
                action.reasons.clone(),
            )
        })
        .collect();
    assert_eq!(
        orphans,
        [
            ("llm-litellm-v0", ActionKind::Stop, vec![]),
            ("llm-router-v2", ActionKind::Orphan, vec![Reason::Protected]),
        ]
    );
    assert!(plan.has_changes());
}

#[test]
fn targets_narrow_orphans_to_other_versions_of_the_targeted_processors() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let options = PlanOptions::select(&manifest, &[], &["llm/litellm@1".into()]).unwrap();
    let plan = plan(&manifest, &observed, &options);
    let names: Vec<_> = plan
        .actions
        .iter()
        .map(|action| format!("{}/{}", action.environment, action.app_name))
        .collect();
    assert_eq!(
        names,
        [
            "dev/llm-litellm-v0",
            "dev/llm-litellm-v1",
            "staging/llm-litellm-v1",
            "main/llm-litellm-v1"
        ]
    );
}

#[test]
fn orphan_rule_shapes() {
    let manifest = fixtures::manifest();
    let rule = super::orphans::OrphanRule::new(&manifest, &all(&manifest));
    assert!(rule.matches("llm-litellm-v2"));
    assert!(rule.matches("replicate-other-v10"));
    assert!(!rule.matches("llm-v2"), "a name must follow the namespace");
    assert!(!rule.matches("llm-litellm"));
    assert!(!rule.matches("llm-litellm-vx"));
    assert!(!rule.matches("web-frontend-v1"));
    let targeted = PlanOptions::select(&manifest, &[], &["llm/litellm@1".into()]).unwrap();
    let rule = super::orphans::OrphanRule::new(&manifest, &targeted);
    assert!(rule.matches("llm-litellm-v3"));
    assert!(!rule.matches("llm-router-v3"));
    assert_eq!(
        targeted.observe_request(&manifest).orphans.as_ref(),
        Some(rule.names())
    );
    assert_eq!(
        rule.names().stems.iter().collect::<Vec<_>>(),
        ["llm-litellm-v"]
    );
}

#[test]
fn sandbox_plans_use_the_owner_names_and_only_their_orphans() {
    let manifest = fixtures::manifest();
    let owner = SandboxOwner {
        user: "vey".into(),
        branch: "feat/x".into(),
    };
    let mut options = PlanOptions::select(&manifest, &["dev".into()], &[]).unwrap();
    options.sandbox = Some(owner);
    let request = options.observe_request(&manifest);
    assert_eq!(
        request.environments["dev"].iter().collect::<Vec<_>>(),
        [
            "vey-feat-x-llm-litellm-v1",
            "vey-feat-x-replicate-generic-v1"
        ]
    );
    assert_eq!(
        request.orphans,
        Some(crate::backend::OrphanNames {
            owner_prefix: "vey-feat-x-".into(),
            stems: ["llm-".to_owned(), "replicate-".to_owned()].into(),
        })
    );
    let mut observed = fixtures::observed(&manifest);
    let dev = observed.environments.get_mut("dev").unwrap();
    dev.apps.insert(
        "vey-feat-x-llm-litellm-v0".into(),
        deployed("ap-s0", 1, None),
    );
    dev.apps.insert(
        "vey-feat-x-llm-litellm-v1".into(),
        deployed(
            "ap-s1",
            3,
            Some(&tag_of(
                &manifest,
                "llm/litellm@1",
                "dev",
                &["LITELLM_API_BASE"],
            )),
        ),
    );
    let plan = plan(&manifest, &observed, &options);
    assert_eq!(
        kinds(&plan),
        [
            (
                "dev".to_owned(),
                "vey-feat-x-llm-litellm-v0".to_owned(),
                ActionKind::Orphan
            ),
            (
                "dev".to_owned(),
                "vey-feat-x-llm-litellm-v1".to_owned(),
                ActionKind::NoOp
            ),
            (
                "dev".to_owned(),
                "vey-feat-x-replicate-generic-v1".to_owned(),
                ActionKind::Create
            ),
        ]
    );
}

#[test]
fn observe_request_names_the_managed_apps_per_environment() {
    let manifest = fixtures::manifest();
    let request = all(&manifest).observe_request(&manifest);
    // The orphan rule's shape, so the backend reads orphan candidates' histories too.
    assert_eq!(
        request.orphans,
        Some(crate::backend::OrphanNames {
            owner_prefix: String::new(),
            stems: ["llm-".to_owned(), "replicate-".to_owned()].into(),
        })
    );
    let names: Vec<(String, Vec<String>)> = request
        .environments
        .into_iter()
        .map(|(env, names)| (env, names.into_iter().collect()))
        .collect();
    assert_eq!(
        names,
        [
            (
                "dev".to_owned(),
                vec![
                    "llm-litellm-v1".to_owned(),
                    "replicate-generic-v1".to_owned()
                ]
            ),
            (
                "main".to_owned(),
                vec![
                    "llm-litellm-v1".to_owned(),
                    "replicate-generic-v1".to_owned()
                ]
            ),
            ("staging".to_owned(), vec!["llm-litellm-v1".to_owned()]),
        ]
    );
}

#[test]
fn unknown_selection_values_say_what_exists() {
    let manifest = fixtures::manifest();
    let error = PlanOptions::select(&manifest, &["mian".into()], &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`--env mian` is not an environment of the manifest (did you mean `main`?); it manages: dev, staging, main"
    );
    let error = PlanOptions::select(&manifest, &[], &["llm/litelm@1".into()]).unwrap_err();
    assert!(matches!(error, SelectionError::UnknownTarget { .. }));
    assert_eq!(
        error.to_string(),
        "`--target llm/litelm@1` is not a processor of the manifest (did you mean `llm/litellm@1`?); it lists: llm/litellm@1, replicate/generic@1"
    );
    let error = PlanOptions::select(&manifest, &["prod".into()], &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`--env prod` is not an environment of the manifest; it manages: dev, staging, main"
    );
    // A ref written another way that names the same app is accepted.
    let options = PlanOptions::select(&manifest, &[], &["llm/litellm@v1".into()]).unwrap();
    assert_eq!(options.targets, ["llm/litellm@1"]);
}

#[test]
fn plan_is_deterministic() {
    let manifest = fixtures::manifest();
    let observed = fixtures::observed(&manifest);
    let options = all(&manifest);
    assert_eq!(
        plan(&manifest, &observed, &options),
        plan(&manifest, &observed, &options)
    );
}
