//! `modalplan pin`: resolves image tags to digests through the registry client of the pre-flight and
//! writes the pin, `repository:tag@sha256:...`, into `processors.toml` (only that value changes, see
//! [`super::pin_edit`]); `pin --check` tells a scheduled job when a recorded tag has moved.

use std::fmt::Write as _;

use super::context::Context;
use crate::codes::Code;
use crate::error::Error;
use toml_edit::DocumentMut;

use super::pin_edit::{self, PinPlace};
use super::target;
use crate::cli::PinArgs;
use crate::exit::ExitStatus;
use crate::manifest::ValidManifest;
use crate::manifest::image;
use crate::printer;
use crate::registry::{Credentials, Registry, Unavailable};

use crate::settings::REGISTRY_TIMEOUT;

/// One pin to make: where, and what to resolve.
struct Request<'a> {
    index: usize,
    reference: String,
    place: PinPlace<'a>,
    /// The image name as the pin writes it, without tag or digest.
    name: String,
    tag: String,
    /// The value there now.
    current: String,
}

pub async fn run(args: &PinArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let text =
        std::fs::read_to_string(&manifest.path).map_err(|error| Error::ManifestUnreadable {
            path: manifest.path.clone(),
            source: error,
        })?;
    let document: DocumentMut =
        text.parse()
            .map_err(|error: toml_edit::TomlError| Error::ManifestUneditable {
                path: manifest.path.clone(),
                reason: error.to_string(),
            })?;
    let registry = Registry::new(Credentials::from_env(), REGISTRY_TIMEOUT);
    if args.check {
        return check(manifest, &document, &registry).await;
    }
    if let Some(environment) = &args.environment {
        target::check_environment(manifest, environment)?;
    }
    let requests = requests(args, manifest, &document)?;
    pin(args, manifest, &text, document, &registry, requests).await
}

/// The pins `--ref`/`--all` ask for.
fn requests<'a>(
    args: &'a PinArgs,
    manifest: &ValidManifest,
    document: &DocumentMut,
) -> Result<Vec<Request<'a>>, Error> {
    let place = args
        .environment
        .as_deref()
        .map_or(PinPlace::Processor, PinPlace::Override);
    let indexes: Vec<usize> = if args.all {
        (0..manifest.processors.len()).collect()
    } else if args.references.is_empty() {
        return Err(usage(
            "say what to pin: `--ref REF --tag TAG`, `--ref REF --image REPO:TAG` or `--all --tag TAG`",
        ));
    } else {
        let mut indexes = Vec::new();
        for given in &args.references {
            let processor = target::find_processor(manifest, given)?;
            let index = manifest
                .processors
                .iter()
                .position(|candidate| candidate.reference == processor.reference)
                .expect("found in the manifest");
            indexes.push(index);
        }
        indexes
    };
    let mut requests = Vec::new();
    for index in indexes {
        let reference = manifest.processors[index].reference.to_string();
        if let PinPlace::Override(environment) = place {
            if !manifest.processors[index]
                .deployments
                .contains_key(environment)
            {
                if args.all {
                    continue;
                }
                return Err(usage(&format!(
                    "{reference} does not deploy to `{environment}`: there is no override to pin"
                )));
            }
        }
        let current = pin_edit::image_at(document, index, place)
            .or_else(|| pin_edit::image_at(document, index, PinPlace::Processor))
            .unwrap_or_default();
        let (name, tag) = match (&args.image, &args.tag) {
            (Some(given), _) => {
                let with_digest = format!("{given}@");
                let tag = image::recorded_tag(&with_digest)
                    .ok_or_else(|| {
                        usage(&format!(
                            "`--image {given}` names no tag: write `REPOSITORY:TAG`"
                        ))
                    })?
                    .to_owned();
                (image::repository_of(given).to_owned(), tag)
            }
            (None, Some(tag)) => (image::repository_of(&current).to_owned(), tag.clone()),
            (None, None) => {
                return Err(usage(
                    "say which tag to resolve: `--tag TAG` or `--image REPO:TAG`",
                ));
            }
        };
        if !image::is_tag(&tag) {
            return Err(usage(&format!(
                "`{tag}` is not an image tag: 1 to 128 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`"
            )));
        }
        image::parse_name(&name).map_err(|error| usage(error.message()))?;
        requests.push(Request {
            index,
            reference,
            place,
            name,
            tag,
            current,
        });
    }
    Ok(requests)
}

