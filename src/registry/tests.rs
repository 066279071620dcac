//! The pre-flight against a small registry on loopback, written here, that speaks the distribution API's
//! manifest and blob reads and both challenge flows (Basic, and Bearer with a token service).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const USER: &str = "acme-bot";
const PASSWORD: &str = "s3cret-never-printed";
const TOKEN: &str = "token-for-acme-app";
const REPOSITORY: &str = "acme/app";

fn digest(n: char) -> String {
    format!("sha256:{}", n.to_string().repeat(64))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Basic,
    Bearer,
}

/// What the test registry saw: `METHOD path?query auth-scheme`.
type Log = Arc<Mutex<Vec<String>>>;

struct TestRegistry {
    base: String,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn index(platforms: &[(&str, &str)]) -> String {
    let manifests: Vec<Value> = platforms
        .iter()
        .map(|(os, architecture)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest('9'),
                "size": 100,
                "platform": {"os": os, "architecture": architecture}
            })
        })
        .collect();
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests
    })
    .to_string()
}

fn single(config: &str) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 10},
        "layers": []
    })
    .to_string()
}

async fn start(auth: Auth, documents: BTreeMap<String, String>) -> TestRegistry {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let realm = format!("{base}/token");
    let task = {
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let documents = documents.clone();
                let realm = realm.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buffer.windows(4).any(|window| window == b"\r\n\r\n") {
                        let Ok(read) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                    }
                    let head = String::from_utf8_lossy(&buffer).to_string();
                    let mut lines = head.lines();
                    let request_line = lines.next().unwrap_or_default().to_owned();
                    let target = request_line
                        .split(' ')
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let authorization = lines
                        .filter_map(|line| line.split_once(':'))
                        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                        .map(|(_, value)| value.trim().to_owned());
                    let scheme = authorization
                        .as_deref()
                        .and_then(|value| value.split(' ').next())
                        .unwrap_or("none")
                        .to_owned();
                    log.lock().unwrap().push(format!("GET {target} {scheme}"));
                    let basic_ok = authorization.as_deref()
                        == Some(&format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD
                                .encode(format!("{USER}:{PASSWORD}"))
                        ));
                    let (status, headers, body) = if target.starts_with("/token") {
                        if basic_ok {
                            (
                                "200 OK",
                                String::new(),
                                format!("{{\"token\": \"{TOKEN}\"}}"),
                            )
                        } else {
                            ("401 Unauthorized", String::new(), String::new())
                        }
                    } else {
                        let authorized = match auth {
                            Auth::Basic => basic_ok,
                            Auth::Bearer => {
                                authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))
                            }
                        };
                        if authorized {
                            match documents.get(&target) {
                                Some(body) => ("200 OK", String::new(), body.clone()),
                                None => ("404 Not Found", String::new(), String::new()),
                            }
                        } else {
                            let challenge = match auth {
                                Auth::Basic => "Basic realm=\"test-registry\"".to_owned(),
                                Auth::Bearer => format!(
                                    "Bearer realm=\"{realm}\",service=\"test-registry\",scope=\"repository:{REPOSITORY}:pull\""
                                ),
                            };
                            (
                                "401 Unauthorized",
                                format!("WWW-Authenticate: {challenge}\r\n"),
                                String::new(),
                            )
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        })
    };
    TestRegistry { base, log, task }
}

fn image(digest: &str) -> ImageRef {
    ImageRef {
        registry: "registry.test".into(),
        repository: REPOSITORY.into(),
        digest: digest.into(),
    }
}

#[allow(clippy::unnecessary_wraps)] // Registry::new takes an Option.
fn credentials(password: &str) -> Option<Credentials> {
    Some(Credentials {
        username: USER.into(),
        password: password.into(),
    })
}

fn client(credentials: Option<Credentials>) -> Registry {
    Registry::new(credentials, Duration::from_secs(10))
}

fn manifest_path(digest: &str) -> String {
    format!("/v2/{REPOSITORY}/manifests/{digest}")
}

#[tokio::test]
async fn bearer_flow_gets_a_token_with_service_and_scope_then_reads_the_index() {
    let documents = BTreeMap::from([(
        manifest_path(&digest('1')),
        index(&[("linux", "arm64"), ("linux", "amd64")]),
    )]);
    let registry = start(Auth::Bearer, documents).await;
    let result = client(credentials(PASSWORD))
        .check_at(&registry.base, &image(&digest('1')))
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        *registry.log.lock().unwrap(),
        [
            format!("GET {} none", manifest_path(&digest('1'))),
            "GET /token?scope=repository%3Aacme%2Fapp%3Apull&service=test-registry Basic"
                .to_owned(),
            format!("GET {} Bearer", manifest_path(&digest('1'))),
        ]
    );
}

#[tokio::test]
async fn basic_flow_and_an_index_without_amd64() {
    let documents = BTreeMap::from([(
        manifest_path(&digest('2')),
        index(&[("linux", "arm64"), ("windows", "amd64")]),
    )]);
    let registry = start(Auth::Basic, documents).await;
    let result = client(credentials(PASSWORD))
        .check_at(&registry.base, &image(&digest('2')))
        .await;
    assert_eq!(
        result,
        Err(Unavailable::NoAmd64 {
            platforms: "linux/arm64, windows/amd64".into()
        })
    );
    assert_eq!(
        result.unwrap_err().to_string(),
        "the image index has no linux/amd64 image (it has: linux/arm64, windows/amd64)"
    );
    assert_eq!(
        *registry.log.lock().unwrap(),
        [
            format!("GET {} none", manifest_path(&digest('2'))),
            format!("GET {} Basic", manifest_path(&digest('2'))),
        ]
    );
}

