//! `modalplan prune --sandboxes`: finds sandbox apps (`<user>-<branch>-<app>` for a managed app) whose
//! branch is gone from the git remote, and stops them with `--yes`.
//!
//! A name does not say where the user ends and the branch begins, so an app is kept when any branch of
//! the remote could be its branch: a prune never stops an app whose branch may still exist.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::context::Context;
use crate::error::Error;

use super::target;
use crate::backend::{AppState, ModalBackend, ObserveRequest};
use crate::cli::PruneArgs;
use crate::exit::ExitStatus;
use crate::manifest::ValidManifest;
use crate::naming::sanitize;
use crate::printer;

/// A sandbox app whose branch is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleSandbox {
    pub app_name: String,
    /// The ref of the managed app it is a sandbox of.
    pub reference: String,
}

pub async fn run(args: &PruneArgs) -> Result<ExitStatus, Error> {
    let context = Context::load(&args.manifest.manifest)?;
    let manifest = &context.manifest;
    let environment = args.environment.as_str();
    target::check_environment(manifest, environment)?;
    let branches = remote_branches(&args.remote).await?;
    let backend = context.backend();
    let mut request = ObserveRequest::default();
    request
        .environments
        .insert(environment.to_owned(), BTreeSet::new());
    let observed = backend.observe(&request).await.map_err(Error::backend)?;
    let deployed: Vec<String> = observed
        .environments
        .get(environment)
        .map(|seen| {
            seen.apps
                .iter()
                .filter(|(_, app)| app.state == AppState::Deployed)
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    let stale = stale_sandboxes(manifest, &deployed, &branches);

    let mut out = String::new();
    if stale.is_empty() {
        let _ = writeln!(
            out,
            "No sandbox app in `{environment}` has lost its branch on `{}`.",
            args.remote
        );
        printer::stdout(&out);
        return Ok(ExitStatus::Success);
    }
    let _ = writeln!(
        out,
        "Sandbox apps in `{environment}` whose branch is gone from `{}`:",
        args.remote
    );
    let width = stale
        .iter()
        .map(|app| app.app_name.len())
        .max()
        .unwrap_or(0);
    for app in &stale {
        let _ = writeln!(out, "  {:<width$}  ({})", app.app_name, app.reference);
    }
    if !args.yes {
        let _ = writeln!(
            out,
            "\nRun again with --yes to stop {}.",
            if stale.len() == 1 { "it" } else { "them" }
        );
        printer::stdout(&out);
        return Ok(ExitStatus::Success);
    }
    out.push('\n');
    printer::stdout(&out);
    let mut failed = 0;
    for app in &stale {
        match backend.stop(environment, &app.app_name).await {
            Ok(()) => printer::stdout(&format!("Stopped {}\n", app.app_name)),
            Err(error) => {
                failed += 1;
                printer::stderr(&format!(
                    "error: could not stop {}: {}: {error}\n",
                    app.app_name,
                    error.code()
                ));
            }
        }
    }
    Ok(if failed > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The branch names of `remote`, sanitized as sandbox names sanitize them.
async fn remote_branches(remote: &str) -> Result<BTreeSet<String>, Error> {
    let fail = |reason: String| Error::GitRemote {
        remote: remote.to_owned(),
        reason,
    };
    let output = crate::sandbox::git(&["ls-remote", "--heads", "--", remote])
        .await
        .map_err(fail)?;
    if !output.success() {
        return Err(fail(output.stderr.trim().to_owned()));
    }
    Ok(parse_heads(&output.stdout))
}

/// `<sha>\trefs/heads/<name>` lines → sanitized names.
pub fn parse_heads(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .filter_map(|(_, reference)| reference.trim().strip_prefix("refs/heads/"))
        .map(sanitize)
        .filter(|name| !name.is_empty())
        .collect()
}

/// The deployed apps named `<user>-<branch>-<app>` for a managed app whose `<branch>` matches no branch
/// of the remote. Names in the manifest's `protect` list are left alone.
pub fn stale_sandboxes(
    manifest: &ValidManifest,
    deployed: &[String],
    branches: &BTreeSet<String>,
) -> Vec<StaleSandbox> {
    let mut stale = Vec::new();
    for name in deployed {
        if manifest.protect.iter().any(|protected| protected == name) {
            continue;
        }
        let owner_of = manifest.processors.iter().find_map(|processor| {
            let suffix = format!("-{}", processor.app_name);
            name.strip_suffix(&suffix)
                .filter(|prefix| prefix.contains('-'))
                .map(|prefix| (prefix, processor))
        });
        let Some((prefix, processor)) = owner_of else {
            continue;
        };
        // `<user>-<branch>`: the user part is at least one character before the branch.
        let branch_exists = branches.iter().any(|branch| {
            prefix
                .strip_suffix(branch.as_str())
                .is_some_and(|user| user.len() > 1 && user.ends_with('-'))
        });
        if !branch_exists {
            stale.push(StaleSandbox {
                app_name: name.clone(),
                reference: processor.reference.as_str().to_owned(),
            });
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const MANIFEST: &str = r#"version = 1
protect = ["bob-gone-llm-litellm-v1"]
[modal]
module = "modal_app"
environments = ["dev"]
[[processor]]
ref = "llm/litellm@1"
image.oci = "docker.io/acme/x@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
"#;

    #[test]
    fn heads_are_sanitized_like_sandbox_names() {
        let heads = parse_heads(
            "1111\trefs/heads/main\n2222\trefs/heads/Feature/New_Thing\n3333\trefs/tags/v1\n",
        );
        assert_eq!(
            heads.into_iter().collect::<Vec<_>>(),
            ["feature-new-thing", "main"]
        );
    }

    #[test]
    fn only_sandboxes_of_managed_apps_with_no_branch_left_are_stale() {
        let manifest = crate::manifest::load_str(MANIFEST, Path::new("processors.toml"))
            .unwrap()
            .manifest;
        let deployed: Vec<String> = [
            "llm-litellm-v1",                         // the CI name
            "alice-main-llm-litellm-v1",              // branch exists
            "alice-feature-new-thing-llm-litellm-v1", // branch exists
            "alice-old-work-llm-litellm-v1",          // gone
            "bob-gone-llm-litellm-v1",                // gone but protected
            "alice-old-work-other-app",               // not a managed app
            "main-llm-litellm-v1",                    // one part: not `<user>-<branch>`
        ]
        .map(str::to_owned)
        .to_vec();
        let branches = parse_heads("1\trefs/heads/main\n2\trefs/heads/feature/new-thing\n");
        assert_eq!(
            stale_sandboxes(&manifest, &deployed, &branches),
            [StaleSandbox {
                app_name: "alice-old-work-llm-litellm-v1".into(),
                reference: "llm/litellm@1".into(),
            },]
        );
    }
}
