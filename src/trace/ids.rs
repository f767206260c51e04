//! Fresh trace and span ids: a per-thread generator (splitmix64) seeded once from the
//! kernel. Ids must be unique, not secret, so a request pays a few arithmetic
//! operations, not a system call.

use super::context::{SpanId, TraceId};
use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if crate::random::fill(&mut b).is_err() {
        // No getrandom: the clock and the thread's address still differ per thread.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return t ^ (&b as *const _ as u64);
    }
    u64::from_ne_bytes(b)
}

fn next() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

fn nonzero() -> u64 {
    loop {
        let v = next();
        if v != 0 {
            return v;
        }
    }
}

pub(crate) fn trace_id() -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next().to_be_bytes());
    id[8..].copy_from_slice(&nonzero().to_be_bytes());
    TraceId(id)
}

pub(crate) fn span_id() -> SpanId {
    SpanId(nonzero().to_be_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_nonzero_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| super::span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&super::SpanId([0; 8])));
        assert_ne!(super::trace_id(), super::trace_id());
    }
}
