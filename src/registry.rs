//! The registry pre-flight: does each pinned image exist, and does it serve linux/amd64? Asked over the
//! OCI distribution API before anything deploys, so a plan blocks (`ERR_IMAGE_UNAVAILABLE`) instead of a
//! deploy failing on Modal.
//!
//! Credentials come from `REGISTRY_USERNAME` / `REGISTRY_PASSWORD` and answer both challenge flows: Basic,
//! and Bearer (the token service named by `WWW-Authenticate`, as GHCR and Docker Hub use). No credential
//! is ever logged or put in a message.
//!
//! Where to reach a registry: `https://<host>` (`registry-1.docker.io` for `docker.io`), unless
//! `MODALPLAN_REGISTRY_URL_<HOST>` (the host upper-cased, each run of other characters `_`, e.g.
//! `MODALPLAN_REGISTRY_URL_GHCR_IO=http://127.0.0.1:5000`) or `MODALPLAN_REGISTRY_MIRROR` (every
//! registry) names another base URL: for mirrors and tests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::manifest::valid::ImageRef;

/// Media types the pre-flight accepts: indexes and single-platform manifests, OCI and Docker.
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The platform Modal runs.
const OS: &str = "linux";
const ARCHITECTURE: &str = "amd64";

/// Registry credentials; `Debug` never shows the password.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// `REGISTRY_USERNAME` and `REGISTRY_PASSWORD`, when both are set.
    pub fn from_env() -> Option<Self> {
        let (username, password) = crate::settings::env::registry_credentials()?;
        Some(Self { username, password })
    }
}

/// Why an image cannot be pulled, in words for the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("the registry has no manifest {digest} in `{repository}`")]
    NotFound { repository: String, digest: String },
    #[error("the registry has no tag `{tag}` in `{repository}`")]
    TagNotFound { repository: String, tag: String },
    #[error("the image index has no linux/amd64 image (it has: {platforms})")]
    NoAmd64 { platforms: String },
    #[error("the image is built for {platform}, not linux/amd64")]
    WrongPlatform { platform: String },
    #[error(
        "the registry refused the credentials in REGISTRY_USERNAME/REGISTRY_PASSWORD (HTTP {status})"
    )]
    Refused { status: u16 },
    #[error("the registry needs credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD")]
    NeedsCredentials,
    #[error("the registry could not be asked ({0}); run with --no-registry-check when offline")]
    Unreachable(String),
    #[error("the registry answered {0}")]
    Unexpected(String),
}

/// A client for the pre-flight.
#[derive(Debug, Clone)]
pub struct Registry {
    http: reqwest::Client,
    credentials: Option<Credentials>,
    /// Every registry is reached here instead (tests).
    base_override: Option<String>,
}

impl Registry {
    pub fn new(credentials: Option<Credentials>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("modalplan/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with rustls");
        Self {
            http,
            credentials,
            base_override: None,
        }
    }

    /// Reaches every registry at `base` (a test registry, a mirror).
    #[must_use]
    pub fn with_base_url(mut self, base: &str) -> Self {
        self.base_override = Some(base.trim_end_matches('/').to_owned());
        self
    }

    /// Checks every distinct image; returns the unavailable ones (image reference → why).
    pub async fn check_all(&self, images: &[ImageRef]) -> BTreeMap<String, String> {
        let distinct: BTreeSet<&ImageRef> = images.iter().collect();
        let checks = distinct
            .into_iter()
            .map(|image| async move { (image.reference(), self.check(image).await) });
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(|(reference, result)| result.err().map(|why| (reference, why.to_string())))
            .collect()
    }

    /// Checks one image at its registry (after the overrides).
    pub async fn check(&self, image: &ImageRef) -> Result<(), Unavailable> {
        let base = self
            .base_override
            .clone()
            .unwrap_or_else(|| base_url(&image.registry));
        self.check_at(&base, image).await
    }

