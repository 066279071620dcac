//! `modalplan pin` against a real registry server (Debian's `docker-registry`, `support::registry`),
//! behind Basic auth and behind Bearer tokens: a tag resolves and only that `image.oci` line of the
//! manifest changes; an index without linux/amd64 is refused; an unknown tag is an error naming it; a
//! moved tag makes `pin --check` exit 2.

use std::fs;
use std::process::Output;
use std::time::Duration;

use crate::support::registry::{ISSUER, PASSWORD, SERVICE, TestRegistry, TokenIssuer, USER};
use crate::support::run::{Modalplan, Run};

const REPOSITORY: &str = "acme/theory/pinned";
const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// A manifest with comments and layout a rewrite must keep, two processors of the same repository, and
/// a `dev` override on the second.
fn manifest() -> String {
    format!(
        r#"#:schema ./schemas/processors.schema.json
version = 1

[modal]
module = "modal_app"
workdir = "."
environments = ["dev", "main"]

[secrets.REGISTRY_AUTH]
keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]

# The first tool.
[[processor]]
ref = "tools/first@1"
image.oci = "ghcr.io/{REPOSITORY}@sha256:{OLD}"   # built by CI
runtime = {{ cpu = 0.5, memory_mb = 512 }}

[[processor]]
ref = "tools/second@1"
image = {{ oci = "ghcr.io/{REPOSITORY}:old@sha256:{OLD}" }}

[processor.env.dev]
image.oci = "ghcr.io/{REPOSITORY}@sha256:{OLD}"
"#
    )
}

/// What the registry serves: tag `v2` and `moving` name an index of linux/amd64 and linux/arm64, `arm`
/// an index of linux/arm64 only.
struct Served {
    index: String,
    amd64: (String, usize),
}

fn serve(registry: &TestRegistry) -> Served {
    let amd64 = registry.push_image(REPOSITORY, "linux", "amd64");
    let arm64 = registry.push_image(REPOSITORY, "linux", "arm64");
    let both = [
        (amd64.0.as_str(), amd64.1, "linux", "amd64"),
        (arm64.0.as_str(), arm64.1, "linux", "arm64"),
    ];
    let index = registry.tag_index(REPOSITORY, "v2", &both);
    registry.tag_index(REPOSITORY, "moving", &both);
    registry.tag_index(
        REPOSITORY,
        "arm",
        &[(arm64.0.as_str(), arm64.1, "linux", "arm64")],
    );
    Served { index, amd64 }
}

struct Project {
    dir: tempfile::TempDir,
    url: String,
}

