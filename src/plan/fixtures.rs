//! Plain values for planner and renderer tests: a manifest, what Modal has, and a mixed plan.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{AppState, DeploymentRecord, Observed, ObservedApp, ObservedEnvironment};
use crate::fingerprint::Fingerprint;
use crate::manifest::ValidManifest;
use crate::manifest::valid::{
    Deployment, ImageRef, ModalSettings, Processor, Runtime, SecretPolicy, SmokeSettings,
};
use crate::naming::ProcessorRef;

pub const LITELLM_DIGEST: &str =
    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const LITELLM_NEW_DIGEST: &str =
    "sha256:2222222222222222222222222222222222222222222222222222222222222222";
pub const GENERIC_DIGEST: &str =
    "sha256:3333333333333333333333333333333333333333333333333333333333333333";

pub fn smoke() -> SmokeSettings {
    SmokeSettings {
        function: "smoke".into(),
        payload: serde_json::json!({"schema": "v1", "mode": "mock", "params": {}}),
        timeout: Duration::from_secs(300),
    }
}

pub fn image(registry: &str, repository: &str, digest: &str) -> ImageRef {
    ImageRef {
        registry: registry.into(),
        repository: repository.into(),
        digest: digest.into(),
    }
}

pub fn deployment(image: ImageRef, required: &[&str], optional: &[&str]) -> Deployment {
    Deployment {
        image,
        secrets_required: required.iter().map(|name| (*name).to_owned()).collect(),
        secrets_optional: optional.iter().map(|name| (*name).to_owned()).collect(),
        runtime: Runtime {
            cpu: Some(1.0),
            memory_mb: Some(2048),
            gpu: None,
            timeout_s: Some(60),
        },
        smoke: Some(smoke()),
    }
}

pub fn processor(reference: &str, deployments: &[(&str, Deployment)]) -> Processor {
    let reference: ProcessorRef = reference.parse().unwrap();
    Processor {
        app_name: reference.app_name(),
        reference,
        promotion: crate::manifest::valid::ProcessorPromotion::default(),
        deployments: deployments
            .iter()
            .map(|(environment, deployment)| ((*environment).to_owned(), deployment.clone()))
            .collect(),
    }
}

fn policy(keys: &[&str]) -> SecretPolicy {
    SecretPolicy {
        keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        description: None,
    }
}

