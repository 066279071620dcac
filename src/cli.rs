//! The command line, in one place. Parsed values are resolved into settings by each command.

use std::path::PathBuf;

pub use crate::settings::ColorChoice;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Plan and apply deployments of processors to Modal from one declarative manifest.
#[derive(Debug, Parser)]
#[command(name = "modalplan", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to colour output: `auto` colours a terminal only, and honours `NO_COLOR`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// More detail on standard error (repeat for more); `RUST_LOG` works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The manifest to read.
#[derive(Debug, Clone, Args)]
pub struct ManifestArgs {
    /// Path of the manifest.
    #[arg(long, env = "MODALPLAN_MANIFEST", default_value = "processors.toml")]
    pub manifest: PathBuf,
}

/// Which deployments a plan covers.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Only this Modal environment (repeatable; default: every environment the manifest manages).
    #[arg(long = "env", value_name = "ENV")]
    pub environments: Vec<String>,

    /// Only this processor ref (repeatable).
    #[arg(long = "target", value_name = "REF")]
    pub targets: Vec<String>,

    /// Plan the caller's sandbox names (`<user>-<branch>-<app>`) instead of the CI names.
    #[arg(long)]
    pub sandbox: bool,

    /// Skip the registry pre-flight check of image digests (offline use).
    #[arg(long)]
    pub no_registry_check: bool,

    /// Stop orphans: apps named like a managed processor that the manifest no longer lists.
    #[arg(long)]
    pub prune: bool,

    /// Plan a deployment that failed its smoke check before (`ERR_FAILED_BEFORE`) as an ordinary change:
    /// deploy it again on purpose.
    #[arg(long)]
    pub retry_failed: bool,

    /// Let creates and updates that `[promotion]` holds back (`ERR_NOT_PROMOTED`) go ahead, for this run
    /// only: each is warned about, and its release record says the check was skipped.
    #[arg(long)]
    pub skip_promotion_check: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest: TOML syntax, the JSON Schema, then the semantic rules.
    #[command(
        after_help = "Examples:\n  modalplan validate\n  modalplan validate --manifest deploy/processors.toml --format github"
    )]
    Validate(ValidateArgs),

    /// Print the JSON Schema of the manifest.
    #[command(after_help = "Example:\n  modalplan schema > schemas/processors.schema.json")]
    Schema,

    /// Print the Modal app name of a processor ref.
    #[command(
        after_help = "Examples:\n  modalplan name llm/litellm@1            # llm-litellm-v1\n  modalplan name llm/litellm@1 --sandbox  # <user>-<branch>-llm-litellm-v1"
    )]
    Name(NameArgs),

    /// Compare the manifest with what is deployed on Modal and print what would change.
    #[command(
        after_help = "Examples:\n  modalplan plan\n  modalplan plan --env main --format markdown\n  modalplan plan --out plan.json --detailed-exitcode"
    )]
    Plan(PlanArgs),

    /// Make Modal match the manifest: deploy, smoke-check, roll back what fails.
    #[command(
        after_help = "Examples:\n  modalplan apply --env main\n  modalplan apply plan.json --yes\n  modalplan apply --env main --yes --lock-timeout 10m   # wait for another apply's lock"
    )]
    Apply(ApplyArgs),

    /// Remove the apply lock of an environment left by a run that is gone.
    #[command(
        after_help = "Example:\n  modalplan force-unlock --env main lk-3f9a0c21b7e4   # the id ERR_LOCKED showed\n\nOnly when the run that holds it is gone (its last heartbeat is old): a running apply's lock is\nreleased by that apply, and removing it lets another apply deploy at the same time."
    )]
    ForceUnlock(ForceUnlockArgs),

    /// Deploy one processor to your personal sandbox (`<user>-<branch>-<app>`).
    #[command(
        after_help = "Examples:\n  modalplan deploy --env dev --ref llm/litellm@1\n  modalplan deploy --env dev --ref llm/litellm@1 --image ghcr.io/acme/llm-litellm@sha256:<64 hex> --secrets OPENAI_API_KEY"
    )]
    Deploy(DeployArgs),

    /// Show an app's logs (`modal app logs`), of your sandbox app unless `--ci-name` or `--app-name`.
    #[command(
        after_help = "Examples:\n  modalplan logs --env dev --ref llm/litellm@1\n  modalplan logs --env main --ref llm/litellm@1 --ci-name --follow"
    )]
    Logs(LogsArgs),

    /// Call a deployed processor with a payload and print its result as JSON.
    #[command(
        after_help = "Example:\n  modalplan invoke --env dev --ref llm/litellm@1 --payload-json '{\"schema\":\"v1\",\"mode\":\"mock\",\"params\":{}}'"
    )]
    Invoke(InvokeArgs),

    /// Re-run the smoke checks of deployed apps; exit 1 if any fails.
    #[command(
        after_help = "Examples:\n  modalplan smoke --env main\n  modalplan smoke --env dev --ref llm/litellm@1 --sandbox"
    )]
    Smoke(SmokeArgs),

    /// Work with the secrets policy.
    #[command(
        subcommand,
        after_help = "Examples:\n  modalplan secrets check --env main\n  modalplan secrets sync --env main --dry-run"
    )]
    Secrets(SecretsCommand),

    /// Resolve an image tag to its digest and write the pin into the manifest.
    #[command(
        after_help = "Examples:\n  modalplan pin --ref llm/litellm@1 --tag 2026.12.02\n  modalplan pin --ref llm/litellm@1 --image ghcr.io/acme/theory/llm-litellm:main --env dev\n  modalplan pin --all --tag \"$GITHUB_SHA\"\n  modalplan pin --check   # exit 2 when a recorded tag moved\n\nThe pin records the tag: `repo:TAG@sha256:...`; Modal pulls the digest. Credentials, and the\nregistry's address, come from the same variables as the plan's pre-flight (REGISTRY_USERNAME,\nREGISTRY_PASSWORD, MODALPLAN_REGISTRY_URL_<HOST>)."
    )]
    Pin(PinArgs),

    /// Pin in a downstream environment's overrides the images live upstream that passed its smoke
    /// check and soaked there, so promotion is a reviewed commit of `processors.toml`.
    #[command(
        after_help = "Examples:\n  modalplan promote --from staging --to main\n  modalplan promote --from staging --to main --ref llm/litellm@1\n  modalplan promote --from staging --to main --check   # exit 2 when something waits to be promoted\n\nEach image is written as `image.oci` of `[processor.env.<to>]`, the rest of the file is kept byte for\nbyte, and the diff is printed. What `[promotion]` would still hold back (not smoke-checked, still\nsoaking) is listed and not written."
    )]
    Promote(PromoteArgs),

    /// What is deployed for each ref, and whether it matches the manifest.
    #[command(
        after_help = "Examples:\n  modalplan status --env main\n  modalplan status --env dev --sandbox"
    )]
    Status(StatusArgs),

    /// The releases of one app, newest first: Modal's deployment history joined with modalplan's
    /// release records (who, when, commit, image, smoke result, rollbacks).
    #[command(
        after_help = "Examples:\n  modalplan history --env main --ref llm/litellm@1\n  modalplan history --env dev --ref llm/litellm@1 --sandbox --format json"
    )]
    History(HistoryArgs),

    /// Roll an app back through Modal (to the previous version, or `--to vN`), smoke-check what is then
    /// live and record it.
    #[command(
        after_help = "Examples:\n  modalplan rollback --env main --ref llm/litellm@1\n  modalplan rollback --env main --ref llm/litellm@1 --to v3\n\nThe next plan shows the app as differing from the manifest, and why: apply would deploy the\nmanifest's version again. Revert the change in the manifest to keep the rollback."
    )]
    Rollback(RollbackArgs),

    /// Stop your own sandbox app (`<user>-<branch>-<app>`).
    #[command(
        after_help = "Examples:\n  modalplan destroy --env dev --ref llm/litellm@1\n  modalplan destroy --env dev --ref llm/litellm@1 --app-name llm-litellm-v1 --yes   # a CI name: only on purpose"
    )]
    Destroy(DestroyArgs),

    /// Scaffold `processors.toml`, its schema, `modal_app.py` and CI workflows.
    #[command(
        after_help = "Examples:\n  modalplan init\n  modalplan init --dir services/processors --force"
    )]
    Init(InitArgs),

    /// Stop sandbox apps whose git branch no longer exists.
    #[command(
        after_help = "Examples:\n  modalplan prune --sandboxes --env dev        # list them\n  modalplan prune --sandboxes --env dev --yes  # stop them"
    )]
    Prune(PruneArgs),

    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  modalplan completions bash > ~/.local/share/bash-completion/completions/modalplan\n  modalplan completions zsh > \"${fpath[1]}/_modalplan\""
    )]
    Completions(CompletionsArgs),

    /// Print the man page.
    #[command(after_help = "Example:\n  modalplan man > modalplan.1 && man ./modalplan.1")]
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// Rendered diagnostics with the source line.
    Human,
    /// One JSON document with every diagnostic.
    Json,
    /// GitHub workflow-command annotations.
    Github,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,

    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// A processor ref, `namespace/name@version`.
    #[arg(value_name = "REF")]
    pub reference: String,

    /// The Modal environment (names do not depend on it; accepted for symmetry with other commands).
    #[arg(long = "env", value_name = "ENV")]
    pub environment: Option<String>,

    /// The caller's sandbox name (`<user>-<branch>-<app>`).
    #[arg(long)]
    pub sandbox: bool,

    /// Use this name as it is (checked against Modal's rules).
    #[arg(long)]
    pub app_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,

    /// Save the plan, with what it was computed against, for `modalplan apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error or a blocked plan.
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Post the Markdown plan as one sticky comment on the pull request (GitHub Actions).
    #[arg(long)]
    pub github_comment: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `modalplan plan --out`: applied exactly, or refused if stale.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How many deploys run at once. Above twice the machine's cores, the first ones are launched half a
    /// second apart so that their starts do not hold each other up.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,

    /// Stop launching deploys after the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Leave a failed deploy in place instead of rolling it back.
    #[arg(long)]
    pub no_rollback: bool,

    /// Where deploy logs are written.
    #[arg(long, value_name = "DIR", default_value = crate::settings::LOG_DIR)]
    pub log_dir: PathBuf,

    /// After Ctrl-C or SIGTERM, how long running deploys may go on before they are killed (and what they
    /// changed rolled back); a second signal ends it at once.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::settings::GRACE_PERIOD_SECONDS)]
    pub grace_period: u64,

    /// How long to wait for the apply lock while another run holds it (`30s`, `10m`); the plan is then
    /// made again. 0: fail at once with `ERR_LOCKED`.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = lock_timeout)]
    pub lock_timeout: std::time::Duration,

    /// Do not take the apply lock. Dangerous: another apply may deploy the same apps at the same time.
    #[arg(long, conflicts_with = "lock_timeout")]
    pub no_lock: bool,
}

