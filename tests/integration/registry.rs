//! The registry pre-flight against a real registry server: Debian's `docker-registry` (distribution 2.8)
//! on loopback with auth on (`support::registry`), test content pushed through its HTTP API. Both challenge
//! flows: Basic (htpasswd) and Bearer (`auth: token`, tokens from a test token service whose signing
//! certificate the registry trusts). Asked both through `modalplan::registry` and through `modalplan plan`
//! against the emulator, with `MODALPLAN_REGISTRY_URL_GHCR_IO` pointing at the local registry.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use modalplan::manifest::valid::ImageRef;
use modalplan::registry::{Credentials, Registry, Unavailable};

use crate::support::emulator::{Emulator, ModalCli, workspace_seed};
use crate::support::registry::{
    ISSUER, PASSWORD, SERVICE, TestRegistry, TokenIssuer, USER, digest_of,
};
use crate::support::run::Modalplan;

/// Where the test images live, in the registry and (under `ghcr.io/`) in the manifest.
const REPOSITORY: &str = "acme/theory/preflight";

/// A digest no one pushed.
fn unknown_digest() -> String {
    digest_of(b"never pushed")
}

/// What `push` put in the registry: the manifest digests.
struct Pushed {
    amd64_image: String,
    arm64_image: String,
    /// An OCI index of linux/amd64 and linux/arm64.
    index_amd64_arm64: String,
    /// An OCI index of linux/arm64 only.
    index_arm64: String,
}

fn push(registry: &TestRegistry) -> Pushed {
    let (amd64_image, amd64_size) = registry.push_image(REPOSITORY, "linux", "amd64");
    let (arm64_image, arm64_size) = registry.push_image(REPOSITORY, "linux", "arm64");
    let index_amd64_arm64 = registry.push_index(
        REPOSITORY,
        &[
            (&amd64_image, amd64_size, "linux", "amd64"),
            (&arm64_image, arm64_size, "linux", "arm64"),
        ],
    );
    let index_arm64 =
        registry.push_index(REPOSITORY, &[(&arm64_image, arm64_size, "linux", "arm64")]);
    Pushed {
        amd64_image,
        arm64_image,
        index_amd64_arm64,
        index_arm64,
    }
}

fn image(digest: &str) -> ImageRef {
    ImageRef {
        registry: "ghcr.io".into(),
        repository: REPOSITORY.into(),
        digest: digest.into(),
    }
}

fn client(password: Option<&str>) -> Registry {
    let credentials = password.map(|password| Credentials {
        username: USER.into(),
        password: password.into(),
    });
    Registry::new(credentials, Duration::from_secs(20))
}

#[test]
fn the_preflight_reads_a_real_registry_behind_basic_auth() {
    let registry = TestRegistry::start_basic();
    let pushed = push(&registry);
    check_against(&registry, &pushed);
}

#[test]
fn the_preflight_reads_a_real_registry_behind_bearer_tokens() {
    let issuer = TokenIssuer::start();
    let registry = TestRegistry::start_token(&issuer.realm(), SERVICE, ISSUER, issuer.cert_pem());
    let pushed = push(&registry);
    issuer.clear_requests();
    check_against(&registry, &pushed);
    // Each check asked the token service once, for the registry's pull scope; a single-platform
    // image's config blob is read with the token its manifest earned.
    let pull = format!("scope=repository:{REPOSITORY}:pull service={SERVICE}");
    let mut expected = vec![format!("{pull} granted"); 5];
    expected.push(format!("{pull} refused"));
    expected.push(format!("{pull} refused"));
    assert_eq!(issuer.requests(), expected);
}

/// Every outcome of `modalplan::registry` against `registry`, which serves `push`'s content.
fn check_against(registry: &TestRegistry, pushed: &Pushed) {
    let base = registry.url();
    let check = |password: Option<&str>, digest: &str| {
        registry.block_on(client(password).check_at(&base, &image(digest)))
    };
    assert_eq!(check(Some(PASSWORD), &pushed.amd64_image), Ok(()));
    assert_eq!(check(Some(PASSWORD), &pushed.index_amd64_arm64), Ok(()));
    let no_amd64 = check(Some(PASSWORD), &pushed.index_arm64).unwrap_err();
    assert_eq!(
        no_amd64.to_string(),
        "the image index has no linux/amd64 image (it has: linux/arm64)"
    );
    assert_eq!(
        check(Some(PASSWORD), &pushed.arm64_image),
        Err(Unavailable::WrongPlatform {
            platform: "linux/arm64".into()
        })
    );
    assert_eq!(
        check(Some(PASSWORD), &unknown_digest())
            .unwrap_err()
            .to_string(),
        format!(
            "the registry has no manifest {} in `{REPOSITORY}`",
            unknown_digest()
        )
    );
    let refused = check(Some("not-the-password"), &pushed.amd64_image).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the registry refused the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD (HTTP 401)"
    );
    assert_eq!(
        check(None, &pushed.amd64_image),
        Err(Unavailable::NeedsCredentials)
    );
}

