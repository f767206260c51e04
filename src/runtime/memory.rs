//! Giving memory back after a burst of connections.
//!
//! glibc keeps what a thread frees in that thread's arena for reuse. After thousands of
//! connections close (a slow-loris wave, an audience leaving) that is tens of MB the
//! process holds for nobody: measured 18 → 81 → 85 MB around 3 000 slow sockets on one
//! core (`memory_is_returned_after_3000_slow_loris_sockets_close`). `malloc_trim(0)`
//! returns the free pages of every arena to the kernel. It walks the arenas under their
//! locks, so it runs on the monitor thread (never on a core) and only after a real drop.

/// Fewer closed connections than this since the peak are not worth a trim.
const MIN_DROP: u64 = 256;

/// Watches the open-connection count, one observation per monitor tick.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    /// Most connections open since the last trim.
    peak: u64,
}

impl Trimmer {
    /// Trims once at least half of the peak since the last trim (and `MIN_DROP`) has
    /// closed. Returns whether it trimmed.
    pub(crate) fn observe(&mut self, open: u64) -> bool {
        self.peak = self.peak.max(open);
        let dropped = self.peak - open;
        if dropped < MIN_DROP || dropped < self.peak / 2 {
            return false;
        }
        self.peak = open;
        trim();
        true
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers; it only releases free memory.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(
        released = released != 0,
        "returned freed memory to the kernel"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_half_the_peak_has_gone() {
        let mut t = Trimmer::default();
        assert!(!t.observe(3000));
        assert!(!t.observe(2000), "a third gone: not yet");
        assert!(t.observe(1400));
        assert!(!t.observe(1400), "once per drop");
        assert!(t.observe(100), "most of the rest gone: trims again");
        assert!(!t.observe(50), "50 fewer is not worth a trim");
    }
}
