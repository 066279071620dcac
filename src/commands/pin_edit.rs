//! Rewriting one `image.oci` value of `processors.toml` with `toml_edit`: comments, order, quoting
//! style and blank lines everywhere else stay byte for byte.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::error::Error;

/// Where a pin is written: the processor's own `image.oci`, or an environment's override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPlace<'a> {
    Processor,
    Override(&'a str),
}

/// The `[[processor]]` table at `index` (manifest order).
fn processor_mut(document: &mut DocumentMut, index: usize) -> Option<&mut Table> {
    document
        .get_mut("processor")?
        .as_array_of_tables_mut()?
        .get_mut(index)
}

fn processor(document: &DocumentMut, index: usize) -> Option<&Table> {
    document.get("processor")?.as_array_of_tables()?.get(index)
}

/// The `image.oci` string at `place` of processor `index`, as written; `None` when there is none
/// (an override without its own image).
pub fn image_at(document: &DocumentMut, index: usize, place: PinPlace<'_>) -> Option<String> {
    let table: &dyn TableLike = processor(document, index)?;
    let table = match place {
        PinPlace::Processor => table,
        PinPlace::Override(environment) => table
            .get("env")?
            .as_table_like()?
            .get(environment)?
            .as_table_like()?,
    };
    table
        .get("image")?
        .as_table_like()?
        .get("oci")?
        .as_str()
        .map(str::to_owned)
}

/// The environments whose override of processor `index` has its own `image.oci`.
pub fn overrides_with_image(document: &DocumentMut, index: usize) -> Vec<String> {
    let Some(environments) = processor(document, index)
        .and_then(|table| table.get("env"))
        .and_then(Item::as_table_like)
    else {
        return Vec::new();
    };
    environments
        .iter()
        .map(|(environment, _)| environment.to_owned())
        .filter(|environment| image_at(document, index, PinPlace::Override(environment)).is_some())
        .collect()
}

/// Writes `value` as the `image.oci` at `place` of processor `index`. An existing value keeps its
/// decoration (the comment after it, the spacing); an override without an image gets a dotted
/// `image.oci` line in its table; an environment without an override gets a `[processor.env.ENV]`
/// table. Errors say what could not be found.
pub fn set_image(
    document: &mut DocumentMut,
    index: usize,
    place: PinPlace<'_>,
    value: &str,
) -> Result<(), String> {
    let table = processor_mut(document, index)
        .ok_or_else(|| format!("the manifest has no [[processor]] number {}", index + 1))?;
    let table: &mut dyn TableLike = match place {
        PinPlace::Processor => table,
        PinPlace::Override(environment) => {
            if table.get("env").is_none() {
                let mut environments = Table::new();
                environments.set_implicit(true);
                table.insert("env", Item::Table(environments));
            }
            let environments = table
                .get_mut("env")
                .and_then(Item::as_table_like_mut)
                .ok_or("its `env` is not a table")?;
            if environments.get(environment).is_none() {
                environments.insert(environment, Item::Table(Table::new()));
            }
            environments
                .get_mut(environment)
                .and_then(Item::as_table_like_mut)
                .ok_or_else(|| format!("its `env.{environment}` is not a table"))?
        }
    };
    if table.get("image").is_none() {
        let mut image = Table::new();
        image.set_dotted(true);
        table.insert("image", Item::Table(image));
    }
    let image = table
        .get_mut("image")
        .and_then(Item::as_table_like_mut)
        .ok_or("its `image` is not a table")?;
    match image.get_mut("oci").and_then(Item::as_value_mut) {
        Some(existing) => {
            let decor = existing.decor().clone();
            *existing = Value::from(value);
            *existing.decor_mut() = decor;
        }
        None => {
            image.insert("oci", Item::Value(Value::from(value)));
        }
    }
    Ok(())
}

/// The manifest's change as a unified diff.
pub fn diff(path: &Path, old: &str, new: &str) -> String {
    let name = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(1)
        .header(&name, &name)
        .to_string()
}

/// Writes the edited manifest `text` to `path` when it still validates; otherwise nothing is written.
pub fn write_checked(path: &Path, text: &str) -> Result<(), Error> {
    if let Err(errors) = crate::manifest::load_str(text, path) {
        let first = errors
            .errors()
            .next()
            .map_or_else(String::new, |diagnostic| diagnostic.message.clone());
        return Err(Error::PinWouldNotValidate { first });
    }
    write_atomically(path, text)
}