#[tokio::test]
async fn a_missing_digest_is_not_found() {
    let registry = start(Auth::Bearer, BTreeMap::new()).await;
    let error = client(credentials(PASSWORD))
        .check_at(&registry.base, &image(&digest('3')))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("the registry has no manifest {} in `acme/app`", digest('3'))
    );
}

#[tokio::test]
async fn single_platform_images_are_checked_through_their_config() {
    let amd64_config = digest('a');
    let arm64_config = digest('b');
    let documents = BTreeMap::from([
        (manifest_path(&digest('4')), single(&amd64_config)),
        (manifest_path(&digest('5')), single(&arm64_config)),
        (
            format!("/v2/{REPOSITORY}/blobs/{amd64_config}"),
            r#"{"os": "linux", "architecture": "amd64"}"#.to_owned(),
        ),
        (
            format!("/v2/{REPOSITORY}/blobs/{arm64_config}"),
            r#"{"os": "linux", "architecture": "arm64"}"#.to_owned(),
        ),
    ]);
    let registry = start(Auth::Bearer, documents).await;
    let client = client(credentials(PASSWORD));
    assert_eq!(
        client.check_at(&registry.base, &image(&digest('4'))).await,
        Ok(())
    );
    assert_eq!(
        client.check_at(&registry.base, &image(&digest('5'))).await,
        Err(Unavailable::WrongPlatform {
            platform: "linux/arm64".into()
        })
    );
    // The token earned for the manifest is reused for the blob.
    let log = registry.log.lock().unwrap();
    assert_eq!(
        log.iter()
            .filter(|line| line.starts_with("GET /token"))
            .count(),
        2
    );
    assert_eq!(
        log[3],
        format!("GET /v2/{REPOSITORY}/blobs/{amd64_config} Bearer")
    );
}

#[tokio::test]
async fn refused_or_missing_credentials_say_so_and_never_show_the_password() {
    let documents = BTreeMap::from([(manifest_path(&digest('6')), index(&[("linux", "amd64")]))]);
    for auth in [Auth::Basic, Auth::Bearer] {
        let registry = start(auth, documents.clone()).await;
        let wrong = client(credentials("wrong-password"))
            .check_at(&registry.base, &image(&digest('6')))
            .await
            .unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "the registry refused the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD (HTTP 401)"
        );
        let none = client(None)
            .check_at(&registry.base, &image(&digest('6')))
            .await
            .unwrap_err();
        assert_eq!(none, Unavailable::NeedsCredentials);
    }
    let shown = format!("{:?}", credentials(PASSWORD).unwrap());
    assert!(!shown.contains(PASSWORD), "{shown}");
}

#[tokio::test]
async fn check_all_reports_each_distinct_unavailable_image_once() {
    let documents = BTreeMap::from([(manifest_path(&digest('7')), index(&[("linux", "amd64")]))]);
    let registry = start(Auth::Bearer, documents).await;
    let images = [
        image(&digest('7')),
        image(&digest('8')),
        image(&digest('8')),
    ];
    let unavailable = client(credentials(PASSWORD))
        .with_base_url(&registry.base)
        .check_all(&images)
        .await;
    assert_eq!(
        unavailable,
        BTreeMap::from([(
            format!("registry.test/acme/app@{}", digest('8')),
            format!("the registry has no manifest {} in `acme/app`", digest('8'))
        )])
    );
    // Two distinct images: each read once (a challenge, a token, the manifest).
    let log = registry.log.lock().unwrap();
    assert_eq!(
        log.iter()
            .filter(|line| line.contains("/manifests/"))
            .count(),
        4
    );
}

#[tokio::test]
async fn an_unreachable_registry_says_how_to_work_offline() {
    let error = client(None)
        .check_at("http://127.0.0.1:9", &image(&digest('1')))
        .await
        .unwrap_err();
    assert!(matches!(error, Unavailable::Unreachable(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .ends_with("run with --no-registry-check when offline")
    );
}

#[test]
fn challenges_parse() {
    let challenge = Challenge::parse(
        r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/theory/llm-litellm:pull""#,
    );
    assert_eq!(challenge.scheme, "bearer");
    assert_eq!(challenge.parameters["realm"], "https://ghcr.io/token");
    assert_eq!(challenge.parameters["service"], "ghcr.io");
    assert_eq!(
        challenge.parameters["scope"],
        "repository:acme/theory/llm-litellm:pull"
    );
    let basic = Challenge::parse(r#"Basic realm="Registry Realm, with \"quotes\"""#);
    assert_eq!(basic.scheme, "basic");
    assert_eq!(
        basic.parameters["realm"],
        r#"Registry Realm, with "quotes""#
    );
}

#[test]
fn base_urls_and_overrides() {
    assert_eq!(env_suffix("ghcr.io"), "GHCR_IO");
    assert_eq!(env_suffix("localhost:5000"), "LOCALHOST_5000");
    assert_eq!(repository_path("docker.io", "python"), "library/python");
    assert_eq!(repository_path("ghcr.io", "acme/x"), "acme/x");
    // Only a name no other test uses, so the process-wide variable cannot race.
    assert_eq!(base_url("override.test"), "https://override.test");
}
