//! `CoreState`: everything one core owns. Reached through an `Rc` handed to each task;
//! nothing in it is `Send`, so the compiler keeps it shared-nothing. The one pointer
//! out is `shared`, the process-wide read-mostly state (see [`Shared`]).

use super::connections::ConnectionTable;
use super::counters::Counters;
use crate::cache::fetch::{ChunkPath, ChunkService};
use crate::cache::stats::{CacheGauge, CoreChunkCounters};
use crate::cache::tier1::TierOneShard;
use crate::cache::track::TrackAudioCache;
use crate::config::Config;
use crate::library::Library;
use crate::library::store::LibraryReader;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

/// Index of a core (0-based, in start order; also the `X-Served-By` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CoreId(pub u16);

/// Which monoio driver a core runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    IoUring,
    Legacy,
}

/// How connections are assigned to cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinningMode {
    /// The socket filter hashes the client IP: one client, one core.
    ClientIp,
    /// The kernel's default 4-tuple hash (filter not attached).
    Kernel,
}

/// A per-core gauge slot, padded so two cores' writes never share a cache line.
/// Written only by its own core, read by `/api/health` on any core.
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct CoreGauge {
    pub(crate) connections: AtomicU64,
    pub(crate) accepted: AtomicU64,
    /// 1 = io_uring, 2 = legacy, 0 = not started.
    pub(crate) driver: AtomicU64,
    pub(crate) ws_connections: AtomicU64,
    /// When the core last handled an inbox message: ms since start, plus one (0 = not
    /// yet). The monitor asks every core each interval, so a stale value means the core
    /// stopped answering (readiness reads it).
    pub(crate) answered_ms: AtomicU64,
}

/// Process-wide state shared by all cores. Read-mostly: config and facts fixed at
/// start, plus per-core gauge slots each written by one core only.
pub struct Shared {
    pub config: Config,
    pub(crate) started: Instant,
    pub(crate) pinning: PinningMode,
    pub(crate) gauges: Vec<CoreGauge>,
    /// Random per process, so request ids from restarts don't collide.
    pub(crate) id_prefix: u32,
    /// The music library (database, writer, scan), when one is configured.
    pub(crate) library: Option<Arc<Library>>,
    /// The shared part of the chunk path: tier 2, single-flight, decode pool.
    pub(crate) chunks: Arc<ChunkService>,
    /// Senders to every core's inbox (set once at boot; empty in socketless uses).
    pub(crate) mailboxes: std::sync::OnceLock<crate::runtime::mailbox::Mailboxes>,
    /// Per-core cache figures, each slot written by its core only.
    pub(crate) cache_gauges: Vec<CacheGauge>,
    /// The monitor's latest reports (written by the monitor thread only).
    pub(crate) monitor: crate::monitor::aggregator::MonitorHandle,
    /// Shared listening sessions' latest states (see `ws::sessions`).
    pub(crate) ws_sessions: papaya::HashMap<String, crate::ws::player::Player>,
    /// The Subsonic adapter's process-wide state: failed logins, now playing.
    pub(crate) subsonic: crate::subsonic::SubsonicShared,
    /// The link to the other nodes, when `[cluster] broker_url` is set (set once at boot).
    pub(crate) broker: std::sync::OnceLock<Arc<crate::cluster::Broker>>,
    /// TLS termination, when `[tls]` is configured (set once at boot).
    pub(crate) tls: std::sync::OnceLock<Arc<crate::tls::Tls>>,
    /// The first core whose runtime a panic escaped, and what it said: readiness fails
    /// from then on, and the process ends with an error once the others have drained.
    pub(crate) core_died: std::sync::OnceLock<(usize, String)>,
    /// Keys shared sessions' join secrets: the library's token key (shared by a
    /// cluster's nodes), or random per process without a library.
    pub(crate) session_key: [u8; 32],
}

impl Shared {
    pub fn new(
        config: Config,
        cores: usize,
        pinning: PinningMode,
        library: Option<Arc<Library>>,
    ) -> std::io::Result<Arc<Self>> {
        let chunks = ChunkService::new(&config.cache)?;
        let session_key = match &library {
            Some(l) => l.token_key,
            None => {
                let mut key = [0u8; 32];
                crate::random::fill(&mut key)?;
                key
            }
        };
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(13))
            .unwrap_or(0);
        Ok(Arc::new(Self {
            chunks,
            cache_gauges: (0..cores).map(|_| CacheGauge::default()).collect(),
            mailboxes: std::sync::OnceLock::new(),
            ws_sessions: papaya::HashMap::new(),
            subsonic: Default::default(),
            broker: std::sync::OnceLock::new(),
            tls: std::sync::OnceLock::new(),
            core_died: std::sync::OnceLock::new(),
            session_key,
            monitor: Default::default(),
            config,
            started: Instant::now(),
            pinning,
            gauges: (0..cores).map(|_| CoreGauge::default()).collect(),
            id_prefix: nanos ^ std::process::id().rotate_left(7),
            library,
        }))
    }
}

