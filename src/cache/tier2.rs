//! Tier 2: the one chunk cache shared by all cores. Lookups are lock-free (papaya) and
//! only set a CLOCK reference bit; inserts and evictions, which happen on the miss path
//! right after a decode of milliseconds, go through one small mutex holding the CLOCK
//! ring, and that is what keeps the byte budget exact: used bytes never exceed it.

use super::ChunkKey;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Entry {
    body: Bytes,
    /// CLOCK bit: set on a hit, cleared when the hand passes; unset → evicted.
    referenced: AtomicBool,
}

/// The shared tier. Crosses threads.
pub struct TierTwo {
    map: papaya::HashMap<ChunkKey, Entry>,
    ring: Mutex<VecDeque<ChunkKey>>,
    used: AtomicU64,
    budget: u64,
    evictions: AtomicU64,
}

impl TierTwo {
    pub fn new(budget: u64) -> Self {
        Self {
            map: papaya::HashMap::new(),
            ring: Mutex::new(VecDeque::new()),
            used: AtomicU64::new(0),
            budget,
            evictions: AtomicU64::new(0),
        }
    }

    /// Lock-free lookup.
    pub fn get(&self, key: &ChunkKey) -> Option<Bytes> {
        let map = self.map.pin();
        let e = map.get(key)?;
        // Read before write: a hot chunk's bit is already set, so repeated hits from
        // several cores don't bounce the cache line.
        if !e.referenced.load(Ordering::Relaxed) {
            e.referenced.store(true, Ordering::Relaxed);
        }
        Some(e.body.clone())
    }

    pub fn contains(&self, key: &ChunkKey) -> bool {
        self.map.pin().contains_key(key)
    }

    /// Inserts, first evicting by CLOCK until the chunk fits the budget.
    pub fn insert(&self, key: ChunkKey, body: Bytes) {
        let size = body.len() as u64;
        if size > self.budget {
            return;
        }
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let map = self.map.pin();
        if map.contains_key(&key) {
            return;
        }
        let mut passes = 0usize;
        while self.used.load(Ordering::Relaxed) + size > self.budget {
            let Some(victim) = ring.pop_front() else {
                break;
            };
            match map.get(&victim) {
                Some(e)
                    if e.referenced.swap(false, Ordering::Relaxed)
                        && passes < 2 * ring.len() + 2 =>
                {
                    ring.push_back(victim); // second chance
                    passes += 1;
                }
                Some(_) => {
                    if let Some(old) = map.remove(&victim) {
                        self.used
                            .fetch_sub(old.body.len() as u64, Ordering::Relaxed);
                        self.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {} // removed by clear/remove_track already
            }
        }
        self.used.fetch_add(size, Ordering::Relaxed);
        map.insert(
            key,
            Entry {
                body,
                referenced: AtomicBool::new(false),
            },
        );
        ring.push_back(key);
    }

    /// Removes every chunk of `track` (or all); returns (entries, bytes) removed.
    pub fn remove_track(&self, track: Option<i64>) -> (usize, u64) {
        let Ok(mut ring) = self.ring.lock() else {
            return (0, 0);
        };
        let map = self.map.pin();
        let doomed: Vec<ChunkKey> = map
            .iter()
            .filter(|(k, _)| track.is_none_or(|t| k.track == t))
            .map(|(k, _)| *k)
            .collect();
        let mut bytes = 0;
        for k in &doomed {
            if let Some(old) = map.remove(k) {
                let n = old.body.len() as u64;
                bytes += n;
                self.used.fetch_sub(n, Ordering::Relaxed);
            }
        }
        ring.retain(|k| track.is_some_and(|t| k.track != t));
        (doomed.len(), bytes)
    }

    pub fn keys_of(&self, track: i64) -> Vec<ChunkKey> {
        self.map
            .pin()
            .iter()
            .filter(|(k, _)| k.track == track)
            .map(|(k, _)| *k)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::encode::ChunkFormat;
    use crate::audio::preset::Preset;

    fn key(i: u32) -> ChunkKey {
        ChunkKey {
            track: i64::from(i % 3),
            revision: 0,
            preset: Preset::Original,
            intensity_tenths: 10,
            index: i,
            format: ChunkFormat::Wav,
        }
    }

    #[test]
    fn budget_holds_under_concurrent_inserts_and_hits_get_a_second_chance() {
        let t = std::sync::Arc::new(TierTwo::new(10_000));
        std::thread::scope(|s| {
            for th in 0..4u32 {
                let t = t.clone();
                s.spawn(move || {
                    for i in 0..500u32 {
                        t.insert(
                            key(th * 1000 + i),
                            Bytes::from(vec![0u8; 100 + (i as usize % 7) * 50]),
                        );
                        assert!(t.bytes() <= 10_000);
                        let _ = t.get(&key(th * 1000 + i / 2));
                    }
                });
            }
        });
        assert!(t.bytes() <= 10_000 && t.evictions() > 0);
        let t = TierTwo::new(300);
        for i in 0..3 {
            t.insert(key(i), Bytes::from(vec![0u8; 100]));
        }
        assert!(t.get(&key(0)).is_some());
        t.insert(key(3), Bytes::from(vec![0u8; 100]));
        assert!(t.contains(&key(0)), "referenced entry survived");
        assert!(!t.contains(&key(1)), "unreferenced entry evicted");
        let (n, _) = t.remove_track(Some(0));
        assert_eq!(n, 2, "keys 0 and 3 belong to track 0");
        assert_eq!(t.bytes(), 100);
    }
}