/// `0`, or a duration such as `30s`, `10m`, `1h`.
fn lock_timeout(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    crate::manifest::duration::parse(text)
        .ok_or_else(|| "write 0 or a duration such as `30s`, `10m` or `1h`".to_owned())
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The environment whose apply lock to remove.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// The id of the lock, as `ERR_LOCKED` shows it; a lock with another id is left alone.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: String,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The Modal environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// The processor ref.
    #[arg(long = "ref", value_name = "REF")]
    pub reference: String,

    /// Use this app name instead of the sandbox name.
    #[arg(long)]
    pub app_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Deploy this image instead of the manifest's (must be pinned by digest).
    #[arg(long, value_name = "IMAGE@sha256:DIGEST")]
    pub image: Option<String>,

    /// Attach these secrets instead of the manifest's (comma list).
    #[arg(long, value_delimiter = ',')]
    pub secrets: Option<Vec<String>>,

    #[arg(long)]
    pub no_registry_check: bool,

    /// Skip the smoke check after the deploy.
    #[arg(long)]
    pub no_smoke: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Keep streaming new lines.
    #[arg(long, short)]
    pub follow: bool,

    /// Read the CI app name instead of the sandbox name.
    #[arg(long)]
    pub ci_name: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Mock,
    Real,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The payload, e.g. `{"schema":"v1","mode":"mock","params":{}}`.
    #[arg(long, value_name = "JSON")]
    pub payload_json: String,

    /// Overrides the payload's `mode`.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,

    /// Function to call.
    #[arg(long, default_value = "run")]
    pub function: String,

    /// Allow `--mode real` when `CI=true`.
    #[arg(long)]
    pub allow_real_in_ci: bool,

    /// Call the CI app name instead of the sandbox name.
    #[arg(long)]
    pub ci_name: bool,

    /// How long to wait for the result (`30s`, `2m`); default: the function's `timeout_s` and 30s more,
    /// or 5m.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// Only this ref (repeatable).
    #[arg(long = "ref", value_name = "REF")]
    pub references: Vec<String>,

    /// Smoke-check the caller's sandbox apps.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Each declared secret in an environment: present or missing, who needs it, how to create it.
    /// Values are never read. Exit 1 if a required one is missing.
    #[command(after_help = "Example:\n  modalplan secrets check --env main")]
    Check(SecretsCheckArgs),

    /// Make each declared secret on Modal hold exactly its declared keys, values taken from the process
    /// environment (by key name), a dotenv file or a JSON file. Values never appear on a command line or
    /// in any output. Exit 1 if any secret failed.
    #[command(
        after_help = "Examples:\n  modalplan secrets sync --env main                      # values from the environment (CI)\n  modalplan secrets sync --env dev --from-dotenv .env.dev --only OPENAI_API_KEY\n  modalplan secrets sync --env main --from-json secrets.json --dry-run"
    )]
    Sync(SecretsSyncArgs),
}

