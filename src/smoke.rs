//! The smoke check: one call of an app's smoke function with its payload in `mode="mock"`, judged by the
//! envelope it answers with. Shared by apply, `smoke`, `deploy` and `rollback`; each says in its own
//! words what a failure means.

use std::time::Duration;

use serde_json::Value;

use crate::backend::{BackendError, CallRequest, ModalBackend};

/// One smoke call: which function, with what payload (sent with `mode` forced to `"mock"`), how long to
/// wait for its answer.
#[derive(Debug, Clone, Copy)]
pub struct SmokeCall<'a> {
    pub environment: &'a str,
    pub app_name: &'a str,
    pub function: &'a str,
    pub payload: &'a Value,
    pub timeout: Duration,
}

/// Why a smoke check did not pass.
#[derive(Debug)]
pub enum SmokeFailure {
    /// The function answered with an error envelope; the envelope's message.
    Reported(String),
    /// The function raised; the exception as the call helper reports it.
    Raised(String),
    /// The call did not get an answer: the app or function is missing, it timed out, Modal failed.
    Backend(BackendError),
}

impl SmokeFailure {
    /// The failure as one message: the envelope's or the exception's text, or the backend error.
    pub fn message(&self) -> String {
        match self {
            SmokeFailure::Reported(message) | SmokeFailure::Raised(message) => message.clone(),
            SmokeFailure::Backend(error) => error.to_string(),
        }
    }
}

/// Calls the smoke function and judges its answer.
pub async fn check(backend: &dyn ModalBackend, call: SmokeCall<'_>) -> Result<(), SmokeFailure> {
    let request = CallRequest {
        environment: call.environment.to_owned(),
        app_name: call.app_name.to_owned(),
        function: call.function.to_owned(),
        payload: mock_payload(call.payload),
        timeout: call.timeout,
    };
    match backend.call(&request).await {
        Ok(value) => match envelope_error(&value) {
            Some(message) => Err(SmokeFailure::Reported(message)),
            None => Ok(()),
        },
        Err(BackendError::SmokeFailed { message, .. }) => Err(SmokeFailure::Raised(message)),
        Err(error) => Err(SmokeFailure::Backend(error)),
    }
}

/// The smoke payload with `mode` forced to `"mock"` (a payload that is not an object is sent as it is).
pub fn mock_payload(payload: &Value) -> Value {
    let mut payload = payload.clone();
    if let Some(object) = payload.as_object_mut() {
        object.insert("mode".to_owned(), Value::from("mock"));
    }
    payload
}

/// The error an envelope reports: `status` of `error`, `failed` or `failure`, with the message from
/// `error.message`, `error` or `message`.
pub fn envelope_error(value: &Value) -> Option<String> {
    let status = value.get("status")?.as_str()?;
    if !matches!(
        status.to_ascii_lowercase().as_str(),
        "error" | "failed" | "failure"
    ) {
        return None;
    }
    let message = value
        .get("error")
        .and_then(|error| {
            error
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| error.as_str())
        })
        .or_else(|| value.get("message").and_then(Value::as_str))
        .map_or_else(
            || format!("the smoke function returned status `{status}`"),
            str::to_owned,
        );
    Some(message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_envelope_reports_its_error_by_status_and_message() {
        assert_eq!(
            envelope_error(&json!({"status": "error", "error": {"message": "m"}})),
            Some("m".to_owned())
        );
        assert_eq!(
            envelope_error(&json!({"status": "FAILED", "message": "x"})),
            Some("x".to_owned())
        );
        assert_eq!(
            envelope_error(&json!({"status": "failure", "error": "plain"})),
            Some("plain".to_owned())
        );
        assert_eq!(
            envelope_error(&json!({"status": "error"})),
            Some("the smoke function returned status `error`".to_owned())
        );
        assert_eq!(envelope_error(&json!({"status": "ok"})), None);
        assert_eq!(envelope_error(&json!([1, 2])), None);
    }

    #[test]
    fn the_payload_is_sent_in_mock_mode() {
        assert_eq!(
            mock_payload(&json!({"schema": "v1", "mode": "real", "params": {}})),
            json!({"schema": "v1", "mode": "mock", "params": {}})
        );
        assert_eq!(mock_payload(&json!([1])), json!([1]));
    }
}
