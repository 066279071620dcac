//! A real OCI registry on loopback: Debian's `docker-registry` (distribution 2.8) for the registry
//! pre-flight's tests.
//!
//! `TestRegistry::start_basic` runs `/usr/bin/docker-registry serve CONFIG` with filesystem storage in a
//! temp dir, `http.addr` on a free loopback port and htpasswd auth (a bcrypt file made by `htpasswd -Bbn`);
//! `TestRegistry::start_token` runs it with `auth: token` instead, trusting a `TokenIssuer` (a token
//! service on loopback signing ES256 JWTs with a key and self-signed certificate made at start).
//! Test content is pushed through the distribution HTTP API (blob upload POST/PUT, manifest PUT by
//! digest), answering the registry's own challenge. Dropping the `TestRegistry` kills the server by its
//! own pid.
//!
//! The binaries are required, never skipped: a machine without them fails with the command that installs
//! them (`scripts/test` runs it). `MODALPLAN_DOCKER_REGISTRY` names another `docker-registry` binary.
// Shared support: not every test module uses every helper.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use ring::signature::EcdsaKeyPair;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// The user the registry knows.
pub const USER: &str = "acme-bot";
/// Its password: tests assert it never appears in any output.
pub const PASSWORD: &str = "pw-7c1f-never-printed";

/// How to install what these tests run.
pub const INSTALL: &str = "apt-get install -y docker-registry apache2-utils";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// The `docker-registry` binary: `$MODALPLAN_DOCKER_REGISTRY` or `/usr/bin/docker-registry`; panics with
/// the install command when it is missing.
pub fn registry_bin() -> PathBuf {
    let path = std::env::var_os("MODALPLAN_DOCKER_REGISTRY")
        .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
    assert!(
        path.is_file(),
        "no docker-registry at {}: the registry tests need a real registry server; install it with `{INSTALL}` (scripts/test does)",
        path.display()
    );
    path
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A free port on loopback (the listener is closed before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An OCI index of already pushed images `(digest, size, os, architecture)`.
fn index_of(images: &[(&str, usize, &str, &str)]) -> Value {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(digest, size, os, architecture)| {
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": {"os": os, "architecture": architecture}
            })
        })
        .collect();
    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
}

/// A running `docker-registry`; killed when dropped.
pub struct TestRegistry {
    child: Child,
    dir: TempDir,
    port: u16,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl TestRegistry {
    /// A registry that asks for Basic credentials (`USER` / `PASSWORD`, htpasswd with bcrypt).
    pub fn start_basic() -> TestRegistry {
        let dir = temp_dir();
        let htpasswd = htpasswd(USER, PASSWORD);
        let path = dir.path().join("htpasswd");
        fs::write(&path, htpasswd).expect("write htpasswd");
        let auth = format!(
            "auth:\n  htpasswd:\n    realm: modalplan-test\n    path: {}\n",
            path.display()
        );
        TestRegistry::start(dir, &auth)
    }

    /// A registry that sends clients to the token service at `realm` (Bearer), trusting the tokens
    /// `issuer` signs with the key of the certificate(s) in `root_cert_pem`.
    pub fn start_token(
        realm: &str,
        service: &str,
        issuer: &str,
        root_cert_pem: &str,
    ) -> TestRegistry {
        let dir = temp_dir();
        let bundle = dir.path().join("token-root.pem");
        fs::write(&bundle, root_cert_pem).expect("write the root certificate bundle");
        let auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            bundle.display()
        );
        TestRegistry::start(dir, &auth)
    }

    fn start(dir: TempDir, auth: &str) -> TestRegistry {
        let bin = registry_bin();
        let port = free_port();
        let config = dir.path().join("config.yml");
        let mut text = String::new();
        let _ = write!(
            text,
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: modalplan-test-upload-secret\n{auth}",
            dir.path().join("storage").display()
        );
        fs::write(&config, text).expect("write the registry config");
        let log = fs::File::create(dir.path().join("server.log")).expect("server log");
        let child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the pushes");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("HTTP client");
        let mut registry = TestRegistry {
            child,
            dir,
            port,
            runtime,
            http,
        };
        registry.wait_ready();
        registry
    }