/// Writes `text` to `path` through a temporary file in the same folder, renamed over it.
fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let failed = |error: std::io::Error| Error::ManifestUnwritable {
        path: path.to_owned(),
        source: error,
    };
    let mut file = tempfile::NamedTempFile::new_in(folder).map_err(failed)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(failed)?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(file.path(), metadata.permissions());
    }
    file.persist(path).map_err(|error| failed(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn edited(text: &str, index: usize, place: PinPlace<'_>, value: &str) -> String {
        let mut document: DocumentMut = text.parse().unwrap();
        set_image(&mut document, index, place, value).unwrap();
        document.to_string()
    }

    #[test]
    fn only_the_value_changes_comments_and_layout_stay() {
        let text = "# head\n[[processor]]\nref = \"a/b@1\"   # the ref\nimage.oci   =   'ghcr.io/x/b@sha256:old'  # pinned by CI\nruntime = { cpu = 1.0 }\n\n[[processor]]\nref = \"c/d@1\"\nimage = { oci = \"ghcr.io/x/d@sha256:old\" }\n";
        let new = format!("ghcr.io/x/b:main@sha256:{HEX_A}");
        assert_eq!(
            edited(text, 0, PinPlace::Processor, &new),
            text.replace("'ghcr.io/x/b@sha256:old'", &format!("\"{new}\""))
        );
        let new = format!("ghcr.io/x/d:main@sha256:{HEX_A}");
        assert_eq!(
            edited(text, 1, PinPlace::Processor, &new),
            text.replace("\"ghcr.io/x/d@sha256:old\"", &format!("\"{new}\""))
        );
    }

    #[test]
    fn an_override_is_rewritten_or_added() {
        let text = "[[processor]]\nref = \"a/b@1\"\nimage.oci = \"ghcr.io/x/b@sha256:old\"\n\n[processor.env.dev]\nimage.oci = \"ghcr.io/x/b@sha256:dev\" # staged\n\n[processor.env.staging]\nruntime.cpu = 2.0\n\n[[processor]]\nref = \"c/d@1\"\nimage.oci = \"ghcr.io/x/d@sha256:old\"\n";
        let new = format!("ghcr.io/x/b:next@sha256:{HEX_A}");
        assert_eq!(
            edited(text, 0, PinPlace::Override("dev"), &new),
            text.replace("\"ghcr.io/x/b@sha256:dev\"", &format!("\"{new}\""))
        );
        assert_eq!(
            edited(text, 0, PinPlace::Override("staging"), &new),
            text.replace(
                "runtime.cpu = 2.0\n",
                &format!("runtime.cpu = 2.0\nimage.oci = \"{new}\"\n")
            )
        );
        let document: DocumentMut = text.parse().unwrap();
        assert_eq!(overrides_with_image(&document, 0), ["dev"]);
        assert_eq!(
            image_at(&document, 0, PinPlace::Override("dev")).as_deref(),
            Some("ghcr.io/x/b@sha256:dev")
        );
        assert_eq!(image_at(&document, 0, PinPlace::Override("staging")), None);
    }

    #[test]
    fn a_missing_override_becomes_a_table_of_that_processor() {
        let text = "[[processor]]\nref = \"a/b@1\"\nimage.oci = \"ghcr.io/x/b@sha256:old\"\n\n[[processor]]\nref = \"c/d@1\"\nimage.oci = \"ghcr.io/x/d@sha256:old\"\n";
        let new = format!("ghcr.io/x/b:next@sha256:{HEX_A}");
        let result = edited(text, 0, PinPlace::Override("main"), &new);
        let reparsed: DocumentMut = result.parse().unwrap();
        assert_eq!(
            image_at(&reparsed, 0, PinPlace::Override("main")).as_deref(),
            Some(new.as_str())
        );
        assert_eq!(image_at(&reparsed, 1, PinPlace::Override("main")), None);
        assert_eq!(
            result,
            format!(
                "[[processor]]\nref = \"a/b@1\"\nimage.oci = \"ghcr.io/x/b@sha256:old\"\n\n[processor.env.main]\nimage.oci = \"{new}\"\n\n[[processor]]\nref = \"c/d@1\"\nimage.oci = \"ghcr.io/x/d@sha256:old\"\n"
            )
        );
    }
}
