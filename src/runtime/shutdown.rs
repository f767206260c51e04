//! SIGINT/SIGTERM → a `Shutdown` message into every core's inbox. A second signal exits
//! at once (130) for an operator who does not want to wait for the drain.
//! SIGHUP → the TLS certificate and key are read again (open connections keep theirs).

use super::mailbox::{CoreMessage, Mailboxes};
use crate::tls::Tls;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::Arc;

/// Starts the signal thread. Fails only if the handlers cannot be installed.
pub(crate) fn watch_signals(mailboxes: Mailboxes, tls: Option<Arc<Tls>>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("auralis-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                if sig == SIGHUP {
                    reload(tls.as_deref());
                    continue;
                }
                seen += 1;
                if seen > 1 {
                    tracing::warn!(signal = sig, "second signal: exiting without draining");
                    std::process::exit(130);
                }
                tracing::info!(signal = sig, "shutting down: draining in-flight requests");
                mailboxes.broadcast(CoreMessage::Shutdown);
            }
        })?;
    Ok(())
}

/// SIGHUP: new certificates for new handshakes; a bad pair is logged and the old one kept.
fn reload(tls: Option<&Tls>) {
    match tls.map(Tls::reload) {
        None => tracing::info!("SIGHUP: no TLS configured; nothing to reload"),
        Some(Ok(())) => tracing::info!("SIGHUP: TLS certificate reloaded"),
        Some(Err(e)) => {
            tracing::error!(error = %e, "SIGHUP: TLS reload failed; keeping the current certificate")
        }
    }
}