    /// Waits until `GET /v2/` answers 401 (auth is on and the server listens).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/v2/", self.url());
        loop {
            let status = self
                .runtime
                .block_on(async { self.http.get(&url).send().await.map(|r| r.status()) });
            match status {
                Ok(StatusCode::UNAUTHORIZED) => return,
                Ok(other) => panic!(
                    "{url} answered {other}, not 401: auth is off? {}",
                    self.server_log()
                ),
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "docker-registry exited with {status}: {}",
                    self.server_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry not ready after 30s: {}",
                self.server_log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a future on this registry's runtime (the pre-flight is async; the tests are not).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server logged (for failure messages).
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Uploads a blob to `repository` (monolithic: POST, then PUT with the digest); returns its digest.
    pub fn push_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        self.runtime.block_on(async {
            let start = format!("{}/v2/{repository}/blobs/uploads/", self.url());
            let response = self
                .send(repository, |http| {
                    http.post(&start)
                        .header(CONTENT_TYPE, "application/octet-stream")
                })
                .await;
            assert_eq!(
                response.status(),
                StatusCode::ACCEPTED,
                "POST {start}: {}",
                response.text().await.unwrap_or_default()
            );
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .expect("an upload Location")
                .to_owned();
            let mut upload = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.url())
            };
            upload.push(if upload.contains('?') { '&' } else { '?' });
            upload.push_str("digest=");
            upload.push_str(&digest);
            let response = self
                .send(repository, |http| {
                    http.put(&upload)
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .body(bytes.to_vec())
                })
                .await;
            assert_eq!(
                response.status(),
                StatusCode::CREATED,
                "PUT blob {digest}: {}",
                response.text().await.unwrap_or_default()
            );
        });
        digest
    }

    /// PUTs a manifest by its digest; returns the digest.
    pub fn push_manifest(&self, repository: &str, media_type: &str, manifest: &Value) -> String {
        self.put_manifest(repository, None, media_type, manifest)
    }

    /// PUTs a manifest under `tag` (the tag then names it, moving if it named another); returns its
    /// digest.
    pub fn tag_manifest(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        manifest: &Value,
    ) -> String {
        self.put_manifest(repository, Some(tag), media_type, manifest)
    }

    fn put_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        media_type: &str,
        manifest: &Value,
    ) -> String {
        let bytes = serde_json::to_vec(manifest).expect("manifest serializes");
        let digest = digest_of(&bytes);
        let reference = tag.map_or_else(|| digest.clone(), str::to_owned);
        self.runtime.block_on(async {
            let url = format!("{}/v2/{repository}/manifests/{reference}", self.url());
            let response = self
                .send(repository, |http| {
                    http.put(&url)
                        .header(CONTENT_TYPE, media_type)
                        .body(bytes.clone())
                })
                .await;
            assert_eq!(
                response.status(),
                StatusCode::CREATED,
                "PUT manifest {digest}: {}",
                response.text().await.unwrap_or_default()
            );
        });
        digest
    }

    /// Pushes a single-platform image (a config for `os/architecture`, one layer); returns
    /// `(manifest digest, manifest size)`.
    pub fn push_image(&self, repository: &str, os: &str, architecture: &str) -> (String, usize) {
        let config = serde_json::to_vec(&json!({
            "architecture": architecture,
            "os": os,
            "config": {"Env": [format!("PROCESSOR_PLATFORM={os}/{architecture}")]},
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .expect("config serializes");
        let layer = format!("layer of {repository} for {os}/{architecture}").into_bytes();
        let config_digest = self.push_blob(repository, &config);
        let layer_digest = self.push_blob(repository, &layer);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len()}]
        });
        let size = serde_json::to_vec(&manifest)
            .expect("manifest serializes")
            .len();
        (
            self.push_manifest(repository, OCI_MANIFEST, &manifest),
            size,
        )
    }

    /// Pushes an OCI index of already pushed images under `tag`; returns its digest.
    pub fn tag_index(
        &self,
        repository: &str,
        tag: &str,
        images: &[(&str, usize, &str, &str)],
    ) -> String {
        self.tag_manifest(repository, tag, OCI_INDEX, &index_of(images))
    }

    /// Pushes an OCI index of already pushed images `(digest, size, os, architecture)`; returns its digest.
    pub fn push_index(&self, repository: &str, images: &[(&str, usize, &str, &str)]) -> String {
        self.push_manifest(repository, OCI_INDEX, &index_of(images))
    }

    /// Sends a request as `USER`, answering the registry's challenge (Basic, or a push token from the
    /// Bearer realm) once.
    async fn send(
        &self,
        repository: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let response = build(&self.http).send().await.expect("registry request");
        if response.status() != StatusCode::UNAUTHORIZED {
            return response;
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .map(modalplan::registry::Challenge::parse)
            .expect("a 401 with a challenge");
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        let authorization = if challenge.scheme == "bearer" {
            let realm = &challenge.parameters["realm"];
            let scope = format!("repository:{repository}:pull,push");
            let service = challenge
                .parameters
                .get("service")
                .cloned()
                .unwrap_or_default();
            let token: Value = self
                .http
                .get(realm)
                .query(&[("scope", scope), ("service", service)])
                .header(AUTHORIZATION, &basic)
                .send()
                .await
                .expect("token request")
                .error_for_status()
                .expect("a token for the push")
                .json()
                .await
                .expect("token JSON");
            format!("Bearer {}", token["token"].as_str().expect("a token"))
        } else {
            basic
        };
        build(&self.http)
            .header(AUTHORIZATION, authorization)
            .send()
            .await
            .expect("registry request")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // Kills exactly the server this TestRegistry started, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("modalplan-registry-")
        .tempdir()
        .expect("temp dir")
}

/// A bcrypt htpasswd line from `htpasswd -Bbn`; panics with the install command when it is missing.
fn htpasswd(user: &str, password: &str) -> String {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run htpasswd ({e}): the registry tests need it; install it with `{INSTALL}` (scripts/test does)")
        });
    assert!(
        output.status.success(),
        "htpasswd -Bbn failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("htpasswd prints text")
}

