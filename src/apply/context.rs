//! What every task of one apply shares, and the report of one action.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::report::{AppError, AppReport, Outcome};
use super::{ApplySettings, Event, EventSink, Interrupt};
use crate::backend::ModalBackend;
use crate::plan::Action;

/// What every task of one apply shares.
pub(super) struct Context {
    pub backend: Arc<dyn ModalBackend>,
    pub settings: ApplySettings,
    /// The code the plan's deploys ship, for their release records.
    pub code: crate::code::CodeSnapshot,
    pub interrupt: Interrupt,
    pub events: EventSink,
    /// Set by the first failure, for `--fail-fast`.
    pub failed: AtomicBool,
}

impl Context {
    pub fn emit(&self, event: &Event) {
        (self.events)(event);
    }
}

pub(super) fn report_for(
    action: &Action,
    outcome: Outcome,
    errors: Vec<AppError>,
    duration: Duration,
) -> AppReport {
    AppReport {
        environment: action.environment.clone(),
        app_name: action.app_name.clone(),
        reference: action.reference.clone(),
        kind: action.kind,
        outcome,
        errors,
        duration,
    }
}
