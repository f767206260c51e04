//! A connection's bounded outbound queue. Producers (its own replies, the core's
//! fan-out) never wait: when it is full, `low` messages are dropped (counted) first;
//! if nothing can be dropped the message is refused and the queue is marked full, and
//! a connection that stays full past `slow_close_ms` is closed with 1008 by the sweep.

use super::protocol::Priority;
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Instant;

/// One frame to send.
#[derive(Debug, Clone)]
pub(crate) enum OutFrame {
    Text(Bytes, Priority),
    Binary(Bytes),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    /// The unsent end of a frame that fan-out's direct send wrote in part
    /// (`ws::direct`): written verbatim, before anything queued after it.
    Rest(Bytes),
}

impl OutFrame {
    /// Only `low` broadcast notifications may be shed (counted in `dropped_low`).
    pub(crate) fn droppable(&self) -> bool {
        matches!(self, OutFrame::Text(_, Priority::Low))
    }
}

#[derive(Debug)]
pub(crate) struct Outbound {
    queue: VecDeque<OutFrame>,
    capacity: usize,
    pub dropped_low: u64,
    pub refused: u64,
    pub full_since: Option<Instant>,
}

impl Outbound {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            dropped_low: 0,
            refused: 0,
            full_since: None,
        }
    }

    /// Queues a frame; control frames and binary audio always go in (they are bounded
    /// elsewhere: pings by the heartbeat, audio by the stream window).
    pub(crate) fn push(&mut self, frame: OutFrame) -> bool {
        // A `Rest` is the end of a frame already begun on the wire: it cannot be shed.
        let must = !matches!(frame, OutFrame::Text(..));
        if self.queue.len() < self.capacity || must {
            self.queue.push_back(frame);
            return true;
        }
        if frame.droppable() {
            self.dropped_low += 1;
            self.full_since.get_or_insert_with(Instant::now);
            return false;
        }
        if let Some(i) = self.queue.iter().position(OutFrame::droppable) {
            self.queue.remove(i);
            self.dropped_low += 1;
            self.queue.push_back(frame);
            return true;
        }
        self.refused += 1;
        self.full_since.get_or_insert_with(Instant::now);
        false
    }

    pub(crate) fn pop(&mut self) -> Option<OutFrame> {
        let f = self.queue.pop_front();
        if self.queue.len() < self.capacity {
            self.full_since = None;
        }
        f
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Half the capacity or more is waiting: past this, fan-out lets the writers catch
    /// up before it queues more (see `hub::deliver_paced`).
    pub(crate) fn backlogged(&self) -> bool {
        self.queue.len() * 2 >= self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: Priority) -> OutFrame {
        OutFrame::Text(Bytes::from_static(b"x"), p)
    }

    #[test]
    fn drops_low_first_then_refuses_and_marks_full() {
        let mut q = Outbound::new(2);
        assert!(q.push(text(Priority::Low)));
        assert!(q.push(text(Priority::High)));
        assert!(!q.push(text(Priority::Low)), "low dropped when full");
        assert!(q.push(text(Priority::High)), "a queued low makes room");
        assert_eq!((q.dropped_low, q.len()), (2, 2));
        assert!(!q.push(text(Priority::Normal)));
        assert!(q.full_since.is_some());
        assert!(q.push(OutFrame::Ping(vec![])), "control frames always fit");
        q.pop();
        q.pop();
        assert!(q.full_since.is_none());
    }
}
