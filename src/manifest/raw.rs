//! `processors.toml` as written: serde types that keep the span of every value a diagnostic may point at.
//!
//! Tables are not wrapped in `Spanned`: a table opened by a dotted key (`image.oci = ...`) has no span of
//! its own, so diagnostics point at a key or value inside it.
//!
//! The doc comments here are the schema's descriptions (`schemas/processors.schema.json` is generated from
//! these types), so they speak to the person editing the manifest.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::patterns;

/// Declares which processors run on Modal, with which pinned image, which secrets and where. `modalplan
/// plan` compares it with what is deployed; `modalplan apply` makes Modal match it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "processors.toml")]
pub struct RawManifest {
    /// Format version of this file. Only `1` exists.
    #[schemars(with = "u8", range(min = 1, max = 1), example = "examples::version")]
    pub version: Spanned<i64>,

    /// How modalplan deploys to Modal: the Python module, the folder it is imported from, the Modal
    /// environments this manifest manages and how to run the `modal` CLI.
    pub modal: RawModal,

    /// The default smoke check, run after each deploy. A processor may override any part of it.
    #[serde(default)]
    pub smoke: Option<RawSmoke>,

    /// The secrets policy: each Modal secret a processor may attach, named like the environment variable
    /// it provides, with the keys it must hold. Create each one with `modal secret create NAME KEY=... --env
    /// ENV`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawSecret>", example = "examples::secrets")]
    pub secrets: BTreeMap<Spanned<String>, RawSecret>,

    /// The processors, one `[[processor]]` table each.
    #[serde(default, rename = "processor")]
    pub processors: Vec<RawProcessor>,

    /// Promotion between environments: which environments only deploy what is already live,
    /// smoke-checked and soaked in the environment before them in `[modal].environments`. Without this
    /// table no environment is gated.
    #[serde(default)]
    pub promotion: Option<RawPromotion>,

    /// Modal app names that `modalplan plan --prune` never stops, even when they look like ours.
    #[serde(default)]
    #[schemars(
        with = "Vec<String>",
        inner(regex = "patterns::APP_NAME"),
        example = "examples::protect"
    )]
    pub protect: Vec<Spanned<String>>,
}

/// The `[modal]` section.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModal {
    /// Python module that defines the Modal app, deployed with `modal deploy -m MODULE`: a dotted Python
    /// name, no path.
    #[schemars(
        with = "String",
        regex = "patterns::MODULE",
        example = "examples::module"
    )]
    pub module: Spanned<String>,

    /// Folder the module is imported from, relative to this file, without `..`. Default: the folder of
    /// this file.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::WORKDIR",
        example = "examples::workdir"
    )]
    pub workdir: Option<Spanned<String>>,

    /// Modal environments this manifest manages, in rollout order. Every processor deploys to all of
    /// them unless it lists its own `environments`.
    #[schemars(
        with = "Vec<String>",
        length(min = 1),
        inner(regex = "patterns::ENVIRONMENT"),
        example = "examples::environments"
    )]
    pub environments: Spanned<Vec<Spanned<String>>>,

    /// How to run the `modal` CLI: the program and any leading arguments. Default: the `modal` installed
    /// beside modalplan in its virtual environment, else `modal` on `PATH`. `MODALPLAN_MODAL_BIN` wins
    /// over this.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        length(min = 1),
        example = "examples::cli"
    )]
    pub cli: Option<Spanned<Vec<String>>>,

    /// Python interpreter that has the Modal SDK installed, when it is not the one the `modal` CLI runs
    /// on. Used for the one helper process that reads Modal and calls smoke functions.
    #[serde(default)]
    #[schemars(with = "Option<String>", example = "examples::python")]
    pub python: Option<Spanned<String>>,

    /// Time limit for each read of Modal (app list, secret list, history), as a duration: `"60s"`,
    /// `"2m"`. Default: `"60s"`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::read_timeout"
    )]
    pub read_timeout: Option<Spanned<String>>,

    /// What else counts as the deploy's code, as globs relative to `workdir`: the module itself and every
    /// local `*.py` file under `workdir` always count (skipping `__pycache__` and dot-prefixed names);
    /// add data files the module ships (`"prompts/**"`), or leave files out with a leading `!`
    /// (`"!tests/**"`). A change of any file that counts changes the deploy's fingerprint.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>", example = "examples::code")]
    pub code: Option<Spanned<Vec<Spanned<String>>>>,

    /// Time limit for each `modal deploy`, as a duration. Default: `"10m"`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::deploy_timeout"
    )]
    pub deploy_timeout: Option<Spanned<String>>,

    /// How many times a deploy that failed transiently before publishing (a rate limit, Modal
    /// unavailable after the client's own retries) is tried again. A deploy whose outcome is unknown is
    /// decided by the app's history first: what went out is never deployed twice. Default: `1`.
    #[serde(default)]
    #[schemars(with = "Option<u8>", example = "examples::deploy_retries")]
    pub deploy_retries: Option<Spanned<u8>>,
}

