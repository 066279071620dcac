//! `modalplan init`: scaffolds a manifest, its schema, the Modal module and the CI workflows. It never
//! overwrites a file without `--force`, and writes nothing when it refuses.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Error;

use crate::cli::InitArgs;
use crate::exit::ExitStatus;
use crate::printer;

/// The starting manifest: valid as written, with a public image so no registry secret is needed yet.
pub const MANIFEST: &str = r#"#:schema ./schemas/processors.schema.json

# Processors deployed to Modal. `modalplan validate` checks this file, `modalplan plan` shows what would
# change on Modal, and `modalplan apply --env main` makes Modal match it.
version = 1

[modal]
module = "modal_app"                       # modal_app.py, next to this file
environments = ["dev", "staging", "main"]  # Modal environments this manifest manages

[smoke]                                    # called after each deploy, with mode forced to "mock"
function = "smoke"
payload = { schema = "v1", mode = "mock", params = {} }
timeout = "300s"

# The secrets policy: each secret is named like the variable it provides, with the keys it holds.
# Create one with `modal secret create OPENAI_API_KEY --env dev OPENAI_API_KEY=...`.
[secrets.OPENAI_API_KEY]
keys = ["OPENAI_API_KEY"]

[[processor]]
ref = "example/echo@1"
# Your processor's image, pinned by digest (`docker buildx imagetools inspect IMAGE` prints it). An image
# on ghcr.io also needs a [secrets.REGISTRY_AUTH] with keys REGISTRY_USERNAME and REGISTRY_PASSWORD.
image.oci = "docker.io/library/python@sha256:0000000000000000000000000000000000000000000000000000000000000000"
secrets.optional = ["OPENAI_API_KEY"]
runtime = { cpu = 1.0, memory_mb = 1024, timeout_s = 60 }
"#;

/// The Modal module that reads the variables `modalplan` exports to `modal deploy`.
pub const MODAL_APP: &str = include_str!("../../examples/modal_app.py");

/// `(path relative to --dir, contents)` of every file `init` writes, in order.
pub fn files() -> Vec<(String, String)> {
    let mut files = vec![
        ("processors.toml".to_owned(), MANIFEST.to_owned()),
        (
            "schemas/processors.schema.json".to_owned(),
            crate::manifest::schema::to_pretty_string(),
        ),
        ("modal_app.py".to_owned(), MODAL_APP.to_owned()),
    ];
    files.extend(
        crate::github::workflows::WORKFLOWS
            .iter()
            .map(|(path, text)| ((*path).to_owned(), (*text).to_owned())),
    );
    files
}

pub fn run(args: &InitArgs) -> Result<ExitStatus, Error> {
    let files = files();
    let existing: Vec<PathBuf> = files
        .iter()
        .map(|(path, _)| place(&args.dir, path))
        .filter(|path| path.exists())
        .collect();
    if !existing.is_empty() && !args.force {
        let list: Vec<String> = existing
            .iter()
            .map(|path| format!("  {}", path.display()))
            .collect();
        return Err(Error::ScaffoldExists { files: list });
    }
    let mut out = String::new();
    for (relative, text) in &files {
        let path = place(&args.dir, relative);
        let verb = if existing.contains(&path) {
            "Overwrote"
        } else {
            "Created"
        };
        write(&path, text)?;
        let _ = writeln!(out, "{verb} {}", path.display());
    }
    let manifest = place(&args.dir, "processors.toml");
    let _ = write!(
        out,
        "\nNext: set `image.oci` in {} to your image's digest, then run\n  modalplan validate --manifest {}\n  modalplan plan --manifest {}\n",
        manifest.display(),
        manifest.display(),
        manifest.display()
    );
    printer::stdout(&out);
    Ok(ExitStatus::Success)
}

/// `relative` in `dir`, without a leading `./` for the current folder.
fn place(dir: &Path, relative: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(relative)
    } else {
        dir.join(relative)
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|error| Error::ScaffoldNotWritten {
            path: folder.to_owned(),
            folder: true,
            source: error,
        })?;
    }
    std::fs::write(path, text).map_err(|error| Error::ScaffoldNotWritten {
        path: path.to_owned(),
        folder: false,
        source: error,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::MANIFEST;

    #[test]
    fn the_scaffolded_manifest_is_valid_without_warnings() {
        let loaded = crate::manifest::load_str(MANIFEST, Path::new("processors.toml"))
            .unwrap_or_else(|errors| panic!("{errors:?}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.manifest.processors.len(), 1);
        assert!(MANIFEST.starts_with("#:schema ./schemas/processors.schema.json\n\n"));
    }
}
