//! GitHub, for the pull-request path: the sticky plan comment through the REST API ([`comment`]) and
//! the GitHub Actions integration: annotations, step summary, step outputs, masks ([`actions`]), and the
//! annotations every command writes under Actions whatever its `--format` ([`annotate`]).

pub mod actions;
pub mod annotate;
pub mod comment;
pub mod error;
pub mod settings;
pub mod workflows;

pub use comment::{CommentAction, CommentOutcome, publish_plan_comment, upsert_plan_comment};
pub use error::GithubError;
pub use settings::{GithubSettings, Repository, Token};
