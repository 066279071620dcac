//! The plan for people at a terminal, Terraform-like: one block per app that changes, its reasons, a
//! unified diff of what is known of the deployment before and after, and the summary line last.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::TextDiff;

use crate::code::{CodeFile, CodeSnapshot};
use crate::fingerprint::Fingerprint;
use crate::plan::Plan;
use crate::plan::model::{Action, ActionKind, Desired, Finding, Live, RuntimeSpec};

use super::words;

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const NOTE: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));

fn colour(kind: ActionKind) -> Style {
    let colour = match kind {
        ActionKind::Create => AnsiColor::Green,
        ActionKind::Update => AnsiColor::Yellow,
        ActionKind::Stop | ActionKind::Blocked => AnsiColor::Red,
        ActionKind::Orphan => AnsiColor::Magenta,
        ActionKind::NoOp => return DIM,
    };
    Style::new().fg_color(Some(colour.into()))
}

fn styled(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// The plan as text with ANSI styles (the printer strips them where colour is not wanted).
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "modalplan plan of {} ({})",
        plan.manifest.path,
        plan.environments.join(", ")
    );
    for environment in &plan.environments {
        let actions: Vec<&Action> = plan
            .actions
            .iter()
            .filter(|action| &action.environment == environment)
            .collect();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            styled(BOLD, &format!("Environment {environment}"))
        );
        for held in plan
            .locks
            .iter()
            .filter(|held| &held.environment == environment)
        {
            let _ = writeln!(
                out,
                "  {} {}",
                styled(NOTE, "note:"),
                words::lock_note(&held.environment, &held.lock)
            );
        }
        for line in super::promotion::environment_lines(plan, environment) {
            let _ = writeln!(out, "  {} {line}", styled(NOTE, "promotion:"));
        }
        let unchanged: Vec<&str> = actions
            .iter()
            .filter(|action| action.kind == ActionKind::NoOp)
            .map(|action| action.app_name.as_str())
            .collect();
        for action in actions
            .iter()
            .filter(|action| action.kind != ActionKind::NoOp)
        {
            action_block(&mut out, action, &plan.code);
        }
        if actions.is_empty() {
            let _ = writeln!(out, "  {}", styled(DIM, "(nothing managed here)"));
        } else if !unchanged.is_empty() {
            let _ = writeln!(
                out,
                "  {}",
                styled(
                    DIM,
                    &format!("= {} up to date: {}", unchanged.len(), unchanged.join(", "))
                )
            );
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", styled(BOLD, "Warnings"));
        for warning in &plan.warnings {
            finding(
                &mut out,
                warning,
                Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        styled(
            BOLD,
            &words::summary_line(&plan.summary(), &plan.manifest.path)
        )
    );
    out
}

fn action_block(out: &mut String, action: &Action, code: &CodeSnapshot) {
    let style = colour(action.kind);
    let reference = action
        .reference
        .as_deref()
        .map_or_else(String::new, |reference| format!(" ({reference})"));
    let _ = writeln!(
        out,
        "  {} {}{reference} {}",
        styled(style, &words::symbol(action.kind).to_string()),
        styled(BOLD, &action.app_name),
        words::kind_words(action.kind)
    );
    for reason in &action.reasons {
        let _ = writeln!(out, "      {}", words::reason(reason));
    }
    if let Some(hint) = words::orphan_hint(action) {
        let _ = writeln!(out, "      {hint}");
    }
    if action.kind == ActionKind::Orphan {
        // Nothing changes: no diff, only what runs.
        if let Some(live) = &action.before {
            let tag = live.tag.as_deref().unwrap_or("no tag");
            let _ = writeln!(
                out,
                "      {}",
                styled(DIM, &format!("live v{} ({tag})", live.version))
            );
        }
        return;
    }
    for blocker in &action.blockers {
        finding(out, blocker, colour(ActionKind::Blocked));
    }
    let diff = attribute_diff(action.before.as_ref(), action.after.as_ref(), code);
    if !diff.is_empty() {
        for line in diff.lines() {
            let line_style = if line.starts_with('+') && !line.starts_with("+++") {
                colour(ActionKind::Create)
            } else if line.starts_with('-') && !line.starts_with("---") {
                colour(ActionKind::Stop)
            } else {
                DIM
            };
            let _ = writeln!(out, "      {}", styled(line_style, line));
        }
    }
}

fn finding(out: &mut String, finding: &Finding, style: Style) {
    let _ = writeln!(
        out,
        "      {} {}",
        styled(style, finding.code.as_str()),
        finding.message
    );
    let _ = writeln!(out, "        fix: {}", finding.fix);
}

/// What is known of the live deployment, one `key = value` per line: its version and tag, and the
/// image digest the tag names.
fn live_attributes(live: &Live) -> Vec<String> {
    let mut lines = vec![format!("version = {}", live.version)];
    match &live.tag {
        Some(tag) => {
            lines.push(format!("tag     = {tag}"));
            if let Ok(fingerprint) = tag.parse::<Fingerprint>() {
                lines.push(format!("image   = sha256:{}…", fingerprint.image));
            }
        }
        None => lines.push("tag     = (none)".to_owned()),
    }
    lines
}

fn desired_attributes(desired: &Desired, next_version: Option<u32>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(version) = next_version {
        lines.push(format!("version = {version}"));
    }
    lines.push(format!("tag     = {}", desired.tag));
    let short = desired
        .image
        .rsplit_once('@')
        .map_or(desired.image.as_str(), |(_, digest)| digest);
    lines.push(format!("image   = {}…", &short[..short.len().min(19)]));
    lines
}

/// A unified diff of the deployment's attributes, before → after, where they are known: everything when
/// the live deployment has a release record, else its version, tag and the image its tag names.
fn attribute_diff(before: Option<&Live>, after: Option<&Desired>, code: &CodeSnapshot) -> String {
    let (old, new) = match (before, after) {
        (Some(live), Some(desired)) => match live
            .release
            .as_ref()
            .and_then(|release| release.deployment.as_ref())
        {
            Some(released) => {
                let mut old = vec![format!("version = {}", live.version)];
                old.extend(deployment_lines(
                    &released.image,
                    &released.secrets,
                    &released.runtime,
                    Some(&released.code),
                ));
                old.push(format!(
                    "tag     = {}",
                    live.tag.as_deref().unwrap_or("(none)")
                ));
                let mut new = vec![format!("version = {}", live.version + 1)];
                new.extend(deployment_lines(
                    &desired.image,
                    &desired.secrets,
                    &desired.runtime,
                    Some(&code.files),
                ));
                new.push(format!("tag     = {}", desired.tag));
                (old, new)
            }
            None => (
                live_attributes(live),
                desired_attributes(desired, Some(live.version + 1)),
            ),
        },
        (None, Some(desired)) => {
            let mut lines =
                deployment_lines(&desired.image, &desired.secrets, &desired.runtime, None);
            lines.push(format!("tag     = {}", desired.tag));
            (Vec::new(), lines)
        }
        (Some(live), None) => (live_attributes(live), Vec::new()),
        (None, None) => return String::new(),
    };
    let old = lines_text(&old);
    let new = lines_text(&new);
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(&old, &new);
    diff.unified_diff()
        .context_radius(3)
        .header("live", "planned")
        .to_string()
}

/// `image`, `secrets`, `runtime` and, when given, a `code` line per file (its path and sha256's first 12
/// digits).
fn deployment_lines(
    image: &str,
    secrets: &[String],
    runtime: &RuntimeSpec,
    code: Option<&[CodeFile]>,
) -> Vec<String> {
    let mut lines = vec![format!("image   = {image}")];
    lines.push(format!("secrets = [{}]", secrets.join(", ")));
    let mut parts = Vec::new();
    if let Some(cpu) = runtime.cpu {
        parts.push(format!("cpu={cpu}"));
    }
    if let Some(memory) = runtime.memory_mb {
        parts.push(format!("memory_mb={memory}"));
    }
    if let Some(gpu) = &runtime.gpu {
        parts.push(format!("gpu={gpu}"));
    }
    if let Some(timeout) = runtime.timeout_s {
        parts.push(format!("timeout_s={timeout}"));
    }
    if !parts.is_empty() {
        lines.push(format!("runtime = {}", parts.join(" ")));
    }
    for file in code.unwrap_or_default() {
        lines.push(format!(
            "code    = {} {}",
            file.path,
            &file.sha256[..file.sha256.len().min(12)]
        ));
    }
    lines
}

fn lines_text(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}
