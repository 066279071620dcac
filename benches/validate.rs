//! Validating a generated manifest of 10,000 processors: parse, schema, semantic checks, resolution.
//! The figure is recorded in docs/benchmarks.md. Run with `cargo bench --bench validate`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

/// The allocator of the `modalplan` binary, so that the figure is the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A realistic manifest: three environments, the seed's secrets, and `count` processors with secrets,
/// runtime, and every tenth one with an override.
fn generate(count: usize) -> String {
    let mut text = String::from(
        r#"#:schema ./schemas/processors.schema.json

version = 1

[modal]
module = "modal_app"
workdir = "examples"
environments = ["dev", "staging", "main"]

[smoke]
function = "smoke"
payload = { schema = "v1", mode = "mock", params = {} }
timeout = "300s"

[secrets.REGISTRY_AUTH]
keys = ["REGISTRY_USERNAME", "REGISTRY_PASSWORD"]

[secrets.OPENAI_API_KEY]
keys = ["OPENAI_API_KEY"]

[secrets.LITELLM_API_BASE]
keys = ["LITELLM_API_BASE"]
"#,
    );
    for index in 0..count {
        let digest = format!("{index:064x}");
        let _ = write!(
            text,
            r#"
[[processor]]
ref = "team{team}/tool-{index}@1"
image.oci = "ghcr.io/acme/theory/tool-{index}@sha256:{digest}"
secrets.required = ["OPENAI_API_KEY"]
secrets.optional = ["LITELLM_API_BASE"]
runtime = {{ cpu = 1.0, memory_mb = 2048, timeout_s = 60 }}
"#,
            team = index % 50
        );
        if index % 10 == 0 {
            let _ = write!(
                text,
                "\n[processor.env.main]\nimage.oci = \"ghcr.io/acme/theory/tool-{index}@sha256:{:064x}\"\n",
                index + 1
            );
        }
    }
    text
}

fn validate_10k(c: &mut Criterion) {
    let text = generate(10_000);
    let path = Path::new("processors.toml");
    let loaded =
        modalplan::manifest::load_str(&text, path).expect("the generated manifest is valid");
    assert_eq!(loaded.manifest.processors.len(), 10_000);
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("10000 processors", |b| {
        b.iter(|| modalplan::manifest::load_str(black_box(&text), path));
    });
    group.finish();
}

criterion_group!(benches, validate_10k);
criterion_main!(benches);