    /// Checks one image at the registry served at `base`.
    pub async fn check_at(&self, base: &str, image: &ImageRef) -> Result<(), Unavailable> {
        let repository = repository_path(&image.registry, &image.repository);
        let url = format!("{base}/v2/{repository}/manifests/{}", image.digest);
        let mut session = Session {
            registry: self,
            authorization: None,
        };
        let (headers, body) = session.get(&url, ACCEPT_MANIFESTS, &repository).await?;
        let not_found = || Unavailable::NotFound {
            repository: repository.clone(),
            digest: image.digest.clone(),
        };
        let Some(body) = body else {
            return Err(not_found());
        };
        let manifest: Value = serde_json::from_slice(&body).map_err(|error| {
            Unavailable::Unexpected(format!("a manifest that is not JSON: {error}"))
        })?;
        let media_type = manifest
            .get("mediaType")
            .and_then(Value::as_str)
            .or_else(|| {
                headers
                    .get(CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
            })
            .unwrap_or_default()
            .to_owned();
        if let Some(entries) = manifest.get("manifests").and_then(Value::as_array) {
            let platforms: Vec<String> = entries
                .iter()
                .filter_map(|entry| entry.get("platform"))
                .map(|platform| {
                    format!(
                        "{}/{}",
                        platform.get("os").and_then(Value::as_str).unwrap_or("?"),
                        platform
                            .get("architecture")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    )
                })
                .collect();
            return if platforms.iter().any(|platform| platform == "linux/amd64") {
                Ok(())
            } else {
                Err(Unavailable::NoAmd64 {
                    platforms: if platforms.is_empty() {
                        "no platforms".into()
                    } else {
                        platforms.join(", ")
                    },
                })
            };
        }
        if media_type.contains("index") || media_type.contains("list") {
            return Err(Unavailable::NoAmd64 {
                platforms: "no platforms".into(),
            });
        }
        // A single-platform image: its config names the platform.
        let Some(config_digest) = manifest.pointer("/config/digest").and_then(Value::as_str) else {
            return Err(Unavailable::Unexpected(format!(
                "a manifest of type `{media_type}` without a config"
            )));
        };
        let url = format!("{base}/v2/{repository}/blobs/{config_digest}");
        let (_, config) = session.get(&url, "*/*", &repository).await?;
        let config: Value = config
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                Unavailable::Unexpected(format!("no readable config blob {config_digest}"))
            })?;
        let os = config.get("os").and_then(Value::as_str).unwrap_or("?");
        let architecture = config
            .get("architecture")
            .and_then(Value::as_str)
            .unwrap_or("?");
        if os == OS && architecture == ARCHITECTURE {
            Ok(())
        } else {
            Err(Unavailable::WrongPlatform {
                platform: format!("{os}/{architecture}"),
            })
        }
    }
}

/// The requests of one image check, sharing the authorization a challenge earned.
struct Session<'a> {
    registry: &'a Registry,
    authorization: Option<String>,
}

