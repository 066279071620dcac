//! GitHub Actions, when `GITHUB_ACTIONS=true`: annotations, the step summary, step outputs and masks.
//!
//! Pure functions build the text; small writers append it to the files GitHub names. Workflow commands
//! (`::error ...`, `::add-mask::`) are read by the runner from standard output and standard error alike;
//! masks and warnings go to standard error so that `--format json > plan.json` stays clean.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

/// GitHub shows at most this many annotations of each level per step.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// GitHub keeps at most 1 MiB of step summary per step.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// Variables whose values are registry credentials, masked as soon as modalplan starts.
pub const CREDENTIAL_VARIABLES: &[&str] = &["REGISTRY_PASSWORD"];

/// True when running as a GitHub Actions step.
pub fn is_github_actions(lookup: impl Fn(&str) -> Option<String>) -> bool {
    lookup("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// Escapes the message of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property (`file=`, `title=`) of a workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The level of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Level::Error => "errors",
            Level::Warning => "warnings",
            Level::Notice => "notices",
        }
    }
}

/// A message attached to a place in a file (or to the run, without a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    pub message: String,
    pub file: Option<String>,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based.
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub title: Option<String>,
}

impl Annotation {
    pub fn new(level: Level, message: impl Into<String>) -> Self {
        Self {
            level,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            end_line: None,
            end_column: None,
            title: None,
        }
    }