async fn pin(
    args: &PinArgs,
    manifest: &ValidManifest,
    original: &str,
    mut document: DocumentMut,
    registry: &Registry,
    requests: Vec<Request<'_>>,
) -> Result<ExitStatus, Error> {
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut pinned = 0;
    for request in &requests {
        let (registry_host, repository) =
            image::parse_name(&request.name).map_err(|error| usage(error.message()))?;
        let label = label(&request.reference, request.place);
        match registry
            .resolve_tag(&registry_host, &repository, &request.tag)
            .await
        {
            Ok(digest) => {
                let value = format!("{}:{}@{digest}", request.name, request.tag);
                if value == request.current {
                    lines.push(format!("{label}: already pinned to {value}"));
                    continue;
                }
                pin_edit::set_image(&mut document, request.index, request.place, &value).map_err(
                    |why| Error::PinNotWritable {
                        label: label.clone(),
                        path: manifest.path.clone(),
                        reason: why.clone(),
                    },
                )?;
                pinned += 1;
                lines.push(format!("{label}: pinned {value}"));
            }
            Err(Unavailable::TagNotFound { .. }) if args.all => {
                lines.push(format!(
                    "{label}: left as it is ({} has no tag `{}`)",
                    request.name, request.tag
                ));
            }
            Err(why) => {
                lines.push(format!("{label}: failed: {why}"));
                failures.push(format!("{label}: {why}"));
            }
        }
    }
    let edited = document.to_string();
    let mut out = String::new();
    if edited != original {
        pin_edit::write_checked(&manifest.path, &edited)?;
        out.push_str(&pin_edit::diff(&manifest.path, original, &edited));
        out.push('\n');
    }
    for line in &lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "\n{pinned} pinned, {} failed{}.",
        failures.len(),
        if pinned == 0 {
            format!("; {} is unchanged", manifest.path.display())
        } else {
            format!("; {} rewritten", manifest.path.display())
        }
    );
    printer::stdout(&out);
    if !failures.is_empty() {
        return Err(Error::TagsUnresolved {
            failures,
            check: false,
        });
    }
    if args.all && pinned == 0 && lines.iter().all(|line| line.contains("left as it is")) {
        return Err(Error::TagNowhere {
            tag: args.tag.clone().unwrap_or_default(),
        });
    }
    Ok(ExitStatus::Success)
}

/// `pin --check`: every pin that records a tag, resolved again.
async fn check(
    manifest: &ValidManifest,
    document: &DocumentMut,
    registry: &Registry,
) -> Result<ExitStatus, Error> {
    let mut out = format!("Pins of {} that record a tag:\n", manifest.path.display());
    let mut moved = Vec::new();
    let mut failures = Vec::new();
    let mut untagged = 0;
    for (index, processor) in manifest.processors.iter().enumerate() {
        let reference = processor.reference.to_string();
        let environments = pin_edit::overrides_with_image(document, index);
        let places = std::iter::once(PinPlace::Processor)
            .chain(environments.iter().map(|name| PinPlace::Override(name)));
        for place in places {
            let Some(current) = pin_edit::image_at(document, index, place) else {
                continue;
            };
            let Some(tag) = image::recorded_tag(&current) else {
                untagged += 1;
                continue;
            };
            let label = label(&reference, place);
            let pinned =
                image::parse(&current).map_or_else(|_| String::new(), |image| image.digest);
            let name = image::repository_of(&current);
            let resolved = match image::parse_name(name) {
                Ok((host, repository)) => registry.resolve_tag(&host, &repository, tag).await,
                Err(error) => Err(Unavailable::Unexpected(error.message().to_owned())),
            };
            match resolved {
                Ok(digest) if digest == pinned => {
                    let _ = writeln!(out, "  {label}: {name}:{tag} is still {}", short(&digest));
                }
                Ok(digest) => {
                    let _ = writeln!(
                        out,
                        "  {label}: {name}:{tag} moved: pinned {}, the tag is now {}",
                        short(&pinned),
                        short(&digest)
                    );
                    moved.push(match place {
                        PinPlace::Processor => {
                            format!("modalplan pin --ref {reference} --tag {tag}")
                        }
                        PinPlace::Override(environment) => {
                            format!(
                                "modalplan pin --ref {reference} --tag {tag} --env {environment}"
                            )
                        }
                    });
                }
                Err(why) => {
                    let _ = writeln!(out, "  {label}: {name}:{tag} failed: {why}");
                    failures.push(format!("{label}: {why}"));
                }
            }
        }
    }
    if untagged > 0 {
        let _ = writeln!(
            out,
            "  ({untagged} pin{} without a tag, not checked)",
            if untagged == 1 { "" } else { "s" }
        );
    }
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\n{} {} moved ({}); to pin what the tag names now:",
            moved.len(),
            if moved.len() == 1 { "tag" } else { "tags" },
            Code::ErrTagMoved.as_str()
        );
        for command in &moved {
            let _ = writeln!(out, "  {command}");
        }
    }
    printer::stdout(&out);
    if !failures.is_empty() {
        return Err(Error::TagsUnresolved {
            failures,
            check: true,
        });
    }
    Ok(if moved.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Changes
    })
}

pub(super) fn label(reference: &str, place: PinPlace<'_>) -> String {
    match place {
        PinPlace::Processor => reference.to_owned(),
        PinPlace::Override(environment) => format!("{reference} (env {environment})"),
    }
}

/// `sha256:` and 12 hex digits.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn usage(message: &str) -> Error {
    Error::PinUsage {
        message: message.to_owned(),
    }
}
