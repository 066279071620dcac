use proptest::prelude::*;

use super::*;
use crate::code::CodeFile;
use crate::manifest::valid::{Runtime, SmokeSettings};

#[derive(Debug, Clone, serde::Deserialize)]
struct Vector {
    name: String,
    #[serde(rename = "ref")]
    reference: String,
    image: String,
    secrets_required: Vec<String>,
    secrets_optional: Vec<String>,
    runtime: VectorRuntime,
    module: String,
    code: Vec<CodeFile>,
    tag: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct VectorRuntime {
    cpu: Option<f64>,
    memory_mb: Option<u32>,
    gpu: Option<String>,
    timeout_s: Option<u32>,
}

fn modal(module: &str) -> ModalSettings {
    ModalSettings {
        module: module.into(),
        workdir: ".".into(),
        environments: vec!["main".into()],
        cli: vec!["modal".into()],
        python: None,
        read_timeout: std::time::Duration::from_secs(60),
        deploy_timeout: std::time::Duration::from_secs(600),
        deploy_retries: 1,
        code: Vec::new(),
    }
}

fn deployment(
    image: &str,
    required: &[String],
    optional: &[String],
    runtime: Runtime,
) -> Deployment {
    Deployment {
        image: crate::manifest::image::parse(image).unwrap(),
        secrets_required: required.to_vec(),
        secrets_optional: optional.to_vec(),
        runtime,
        smoke: Some(SmokeSettings {
            function: "smoke".into(),
            payload: serde_json::json!({}),
            timeout: std::time::Duration::from_secs(300),
        }),
    }
}

fn tag_of(vector: &Vector) -> String {
    let reference: ProcessorRef = vector.reference.parse().unwrap();
    let runtime = Runtime {
        cpu: vector.runtime.cpu,
        memory_mb: vector.runtime.memory_mb,
        gpu: vector.runtime.gpu.clone(),
        timeout_s: vector.runtime.timeout_s,
    };
    let deployment = deployment(
        &vector.image,
        &vector.secrets_required,
        &vector.secrets_optional,
        runtime,
    );
    let modal = modal(&vector.module);
    let code = CodeSnapshot {
        files: vector.code.clone(),
    };
    Fingerprint::of(FingerprintInputs {
        reference: &reference,
        deployment: &deployment,
        modal: &modal,
        code: &code,
    })
    .to_string()
}

/// `tests/fixtures/fingerprints.json`, written by `tests/fixtures/fingerprint_vectors.py` from the
/// documented encoding: a tag changes only when what is deployed changes.
#[test]
fn golden_vectors() {
    let vectors: Vec<Vector> =
        serde_json::from_str(include_str!("../../tests/fixtures/fingerprints.json")).unwrap();
    assert_eq!(vectors.len(), 15);
    for vector in &vectors {
        assert_eq!(tag_of(vector), vector.tag, "vector `{}`", vector.name);
    }
    let base = &vectors[0].tag;
    assert_eq!(base, "mp2-a7269615a114-bf0382-aeb611-74990a-0c7fbb");
    // Secrets are a set: their order in the manifest is not part of what is deployed.
    assert_eq!(vectors[4].tag, vectors[5].tag);
    let others: std::collections::BTreeSet<&str> =
        vectors.iter().map(|vector| vector.tag.as_str()).collect();
    assert_eq!(others.len(), 14, "every other vector gives its own tag");
}

#[test]
fn round_trips_and_fits_modal_tag_rules() {
    let fingerprint = Fingerprint {
        image: "0123456789ab".into(),
        secrets: "abcdef".into(),
        runtime: "123456".into(),
        code: "fedcba".into(),
        settings: "a1b2c3".into(),
    };
    let tag = fingerprint.to_string();
    assert_eq!(tag, "mp2-0123456789ab-abcdef-123456-fedcba-a1b2c3");
    assert_eq!(tag.len(), 44);
    assert!(
        tag.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    );
    assert_eq!(tag.parse::<Fingerprint>().unwrap(), fingerprint);
}

#[test]
fn older_formats_and_other_tags_are_told_apart() {
    assert_eq!(
        "mp1-0123456789ab-abcdef-123456-fedcba".parse::<Fingerprint>(),
        Err(ForeignTag::OlderFormat {
            tag: "mp1-0123456789ab-abcdef-123456-fedcba".into(),
            format: "mp1",
        })
    );
    for other in [
        "v1.2.3",
        "mp1-0123456789ab-abcdef-123456",
        "mp2-0123456789ab-abcdef-123456-fedcba",
        "mp2-0123456789ab-abcdef-123456-fedcba-a1b2c3-extra",
        "mp3-0123456789ab-abcdef-123456-fedcba-a1b2c3",
    ] {
        assert_eq!(
            other.parse::<Fingerprint>(),
            Err(ForeignTag::Other(other.into())),
            "{other}"
        );
    }
}

fn arbitrary_inputs() -> impl Strategy<Value = (Vec<String>, Vec<String>, Runtime, Vec<CodeFile>)> {
    let names = prop::collection::btree_set("[A-Z][A-Z_]{0,8}", 0..4)
        .prop_map(|set| set.into_iter().collect::<Vec<_>>());
    let runtime = (
        prop::option::of(prop_oneof![Just(0.25), Just(1.0), Just(2.5), 0.1_f64..64.0]),
        prop::option::of(128_u32..65536),
        prop::option::of("[A-Z0-9]{2,5}"),
        prop::option::of(1_u32..86400),
    )
        .prop_map(|(cpu, memory_mb, gpu, timeout_s)| Runtime {
            cpu,
            memory_mb,
            gpu,
            timeout_s,
        });
    let code = prop::collection::btree_map("[a-z]{1,6}(/[a-z]{1,6})?\\.py", "[0-9a-f]{64}", 0..4)
        .prop_map(|files| {
            files
                .into_iter()
                .map(|(path, sha256)| CodeFile { path, sha256 })
                .collect::<Vec<_>>()
        });
    (names.clone(), names, runtime, code)
}

fn fingerprint(
    image: &str,
    required: &[String],
    optional: &[String],
    runtime: &Runtime,
    code: &[CodeFile],
) -> Fingerprint {
    let reference: ProcessorRef = "llm/litellm@1".parse().unwrap();
    let deployment = deployment(image, required, optional, runtime.clone());
    let modal = modal("modal_app");
    let code = CodeSnapshot {
        files: code.to_vec(),
    };
    Fingerprint::of(FingerprintInputs {
        reference: &reference,
        deployment: &deployment,
        modal: &modal,
        code: &code,
    })
}

const IMAGE: &str =
    "ghcr.io/acme/x@sha256:a7269615a11401e4bb856b257673309d60d4b3e80e25f9281954fca9413617ce";

proptest! {
    #[test]
    fn equal_inputs_give_equal_tags((required, optional, runtime, code) in arbitrary_inputs()) {
        let first = fingerprint(IMAGE, &required, &optional, &runtime, &code);
        let mut reversed = code.clone();
        reversed.reverse();
        let second = fingerprint(IMAGE, &required, &optional, &runtime.clone(), &reversed);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn a_change_of_a_covered_field_changes_its_part(
        (required, optional, runtime, code) in arbitrary_inputs(),
        which in 0_usize..5,
    ) {
        let before = fingerprint(IMAGE, &required, &optional, &runtime, &code);
        let (mut required2, mut runtime2, mut code2) = (required.clone(), runtime.clone(), code.clone());
        let mut image = IMAGE.to_owned();
        match which {
            0 => image = IMAGE.replace("a7269615a114", "b7269615a114"),
            1 => required2.push("ANOTHER_SECRET_NAME".into()),
            2 => runtime2.memory_mb = Some(runtime.memory_mb.map_or(1, |memory| memory + 1)),
            3 => code2.push(CodeFile { path: "zz_new.py".into(), sha256: "0".repeat(64) }),
            _ => runtime2.cpu = Some(runtime.cpu.map_or(1.0, |cpu| cpu * 2.0)),
        }
        let after = fingerprint(&image, &required2, &optional, &runtime2, &code2);
        let changes = after.changes_from(&before);
        let expected = match which {
            0 => FingerprintChanges { image: true, settings: true, ..FingerprintChanges::default() },
            1 => FingerprintChanges { secrets: true, ..FingerprintChanges::default() },
            3 => FingerprintChanges { code: true, ..FingerprintChanges::default() },
            _ => FingerprintChanges { runtime: true, ..FingerprintChanges::default() },
        };
        prop_assert_eq!(changes, expected);
    }
}