    #[must_use]
    pub fn file(mut self, path: impl Into<String>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Where the span starts.
    #[must_use]
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Where the span ends.
    #[must_use]
    pub fn to(mut self, end_line: usize, end_column: usize) -> Self {
        self.end_line = Some(end_line);
        self.end_column = Some(end_column);
        self
    }

    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

/// One annotation as a workflow command line: `::error file=F,line=L,col=C,title=T::message`.
pub fn annotation_command(annotation: &Annotation) -> String {
    let mut properties = Vec::new();
    if let Some(file) = &annotation.file {
        properties.push(format!("file={}", escape_property(file)));
    }
    let numbers = [
        ("line", annotation.line),
        ("col", annotation.column),
        ("endLine", annotation.end_line),
        ("endColumn", annotation.end_column),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            properties.push(format!("{name}={value}"));
        }
    }
    if let Some(title) = &annotation.title {
        properties.push(format!("title={}", escape_property(title)));
    }
    let separator = if properties.is_empty() { "" } else { " " };
    format!(
        "::{}{separator}{}::{}\n",
        annotation.level.command(),
        properties.join(","),
        escape_data(&annotation.message)
    )
}

/// Annotations as workflow commands within GitHub's caps: past [`ANNOTATIONS_PER_LEVEL`] of a level,
/// the last slot says how many were left out, and those are printed as plain log lines.
pub fn annotation_commands(annotations: &[Annotation]) -> String {
    let mut commands = String::new();
    let mut left_out = String::new();
    for level in [Level::Error, Level::Warning, Level::Notice] {
        let of_level: Vec<&Annotation> = annotations.iter().filter(|a| a.level == level).collect();
        let shown = if of_level.len() > ANNOTATIONS_PER_LEVEL {
            ANNOTATIONS_PER_LEVEL - 1
        } else {
            of_level.len()
        };
        for annotation in &of_level[..shown] {
            commands.push_str(&annotation_command(annotation));
        }
        let rest = &of_level[shown..];
        if rest.is_empty() {
            continue;
        }
        commands.push_str(&annotation_command(
            &Annotation::new(
                level,
                format!(
                    "{} more {} not shown as annotations (GitHub shows {ANNOTATIONS_PER_LEVEL} per step): \
                     they are in this step's log",
                    rest.len(),
                    level.plural()
                ),
            )
            .title(format!("{} more {}", rest.len(), level.plural())),
        ));
        for annotation in rest {
            left_out.push_str(&plain_line(annotation));
        }
    }
    commands.push_str(&left_out);
    commands
}

/// An annotation as an ordinary log line: `error: processors.toml:3:9: title: message`.
fn plain_line(annotation: &Annotation) -> String {
    let mut line = format!("{}: ", annotation.level.command());
    if let Some(file) = &annotation.file {
        line.push_str(file);
        if let Some(number) = annotation.line {
            let _ = write!(line, ":{number}");
            if let Some(column) = annotation.column {
                let _ = write!(line, ":{column}");
            }
        }
        line.push_str(": ");
    }
    if let Some(title) = &annotation.title {
        line.push_str(title);
        line.push_str(": ");
    }
    line.push_str(&annotation.message.replace('\n', " "));
    line.push('\n');
    line
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: ends with a blank line so sections appended later stay apart,
/// and is cut with a note past [`STEP_SUMMARY_LIMIT`].
pub fn step_summary_section(markdown: &str) -> String {
    const NOTE: &str = "\n\n> [!WARNING]\n> Cut to fit GitHub's 1 MiB step summary: the whole text is in this step's log.\n\n";
    let mut section = markdown.trim_end_matches('\n').to_owned();
    if section.len() + 2 > STEP_SUMMARY_LIMIT {
        let mut end = STEP_SUMMARY_LIMIT - NOTE.len();
        while !section.is_char_boundary(end) {
            end -= 1;
        }
        let end = section[..end].rfind('\n').unwrap_or(end);
        section.truncate(end);
        section.push_str(NOTE);
        return section;
    }
    section.push_str("\n\n");
    section
}

/// One step output as `$GITHUB_OUTPUT` wants it: `key=value`, or the delimiter form for a value with
/// line breaks, with a delimiter that the value does not contain.
pub fn output_line(key: &str, value: &str) -> String {
    if !value.contains(['\n', '\r']) {
        return format!("{key}={value}\n");
    }
    let mut salt = 0_u32;
    let delimiter = loop {
        let digest = Sha256::digest(format!("{salt}:{key}:{value}").as_bytes());
        let candidate = format!("ghadelimiter_{}", &hex::encode(digest)[..32]);
        if !value.contains(&candidate) {
            break candidate;
        }
        salt += 1;
    };
    format!("{key}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// The outputs a workflow branches on after `plan` or `apply`.
pub fn outcome_outputs(has_changes: bool, blocked: bool, failed: bool) -> String {
    [
        ("has_changes", has_changes),
        ("blocked", blocked),
        ("failed", failed),
    ]
    .iter()
    .map(|(key, value)| output_line(key, if *value { "true" } else { "false" }))
    .collect()
}

/// `::add-mask::` lines for a secret value, one per line of it (the runner masks line by line).
pub fn mask_commands(value: &str) -> String {
    let mut commands = String::new();
    for line in value.lines().filter(|line| !line.trim().is_empty()) {
        let _ = writeln!(commands, "::add-mask::{}", escape_data(line));
    }
    commands
}

/// Masks for the credential variables that are set, under GitHub Actions only.
pub fn credential_masks(lookup: impl Fn(&str) -> Option<String>) -> String {
    if !is_github_actions(&lookup) {
        return String::new();
    }
    CREDENTIAL_VARIABLES
        .iter()
        .filter_map(|name| lookup(name))
        .map(|value| mask_commands(&value))
        .collect()
}

/// Asks the runner to mask the registry credentials of the environment; call it before anything
/// could print them.
pub fn mask_environment_credentials() {
    let masks = credential_masks(crate::settings::env::var);
    if !masks.is_empty() {
        crate::printer::stderr(&masks);
    }
}

/// Asks the runner to mask a secret read at run time (a registry token), under GitHub Actions only.
pub fn mask_secret(value: &str) {
    if is_github_actions(crate::settings::env::var) {
        let masks = mask_commands(value);
        if !masks.is_empty() {
            crate::printer::stderr(&masks);
        }
    }
}

/// Appends `text` to a file GitHub reads after the step (`$GITHUB_STEP_SUMMARY`, `$GITHUB_OUTPUT`).
pub fn append_to_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY`, when it is set. Returns whether it was written.
pub fn append_step_summary(
    lookup: impl Fn(&str) -> Option<String>,
    markdown: &str,
) -> std::io::Result<bool> {
    match lookup("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty()) {
        Some(path) => {
            append_to_file(Path::new(&path), &step_summary_section(markdown)).map(|()| true)
        }
        None => Ok(false),
    }
}

/// Appends `has_changes`, `blocked` and `failed` to `$GITHUB_OUTPUT`, when it is set.
pub fn write_outcome_outputs(
    lookup: impl Fn(&str) -> Option<String>,
    has_changes: bool,
    blocked: bool,
    failed: bool,
) -> std::io::Result<bool> {
    match lookup("GITHUB_OUTPUT").filter(|path| !path.is_empty()) {
        Some(path) => append_to_file(
            Path::new(&path),
            &outcome_outputs(has_changes, blocked, failed),
        )
        .map(|()| true),
        None => Ok(false),
    }
}

/// Under GitHub Actions, the step summary and outputs of a plan: what `plan` calls after rendering.
pub fn report_plan(
    lookup: impl Fn(&str) -> Option<String>,
    plan: &crate::plan::model::Plan,
    markdown: &str,
) -> std::io::Result<()> {
    if !is_github_actions(&lookup) {
        return Ok(());
    }
    let blocked = plan.summary().blocked > 0;
    append_step_summary(&lookup, markdown)?;
    write_outcome_outputs(&lookup, plan.has_changes(), blocked, false)?;
    Ok(())
}

/// Under GitHub Actions, the step summary and outputs of an apply: `has_changes` is whether anything
/// was deployed or stopped, `failed` whether any processor failed.
pub fn report_apply(
    lookup: impl Fn(&str) -> Option<String>,
    changed: bool,
    failed: bool,
    markdown: &str,
) -> std::io::Result<()> {
    if !is_github_actions(&lookup) {
        return Ok(());
    }
    append_step_summary(&lookup, markdown)?;
    write_outcome_outputs(&lookup, changed, false, failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_data_and_properties_as_the_runner_unescapes_them() {
        assert_eq!(
            escape_data("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext: a,b"
        );
        assert_eq!(
            escape_property("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext%3A a%2Cb"
        );
        // `%` first, so an escape is never escaped twice.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn an_annotation_with_every_property() {
        let annotation =
            Annotation::new(Level::Error, "image is not pinned:\nuse @sha256:<digest>")
                .file("deploy/processors, v1.toml")
                .at(12, 7)
                .to(12, 40)
                .title("ERR_IMAGE_UNPINNED: llm/litellm@1");
        assert_eq!(
            annotation_command(&annotation),
            "::error file=deploy/processors%2C v1.toml,line=12,col=7,endLine=12,endColumn=40,\
             title=ERR_IMAGE_UNPINNED%3A llm/litellm@1::image is not pinned:%0Ause @sha256:<digest>\n"
        );
        assert_eq!(
            annotation_command(&Annotation::new(Level::Warning, "plain")),
            "::warning::plain\n"
        );
    }

    #[test]
    fn past_ten_of_a_level_the_tenth_says_how_many_were_left_out() {
        let mut annotations: Vec<Annotation> = (1..=12)
            .map(|n| {
                Annotation::new(Level::Error, format!("e{n}"))
                    .file("p.toml")
                    .at(n, 1)
            })
            .collect();
        annotations.push(Annotation::new(Level::Warning, "w1"));
        let output = annotation_commands(&annotations);
        let mut expected = String::new();
        for n in 1..=9 {
            let _ = writeln!(expected, "::error file=p.toml,line={n},col=1::e{n}");
        }
        expected.push_str(
            "::error title=3 more errors::3 more errors not shown as annotations (GitHub shows 10 per \
             step): they are in this step's log\n",
        );
        expected.push_str("::warning::w1\n");
        expected.push_str(
            "error: p.toml:10:1: e10\nerror: p.toml:11:1: e11\nerror: p.toml:12:1: e12\n",
        );
        assert_eq!(output, expected);
    }

    #[test]
    fn exactly_ten_are_all_shown() {
        let annotations: Vec<Annotation> = (1..=10)
            .map(|n| Annotation::new(Level::Warning, format!("w{n}")))
            .collect();
        let output = annotation_commands(&annotations);
        assert_eq!(output.lines().count(), 10);
        assert!(output.lines().all(|line| line.starts_with("::warning::w")));
    }

    #[test]
    fn outputs_are_key_value_lines_or_the_delimiter_form() {
        assert_eq!(
            outcome_outputs(true, false, false),
            "has_changes=true\nblocked=false\nfailed=false\n"
        );
        let multiline = output_line("summary", "1 to create\n0 to update");
        let lines: Vec<&str> = multiline.lines().collect();
        assert_eq!(lines.len(), 4);
        let delimiter = lines[0].strip_prefix("summary<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(&lines[1..3], ["1 to create", "0 to update"]);
        assert_eq!(lines[3], delimiter);
    }

    #[test]
    fn the_delimiter_is_never_inside_the_value() {
        let first = output_line("k", "a\nb");
        let delimiter = first.lines().last().unwrap().to_owned();
        let hostile = format!("a\n{delimiter}\nb");
        let second = output_line("k", &hostile);
        let other = second.lines().last().unwrap();
        assert_ne!(other, delimiter);
        assert!(!hostile.contains(other));
    }

    #[test]
    fn masks_each_line_of_a_secret_and_only_under_actions() {
        assert_eq!(
            mask_commands("p%ss\nw0rd\n"),
            "::add-mask::p%25ss\n::add-mask::w0rd\n"
        );
        assert_eq!(mask_commands("  \n"), "");
        let set = |actions: &'static str| {
            move |name: &str| match name {
                "GITHUB_ACTIONS" => Some(actions.to_owned()),
                "REGISTRY_PASSWORD" => Some("hunter2".to_owned()),
                _ => None,
            }
        };
        assert_eq!(credential_masks(set("true")), "::add-mask::hunter2\n");
        assert_eq!(credential_masks(set("false")), "");
    }

    #[test]
    fn a_step_summary_section_ends_with_a_blank_line_and_fits_the_limit() {
        assert_eq!(step_summary_section("## Plan\n"), "## Plan\n\n");
        let huge = "line of the plan\n".repeat(70_000);
        let section = step_summary_section(&huge);
        assert!(section.len() <= STEP_SUMMARY_LIMIT);
        assert!(section.ends_with(
            "line of the plan\n\n> [!WARNING]\n> Cut to fit GitHub's 1 MiB step summary: the whole text is \
             in this step's log.\n\n"
        ));
    }
}