/// Everything one core owns.
pub struct CoreState {
    pub(crate) id: CoreId,
    pub(crate) driver: DriverKind,
    pub(crate) shared: Arc<Shared>,
    pub(crate) connections: RefCell<ConnectionTable>,
    pub(crate) counters: Counters,
    /// This core's own read connection to the library.
    pub(crate) library: Option<LibraryReader>,
    /// This core's tier-1 chunk cache shard.
    pub tier1: RefCell<TierOneShard>,
    pub(crate) chunk_counters: RefCell<CoreChunkCounters>,
    /// Track facts the chunk path needs, valid while the library generation holds.
    pub(crate) tracks: TrackAudioCache,
    /// This core's WebSocket connections and subscriptions.
    pub(crate) ws: crate::ws::hub::WsHub,
    /// This core's latency histograms since the monitor's last snapshot.
    pub(crate) metrics: RefCell<crate::monitor::recorder::CoreRecorder>,
    request_seq: Cell<u64>,
    /// Set when shutdown begins: readiness fails and connections close after their
    /// current response (the node may keep accepting for `cluster.drain_delay_ms`).
    pub(crate) shutting_down: Cell<bool>,
    /// `X-Served-By`: `node/core`. Leaked once per core (cores live as long as the
    /// process), so each response borrows it instead of allocating a copy.
    pub(crate) served_by: &'static str,
}

impl CoreState {
    /// Builds a core's state; opens its library reader when a library is configured.
    pub fn new(id: CoreId, driver: DriverKind, shared: Arc<Shared>) -> rusqlite::Result<Self> {
        let library = match &shared.library {
            Some(lib) => Some(LibraryReader::open(lib.clone())?),
            None => None,
        };
        let tier1 = TierOneShard::new(shared.config.cache.tier1_bytes_per_core);
        Ok(Self {
            library,
            tier1: RefCell::new(tier1),
            chunk_counters: RefCell::new(CoreChunkCounters::default()),
            tracks: TrackAudioCache::default(),
            ws: Default::default(),
            metrics: Default::default(),
            id,
            driver,
            connections: RefCell::new(ConnectionTable::default()),
            counters: Counters::default(),
            request_seq: Cell::new(0),
            shutting_down: Cell::new(false),
            served_by: Box::leak(
                format!("{}/{}", shared.config.cluster.node, id.0).into_boxed_str(),
            ),
            shared,
        })
    }

    /// A new request id: process prefix, core, per-core sequence. Unique without
    /// coordination between cores.
    pub(crate) fn next_request_id(&self) -> super::request_id::RequestId {
        let n = self.request_seq.get() + 1;
        self.request_seq.set(n);
        super::request_id::RequestId::minted(self.shared.id_prefix, self.id.0 as u8, n)
    }

    /// Milliseconds since the process started (monotonic).
    pub(crate) fn now_ms(&self) -> u64 {
        self.shared.started.elapsed().as_millis() as u64
    }

    /// `at` in this server's milliseconds (as `now_ms`), without another clock read.
    pub(crate) fn ms_at(&self, at: std::time::Instant) -> u64 {
        at.saturating_duration_since(self.shared.started)
            .as_millis() as u64
    }

    pub(crate) fn gauge(&self) -> &CoreGauge {
        &self.shared.gauges[self.id.0 as usize]
    }

