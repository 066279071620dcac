//! Tag resolution for `modalplan pin`: the digest a tag names now, through the same client, credentials
//! and challenge flows as the pre-flight.

use sha2::{Digest as _, Sha256};

use super::{ACCEPT_MANIFESTS, Registry, Session, Unavailable, base_url, repository_path};
use crate::manifest::valid::ImageRef;

impl Registry {
    /// The digest `tag` of `registry/repository` names (the index's own digest for a multi-platform
    /// image, so the pin covers what the tag covers), checked to serve linux/amd64 as the pre-flight
    /// checks a pin. An unknown tag is [`Unavailable::TagNotFound`].
    pub async fn resolve_tag(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
    ) -> Result<String, Unavailable> {
        let base = self
            .base_override
            .clone()
            .unwrap_or_else(|| base_url(registry));
        let path = repository_path(registry, repository);
        let url = format!("{base}/v2/{path}/manifests/{tag}");
        let mut session = Session {
            registry: self,
            authorization: None,
        };
        let (_, body) = session.get(&url, ACCEPT_MANIFESTS, &path).await?;
        let Some(body) = body else {
            return Err(Unavailable::TagNotFound {
                repository: path,
                tag: tag.to_owned(),
            });
        };
        // The digest of the bytes served is the content address, whatever a header says.
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        let image = ImageRef {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            digest,
        };
        self.check_at(&base, &image).await?;
        Ok(image.digest)
    }
}