impl Session<'_> {
    /// GETs `url`; answers one auth challenge. `Ok((headers, None))` for 404.
    async fn get(
        &mut self,
        url: &str,
        accept: &str,
        repository: &str,
    ) -> Result<(HeaderMap, Option<Vec<u8>>), Unavailable> {
        let mut answered = false;
        loop {
            let mut request = self.registry.http.get(url).header(ACCEPT, accept);
            if let Some(authorization) = &self.authorization {
                request = request.header(AUTHORIZATION, authorization);
            }
            let response = request
                .send()
                .await
                .map_err(|error| Unavailable::Unreachable(error.without_url().to_string()))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !answered {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|value| value.to_str().ok())
                    .map(Challenge::parse)
                    .ok_or_else(|| {
                        Unavailable::Unexpected("401 without a WWW-Authenticate challenge".into())
                    })?;
                self.authorization = Some(self.answer(&challenge, repository).await?);
                answered = true;
                continue;
            }
            return match status {
                StatusCode::OK => {
                    let headers = response.headers().clone();
                    let body = response.bytes().await.map_err(|error| {
                        Unavailable::Unreachable(error.without_url().to_string())
                    })?;
                    Ok((headers, Some(body.to_vec())))
                }
                StatusCode::NOT_FOUND => Ok((response.headers().clone(), None)),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    if self.registry.credentials.is_some() =>
                {
                    Err(Unavailable::Refused {
                        status: status.as_u16(),
                    })
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(Unavailable::NeedsCredentials)
                }
                other => Err(Unavailable::Unexpected(format!("HTTP {other}"))),
            };
        }
    }

    /// The `Authorization` value that answers a challenge.
    async fn answer(&self, challenge: &Challenge, repository: &str) -> Result<String, Unavailable> {
        let credentials = self.registry.credentials.as_ref();
        match challenge.scheme.as_str() {
            "basic" => credentials.map(basic).ok_or(Unavailable::NeedsCredentials),
            "bearer" => {
                let realm = challenge.parameters.get("realm").ok_or_else(|| {
                    Unavailable::Unexpected("a Bearer challenge without a realm".into())
                })?;
                let scope = challenge
                    .parameters
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| format!("repository:{repository}:pull"));
                let mut query = vec![("scope", scope)];
                if let Some(service) = challenge.parameters.get("service") {
                    query.push(("service", service.clone()));
                }
                let mut request = self.registry.http.get(realm).query(&query);
                if let Some(credentials) = credentials {
                    request = request.header(AUTHORIZATION, basic(credentials));
                }
                let response = request.send().await.map_err(|error| {
                    Unavailable::Unreachable(format!("token service: {}", error.without_url()))
                })?;
                let status = response.status();
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    return Err(if credentials.is_some() {
                        Unavailable::Refused {
                            status: status.as_u16(),
                        }
                    } else {
                        Unavailable::NeedsCredentials
                    });
                }
                if !status.is_success() {
                    return Err(Unavailable::Unexpected(format!(
                        "token service: HTTP {status}"
                    )));
                }
                let body: Value = response.json().await.map_err(|_| {
                    Unavailable::Unexpected("token service: a reply that is not JSON".into())
                })?;
                let token = body
                    .get("token")
                    .or_else(|| body.get("access_token"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Unavailable::Unexpected("token service: no token in its reply".into())
                    })?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(Unavailable::Unexpected(format!(
                "an authentication scheme modalplan does not speak: `{other}`"
            ))),
        }
    }
}

fn basic(credentials: &Credentials) -> String {
    use base64::Engine as _;
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A parsed `WWW-Authenticate` header: `Bearer realm="...",service="...",scope="..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: `basic` or `bearer`.
    pub scheme: String,
    pub parameters: BTreeMap<String, String>,
}

impl Challenge {
    pub fn parse(header: &str) -> Self {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut parameters = BTreeMap::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let Some((key, after)) = rest.split_once('=') else {
                break;
            };
            let key = key
                .trim()
                .trim_start_matches(',')
                .trim()
                .to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((index, ch)) = chars.next() {
                    match ch {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = index + 1;
                            break;
                        }
                        other => value.push(other),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            parameters.insert(key, value);
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Self {
            scheme: scheme.to_ascii_lowercase(),
            parameters,
        }
    }
}

/// The base URL of a registry, after the overrides.
pub fn base_url(registry: &str) -> String {
    if let Some(url) = crate::settings::env::registry_url(&env_suffix(registry)) {
        return url.trim_end_matches('/').to_owned();
    }
    match registry {
        "docker.io" | "index.docker.io" => "https://registry-1.docker.io".to_owned(),
        other => format!("https://{other}"),
    }
}

/// `ghcr.io` → `GHCR_IO`, `localhost:5000` → `LOCALHOST_5000`.
pub fn env_suffix(registry: &str) -> String {
    let mut suffix = String::new();
    for ch in registry.chars() {
        if ch.is_ascii_alphanumeric() {
            suffix.push(ch.to_ascii_uppercase());
        } else if !suffix.ends_with('_') {
            suffix.push('_');
        }
    }
    suffix.trim_matches('_').to_owned()
}

/// Docker Hub's official images live under `library/`.
fn repository_path(registry: &str, repository: &str) -> String {
    if matches!(registry, "docker.io" | "index.docker.io") && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository.to_owned()
    }
}

mod resolve;
#[cfg(test)]
mod tests;