    /// This core's chunk path (its tier 1 plus the shared service).
    pub(crate) fn chunk_path(&self) -> ChunkPath<'_> {
        ChunkPath {
            tier1: &self.tier1,
            counters: &self.chunk_counters,
            service: &self.shared.chunks,
            tracks: &self.tracks,
            library: self.library.as_ref(),
        }
    }

    /// Hands the monitor this core's histograms (swapped out) and counters.
    pub(crate) fn snapshot(&self) -> crate::monitor::snapshot::CoreSnapshot {
        use crate::monitor::snapshot::{CoreCounters, CoreSnapshot};
        let c = &self.counters;
        let mut statuses = [0u64; 6];
        for (i, s) in statuses.iter_mut().enumerate() {
            *s = c.by_class[i].get();
        }
        let t1 = self.tier1.borrow();
        let cc = *self.chunk_counters.borrow();
        let stale_after =
            std::time::Duration::from_millis(self.shared.config.ws.heartbeat_timeout_ms / 2);
        let ws_stale = self
            .ws
            .all()
            .iter()
            .filter(|w| {
                w.ping_outstanding
                    .get()
                    .is_some_and(|t| t.elapsed() > stale_after)
            })
            .count() as u64;
        let ws_losses = self.ws.live_losses();
        let (series, route_statuses) = {
            let mut m = self.metrics.borrow_mut();
            (m.take(), m.statuses())
        };
        CoreSnapshot {
            core: self.id.0,
            series,
            statuses: route_statuses,
            counters: CoreCounters {
                requests: c.requests.get(),
                statuses,
                bytes_out: c.bytes_out.get(),
                rate_limited: c.rate_limited.get(),
                ws_messages: c.ws_messages.get(),
                connections_opened: c.connections_opened.get(),
                connections_closed: c.connections_closed.get(),
                observed: c.observed.get(),
                ws_dropped_low: c.ws_dropped_low_closed.get() + ws_losses.0,
                ws_refused: c.ws_refused_closed.get() + ws_losses.1,
                tls_handshakes: c.tls_handshakes.get(),
                tls_handshake_failures: c.tls_handshake_failures.get(),
                redirected: c.redirected.get(),
                proxy_refused: c.proxy_refused.get(),
                handed_off: c.handed_off.get(),
                handoffs_refused: c.handoffs_refused.get(),
                session_joins_refused: c.session_joins_refused.get(),
                per_ip_refused: c.per_ip_refused.get(),
                connection_panics: c.connection_panics.get(),
                tier1_hits: t1.hits,
                tier1_misses: t1.misses,
                tier2_hits: cc.tier2_hits,
                tier2_misses: cc.tier2_misses,
            },
            connections: self.connections.borrow().len() as u64,
            ws_connections: self.ws.len() as u64,
            ws_stale,
            limited_clients: c.limited_clients.borrow_mut().drain().collect(),
            tier1_bytes: t1.bytes(),
        }
    }

    /// What the cache reports read, this core's own figures published first.
    pub(crate) fn cache_sources(&self) -> crate::cache::report::CacheSources<'_> {
        self.publish_cache_stats();
        crate::cache::report::CacheSources {
            gauges: &self.shared.cache_gauges,
            service: &self.shared.chunks,
            tier1_budget: self.shared.config.cache.tier1_bytes_per_core,
            hit_rates: self.shared.monitor.reports().cache_hit_rates.clone(),
            thresholds: crate::cache::report::HitThresholds {
                warning: self.shared.config.monitor.hit_rate_warning,
                critical: self.shared.config.monitor.hit_rate_critical,
                min_requests: self.shared.config.monitor.min_cache_requests,
            },
        }
    }

    /// Drops every chunk (`None`) or one track's from tier 2, this core's tier 1 and,
    /// through their inboxes, every other core's; announces it on the `cache` topic.
    /// Returns tier 2's removed entries and bytes; `InboxFull` when some core's inbox
    /// refused the clear (its tier 1 keeps the chunks: the caller should retry).
    pub(crate) fn clear_cache(
        &self,
        track: Option<i64>,
    ) -> Result<(u64, u64), super::mailbox::InboxFull> {
        let (entries, bytes) = self.shared.chunks.tier2.remove_track(track);
        self.tier1.borrow_mut().remove_track(track);
        self.publish_cache_stats();
        let full = self.shared.mailboxes.get().map_or(0, |m| {
            m.broadcast(super::mailbox::CoreMessage::ClearCache { track })
        });
        self.shared
            .chunks
            .announce(&crate::cache::events::CacheEvent::Cleared {
                track_id: track,
                tier2_entries: entries as u64,
                tier2_bytes: bytes,
            });
        if full > 0 {
            return Err(super::mailbox::InboxFull { cores: full });
        }
        Ok((entries as u64, bytes))
    }

    /// Copies this core's cache counters into its published slot.
    pub(crate) fn publish_cache_stats(&self) {
        self.shared.cache_gauges[self.id.0 as usize]
            .publish(&self.tier1.borrow(), &self.chunk_counters.borrow());
    }
}
