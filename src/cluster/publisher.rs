//! The publishing thread: takes envelopes from the cores' queue and PUBLISHes them;
//! a shared session's state is also SET under `auralis:session:<id>` (kept a day), so
//! it outlives the node that made it. While the broker is unreachable each message is
//! counted as not forwarded (local subscribers already have it) and the thread
//! reconnects with [`Backoff`]; it never holds up the cores, which only `try_send`.

use super::backoff::Backoff;
use super::envelope::Envelope;
use super::stats::{BrokerStats, bump};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Key prefix of stored session states.
pub(crate) const SESSION_KEY: &str = "auralis:session:";
/// How long a stored session outlives its last change.
const SESSION_TTL_S: u64 = 86_400;
/// Connect, read and write limit on the broker socket.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often an idle publishing connection is checked.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

pub(crate) fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

struct Publisher {
    client: redis::Client,
    stats: Arc<BrokerStats>,
    con: Option<redis::Connection>,
    backoff: Backoff,
}

impl Publisher {
    /// The connection, (re)made when the backoff allows. A new one counts as up only
    /// after a round trip (a PING answered), so health never says `ok` early.
    fn connection(&mut self) -> Option<&mut redis::Connection> {
        if self.con.is_none() && self.backoff.ready() {
            let made = connect(&self.client).and_then(|mut c| {
                redis::cmd("PING").query::<()>(&mut c)?;
                Ok(c)
            });
            match made {
                Ok(c) => {
                    self.con = Some(c);
                    self.backoff.succeeded();
                    bump(&self.stats.connects);
                    self.stats.out_up.store(true, Ordering::Relaxed);
                }
                Err(e) => {
                    self.backoff.failed();
                    self.stats.failed("publish connect", &e);
                }
            }
        }
        self.con.as_mut()
    }

    /// Publishes `e`. A connection that died since its last use (a broker restarted
    /// between keep-alives) fails the first attempt: the message is sent again once on
    /// a fresh connection before it counts as not forwarded. (A reply lost after the
    /// broker took the message would deliver it twice: at least once, never silently
    /// zero.)
    fn send(&mut self, e: &Envelope) {
        // Its context replaces the cause's in the envelope, so the other nodes' CONSUMER
        // spans are its children.
        let mut span = e.span(super::envelope::Operation::Publish);
        let mut traced;
        let e = match &span {
            Some(s) => {
                traced = e.clone();
                traced.trace = Some(s.context());
                &traced
            }
            None => e,
        };
        let pipe = Self::pipeline(e);
        for attempt in 0..2 {
            let Some(con) = self.connection() else {
                break;
            };
            match pipe.query::<()>(con) {
                Ok(()) => {
                    bump(&self.stats.forwarded);
                    if let Some(span) = span {
                        span.end();
                    }
                    return;
                }
                Err(err) => {
                    self.lost("publish", &err);
                    if attempt == 0 {
                        // The retry goes at once, not after the backoff's first step.
                        self.backoff.succeeded();
                    }
                }
            }
        }
        bump(&self.stats.not_forwarded);
        if let Some(mut span) = span.take() {
            span.fail("not forwarded: the broker is unreachable");
            span.end();
        }
    }

    /// The PUBLISH of `e`, and the SET that stores a session's state.
    fn pipeline(e: &Envelope) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.cmd("PUBLISH")
            .arg(e.channel())
            .arg(e.payload())
            .ignore();
        if let Some(id) = e.topic.strip_prefix("session:") {
            pipe.cmd("SET")
                .arg(format!("{SESSION_KEY}{id}"))
                .arg(e.text.as_ref())
                .arg("EX")
                .arg(SESSION_TTL_S)
                .ignore();
        }
        pipe
    }

    /// An idle connection is checked, so health shows a broker that went away.
    fn keep_alive(&mut self) {
        let Some(con) = self.con.as_mut() else {
            self.connection();
            return;
        };
        if let Err(err) = redis::cmd("PING").query::<()>(con) {
            self.lost("ping", &err);
        }
    }

    fn lost(&mut self, what: &str, err: &redis::RedisError) {
        self.stats.failed(what, err);
        self.con = None;
        self.backoff.failed();
        self.stats.out_up.store(false, Ordering::Relaxed);
    }
}

/// Runs until every sender is gone.
pub(crate) fn run(client: redis::Client, stats: Arc<BrokerStats>, rx: Receiver<Envelope>) {
    let mut p = Publisher {
        client,
        stats,
        con: None,
        backoff: Backoff::default(),
    };
    // Connect at once, so health is right before the first message.
    p.connection();
    loop {
        // Idle or down, wake up to check or retry, so health follows the broker.
        let wait = if p.con.is_some() {
            KEEP_ALIVE
        } else {
            p.backoff.wait().max(Duration::from_millis(50))
        };
        match rx.recv_timeout(wait) {
            Ok(e) => p.send(&e),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => p.keep_alive(),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}
