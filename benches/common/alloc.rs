//! A counting global allocator for the hit-path benches (issue 14: "no allocation per
//! request on the hit paths, checked with a counting allocator"). It counts only inside
//! [`per_call`]; elsewhere an allocation costs one relaxed load more than the system
//! allocator's, so the timed benches of the binary are not skewed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

static SITES: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while a site is being printed, whose own allocations are not sites.
    static PRINTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count(bytes: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
        if SITES.load(Ordering::Relaxed) {
            print_site(bytes);
        }
    }
}

/// Prints where an allocation came from: the innermost frames of our own crate.
fn print_site(bytes: usize) {
    if PRINTING.with(|p| p.replace(true)) {
        return;
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let ours: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("auralis_server::") && !l.starts_with("at "))
        .take(3)
        .collect();
    eprintln!("  {bytes:>6} B  {}", ours.join("  <-  "));
    PRINTING.with(|p| p.set(false));
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// With `AURALIS_ALLOC_SITES` set, prints each allocation of one call of `f` (size and
/// the innermost frames of this crate) to stderr: the list to work down when cutting
/// allocations.
pub fn print_sites(mut f: impl FnMut()) {
    if std::env::var_os("AURALIS_ALLOC_SITES").is_none() {
        return;
    }
    f();
    eprintln!("allocations of one call:");
    SITES.store(true, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    f();
    COUNTING.store(false, Ordering::Relaxed);
    SITES.store(false, Ordering::Relaxed);
}

/// Allocations (and bytes) per call of `f`, over `n` calls after one warm-up call.
pub fn per_call(n: u64, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (a0, b0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..n {
        f();
    }
    COUNTING.store(false, Ordering::Relaxed);
    let (a1, b1) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
}