/// The `[promotion]` section: the gate between environments, in the rollout order of
/// `[modal].environments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPromotion {
    /// Environments where a create or update needs the same deployment live, smoke-checked and soaked
    /// in the environment before it (its upstream). Default: every environment after the first; `[]`
    /// gates none.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        inner(regex = "patterns::ENVIRONMENT"),
        example = "examples::gated"
    )]
    pub gated: Option<Spanned<Vec<Spanned<String>>>>,

    /// How long a deployment must have been live upstream before a gated environment takes it, as a
    /// duration: `"30m"`, `"2h"`. Default: no soak.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::soak"
    )]
    pub soak: Option<Spanned<String>>,
}

/// A processor's own promotion policy.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProcessorPromotion {
    /// `false` deploys this processor to gated environments without the promotion check (a hotfix
    /// path). Default: `true`.
    #[serde(default)]
    pub gated: Option<bool>,

    /// This processor's soak time upstream, as a duration. Default: `[promotion].soak`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::soak"
    )]
    pub soak: Option<Spanned<String>>,
}

/// The `[smoke]` section: how a deployed app is checked.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSmoke {
    /// Modal function called with the payload. Default: `"smoke"`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::FUNCTION",
        example = "examples::function"
    )]
    pub function: Option<Spanned<String>>,

    /// Payload sent to the function; its `mode` is always sent as `"mock"`. Default: `{ schema = "v1",
    /// mode = "mock", params = {} }`.
    #[serde(default)]
    #[schemars(example = "examples::payload")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,

    /// Time limit of the call, as a duration: `"300s"`, `"5m"`. Default: `"300s"`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::smoke_timeout"
    )]
    pub timeout: Option<Spanned<String>>,
}

/// One entry of `[secrets]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    /// Keys the Modal secret must hold; each becomes an environment variable of the app.
    #[schemars(
        with = "Vec<String>",
        length(min = 1),
        inner(regex = "patterns::SECRET_NAME"),
        example = "examples::secret_keys"
    )]
    pub keys: Spanned<Vec<Spanned<String>>>,

    /// What the secret is for and where to get it; shown when it is missing.
    #[serde(default)]
    #[schemars(example = "examples::secret_description")]
    pub description: Option<String>,
}

