//! The deploy tag: a fingerprint of everything that defines a deployment.
//!
//! `mp2-<image 12>-<secrets 6>-<runtime 6>-<code 6>-<settings 6>`: each part hashes one concern, so a plan
//! can say which one changed without any other record (the image part is the digest's own first 12 hex
//! digits, so it names the old image). The tag fits Modal's rule for tags: at most 50 characters of
//! `[a-zA-Z0-9._-]` (this one has 44).
//!
//! Each hashed part is the sha256 of an explicit byte encoding ([`Canonical`]): a domain prefix naming the
//! format and the part, then each field as its name and a typed value, each length-prefixed. Nothing is
//! hashed from `Debug` or `Display` text, and numbers are hashed as integers or IEEE-754 bits, so a tag
//! changes only when what is deployed changes. The golden vectors in `tests/fixtures/fingerprints.json`
//! pin the tags of given inputs.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::code::CodeSnapshot;
use crate::manifest::valid::{Deployment, ModalSettings};
use crate::naming::ProcessorRef;

/// The fingerprint format; a change of what is hashed bumps it, and every deployed app reads as changed.
pub const FORMAT: &str = "mp2";

/// Formats older modalplans wrote: a tag of one of them reads as "deployed by an older modalplan".
pub const OLDER_FORMATS: [&str; 1] = ["mp1"];

/// A parsed deploy tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint {
    /// The first 12 hex digits of the image digest.
    pub image: String,
    /// The secrets attached: the required ones and the optional ones present.
    pub secrets: String,
    /// cpu, memory, gpu, timeout.
    pub runtime: String,
    /// Every file of the deploy's code, by path and content.
    pub code: String,
    /// The processor ref, the image's repository and the module deployed.
    pub settings: String,
}

/// Which parts of two fingerprints differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FingerprintChanges {
    pub image: bool,
    pub secrets: bool,
    pub runtime: bool,
    pub code: bool,
    pub settings: bool,
}

/// The inputs of a fingerprint: everything of one processor's deployment in one environment that changes
/// what Modal runs.
#[derive(Debug, Clone, Copy)]
pub struct FingerprintInputs<'a> {
    pub reference: &'a ProcessorRef,
    pub deployment: &'a Deployment,
    pub modal: &'a ModalSettings,
    pub code: &'a CodeSnapshot,
}

impl Fingerprint {
    /// The fingerprint of one processor's deployment in one environment.
    pub fn of(inputs: FingerprintInputs<'_>) -> Self {
        let FingerprintInputs {
            reference,
            deployment,
            modal,
            code,
        } = inputs;
        let image = &deployment.image;
        let digest_hex = image
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&image.digest);

        let mut secrets: Vec<(&str, &str)> = deployment
            .secrets_required
            .iter()
            .map(|name| ("required", name.as_str()))
            .chain(
                deployment
                    .secrets_optional
                    .iter()
                    .map(|name| ("optional", name.as_str())),
            )
            .collect();
        secrets.sort_unstable();
        secrets.dedup();
        let mut secrets_part = Canonical::new("secrets");
        secrets_part.count("attached", secrets.len());
        for (kind, name) in secrets {
            secrets_part.text(kind, name);
        }

        let runtime = &deployment.runtime;
        let mut runtime_part = Canonical::new("runtime");
        runtime_part.float("cpu", runtime.cpu);
        runtime_part.integer("memory_mb", runtime.memory_mb.map(u64::from));
        runtime_part.optional_text("gpu", runtime.gpu.as_deref());
        runtime_part.integer("timeout_s", runtime.timeout_s.map(u64::from));

        let mut code_part = Canonical::new("code");
        let mut files: Vec<_> = code.files.iter().collect();
        files.sort_unstable();
        code_part.count("files", files.len());
        for file in files {
            code_part.text("path", &file.path);
            code_part.text("sha256", &file.sha256);
        }

        let mut settings_part = Canonical::new("settings");
        settings_part.text("ref", reference.as_str());
        settings_part.text("registry", &image.registry);
        settings_part.text("repository", &image.repository);
        settings_part.text("digest", &image.digest);
        settings_part.text("module", &modal.module);

        Self {
            image: digest_hex.chars().take(12).collect(),
            secrets: secrets_part.short(),
            runtime: runtime_part.short(),
            code: code_part.short(),
            settings: settings_part.short(),
        }
    }

    /// Which parts differ from `other`.
    pub fn changes_from(&self, other: &Fingerprint) -> FingerprintChanges {
        FingerprintChanges {
            image: self.image != other.image,
            secrets: self.secrets != other.secrets,
            runtime: self.runtime != other.runtime,
            code: self.code != other.code,
            settings: self.settings != other.settings,
        }
    }
}

