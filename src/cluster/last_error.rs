//! The last failure of a link to a shared engine, logged once and kept for
//! `/api/health` (a mutex read only by health, written only on failure).

use std::sync::Mutex;

#[derive(Debug, Default)]
pub(crate) struct LastError(Mutex<Option<String>>);

impl LastError {
    /// Logs the failure (`link` names the engine) and keeps it as the last one.
    pub(crate) fn record(&self, link: &'static str, what: &str, e: &dyn std::fmt::Display) {
        let msg = format!("{what}: {e}");
        tracing::warn!(link, error = %msg, "cluster link failed");
        if let Ok(mut last) = self.0.lock() {
            *last = Some(msg);
        }
    }

    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|e| e.clone())
    }
}
