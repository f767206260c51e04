//! Tier 1: one core's LRU of chunks over real bytes. Owned by the core (no locks);
//! bodies are `Bytes`, so a hit clones a pointer, never audio.

use super::ChunkKey;
use bytes::Bytes;

/// A core's shard.
pub struct TierOneShard {
    lru: lru::LruCache<ChunkKey, Bytes>,
    bytes: u64,
    budget: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl TierOneShard {
    pub fn new(budget: u64) -> Self {
        Self {
            lru: lru::LruCache::unbounded(),
            bytes: 0,
            budget,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    /// Looks a chunk up, counting the hit or miss and refreshing its recency.
    pub fn get(&mut self, key: &ChunkKey) -> Option<Bytes> {
        match self.lru.get(key) {
            Some(b) => {
                self.hits += 1;
                Some(b.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    pub fn contains(&self, key: &ChunkKey) -> bool {
        self.lru.contains(key)
    }

    /// Inserts, evicting least recently used chunks until it fits. A chunk larger than
    /// the whole budget is not cached.
    pub fn insert(&mut self, key: ChunkKey, body: Bytes) {
        let size = body.len() as u64;
        if size > self.budget {
            return;
        }
        if let Some(old) = self.lru.pop(&key) {
            self.bytes -= old.len() as u64;
        }
        while self.bytes + size > self.budget {
            match self.lru.pop_lru() {
                Some((_, old)) => {
                    self.bytes -= old.len() as u64;
                    self.evictions += 1;
                }
                None => break,
            }
        }
        self.bytes += size;
        self.lru.put(key, body);
    }

    /// Drops every chunk of `track` (or everything); returns how many.
    pub fn remove_track(&mut self, track: Option<i64>) -> usize {
        let doomed: Vec<ChunkKey> = self
            .lru
            .iter()
            .filter(|(k, _)| track.is_none_or(|t| k.track == t))
            .map(|(k, _)| *k)
            .collect();
        for k in &doomed {
            if let Some(b) = self.lru.pop(k) {
                self.bytes -= b.len() as u64;
            }
        }
        doomed.len()
    }

    pub fn keys_of(&self, track: i64) -> Vec<ChunkKey> {
        self.lru
            .iter()
            .filter(|(k, _)| k.track == track)
            .map(|(k, _)| *k)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lru.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::encode::ChunkFormat;
    use crate::audio::preset::Preset;

    fn key(i: u32) -> ChunkKey {
        ChunkKey {
            track: 1,
            revision: 0,
            preset: Preset::Original,
            intensity_tenths: 10,
            index: i,
            format: ChunkFormat::F32,
        }
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut t = TierOneShard::new(300);
        for i in 0..3 {
            t.insert(key(i), Bytes::from(vec![0u8; 100]));
        }
        assert!(t.get(&key(0)).is_some()); // 0 is now most recent
        t.insert(key(3), Bytes::from(vec![0u8; 100]));
        assert!(!t.contains(&key(1)), "least recent evicted");
        assert!(t.contains(&key(0)) && t.contains(&key(3)));
        assert_eq!((t.bytes(), t.evictions), (300, 1));
        t.insert(key(9), Bytes::from(vec![0u8; 301]));
        assert!(!t.contains(&key(9)), "larger than the budget: not cached");
    }
}