impl Project {
    fn new(registry: &TestRegistry) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("modalplan-pin-")
            .tempdir()
            .expect("temp dir");
        fs::write(dir.path().join("processors.toml"), manifest()).unwrap();
        Project {
            dir,
            url: registry.url(),
        }
    }

    /// `modalplan pin ARGUMENTS` in the project, with `ghcr.io` served by the test registry.
    fn run(&self, arguments: &[&str]) -> Run {
        Modalplan::new()
            .current_dir(self.dir.path())
            .env("MODALPLAN_REGISTRY_URL_GHCR_IO", &self.url)
            .env_remove("MODALPLAN_REGISTRY_MIRROR")
            .env("REGISTRY_USERNAME", USER)
            .env("REGISTRY_PASSWORD", PASSWORD)
            .timeout(Duration::from_secs(60))
            .arg("pin")
            .args(arguments)
            .run()
    }

    fn manifest(&self) -> String {
        fs::read_to_string(self.dir.path().join("processors.toml")).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

#[test]
fn pins_through_a_real_registry_behind_basic_auth() {
    let registry = TestRegistry::start_basic();
    pins_against(&registry);
}

#[test]
fn pins_through_a_real_registry_behind_bearer_tokens() {
    let issuer = TokenIssuer::start();
    let registry = TestRegistry::start_token(&issuer.realm(), SERVICE, ISSUER, issuer.cert_pem());
    pins_against(&registry);
    assert!(
        issuer.requests().iter().any(|request| request
            == &format!("scope=repository:{REPOSITORY}:pull service={SERVICE} granted")),
        "{:?}",
        issuer.requests()
    );
}

fn pins_against(registry: &TestRegistry) {
    let served = serve(registry);
    let project = Project::new(registry);
    let original = project.manifest();
    let index = &served.index;

    // A tag resolves to its index digest; only that value changes (comments, spacing stay).
    let output = project.run(&["--ref", "tools/first@1", "--tag", "v2"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pinned = format!("ghcr.io/{REPOSITORY}:v2@{index}");
    let expected = original.replacen(
        &format!("\"ghcr.io/{REPOSITORY}@sha256:{OLD}\"   # built by CI"),
        &format!("\"{pinned}\"   # built by CI"),
        1,
    );
    assert_ne!(expected, original);
    assert_eq!(project.manifest(), expected);
    assert_eq!(
        text(&output.stdout),
        format!(
            "--- processors.toml\n+++ processors.toml\n@@ -14,3 +14,3 @@\n ref = \"tools/first@1\"\n-image.oci = \"ghcr.io/{REPOSITORY}@sha256:{OLD}\"   # built by CI\n+image.oci = \"{pinned}\"   # built by CI\n runtime = {{ cpu = 0.5, memory_mb = 512 }}\n\ntools/first@1: pinned {pinned}\n\n1 pinned, 0 failed; processors.toml rewritten.\n"
        )
    );
    assert_eq!(text(&output.stderr), "");

    // Pinning again changes nothing.
    let again = project.run(&["--ref", "tools/first@1", "--tag", "v2"]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert_eq!(
        text(&again.stdout),
        format!(
            "tools/first@1: already pinned to {pinned}\n\n0 pinned, 0 failed; processors.toml is unchanged.\n"
        )
    );
    assert_eq!(project.manifest(), expected);

    // `--env dev` writes the override; `--image` names the repository.
    let output = project.run(&[
        "--ref",
        "tools/second@1",
        "--image",
        &format!("ghcr.io/{REPOSITORY}:moving"),
        "--env",
        "dev",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let moving = format!("ghcr.io/{REPOSITORY}:moving@{index}");
    let expected = expected.replacen(
        &format!("[processor.env.dev]\nimage.oci = \"ghcr.io/{REPOSITORY}@sha256:{OLD}\""),
        &format!("[processor.env.dev]\nimage.oci = \"{moving}\""),
        1,
    );
    assert_eq!(project.manifest(), expected);

    // An index without linux/amd64 is refused; an unknown tag is named; nothing is written.
    let arm = project.run(&["--ref", "tools/first@1", "--tag", "arm"]);
    assert_eq!(arm.status.code(), Some(1), "{}", describe(&arm));
    assert_eq!(
        text(&arm.stdout),
        "tools/first@1: failed: the image index has no linux/amd64 image (it has: linux/arm64)\n\n0 pinned, 1 failed; processors.toml is unchanged.\n"
    );
    assert_eq!(
        text(&arm.stderr),
        "ERR_IMAGE_UNAVAILABLE\n\n  × tools/first@1: the image index has no linux/amd64 image (it has: linux/\n  │ arm64)\n  help: check the tag was pushed, and REGISTRY_USERNAME/REGISTRY_PASSWORD;\n        nothing is pinned for what failed\n\n"
    );
    let unknown = project.run(&["--ref", "tools/first@1", "--tag", "no-such-tag"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", describe(&unknown));
    assert_eq!(
        text(&unknown.stdout),
        format!(
            "tools/first@1: failed: the registry has no tag `no-such-tag` in `{REPOSITORY}`\n\n0 pinned, 1 failed; processors.toml is unchanged.\n"
        )
    );
    assert_eq!(project.manifest(), expected);

    // `--check`: every recorded tag is where the pin says (the untagged pins are not checked)...
    let check = project.run(&["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    // ...except `old`, which the registry does not have: an error, never a silent pass.
    assert_eq!(
        text(&check.stdout),
        format!(
            "Pins of processors.toml that record a tag:\n  tools/first@1: ghcr.io/{REPOSITORY}:v2 is still {}\n  tools/second@1: ghcr.io/{REPOSITORY}:old failed: the registry has no tag `old` in `{REPOSITORY}`\n  tools/second@1 (env dev): ghcr.io/{REPOSITORY}:moving is still {}\n",
            &index[..19],
            &index[..19]
        )
    );
    let output = project.run(&["--ref", "tools/second@1", "--tag", "v2"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let check = project.run(&["--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));

    // The tag moves to another index: `--check` exits 2 and says how to pin it; the manifest stays.
    let before = project.manifest();
    let moved = registry.tag_index(
        REPOSITORY,
        "moving",
        &[(served.amd64.0.as_str(), served.amd64.1, "linux", "amd64")],
    );
    assert_ne!(&moved, index);
    let check = project.run(&["--check"]);
    assert_eq!(check.status.code(), Some(2), "{}", describe(&check));
    assert_eq!(
        text(&check.stdout),
        format!(
            "Pins of processors.toml that record a tag:\n  tools/first@1: ghcr.io/{REPOSITORY}:v2 is still {short}\n  tools/second@1: ghcr.io/{REPOSITORY}:v2 is still {short}\n  tools/second@1 (env dev): ghcr.io/{REPOSITORY}:moving moved: pinned {short}, the tag is now {}\n\n1 tag moved (ERR_TAG_MOVED); to pin what the tag names now:\n  modalplan pin --ref tools/second@1 --tag moving --env dev\n",
            &moved[..19],
            short = &index[..19],
        )
    );
    assert_eq!(project.manifest(), before);
}

#[test]
fn pin_all_pins_every_processor_built_with_the_tag() {
    let registry = TestRegistry::start_basic();
    let served = serve(&registry);
    let project = Project::new(&registry);
    let output = project.run(&["--all", "--tag", "v2"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let pinned = format!("ghcr.io/{REPOSITORY}:v2@{}", served.index);
    let rewritten = project.manifest();
    assert_eq!(rewritten.matches(&pinned).count(), 2, "{rewritten}");
    assert_eq!(
        rewritten,
        manifest()
            .replacen(
                &format!("\"ghcr.io/{REPOSITORY}@sha256:{OLD}\"   #"),
                &format!("\"{pinned}\"   #"),
                1
            )
            .replacen(
                &format!("{{ oci = \"ghcr.io/{REPOSITORY}:old@sha256:{OLD}\" }}"),
                &format!("{{ oci = \"{pinned}\" }}"),
                1
            )
    );
    let none = project.run(&["--all", "--tag", "never-pushed"]);
    assert_eq!(none.status.code(), Some(1), "{}", describe(&none));
    assert!(
        text(&none.stderr).contains("no processor's repository has the tag `never-pushed`"),
        "{}",
        describe(&none)
    );
    assert_eq!(project.manifest(), rewritten);
}

#[test]
fn a_registry_that_cannot_be_reached_is_an_error() {
    let project = Project {
        dir: tempfile::tempdir().unwrap(),
        url: format!("http://127.0.0.1:{}", crate::support::registry::free_port()),
    };
    fs::write(project.dir.path().join("processors.toml"), manifest()).unwrap();
    let output = project.run(&["--ref", "tools/first@1", "--tag", "v2"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        text(&output.stdout).starts_with("tools/first@1: failed: the registry could not be asked"),
        "{}",
        describe(&output)
    );
    let check = project.run(&["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert_eq!(project.manifest(), manifest());
}
