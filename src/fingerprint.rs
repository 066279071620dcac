//! The deploy tag: a fingerprint of everything that defines a deployment.
//!
//! `mp1-<image 12>-<secrets 6>-<runtime 6>-<code 6>`: each part hashes one concern, so a plan can say which
//! one changed (the image part is the digest's own first 12 hex digits, so it names the old image). The tag
//! fits Modal's rule for tags: at most 50 characters of `[a-zA-Z0-9._-]`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::manifest::valid::{Deployment, ModalSettings};
use crate::naming::ProcessorRef;

/// The fingerprint format; a change of what is hashed bumps it, and every deployed app reads as changed.
pub const FORMAT: &str = "mp1";

/// A parsed deploy tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint {
    pub image: String,
    pub secrets: String,
    pub runtime: String,
    pub code: String,
}

/// Which parts of two fingerprints differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FingerprintChanges {
    pub image: bool,
    pub secrets: bool,
    pub runtime: bool,
    pub code: bool,
}

impl Fingerprint {
    /// The fingerprint of one processor's deployment in one environment.
    pub fn of(reference: &ProcessorRef, deployment: &Deployment, modal: &ModalSettings) -> Self {
        let digest_hex = deployment
            .image
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&deployment.image.digest);
        let mut secrets: Vec<String> = deployment
            .secrets_required
            .iter()
            .map(|name| format!("required={name}"))
            .chain(
                deployment
                    .secrets_optional
                    .iter()
                    .map(|name| format!("optional={name}")),
            )
            .collect();
        secrets.sort();
        let runtime = &deployment.runtime;
        Self {
            image: digest_hex.chars().take(12).collect(),
            secrets: short_hash(&[&secrets.join("\n")]),
            runtime: short_hash(&[
                &format!("{:?}", runtime.cpu),
                &format!("{:?}", runtime.memory_mb),
                &format!("{:?}", runtime.gpu),
                &format!("{:?}", runtime.timeout_s),
            ]),
            code: short_hash(&[
                reference.as_str(),
                &deployment.image.reference(),
                &modal.module,
            ]),
        }
    }

    /// Which parts differ from `other`.
    pub fn changes_from(&self, other: &Fingerprint) -> FingerprintChanges {
        FingerprintChanges {
            image: self.image != other.image,
            secrets: self.secrets != other.secrets,
            runtime: self.runtime != other.runtime,
            code: self.code != other.code,
        }
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())[..6].to_owned()
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FORMAT}-{}-{}-{}-{}",
            self.image, self.secrets, self.runtime, self.code
        )
    }
}

/// A tag that is not a modalplan fingerprint (deployed by hand, by another tool, or by an older format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a modalplan deploy tag")]
pub struct ForeignTag(pub String);

impl FromStr for Fingerprint {
    type Err = ForeignTag;

    fn from_str(tag: &str) -> Result<Self, Self::Err> {
        let foreign = || ForeignTag(tag.to_owned());
        let mut parts = tag.split('-');
        if parts.next() != Some(FORMAT) {
            return Err(foreign());
        }
        let hex_part = |part: Option<&str>, len: usize| {
            part.filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_owned)
        };
        let image = hex_part(parts.next(), 12).ok_or_else(foreign)?;
        let secrets = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        let runtime = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        let code = hex_part(parts.next(), 6).ok_or_else(foreign)?;
        if parts.next().is_some() {
            return Err(foreign());
        }
        Ok(Self {
            image,
            secrets,
            runtime,
            code,
        })
    }
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
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits_modal_tag_rules() {
        let fingerprint = Fingerprint {
            image: "0123456789ab".into(),
            secrets: "abcdef".into(),
            runtime: "123456".into(),
            code: "fedcba".into(),
        };
        let tag = fingerprint.to_string();
        assert_eq!(tag, "mp1-0123456789ab-abcdef-123456-fedcba");
        assert!(tag.len() <= 50);
        assert_eq!(tag.parse::<Fingerprint>().unwrap(), fingerprint);
        assert!("v1.2.3".parse::<Fingerprint>().is_err());
        assert!(
            "mp1-0123456789ab-abcdef-123456"
                .parse::<Fingerprint>()
                .is_err()
        );
    }
}
