//! `modalplan promote --from UP --to DOWN [--ref R]... [--check]`: pins in the downstream environment's
//! overrides the images live upstream that the gate lets through (see [`crate::plan::promote`]),
//! so that promotion is a reviewed commit of the manifest. One read of Modal, then one atomic write.

use std::fmt::Write as _;

use toml_edit::DocumentMut;

use super::context::Context;
use super::pin_edit::{self, PinPlace};
use super::target;
use crate::backend::ModalBackend;
use crate::cli::PromoteArgs;
use crate::error::Error;
use crate::exit::ExitStatus;
use crate::manifest::{self, ValidManifest};
use crate::plan::PlanOptions;
use crate::plan::promote::{self, Candidate, Outcome};
use crate::printer;
use crate::render::promotion::{promote_line, promote_summary};

pub async fn run(args: &PromoteArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    target::check_environment_named(manifest, "--from", &args.from)?;
    target::check_environment_named(manifest, "--to", &args.to)?;
    check_order(manifest, &args.from, &args.to)?;
    let environments = [args.from.clone(), args.to.clone()];
    let mut options =
        PlanOptions::select(manifest, &environments, &args.references).map_err(Error::Selection)?;
    for reference in &options.targets {
        let processor = target::find_processor(manifest, reference)?;
        for environment in &environments {
            if !processor.deployments.contains_key(environment) {
                return Err(Error::PromoteUsage {
                    message: format!(
                        "{reference} does not deploy to `{environment}`: there is nothing to promote"
                    ),
                });
            }
        }
    }
    options.now = Some(crate::promotion::clock::now());
    options.code = context.code_snapshot()?;
    let observed = context
        .backend()
        .observe(&options.observe_request(manifest))
        .await
        .map_err(Error::backend)?;
    let candidates = promote::decide(manifest, &observed, &options, &args.from, &args.to);

    let mut out = String::new();
    if !args.check {
        out.push_str(&write(manifest, &candidates, &args.from, &args.to)?);
    }
    let _ = writeln!(out, "Promote from {} to {}:", args.from, args.to);
    for candidate in &candidates {
        let _ = writeln!(out, "  {}", promote_line(candidate, &args.from, &args.to));
    }
    let _ = writeln!(
        out,
        "\n{}",
        promote_summary(
            &candidates,
            &manifest.path.display().to_string(),
            args.check
        )
    );
    printer::stdout(&out);
    let waiting = candidates
        .iter()
        .any(|candidate| candidate.outcome.promotes());
    Ok(if args.check && waiting {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// `from` comes before `to` in the rollout order.
fn check_order(manifest: &ValidManifest, from: &str, to: &str) -> Result<(), Error> {
    let position = |name: &str| {
        manifest
            .modal
            .environments
            .iter()
            .position(|environment| environment == name)
    };
    if position(from) < position(to) {
        return Ok(());
    }
    Err(Error::PromoteUsage {
        message: format!(
            "`--from {from}` does not come before `--to {to}` in `[modal].environments` ({}): promotion goes down the rollout order",
            manifest.modal.environments.join(", ")
        ),
    })
}

/// Writes each promoted image into `[processor.env.<to>]` and returns the manifest's diff (empty when
/// nothing is promoted). The image is written as the upstream's pin writes it when it is that one (its
/// recorded tag kept), else as the release record names it.
fn write(
    manifest: &ValidManifest,
    candidates: &[Candidate],
    from: &str,
    to: &str,
) -> Result<String, Error> {
    let original =
        std::fs::read_to_string(&manifest.path).map_err(|error| Error::ManifestUnreadable {
            path: manifest.path.clone(),
            source: error,
        })?;
    let mut document: DocumentMut =
        original
            .parse()
            .map_err(|error: toml_edit::TomlError| Error::ManifestUneditable {
                path: manifest.path.clone(),
                reason: error.to_string(),
            })?;
    for candidate in candidates {
        let Outcome::Promote { image, .. } = &candidate.outcome else {
            continue;
        };
        let written = pin_edit::image_at(&document, candidate.index, PinPlace::Override(from))
            .or_else(|| pin_edit::image_at(&document, candidate.index, PinPlace::Processor))
            .filter(|text| {
                manifest::image::parse(text)
                    .is_ok_and(|parsed| parsed.reference() == image.reference())
            })
            .unwrap_or_else(|| image.reference());
        pin_edit::set_image(
            &mut document,
            candidate.index,
            PinPlace::Override(to),
            &written,
        )
        .map_err(|reason| Error::PinNotWritable {
            label: super::pin::label(&candidate.reference, PinPlace::Override(to)),
            path: manifest.path.clone(),
            reason,
        })?;
    }
    let edited = document.to_string();
    if edited == original {
        return Ok(String::new());
    }
    pin_edit::write_checked(&manifest.path, &edited)?;
    Ok(format!(
        "{}\n",
        pin_edit::diff(&manifest.path, &original, &edited)
    ))
}
