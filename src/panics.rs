//! What a caught panic said, for the log line of whichever boundary caught it (the
//! HTTP pipeline, the WebSocket dispatcher, the scanner's probe, the decode pool).

/// The panic's message: its `&str` or `String` payload, else a placeholder.
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
