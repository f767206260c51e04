//! The listener thread: its own PostgreSQL connection LISTENs on the commit channel
//! and asks the writer to catch up on every notification, once after every
//! (re)connect, so commits made while it was away are applied too, and every 2 s
//! without one (a cheap query when nothing is new). Reconnects with
//! the cluster's backoff; the cores never wait on it.

use super::ship::CHANNEL;
use super::status::SharedStatus;
use super::{SharedError, connect};
use crate::cluster::backoff::Backoff;
use crate::library::writer::Writer;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the listener waits for a notification before catching up anyway.
const POLL: Duration = Duration::from_secs(2);

pub(crate) fn spawn(url: String, writer: Writer, status: Arc<SharedStatus>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("auralis-db-listen".into())
        .spawn(move || run(&url, &writer, &status))
        .map(|_| ())
}

fn run(url: &str, writer: &Writer, status: &SharedStatus) {
    let mut backoff = Backoff::default();
    loop {
        std::thread::sleep(backoff.wait());
        let err = listen(url, writer, status, &mut backoff);
        status.listening.store(false, Ordering::Relaxed);
        status.failed("listen", &err);
        backoff.failed();
    }
}

/// Listens until the connection ends; returns why.
fn listen(url: &str, writer: &Writer, status: &SharedStatus, backoff: &mut Backoff) -> SharedError {
    let mut client = match connect(url) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
        return e.into();
    }
    backoff.succeeded();
    status.listening.store(true, Ordering::Relaxed);
    writer.catch_up_soon();
    loop {
        let got = {
            let mut notifications = client.notifications();
            let mut it = notifications.timeout_iter(POLL);
            postgres::fallible_iterator::FallibleIterator::next(&mut it)
        };
        match got {
            Ok(Some(n)) => {
                if let Ok(seq) = n.payload().parse::<i64>() {
                    status.saw_head(seq, crate::library::model::now_ms() as u64);
                }
                writer.catch_up_soon()
            }
            // No notification for a while (or the server went away): catch up anyway,
            // so a commit whose request to the writer found its queue full still lands;
            // and read the feed's head, so the replication lag is known even when a
            // notification was missed.
            Ok(None) if client.is_closed() => return SharedError::Closed,
            Ok(None) => {
                match client.query_one("SELECT COALESCE(MAX(seq), 0) FROM library_commits", &[]) {
                    Ok(row) => status.saw_head(row.get(0), crate::library::model::now_ms() as u64),
                    Err(e) => return e.into(),
                }
                writer.catch_up_soon()
            }
            Err(e) => return e.into(),
        }
    }
}