/// One `[[processor]]`: a containerised tool deployed as one Modal app per environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProcessor {
    /// The processor ref, `namespace/name@version`; the app is named `namespace-name-v<version>`.
    #[serde(rename = "ref")]
    #[schemars(
        with = "String",
        regex = "patterns::REF",
        example = "examples::reference"
    )]
    pub reference: Spanned<String>,

    /// The OCI image the processor runs.
    pub image: RawImage,

    /// Secrets attached to the app. Each must be declared in `[secrets]`.
    #[serde(default)]
    pub secrets: Option<RawSecretLists>,

    /// Resources of the processor's function.
    #[serde(default)]
    pub runtime: Option<RawRuntime>,

    /// Modal environments this processor deploys to, each declared in `[modal].environments`. Default:
    /// all of them.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        length(min = 1),
        inner(regex = "patterns::ENVIRONMENT"),
        example = "examples::processor_environments"
    )]
    pub environments: Option<Spanned<Vec<Spanned<String>>>>,

    /// This processor's smoke check; unset parts come from `[smoke]`.
    #[serde(default)]
    pub smoke: Option<RawProcessorSmoke>,

    /// This processor's promotion policy; unset parts come from `[promotion]`. A processor's upstream in
    /// an environment is the one before it among the environments the processor deploys to; one with
    /// no such environment (a processor only on `main`) is not gated.
    #[serde(default)]
    pub promotion: Option<RawProcessorPromotion>,

    /// Per-environment overrides, `[processor.env.ENV]`: a different image, secrets, runtime or smoke
    /// check in one environment (a staged rollout), or `enabled = false` to leave it out there.
    #[serde(default)]
    #[schemars(
        with = "BTreeMap<String, RawOverride>",
        example = "examples::overrides"
    )]
    pub env: BTreeMap<Spanned<String>, RawOverride>,
}

/// The image of a processor.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    /// Image reference pinned by digest: `registry/repository@sha256:<64 hex>`. A tag alone (`:latest`)
    /// or `sha256:pending` is refused, so what is deployed is exactly what was reviewed; a pin may record
    /// the tag it was resolved from, `repository:tag@sha256:<64 hex>` (`modalplan pin` writes it, the
    /// digest is what is pulled). An image on `ghcr.io` is pulled with the `REGISTRY_AUTH` secret.
    #[schemars(
        with = "String",
        regex = "patterns::IMAGE",
        example = "examples::image"
    )]
    pub oci: Spanned<String>,
}

/// The secrets a processor attaches.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecretLists {
    /// Secrets that must exist in every environment the processor deploys to; a missing one blocks the
    /// plan.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        inner(regex = "patterns::SECRET_NAME"),
        example = "examples::secrets_required"
    )]
    pub required: Option<Vec<Spanned<String>>>,

    /// Secrets attached when they exist; a missing one is a warning.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<String>>",
        inner(regex = "patterns::SECRET_NAME"),
        example = "examples::secrets_optional"
    )]
    pub optional: Option<Vec<Spanned<String>>>,
}

/// Resources of a processor's function; unset ones take Modal's defaults.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// CPU cores reserved, e.g. `0.5`, `1.0`, `4`.
    #[serde(default)]
    #[schemars(range(min = 0.125, max = 64), example = "examples::cpu")]
    pub cpu: Option<f64>,

    /// Memory reserved, in MiB.
    #[serde(default)]
    #[schemars(range(min = 128, max = 344_064), example = "examples::memory_mb")]
    pub memory_mb: Option<u32>,

    /// GPU type, optionally with a count: `"T4"`, `"L4"`, `"A10G"`, `"A100-80GB"`, `"H100:2"`.
    #[serde(default)]
    #[schemars(regex = "patterns::GPU", example = "examples::gpu")]
    pub gpu: Option<String>,

    /// Time limit of one call, in seconds.
    #[serde(default)]
    #[schemars(range(min = 1, max = 86_400), example = "examples::timeout_s")]
    pub timeout_s: Option<u32>,
}

