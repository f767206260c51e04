//! SIGINT/SIGTERM → a `Shutdown` message into every core's inbox. A second signal exits
//! at once (130) for an operator who does not want to wait for the drain.

use super::mailbox::{CoreMessage, Mailboxes};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts the signal thread. Fails only if the handlers cannot be installed.
pub(crate) fn watch_signals(mailboxes: Mailboxes) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("auralis-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
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
