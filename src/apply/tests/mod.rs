//! The executor against the in-memory fake: order of calls, the parallelism bound, rollback paths,
//! fail-fast, refusal of concurrent changes, interrupts. The shared fixtures are here; each topic is a
//! module.

mod apply_lock;
mod concurrent_change;
mod deploy;
mod interrupt;
mod prune;
mod release_records;
mod rollback;
mod saved_plan;
mod scheduling;
mod summary;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::backend::BackendError;
use crate::backend::fake::{DeployFault, FakeBackend, FakeCall, SmokeAnswer};
use crate::codes::Code;
use crate::plan::model::{
    Action, ActionKind, Desired, Live, ManifestIdentity, PLAN_FORMAT_VERSION, Plan, RuntimeSpec,
    SmokeSpec,
};

const OLD_TAG: &str = "mp2-000000000000-aaaaaa-bbbbbb-cccccc-dddddd";
const NEW_TAG: &str = "mp2-111111111111-aaaaaa-bbbbbb-cccccc-dddddd";

fn settings(log_dir: &std::path::Path) -> ApplySettings {
    ApplySettings {
        parallelism: 4,
        fail_fast: false,
        rollback: true,
        log_dir: log_dir.to_path_buf(),
        workdir: "code".into(),
        module: "modal_app".into(),
        deploy_timeout: Duration::from_secs(60),
        protect: Vec::new(),
        grace_period: Duration::from_secs(5),
        launch_spacing: Duration::ZERO,
        provenance: crate::apply::Provenance {
            manifest: Some("processors.toml".into()),
            commit: Some("0123abc".into()),
            dirty: Some(false),
            by: "ci".into(),
        },
    }
}

fn desired() -> Desired {
    Desired {
        tag: NEW_TAG.into(),
        image: format!("ghcr.io/acme/tool@sha256:{}", "1".repeat(64)),
        secrets: vec!["OPENAI_API_KEY".into(), "REGISTRY_AUTH".into()],
        runtime: RuntimeSpec {
            cpu: Some(1.5),
            memory_mb: Some(2048),
            gpu: None,
            timeout_s: Some(60),
        },
        module: "modal_app".into(),
        smoke: Some(SmokeSpec {
            function: "smoke".into(),
            payload: serde_json::json!({"schema": "v1", "mode": "real", "params": {}}),
            timeout_s: 30,
        }),
    }
}

fn create(app: &str) -> Action {
    Action {
        environment: "main".into(),
        reference: Some(format!("ns/{app}@1")),
        app_name: app.into(),
        kind: ActionKind::Create,
        reasons: Vec::new(),
        before: None,
        after: Some(desired()),
        blockers: Vec::new(),
        promotion: None,
    }
}

fn update(app: &str, version: u32) -> Action {
    Action {
        kind: ActionKind::Update,
        before: Some(Live {
            version,
            tag: Some(OLD_TAG.into()),
            release: None,
        }),
        ..create(app)
    }
}

fn plan(actions: Vec<Action>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        manifest: ManifestIdentity {
            path: "processors.toml".into(),
            sha256: "sha256:00".into(),
        },
        environments: vec!["main".into()],
        actions,
        warnings: Vec::new(),
        locks: Vec::new(),
        code: crate::code::CodeSnapshot::default(),
    }
}

struct Run {
    report: ApplyReport,
    events: Vec<String>,
}

async fn run(backend: &FakeBackend, plan: &Plan, settings: &ApplySettings) -> Run {
    run_with(backend, plan, settings, Interrupt::never()).await
}

async fn run_with(
    backend: &FakeBackend,
    plan: &Plan,
    settings: &ApplySettings,
    interrupt: Interrupt,
) -> Run {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = Arc::clone(&events);
    let sink: EventSink = Arc::new(move |event: &Event| {
        sink_events
            .lock()
            .unwrap()
            .push(crate::render::apply::event(event));
    });
    let report = execute(Arc::new(backend.clone()), plan, settings, interrupt, sink).await;
    let events = events.lock().unwrap().clone();
    Run { report, events }
}

fn outcomes(report: &ApplyReport) -> Vec<(String, String, Vec<Code>)> {
    report
        .apps
        .iter()
        .map(|app| {
            (
                app.app_name.clone(),
                crate::render::apply::outcome(app.outcome),
                app.errors.iter().map(|error| error.code).collect(),
            )
        })
        .collect()
}

fn smoke_ok() -> SmokeAnswer {
    SmokeAnswer::Value(serde_json::json!({"status": "ok", "result": {"echo": "mock"}}))
}

fn smoke_error(message: &str) -> SmokeAnswer {
    SmokeAnswer::Value(serde_json::json!({"status": "error", "error": {"message": message}}))
}