/// A processor's own smoke check.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawProcessorSmoke {
    /// Modal function called with the payload. Default: `[smoke].function`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::FUNCTION",
        example = "examples::function"
    )]
    pub function: Option<Spanned<String>>,

    /// Payload sent to the function; its `mode` is always sent as `"mock"`. Default: `[smoke].payload`.
    #[serde(default)]
    #[schemars(example = "examples::payload")]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,

    /// Time limit of the call, as a duration. Default: `[smoke].timeout`.
    #[serde(default)]
    #[schemars(
        with = "Option<String>",
        regex = "patterns::DURATION",
        example = "examples::smoke_timeout"
    )]
    pub timeout: Option<Spanned<String>>,

    /// `false` skips the smoke check of this processor. Default: `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `[processor.env.ENV]`: what differs in one environment.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOverride {
    /// `false` leaves the processor out of this environment. Default: `true`.
    #[serde(default)]
    pub enabled: Option<bool>,

    /// The image in this environment (e.g. a new digest on `dev` before `main`).
    #[serde(default)]
    pub image: Option<RawImage>,

    /// Replaces the processor's `required` and/or `optional` secrets in this environment.
    #[serde(default)]
    pub secrets: Option<RawSecretLists>,

    /// Replaces the named runtime fields in this environment; the others are the processor's.
    #[serde(default)]
    pub runtime: Option<RawRuntime>,

    /// Replaces the named smoke fields in this environment.
    #[serde(default)]
    pub smoke: Option<RawProcessorSmoke>,
}

/// Values shown as `examples` in the schema, so editors can offer them.
mod examples {
    use serde_json::{Value, json};

    pub fn version() -> Value {
        json!(1)
    }
    pub fn module() -> Value {
        json!("modal_app")
    }
    pub fn workdir() -> Value {
        json!("examples")
    }
    pub fn environments() -> Value {
        json!(["dev", "staging", "main"])
    }
    pub fn gated() -> Value {
        json!(["staging", "main"])
    }
    pub fn soak() -> Value {
        json!("30m")
    }
    pub fn processor_environments() -> Value {
        json!(["dev", "staging"])
    }
    pub fn cli() -> Value {
        json!(["uvx", "--from", "modal==1.0.5", "modal"])
    }
    pub fn python() -> Value {
        json!(".venv/bin/python")
    }
    pub fn read_timeout() -> Value {
        json!("60s")
    }
    pub fn code() -> Value {
        json!(["prompts/**", "!tests/**"])
    }
    pub fn deploy_timeout() -> Value {
        json!("10m")
    }
    pub fn deploy_retries() -> Value {
        json!(1)
    }
    pub fn function() -> Value {
        json!("smoke")
    }
    pub fn payload() -> Value {
        json!({ "schema": "v1", "mode": "mock", "params": {} })
    }
    pub fn smoke_timeout() -> Value {
        json!("300s")
    }
    pub fn secrets() -> Value {
        json!({ "REGISTRY_AUTH": { "keys": ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"] } })
    }
    pub fn secret_keys() -> Value {
        json!(["REGISTRY_USERNAME", "REGISTRY_PASSWORD"])
    }
    pub fn secret_description() -> Value {
        json!("Pull access to ghcr.io/acme: a GitHub user and a token with read:packages")
    }
    pub fn reference() -> Value {
        json!("llm/litellm@1")
    }
    pub fn image() -> Value {
        json!(
            "ghcr.io/acme/theory/llm-litellm@sha256:a7269615a11401e4bb856b257673309d60d4b3e80e25f9281954fca9413617ce"
        )
    }
    pub fn secrets_required() -> Value {
        json!(["OPENAI_API_KEY"])
    }
    pub fn secrets_optional() -> Value {
        json!(["LITELLM_API_BASE"])
    }
    pub fn cpu() -> Value {
        json!(1.0)
    }
    pub fn memory_mb() -> Value {
        json!(2048)
    }
    pub fn gpu() -> Value {
        json!("A10G")
    }
    pub fn timeout_s() -> Value {
        json!(60)
    }
    pub fn overrides() -> Value {
        json!({ "main": { "enabled": false } })
    }
    pub fn protect() -> Value {
        json!(["legacy-router-v1"])
    }
}
