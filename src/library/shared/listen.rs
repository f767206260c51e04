//! The listener thread: its own PostgreSQL connection LISTENs on the commit channel
//! and asks the writer to catch up on every notification, and once after every
//! (re)connect, so commits made while it was away are applied too. Reconnects with
//! the cluster's backoff; the cores never wait on it.

use super::ship::CHANNEL;
use super::status::SharedStatus;
use super::{SharedError, connect};
use crate::cluster::backoff::Backoff;
use crate::library::writer::Writer;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
    let mut notifications = client.notifications();
    let mut it = notifications.blocking_iter();
    loop {
        match postgres::fallible_iterator::FallibleIterator::next(&mut it) {
            Ok(Some(_)) => writer.catch_up_soon(),
            Ok(None) => return SharedError::Closed,
            Err(e) => return e.into(),
        }
    }
}
