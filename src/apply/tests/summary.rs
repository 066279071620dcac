//! The summary table of an apply.

use super::*;

#[test]
fn the_summary_table_names_each_outcome_version_and_failure() {
    let report = ApplyReport {
        apps: vec![
            AppReport {
                environment: "main".into(),
                app_name: "llm-litellm-v1".into(),
                reference: Some("llm/litellm@1".into()),
                kind: ActionKind::Update,
                outcome: Outcome::Deployed { version: 4 },
                errors: Vec::new(),
                duration: Duration::from_millis(12_340),
            },
            AppReport {
                environment: "main".into(),
                app_name: "replicate-generic-v1".into(),
                reference: Some("replicate/generic@1".into()),
                kind: ActionKind::Update,
                outcome: Outcome::RolledBack {
                    to: 2,
                    live: Some(4),
                },
                errors: vec![AppError::new(
                    Code::ErrSmokeFailed,
                    "smoke check `smoke` of `replicate-generic-v1` failed: boom",
                )],
                duration: Duration::from_secs(20),
            },
        ],
        interrupted: false,
        duration: Duration::from_millis(20_100),
    };
    assert_eq!(
        crate::render::apply::text(&report),
        "\
APP                   ENV   OUTCOME                                            VERSION  DURATION
llm-litellm-v1        main  deployed v4                                        v4       12.3s
replicate-generic-v1  main  rolled back to v2 (live as v4) (ERR_SMOKE_FAILED)  v4       20.0s

replicate-generic-v1 (main): rolled back to v2 (live as v4)
  ERR_SMOKE_FAILED: smoke check `smoke` of `replicate-generic-v1` failed: boom

Apply failed: 1 deployed, 0 unchanged, 1 failed in 20.1s.
"
    );
}
