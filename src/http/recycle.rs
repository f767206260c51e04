//! Per-core free lists for the buffers every request builds: the request's head, its
//! header spans, the response's header lines and a JSON body.
//!
//! Why: a request that allocates its four buffers fresh pays malloc + free four times
//! (16 allocations before these lists existed), and holding them inline instead makes
//! every `Request`/`Response` half a kilobyte that each `.await` boundary copies. A
//! recycled buffer is a 24-byte `Vec` that keeps its capacity between requests.
//!
//! Concurrency contract: the lists are thread-local, and with one runtime per core a
//! thread-local list is that core's: no lock, no atomic. A buffer dropped on another
//! thread (never on the request path) simply joins that thread's list. Each list is
//! bounded in length ([`MAX_KEPT`]) and each buffer in capacity (`Recycle::keep`), so a
//! burst of large responses cannot pin memory: an oversized buffer is freed, not kept.

use super::request::Field;
use std::cell::RefCell;
use std::thread::LocalKey;

/// Buffers kept per list per core: more than one core's in-flight requests need at
/// once on the synchronous path, few enough that the bytes kept stay small
/// (64 × 8 KiB = 512 KiB per list per core at most).
const MAX_KEPT: usize = 64;

/// Byte buffers larger than this are freed rather than kept.
const MAX_BYTES_KEPT: usize = 8 * 1024;

/// Field lists longer than this are freed rather than kept (the parser's own limit on
/// header count is higher; a request with that many is rare and need not be cheap).
const MAX_FIELDS_KEPT: usize = 64;

/// A buffer type with a per-core free list.
pub trait Recycle: Default + 'static {
    fn free_list() -> &'static LocalKey<RefCell<Vec<Self>>>;
    /// Empties the buffer for reuse; `false` when it is too large to keep.
    fn reset(&mut self) -> bool;
}

thread_local! {
    static BYTES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FIELDS: RefCell<Vec<Vec<Field>>> = const { RefCell::new(Vec::new()) };
}

impl Recycle for Vec<u8> {
    fn free_list() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &BYTES
    }
    fn reset(&mut self) -> bool {
        self.clear();
        self.capacity() > 0 && self.capacity() <= MAX_BYTES_KEPT
    }
}

impl Recycle for Vec<Field> {
    fn free_list() -> &'static LocalKey<RefCell<Vec<Self>>> {
        &FIELDS
    }
    fn reset(&mut self) -> bool {
        self.clear();
        self.capacity() > 0 && self.capacity() <= MAX_FIELDS_KEPT
    }
}

/// A buffer taken from this core's free list, returned to it when dropped.
pub struct Recycled<T: Recycle>(T);

impl<T: Recycle> Recycled<T> {
    /// An empty buffer: a kept one when the list has one, else a new (unallocated) one.
    pub(crate) fn take() -> Self {
        let kept = T::free_list()
            .try_with(|l| l.borrow_mut().pop())
            .ok()
            .flatten();
        Self(kept.unwrap_or_default())
    }

    /// The buffer itself, no longer returned to a list.
    pub(crate) fn into_inner(mut self) -> T {
        std::mem::take(&mut self.0)
    }
}

impl<T: Recycle> Drop for Recycled<T> {
    fn drop(&mut self) {
        if !self.0.reset() {
            return;
        }
        let buf = std::mem::take(&mut self.0);
        // During thread teardown the list may be gone: then the buffer is just freed.
        let _ = T::free_list().try_with(|l| {
            let mut l = l.borrow_mut();
            if l.len() < MAX_KEPT {
                l.push(buf);
            }
        });
    }
}

impl<T: Recycle> std::ops::Deref for Recycled<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Recycle> std::ops::DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Recycle> From<T> for Recycled<T> {
    /// Adopts a buffer built elsewhere: it joins the list when dropped.
    fn from(buf: T) -> Self {
        Self(buf)
    }
}

impl<T: Recycle + Clone> Clone for Recycled<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Recycle + std::fmt::Debug> std::fmt::Debug for Recycled<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_empty_with_its_capacity() {
        let mut a = Recycled::<Vec<u8>>::take();
        a.extend_from_slice(b"hello");
        let ptr = a.as_ptr();
        drop(a);
        let b = Recycled::<Vec<u8>>::take();
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), ptr, "the kept buffer comes back");
    }

    #[test]
    fn an_oversized_buffer_is_freed_not_kept() {
        let mut a = Recycled::<Vec<u8>>::take();
        a.resize(MAX_BYTES_KEPT + 1, 0);
        drop(a);
        BYTES.with(|l| assert!(l.borrow().iter().all(|b| b.capacity() <= MAX_BYTES_KEPT)));
    }

    #[test]
    fn the_list_is_bounded() {
        let bufs: Vec<_> = (0..MAX_KEPT * 2)
            .map(|_| Recycled::from(vec![0u8; 16]))
            .collect();
        drop(bufs);
        BYTES.with(|l| assert!(l.borrow().len() <= MAX_KEPT));
    }

    #[test]
    fn into_inner_keeps_the_contents() {
        let mut a = Recycled::<Vec<u8>>::take();
        a.extend_from_slice(b"abc");
        assert_eq!(a.into_inner(), b"abc");
    }
}