/// `llm/litellm@1` (ghcr.io, private; `OPENAI_API_KEY` required, `LITELLM_API_BASE` optional) in dev, staging
/// and main, with a newer image in dev; `replicate/generic@1` (docker.io, no secrets) in dev and main.
pub fn manifest() -> ValidManifest {
    let litellm = |digest: &str| {
        deployment(
            image("ghcr.io", "acme/theory/llm-litellm", digest),
            &["OPENAI_API_KEY"],
            &["LITELLM_API_BASE"],
        )
    };
    let generic = deployment(
        image("docker.io", "acme/replicate-generic", GENERIC_DIGEST),
        &[],
        &[],
    );
    ValidManifest {
        path: PathBuf::from("processors.toml"),
        sha256: "sha256:00000000000000000000000000000000000000000000000000000000000000aa".into(),
        modal: ModalSettings {
            code: Vec::new(),
            module: "modal_app".into(),
            workdir: PathBuf::from("code"),
            environments: vec!["dev".into(), "staging".into(), "main".into()],
            cli: vec!["modal".into()],
            python: None,
            read_timeout: Duration::from_secs(60),
            deploy_timeout: Duration::from_secs(900),
            deploy_retries: 1,
        },
        smoke: smoke(),
        secrets: BTreeMap::from([
            (
                "REGISTRY_AUTH".to_owned(),
                policy(&["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]),
            ),
            ("OPENAI_API_KEY".to_owned(), policy(&["OPENAI_API_KEY"])),
            ("LITELLM_API_BASE".to_owned(), policy(&["LITELLM_API_BASE"])),
        ]),
        processors: vec![
            processor(
                "llm/litellm@1",
                &[
                    ("dev", litellm(LITELLM_NEW_DIGEST)),
                    ("staging", litellm(LITELLM_DIGEST)),
                    ("main", litellm(LITELLM_DIGEST)),
                ],
            ),
            processor(
                "replicate/generic@1",
                &[("dev", generic.clone()), ("main", generic)],
            ),
        ],
        protect: vec![],
        promotion: None,
    }
}

/// [`manifest`], with staging and main gated on the environment before them and a 30-minute soak.
pub fn gated_manifest() -> ValidManifest {
    ValidManifest {
        promotion: Some(crate::manifest::valid::PromotionPolicy {
            gated: vec!["staging".into(), "main".into()],
            soak: Some(Duration::from_secs(30 * 60)),
        }),
        ..manifest()
    }
}

/// The tag modalplan gives `reference` in `environment` of `manifest` when these secrets are present.
pub fn tag_of(
    manifest: &ValidManifest,
    reference: &str,
    environment: &str,
    present: &[&str],
) -> String {
    let processor = manifest
        .processors
        .iter()
        .find(|processor| processor.reference.as_str() == reference)
        .unwrap();
    let mut deployment = processor.deployments[environment].clone();
    deployment
        .secrets_optional
        .retain(|name| present.contains(&name.as_str()));
    Fingerprint::of(crate::fingerprint::FingerprintInputs {
        reference: &processor.reference,
        deployment: &deployment,
        modal: &manifest.modal,
        code: &crate::code::CodeSnapshot::default(),
    })
    .to_string()
}

pub fn deployed(app_id: &str, version: u32, tag: Option<&str>) -> ObservedApp {
    ObservedApp {
        app_id: app_id.into(),
        state: AppState::Deployed,
        live: Some(DeploymentRecord {
            version,
            tag: tag.map(str::to_owned),
            deployed_at: Some("2026-01-12 09:30:00+00:00".into()),
            deployed_by: Some("modalplan-ci".into()),
        }),
    }
}

pub fn stopped(app_id: &str) -> ObservedApp {
    ObservedApp {
        app_id: app_id.into(),
        state: AppState::Stopped,
        live: None,
    }
}

pub fn environment(apps: Vec<(&str, ObservedApp)>, secrets: &[&str]) -> ObservedEnvironment {
    ObservedEnvironment {
        apps: apps
            .into_iter()
            .map(|(name, app)| (name.to_owned(), app))
            .collect(),
        secrets: secrets.iter().map(|name| (*name).to_owned()).collect(),
        lock: crate::backend::lock::LockState::NotRead,
        releases: crate::backend::releases::ReleasesState::NotRead,
    }
}

/// A Modal on which the plan of [`manifest`] has every kind of action:
/// - dev: litellm deployed with the old image (update: image), generic absent (create), an old
///   `llm-litellm-v0` still deployed (orphan);
/// - staging: `OPENAI_API_KEY` missing (blocked), `LITELLM_API_BASE` missing (warning);
/// - main: litellm matches (no-op), generic stopped (create), `llm-router-v2` deployed by hand (orphan).
pub fn observed(manifest: &ValidManifest) -> Observed {
    let old_dev_tag = tag_of(manifest, "llm/litellm@1", "main", &["LITELLM_API_BASE"]);
    let main_tag = tag_of(manifest, "llm/litellm@1", "main", &[]);
    Observed {
        environments: BTreeMap::from([
            (
                "dev".to_owned(),
                environment(
                    vec![
                        ("llm-litellm-v1", deployed("ap-dev1", 4, Some(&old_dev_tag))),
                        ("llm-litellm-v0", deployed("ap-dev0", 9, Some("v0.9"))),
                        ("someone-elses-app", deployed("ap-dev2", 1, None)),
                    ],
                    &["REGISTRY_AUTH", "OPENAI_API_KEY", "LITELLM_API_BASE"],
                ),
            ),
            (
                "staging".to_owned(),
                environment(vec![], &["REGISTRY_AUTH"]),
            ),
            (
                "main".to_owned(),
                environment(
                    vec![
                        ("llm-litellm-v1", deployed("ap-main1", 2, Some(&main_tag))),
                        ("replicate-generic-v1", stopped("ap-main2")),
                        ("llm-router-v2", deployed("ap-main3", 1, None)),
                    ],
                    &["REGISTRY_AUTH", "OPENAI_API_KEY"],
                ),
            ),
        ]),
    }
}
