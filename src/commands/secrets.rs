//! `modalplan secrets check`: the secrets policy of one environment, present or missing, who needs each,
//! and the command that creates a missing one. Only names are read from Modal, never values.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::context::Context;
use crate::error::Error;

use super::target;
use crate::cli::SecretsCheckArgs;
use crate::exit::ExitStatus;
use crate::manifest::REGISTRY_AUTH;
use crate::manifest::ValidManifest;
use crate::printer;

/// Who needs one secret in the environment.
#[derive(Debug, Default)]
struct Need {
    /// `llm/litellm@1 (required)`, in manifest order.
    users: Vec<String>,
    required: bool,
}

pub async fn check(args: &SecretsCheckArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let environment = args.environment.as_str();
    target::check_environment(manifest, environment)?;
    let backend = context.backend();
    let present = target::secrets_present(backend.as_ref(), environment)
        .await
        .map_err(Error::backend)?;
    let needs = needs(manifest, environment);

    let rows: Vec<[String; 3]> = manifest
        .secrets
        .keys()
        .map(|name| {
            let state = if present.contains(name) {
                "present"
            } else {
                "missing"
            };
            let users = needs.get(name).map_or_else(
                || format!("(no processor in {environment})"),
                |need| need.users.join(", "),
            );
            [name.clone(), state.to_owned(), users]
        })
        .collect();
    let mut out = format!(
        "Secrets of {} in environment `{environment}`:\n",
        manifest.path.display()
    );
    let table: Vec<Vec<String>> =
        std::iter::once(["SECRET", "STATE", "NEEDED BY"].map(str::to_owned).to_vec())
            .chain(rows.into_iter().map(|row| row.to_vec()))
            .collect();
    out.push_str(&crate::render::table::aligned("  ", &table));
    let missing: Vec<&String> = manifest
        .secrets
        .keys()
        .filter(|name| !present.contains(*name) && needs.contains_key(*name))
        .collect();
    let required_missing = missing
        .iter()
        .filter(|name| needs.get(**name).is_some_and(|need| need.required))
        .count();
    if !missing.is_empty() {
        out.push_str("\nCreate the missing ones (fill in the values):\n");
        for name in &missing {
            let _ = writeln!(
                out,
                "  {}",
                manifest.secret_create_command(name, environment)
            );
        }
    }
    let optional_missing = missing.len() - required_missing;
    let _ = writeln!(
        out,
        "\n{required_missing} required missing, {optional_missing} optional missing."
    );
    printer::stdout(&out);
    Ok(if required_missing > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// Each secret the processors deploying to `environment` name, with who needs it and how.
fn needs(manifest: &ValidManifest, environment: &str) -> BTreeMap<String, Need> {
    let mut needs: BTreeMap<String, Need> = BTreeMap::new();
    for processor in &manifest.processors {
        let Some(deployment) = processor.deployments.get(environment) else {
            continue;
        };
        let mut add = |name: &str, how: &str, required: bool| {
            let need = needs.entry(name.to_owned()).or_default();
            need.users.push(format!("{} ({how})", processor.reference));
            need.required |= required;
        };
        for name in &deployment.secrets_required {
            add(name, "required", true);
        }
        for name in &deployment.secrets_optional {
            add(name, "optional", false);
        }
        if deployment.image.is_private_registry()
            && !deployment
                .secrets_required
                .iter()
                .any(|name| name == REGISTRY_AUTH)
        {
            let how = format!("required: image pull from {}", deployment.image.registry);
            add(REGISTRY_AUTH, &how, true);
        }
    }
    needs
}