#[derive(Debug, Args)]
pub struct SecretsSyncArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The Modal environment whose secrets are written.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// Take each value from the process environment variable named like its key (the default).
    #[arg(long, conflicts_with_all = ["from_dotenv", "from_json"])]
    pub from_env: bool,

    /// Take the values from a dotenv file (`KEY=value` lines).
    #[arg(long, value_name = "FILE", conflicts_with = "from_json")]
    pub from_dotenv: Option<PathBuf>,

    /// Take the values from a JSON file: one object of key → string value.
    #[arg(long, value_name = "FILE")]
    pub from_json: Option<PathBuf>,

    /// Only this declared secret (repeatable; default: every secret of `[secrets]`).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,

    /// List what would be created or replaced, by name and key, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PinArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The processor to pin (repeatable).
    #[arg(long = "ref", value_name = "REF", conflicts_with_all = ["all", "check"])]
    pub references: Vec<String>,

    /// Pin every processor whose repository has the tag `--tag`; the others are left as they are.
    #[arg(long, requires = "tag", conflicts_with = "check")]
    pub all: bool,

    /// The tag to resolve, in the repository the processor's pin names.
    #[arg(long, value_name = "TAG", conflicts_with_all = ["image", "check"])]
    pub tag: Option<String>,

    /// The image to resolve, `REPO:TAG` (another repository than the pin's).
    #[arg(long, value_name = "REPO:TAG", requires = "references", conflicts_with_all = ["all", "check"])]
    pub image: Option<String>,

    /// Write the pin into this environment's override (`[processor.env.ENV]`) instead of the processor's
    /// own `image.oci`.
    #[arg(long = "env", value_name = "ENV", conflicts_with = "check")]
    pub environment: Option<String>,

    /// Resolve every tag a pin records (`repo:tag@sha256:...`) and exit 2 if any now points at another
    /// digest (1 on errors); the manifest is not changed.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The upstream environment whose live images are promoted.
    #[arg(long, value_name = "ENV")]
    pub from: String,

    /// The downstream environment whose overrides are written.
    #[arg(long, value_name = "ENV")]
    pub to: String,

    /// Promote only this processor (repeatable); every one that deploys to both by default.
    #[arg(long = "ref", value_name = "REF")]
    pub references: Vec<String>,

    /// Only report what waits to be promoted, and exit 2 when something does (0 when nothing does); the
    /// manifest is not changed.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SecretsCheckArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// Show the caller's sandbox apps (`<user>-<branch>-<app>`) instead of the CI names.
    #[arg(long)]
    pub sandbox: bool,
}

/// Which app of a ref a release command reads or changes.
#[derive(Debug, Args)]
pub struct ReleaseTargetArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// The Modal environment.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// The processor ref.
    #[arg(long = "ref", value_name = "REF")]
    pub reference: String,

    /// The caller's sandbox app (`<user>-<branch>-<app>`) instead of the CI name.
    #[arg(long, conflicts_with = "app_name")]
    pub sandbox: bool,

    /// This app name instead of the CI name.
    #[arg(long)]
    pub app_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: ReleaseTargetArgs,

    #[arg(long, value_enum, default_value_t = HistoryFormat::Text)]
    pub format: HistoryFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: ReleaseTargetArgs,

    /// The version to make live again (`v3` or `3`); default: the one before the live version.
    #[arg(long, value_name = "vN")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Stop an app that has a CI name (only with `--app-name`).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to scaffold in.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,

    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    /// Sandbox apps whose branch is gone from the git remote.
    #[arg(long, required = true)]
    pub sandboxes: bool,

    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,

    /// Stop them (without it, only list).
    #[arg(long)]
    pub yes: bool,

    /// The git remote whose branches count.
    #[arg(long, default_value = "origin")]
    pub remote: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}