/// A manifest with one processor per image, deployed to dev only.
fn write_manifest(dir: &Path, images: &[(&str, &str)]) {
    let mut text = String::from(
        "version = 1\n\n[modal]\nmodule = \"modal_app\"\nworkdir = \".\"\nenvironments = [\"dev\"]\n\n[secrets.REGISTRY_AUTH]\nkeys = [\"REGISTRY_USERNAME\", \"REGISTRY_PASSWORD\"]\n",
    );
    for (name, digest) in images {
        let _ = write!(
            text,
            "\n[[processor]]\nref = \"preflight/{name}@1\"\nimage.oci = \"ghcr.io/{REPOSITORY}@{digest}\"\nruntime = {{ cpu = 0.5, memory_mb = 512, timeout_s = 60 }}\n"
        );
    }
    fs::write(dir.join("processors.toml"), text).unwrap();
}

/// `modalplan plan` in `dir` against `emulator`, with `ghcr.io` served by `registry`.
fn plan_command(emulator: &Emulator, registry: &TestRegistry, dir: &Path) -> Modalplan {
    Modalplan::new()
        .current_dir(dir)
        .env_of(emulator)
        .env("MODALPLAN_REGISTRY_URL_GHCR_IO", registry.url())
        .env_remove("MODALPLAN_REGISTRY_MIRROR")
        .env_remove("MODALPLAN_OBSERVE")
        .env_remove("MODALPLAN_PYTHON")
        .env("REGISTRY_USERNAME", USER)
        .args(["plan", "--manifest", "processors.toml"])
        .timeout(Duration::from_secs(120))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The planned part of an action: the diff of a create.
fn planned(dir: &Path, name: &str, digest: &str) -> String {
    let loaded = modalplan::manifest::load(&dir.join("processors.toml")).unwrap();
    let manifest = loaded.manifest;
    let processor = manifest
        .processors
        .iter()
        .find(|processor| processor.reference.as_str() == format!("preflight/{name}@1"))
        .unwrap();
    let tag = crate::support::tag_of(&manifest, processor, &processor.deployments["dev"]);
    format!(
        "      --- live\n      +++ planned\n      @@ -0,0 +1,4 @@\n      +image   = ghcr.io/{REPOSITORY}@{digest}\n      +secrets = []\n      +runtime = cpu=0.5 memory_mb=512 timeout_s=60\n      +tag     = {tag}\n"
    )
}

fn created(dir: &Path, name: &str, digest: &str) -> String {
    format!(
        "  + preflight-{name}-v1 (preflight/{name}@1) will be created\n{}",
        planned(dir, name, digest)
    )
}

fn blocked(dir: &Path, name: &str, digest: &str, why: &str) -> String {
    format!(
        "  ! preflight-{name}-v1 (preflight/{name}@1) is blocked\n      ERR_IMAGE_UNAVAILABLE image `ghcr.io/{REPOSITORY}@{digest}` of preflight/{name}@1 cannot be pulled: {why}\n        fix: push the image (linux/amd64) or pin a digest that exists in `image.oci` of preflight/{name}@1; check the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD\n{}",
        planned(dir, name, digest)
    )
}

const HEADER: &str = "modalplan plan of processors.toml (dev)\n\nEnvironment dev\n";

#[test]
fn plan_blocks_what_a_real_registry_cannot_serve_basic_auth() {
    plan_against(&TestRegistry::start_basic());
}

#[test]
fn plan_blocks_what_a_real_registry_cannot_serve_bearer_tokens() {
    let issuer = TokenIssuer::start();
    let registry = TestRegistry::start_token(&issuer.realm(), SERVICE, ISSUER, issuer.cert_pem());
    plan_against(&registry);
}

/// Plans, through the binary, one processor per kind of image against `registry`.
fn plan_against(registry: &TestRegistry) {
    let pushed = push(registry);
    let emulator = Emulator::start(ModalCli::New, &workspace_seed());
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let unknown = unknown_digest();
    let images = [
        ("amd64-image", pushed.amd64_image.as_str()),
        ("arm64-only", pushed.index_arm64.as_str()),
        ("multi-arch", pushed.index_amd64_arm64.as_str()),
        ("unknown", unknown.as_str()),
    ];
    write_manifest(dir, &images);

    // The right credentials: the amd64 image and the index with amd64 pass; the others are blocked.
    let output = plan_command(&emulator, registry, dir)
        .env("REGISTRY_PASSWORD", PASSWORD)
        .run();
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{HEADER}{}{}{}{}\nPlan: 2 to create, 0 to update, 0 to stop, 2 blocked.\n",
            created(dir, "amd64-image", &pushed.amd64_image),
            blocked(
                dir,
                "arm64-only",
                &pushed.index_arm64,
                "the image index has no linux/amd64 image (it has: linux/arm64)"
            ),
            created(dir, "multi-arch", &pushed.index_amd64_arm64),
            blocked(
                dir,
                "unknown",
                &unknown,
                &format!("the registry has no manifest {unknown} in `{REPOSITORY}`")
            ),
        )
    );

    // A wrong password: every image is blocked, the message names the variables, never the value.
    let wrong = "wrong-pw-3d9a-never-printed";
    let output = plan_command(&emulator, registry, dir)
        .env("REGISTRY_PASSWORD", wrong)
        .run();
    assert_eq!(output.status.code(), Some(1));
    let refused =
        "the registry refused the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD (HTTP 401)";
    let expected: String = images
        .iter()
        .map(|(name, digest)| blocked(dir, name, digest, refused))
        .collect();
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout,
        format!("{HEADER}{expected}\nPlan: 0 to create, 0 to update, 0 to stop, 4 blocked.\n")
    );
    assert_eq!(text(&output.stderr), "");
    for shown in [&stdout, &text(&output.stderr)] {
        assert!(
            !shown.contains(wrong) && !shown.contains(PASSWORD),
            "{shown}"
        );
    }

    // No credentials at all: the plan says to set them.
    let output = plan_command(&emulator, registry, dir)
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .args(["--target", "preflight/amd64-image@1"])
        .run();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{HEADER}{}\nPlan: 0 to create, 0 to update, 0 to stop, 1 blocked.\n",
            blocked(
                dir,
                "amd64-image",
                &pushed.amd64_image,
                "the registry needs credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD"
            )
        )
    );

    // Only the available images, with the right credentials: nothing blocks (2: changes).
    let output = plan_command(&emulator, registry, dir)
        .env("REGISTRY_PASSWORD", PASSWORD)
        .args([
            "--target",
            "preflight/amd64-image@1",
            "--target",
            "preflight/multi-arch@1",
            "--detailed-exitcode",
        ])
        .run();
    assert_eq!(text(&output.stderr), "");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stdout),
        format!(
            "{HEADER}{}{}\nPlan: 2 to create, 0 to update, 0 to stop, 0 blocked.\n",
            created(dir, "amd64-image", &pushed.amd64_image),
            created(dir, "multi-arch", &pushed.index_amd64_arm64),
        )
    );
}

#[test]
fn the_registry_refuses_tokens_signed_by_a_key_it_does_not_trust() {
    // The registry trusts one issuer's certificate; the realm it names is another issuer, so every token
    // the pre-flight earns is signed by a key the registry does not trust.
    let trusted = TokenIssuer::start();
    let untrusted = TokenIssuer::start();
    let registry =
        TestRegistry::start_token(&untrusted.realm(), SERVICE, ISSUER, trusted.cert_pem());
    let result = registry
        .block_on(client(Some(PASSWORD)).check_at(&registry.url(), &image(&unknown_digest())));
    assert_eq!(result, Err(Unavailable::Refused { status: 401 }));
    assert_eq!(
        untrusted.requests(),
        [format!(
            "scope=repository:{REPOSITORY}:pull service={SERVICE} granted"
        )]
    );
    assert!(trusted.requests().is_empty());
    let log = registry.server_log();
    assert!(
        log.contains("unable to verify certificate chain") && log.contains("invalid token"),
        "{log}"
    );
}
