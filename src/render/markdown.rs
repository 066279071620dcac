//! The plan as a pull-request comment: the summary first, then called out an apply lock held in a planned
//! environment, what is blocked and what will be stopped, then one collapsible section per environment.
//! GitHub refuses comments over 65,536 characters, so the comment is cut at a block boundary with a note
//! when it would be longer.

use std::fmt::Write as _;

use crate::plan::Plan;
use crate::plan::model::{Action, ActionKind};

use super::words;

/// GitHub's limit on a comment's body, in characters (one constant, kept by the GitHub module).
pub use crate::github::comment::COMMENT_LIMIT as GITHUB_COMMENT_LIMIT;

/// The first line of the Markdown plan; the sticky pull-request comment adds its own marker, with the
/// manifest path, above it.
pub const MARKER: &str = "<!-- modalplan plan -->";

/// The comment, at most [`GITHUB_COMMENT_LIMIT`] characters.
pub fn render(plan: &Plan) -> String {
    render_within(plan, GITHUB_COMMENT_LIMIT)
}

/// The comment, at most `limit` characters.
pub fn render_within(plan: &Plan, limit: usize) -> String {
    let mut comment = Comment::new(limit);
    let summary = plan.summary();
    comment.push(format!(
        "{MARKER}\n### modalplan plan\n\n**{}**\n\n",
        words::summary_line(&summary, &plan.manifest.path)
    ));
    if !plan.locks.is_empty() {
        comment.push("> [!NOTE]\n");
        for held in &plan.locks {
            comment.push(format!(
                "> - {}\n",
                inline(&words::lock_note(&held.environment, &held.lock))
            ));
        }
        comment.push("\n");
    }
    let blocked: Vec<&Action> = kind_actions(plan, ActionKind::Blocked);
    push_blocked(&mut comment, &blocked);
    push_waiting(&mut comment, plan);
    let stops = kind_actions(plan, ActionKind::Stop);
    if !stops.is_empty() {
        comment.push(format!(
            "> [!WARNING]\n> **{} to stop** (`--prune`):\n\n",
            stops.len()
        ));
        for action in stops {
            comment.push(format!(
                "- `{}` in `{}`{}\n",
                action.app_name,
                action.environment,
                live_words(action)
            ));
        }
        comment.push("\n");
    }
    for environment in &plan.environments {
        let actions: Vec<&Action> = plan
            .actions
            .iter()
            .filter(|action| &action.environment == environment)
            .collect();
        let counts = environment_counts(&actions);
        comment.open_section(&format!(
            "<details><summary><b>{environment}</b>: {counts}</summary>\n\n| | App | Ref | Change |\n|---|---|---|---|\n"
        ), "\n</details>\n\n");
        for action in &actions {
            comment.push(row(action));
        }
        if actions.is_empty() {
            comment.push("| | | | nothing managed here |\n");
        }
        comment.close_section();
    }
    if !plan.warnings.is_empty() {
        comment.push("**Warnings**\n\n");
        for warning in &plan.warnings {
            comment.push(format!(
                "- **{}** {}\n  Fix: `{}`\n",
                warning.code,
                escape(&warning.message),
                warning.fix
            ));
        }
        comment.push("\n");
    }
    comment.push(format!(
        "<sub>`{}` {} · plan format {}</sub>\n",
        plan.manifest.path, plan.manifest.sha256, plan.format_version
    ));
    comment.finish()
}

/// The blocked actions, each blocker with its code and fix.
fn push_blocked(comment: &mut Comment, blocked: &[&Action]) {
    if !blocked.is_empty() {
        comment.push(format!(
            "> [!CAUTION]\n> **{} blocked**: fix these before merging.\n\n",
            blocked.len()
        ));
        for action in blocked {
            for blocker in &action.blockers {
                comment.push(format!(
                    "- `{}` in `{}`: **{}** {}\n  Fix: `{}`\n",
                    action.app_name,
                    action.environment,
                    blocker.code,
                    escape(&blocker.message),
                    blocker.fix
                ));
            }
        }
        comment.push("\n");
    }
}

