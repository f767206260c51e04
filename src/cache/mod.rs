//! The two-tier chunk cache: tier 1 per core (no locks), tier 2 shared (lock-free
//! lookups), single-flight decoding across cores, and the fetch path that ties them
//! to the decode pool.

pub(crate) mod error;
pub(crate) mod events;
pub(crate) mod fetch;
pub(crate) mod flight;
pub(crate) mod key;
pub(crate) mod report;
pub(crate) mod stats;
pub(crate) mod tier1;
pub mod tier2;
pub(crate) mod track;

pub use error::ChunkError;
pub use key::ChunkKey;

/// Where a chunk came from (`X-Cache-Tier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Tier1,
    Tier2,
    Miss,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Tier1 => "tier1",
            Tier::Tier2 => "tier2",
            Tier::Miss => "miss",
        }
    }
}