/// A token service for the registry's `auth: token` (the Bearer flow GHCR uses): `GET /token?scope=...
/// &service=...` with Basic `USER` / `PASSWORD` answers `{"token": JWT}`; anything else is 401. The JWTs
/// are ES256, signed with a P-256 key whose self-signed certificate (made at start) the registry trusts
/// (`rootcertbundle`) and that each token carries in `x5c`. Stopped and joined when dropped.
pub struct TokenIssuer {
    port: u16,
    cert_pem: String,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// The `iss` of the tokens (the registry's `auth.token.issuer`).
pub const ISSUER: &str = "modalplan-test-issuer";
/// The `aud` of the tokens (the registry's `auth.token.service`).
pub const SERVICE: &str = "modalplan-test-registry";

impl TokenIssuer {
    pub fn start() -> TokenIssuer {
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
        let mut params =
            rcgen::CertificateParams::new(vec![ISSUER.to_owned()]).expect("certificate params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key).expect("a self-signed certificate");
        let rng = ring::rand::SystemRandom::new();
        let signer = EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .expect("the key in ring");
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token service");
        let port = listener.local_addr().expect("token service address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = serve_token(stream, &signer, &rng, &x5c, &log);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        TokenIssuer {
            port,
            cert_pem: cert.pem(),
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// The realm: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The certificate of the signing key (the registry's `rootcertbundle`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Each token request so far: `scope=<scope> service=<service> <granted|refused>`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("token log").clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().expect("token log").clear();
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one token request.
fn serve_token(
    mut stream: TcpStream,
    signer: &EcdsaKeyPair,
    rng: &ring::rand::SystemRandom,
    x5c: &str,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.lines();
    let target = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "scope" => scopes.extend(value.split(' ').map(str::to_owned)),
            "service" => service = value,
            _ => {}
        }
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let granted = path == "/token" && authorization.as_deref() == Some(basic.as_str());
    log.lock().expect("token log").push(format!(
        "scope={} service={service} {}",
        scopes.join(" "),
        if granted { "granted" } else { "refused" }
    ));
    let (status, body) = if granted {
        let token = sign_token(signer, rng, x5c, &service, &scopes);
        (
            "200 OK",
            json!({"token": token, "expires_in": 300}).to_string(),
        )
    } else {
        (
            "401 Unauthorized",
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}).to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

/// An ES256 JWT for `USER` granting the actions of `scopes` (`repository:<name>:<actions>`).
fn sign_token(
    signer: &EcdsaKeyPair,
    rng: &ring::rand::SystemRandom,
    x5c: &str,
    service: &str,
    scopes: &[String],
) -> String {
    let access: Vec<Value> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time after the epoch")
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
    let claims = json!({
        "iss": ISSUER,
        "sub": USER,
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("modalplan-test-{now}-{}", scopes.join("+")),
        "access": access
    });
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let signature = signer
        .sign(rng, signing_input.as_bytes())
        .expect("ES256 signature");
    format!("{signing_input}.{}", url.encode(signature.as_ref()))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    decoded.push(byte);
                    index += 3;
                    continue;
                }
                decoded.push(b'%');
            }
            b'+' => decoded.push(b' '),
            other => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