/// Per gated environment, what waits on its upstream.
fn push_waiting(comment: &mut Comment, plan: &Plan) {
    let waiting: Vec<(&String, Vec<String>)> = plan
        .environments
        .iter()
        .map(|environment| {
            (
                environment,
                super::promotion::environment_lines(plan, environment),
            )
        })
        .filter(|(_, lines)| !lines.is_empty())
        .collect();
    if !waiting.is_empty() {
        comment.push("**Waiting for promotion**\n\n");
        for (environment, lines) in waiting {
            for line in lines {
                comment.push(format!("- `{environment}`: {}\n", escape(&line)));
            }
        }
        comment.push("\n");
    }
}

fn kind_actions(plan: &Plan, kind: ActionKind) -> Vec<&Action> {
    plan.actions
        .iter()
        .filter(|action| action.kind == kind)
        .collect()
}

fn environment_counts(actions: &[&Action]) -> String {
    let count = |kind: ActionKind| actions.iter().filter(|action| action.kind == kind).count();
    let parts: Vec<String> = [
        (ActionKind::Create, "to create"),
        (ActionKind::Update, "to update"),
        (ActionKind::Stop, "to stop"),
        (ActionKind::Blocked, "blocked"),
        (ActionKind::Orphan, "orphaned"),
        (ActionKind::NoOp, "up to date"),
    ]
    .into_iter()
    .filter(|(kind, _)| count(*kind) > 0)
    .map(|(kind, words)| format!("{} {words}", count(kind)))
    .collect();
    if parts.is_empty() {
        "nothing managed".to_owned()
    } else {
        parts.join(", ")
    }
}

fn live_words(action: &Action) -> String {
    match &action.before {
        Some(live) => match &live.tag {
            Some(tag) => format!(" (live v{}, tag `{tag}`)", live.version),
            None => format!(" (live v{})", live.version),
        },
        None => String::new(),
    }
}

fn row(action: &Action) -> String {
    let mut change = words::kind_words(action.kind).to_owned();
    let mut reasons: Vec<String> = action.reasons.iter().map(words::reason).collect();
    reasons.extend(words::orphan_hint(action).map(str::to_owned));
    if !reasons.is_empty() {
        let _ = write!(change, ": {}", reasons.join("; "));
    }
    for blocker in &action.blockers {
        let _ = write!(change, "<br>**{}**", blocker.code);
    }
    format!(
        "| `{}` | `{}` | {} | {}{} |\n",
        words::symbol(action.kind),
        action.app_name,
        action
            .reference
            .as_deref()
            .map_or_else(|| "—".to_owned(), |reference| format!("`{reference}`")),
        escape(&change),
        escape(&live_words(action))
    )
}

/// Keeps text read from Modal (a lock's holder) on its line and out of the comment's HTML.
fn inline(text: &str) -> String {
    text.replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Keeps a table cell a cell.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A comment built block by block that stops, with a note, before it would pass its limit.
struct Comment {
    limit: usize,
    text: String,
    length: usize,
    /// The closing text of the open section, if any.
    closing: Option<&'static str>,
    dropped: usize,
}

const TRUNCATION_NOTE: &str = "\n> [!NOTE]\n> This plan is too long for one comment and was cut here. Run `modalplan plan` or read the job's log for the whole plan.\n";

impl Comment {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            text: String::new(),
            length: 0,
            closing: None,
            dropped: 0,
        }
    }

    fn fits(&self, block: &str) -> bool {
        let reserve = TRUNCATION_NOTE.chars().count()
            + self.closing.map_or(0, |closing| closing.chars().count());
        self.dropped == 0 && self.length + block.chars().count() + reserve <= self.limit
    }

    fn push(&mut self, block: impl AsRef<str>) {
        let block = block.as_ref();
        if self.fits(block) {
            self.length += block.chars().count();
            self.text.push_str(block);
        } else {
            self.dropped += 1;
        }
    }

    fn open_section(&mut self, opening: &str, closing: &'static str) {
        let needed = format!("{opening}{closing}");
        if self.fits(&needed) {
            self.length += opening.chars().count();
            self.text.push_str(opening);
            self.closing = Some(closing);
        } else {
            self.dropped += 1;
        }
    }

    fn close_section(&mut self) {
        if let Some(closing) = self.closing.take() {
            self.length += closing.chars().count();
            self.text.push_str(closing);
        }
    }

    fn finish(mut self) -> String {
        self.close_section();
        if self.dropped > 0 {
            self.text.push_str(TRUNCATION_NOTE);
        }
        self.text
    }
}
