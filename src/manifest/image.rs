//! Parsing `image.oci` into an [`ImageRef`] pinned by digest, with a message that says what is wrong.

use super::valid::ImageRef;

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not pinned by a full `sha256` digest: the message says what was found instead.
    Unpinned(String),
    /// Pinned, but the name before `@` is not an OCI repository.
    Name(String),
}

impl ImageError {
    pub fn message(&self) -> &str {
        match self {
            ImageError::Unpinned(message) | ImageError::Name(message) => message,
        }
    }
}

/// Parses `registry/repository@sha256:<64 hex>`, or `registry/repository:tag@sha256:<64 hex>` where the
/// pin records the tag it was resolved from (`modalplan pin` writes it; the digest is what is pulled, the
/// tag is for `pin --check`). A name with no registry is on `docker.io`.
pub fn parse(input: &str) -> Result<ImageRef, ImageError> {
    let Some((name, digest)) = input.split_once('@') else {
        let tag = tag_of(input);
        return Err(ImageError::Unpinned(match tag {
            Some(tag) => format!("`{input}` is pinned by the tag `{tag}`, which can move"),
            None => format!("`{input}` names no digest, so it means `:latest`, which can move"),
        }));
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(ImageError::Unpinned(format!(
            "`{digest}` is not a sha256 digest: expected `sha256:` and 64 hex digits"
        )));
    };
    if hex == "pending" {
        return Err(ImageError::Unpinned(format!(
            "`{input}` has the placeholder digest `sha256:pending`: the image was not built yet"
        )));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::Unpinned(format!(
            "`{digest}` is not a sha256 digest: expected 64 hex digits after `sha256:`"
        )));
    }
    if hex.len() != 64 {
        return Err(ImageError::Unpinned(format!(
            "`{digest}` is a short digest ({} hex digits): a pinned digest has 64",
            hex.len()
        )));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageError::Unpinned(format!(
            "`{digest}` has uppercase hex digits: registries write digests in lowercase"
        )));
    }
    let name = match tag_of(name) {
        Some(tag) if !is_tag(tag) => {
            return Err(ImageError::Name(format!(
                "`{tag}` is not an image tag: a tag is 1 to 128 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`"
            )));
        }
        Some(tag) => &name[..name.len() - tag.len() - 1],
        None => name,
    };
    let (registry, repository) = split_registry(name);
    if !is_repository(repository) || !is_registry(registry) {
        return Err(ImageError::Name(format!(
            "`{name}` is not an OCI image name: use lowercase `registry/path/name`, e.g. `ghcr.io/acme/tool`"
        )));
    }
    Ok(ImageRef {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        digest: digest.to_owned(),
    })
}

/// The tag a pin records, `repo:TAG@sha256:...`; `None` for a pin without one.
pub fn recorded_tag(input: &str) -> Option<&str> {
    let (name, _) = input.split_once('@')?;
    tag_of(name)
}

/// The repository part of `registry/repository[:tag][@digest]`, as written: what `pin` resolves a new
/// tag in.
pub fn repository_of(input: &str) -> &str {
    let name = input.split_once('@').map_or(input, |(name, _)| name);
    match tag_of(name) {
        Some(tag) => &name[..name.len() - tag.len() - 1],
        None => name,
    }
}

/// Splits and checks an image name without tag or digest: `(registry, repository)`, the registry
/// `docker.io` when the name has none.
pub fn parse_name(name: &str) -> Result<(String, String), ImageError> {
    let (registry, repository) = split_registry(name);
    if !is_repository(repository) || !is_registry(registry) {
        return Err(ImageError::Name(format!(
            "`{name}` is not an OCI image name: use lowercase `registry/path/name`, e.g. `ghcr.io/acme/tool`"
        )));
    }
    Ok((registry.to_owned(), repository.to_owned()))
}

/// The OCI distribution grammar of a tag.
pub fn is_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The tag of `name:tag` (a `:` after the last `/`, so a registry port is not a tag).
fn tag_of(name: &str) -> Option<&str> {
    let last_component = name.rsplit('/').next().unwrap_or(name);
    last_component.split_once(':').map(|(_, tag)| tag)
}

/// The first component is a registry when it has a `.` or a `:` or is `localhost`, as Docker decides.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    }
}

fn is_registry(registry: &str) -> bool {
    let (host, port) = registry.split_once(':').unwrap_or((registry, ""));
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && port.bytes().all(|b| b.is_ascii_digit())
}

fn is_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|&b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pinned_references_parse() {
        let image = parse(&format!("ghcr.io/acme/theory/llm-litellm@sha256:{HEX}")).unwrap();
        assert_eq!(image.registry, "ghcr.io");
        assert_eq!(image.repository, "acme/theory/llm-litellm");
        assert_eq!(image.digest, format!("sha256:{HEX}"));
        let hub = parse(&format!("library/python@sha256:{HEX}")).unwrap();
        assert_eq!(hub.registry, "docker.io");
        assert_eq!(hub.repository, "library/python");
        let port = parse(&format!("localhost:5000/tool@sha256:{HEX}")).unwrap();
        assert_eq!(port.registry, "localhost:5000");
    }

    #[test]
    fn unpinned_references_say_why() {
        let cases = [
            ("ghcr.io/acme/tool:latest", "pinned by the tag `latest`"),
            ("ghcr.io/acme/tool", "names no digest"),
            ("ghcr.io/acme/tool@sha256:pending", "placeholder digest"),
            (
                "ghcr.io/acme/tool@sha256:abc123",
                "short digest (6 hex digits)",
            ),
            ("ghcr.io/acme/tool@md5:abc", "not a sha256 digest"),
        ];
        for (input, expected) in cases {
            match parse(input) {
                Err(ImageError::Unpinned(message)) => {
                    assert!(message.contains(expected), "{input}: {message}");
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        assert!(matches!(
            parse(&format!("ghcr.io/Acme/tool@sha256:{HEX}")),
            Err(ImageError::Name(_))
        ));
        assert!(matches!(
            parse(&format!("ghcr.io/acme/tool:-x@sha256:{HEX}")),
            Err(ImageError::Name(_))
        ));
    }

    #[test]
    fn a_pin_may_record_the_tag_it_was_resolved_from() {
        let tagged = format!("ghcr.io/acme/tool:2026.12.02@sha256:{HEX}");
        let image = parse(&tagged).unwrap();
        assert_eq!(image.reference(), format!("ghcr.io/acme/tool@sha256:{HEX}"));
        assert_eq!(recorded_tag(&tagged), Some("2026.12.02"));
        assert_eq!(repository_of(&tagged), "ghcr.io/acme/tool");
        let port = format!("localhost:5000/tool:main@sha256:{HEX}");
        assert_eq!(parse(&port).unwrap().registry, "localhost:5000");
        assert_eq!(recorded_tag(&port), Some("main"));
        assert_eq!(repository_of(&port), "localhost:5000/tool");
        assert_eq!(
            recorded_tag(&format!("localhost:5000/tool@sha256:{HEX}")),
            None
        );
        assert_eq!(repository_of("ghcr.io/acme/tool:main"), "ghcr.io/acme/tool");
    }
}