/// The explicit byte encoding one part of a fingerprint hashes.
///
/// `mp2\0<part>\0`, then per field: the name as `u32` big-endian length and UTF-8 bytes, a type byte
/// (`0` absent, `1` text, `2` integer, `3` float, `4` count), and the value: text as `u32` length and
/// UTF-8 bytes, an integer or a count as `u64` big-endian, a float as its IEEE-754 bits big-endian
/// (`-0.0` as `0.0`).
pub struct Canonical {
    hasher: Sha256,
}

impl Canonical {
    pub fn new(part: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(FORMAT.as_bytes());
        hasher.update([0]);
        hasher.update(part.as_bytes());
        hasher.update([0]);
        Self { hasher }
    }

    fn name(&mut self, name: &str, kind: u8) {
        self.length_prefixed(name.as_bytes());
        self.hasher.update([kind]);
    }

    fn length_prefixed(&mut self, bytes: &[u8]) {
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.hasher.update(length.to_be_bytes());
        self.hasher.update(bytes);
    }

    pub fn text(&mut self, name: &str, value: &str) {
        self.name(name, 1);
        self.length_prefixed(value.as_bytes());
    }

    pub fn optional_text(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.text(name, value),
            None => self.name(name, 0),
        }
    }

    pub fn integer(&mut self, name: &str, value: Option<u64>) {
        match value {
            Some(value) => {
                self.name(name, 2);
                self.hasher.update(value.to_be_bytes());
            }
            None => self.name(name, 0),
        }
    }

    pub fn float(&mut self, name: &str, value: Option<f64>) {
        match value {
            Some(value) => {
                self.name(name, 3);
                let value = if value == 0.0 { 0.0 } else { value };
                self.hasher.update(value.to_bits().to_be_bytes());
            }
            None => self.name(name, 0),
        }
    }

    pub fn count(&mut self, name: &str, count: usize) {
        self.name(name, 4);
        self.hasher.update((count as u64).to_be_bytes());
    }

    /// The first 6 hex digits of the hash.
    pub fn short(self) -> String {
        hex::encode(self.hasher.finalize())[..6].to_owned()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FORMAT}-{}-{}-{}-{}-{}",
            self.image, self.secrets, self.runtime, self.code, self.settings
        )
    }
}

/// A tag that is not a modalplan fingerprint of this format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignTag {
    /// Written by an older modalplan, whose fingerprint hashed other things.
    #[error("`{tag}` is a modalplan tag of the older format {format}")]
    OlderFormat { tag: String, format: &'static str },
    /// Deployed by hand or by another tool.
    #[error("`{0}` is not a modalplan deploy tag")]
    Other(String),
}

impl FromStr for Fingerprint {
    type Err = ForeignTag;

    fn from_str(tag: &str) -> Result<Self, Self::Err> {
        let mut parts = tag.split('-');
        let format = parts.next();
        if format != Some(FORMAT) {
            return Err(
                match OLDER_FORMATS
                    .iter()
                    .find(|older| format == Some(**older) && shaped_like_mp1(tag))
                {
                    Some(older) => ForeignTag::OlderFormat {
                        tag: tag.to_owned(),
                        format: older,
                    },
                    None => ForeignTag::Other(tag.to_owned()),
                },
            );
        }
        let foreign = || ForeignTag::Other(tag.to_owned());
        let image = hex_part(parts.next(), 12).ok_or_else(foreign)?;
        let secrets = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        let runtime = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        let code = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        let settings = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        if parts.next().is_some() {
            return Err(foreign());
        }
        Ok(Self {
            image,
            secrets,
            runtime,
            code,
            settings,
        })
    }
}

fn hex_part(part: Option<&str>, len: usize) -> Option<String> {
    part.filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// `mp1-<12 hex>-<6 hex>-<6 hex>-<6 hex>`.
fn shaped_like_mp1(tag: &str) -> bool {
    let mut parts = tag.split('-').skip(1);
    hex_part(parts.next(), 12).is_some()
        && (0..3).all(|_| hex_part(parts.next(), 6).is_some())
        && parts.next().is_none()
}

impl TryFrom<String> for Fingerprint {
    type Error = ForeignTag;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(value: Fingerprint) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests;
