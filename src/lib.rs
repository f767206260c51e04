//! auralis-server: a thread-per-core audio streaming server on io_uring.
//!
//! The folder layout is the architecture (docs/ARCHITECTURE.md):
//! - domain: `library` (SQLite store, typed queries, pages, scan), `cache` (tiers,
//!   single-flight, the chunk path), `audio` (decode, presets, encode, pool),
//!   `monitor` (per-core recording, merge, alerts, Prometheus);
//! - `runtime`: pinned cores, `CoreState`, mailboxes, the pipeline trait;
//! - adapters: `http` + `api` (HTTP), `ws` (WebSocket);
//! - below everything: `config`, `validation`, `timestamp`, `logging`.
//!
//! What the benches, the integration tests and the load harness use is public:
//! `runtime::boot::run` with `api::pipeline`, `http::service::Service` and
//! `http::parse` (benches), `config::Config`, `library::Library`, the monitor's
//! `SeriesStore` and recorder (monitor bench), `audio::decode` (chunk bench).

pub mod api;
pub mod audio;
pub mod cache;
pub mod config;
pub mod http;
pub mod library;
pub mod logging;
pub mod monitor;
pub mod runtime;
pub mod timestamp;
pub mod validation;
pub mod ws;
