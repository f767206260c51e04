//! auralis-server: a thread-per-core audio streaming server on io_uring.
//!
//! The folder layout is the architecture (docs/ARCHITECTURE.md):
//! - domain: `library` (SQLite store, typed queries, pages, scan), `cache` (tiers,
//!   single-flight, the chunk path), `audio` (decode, presets, encode, pool),
//!   `monitor` (per-core recording, merge, alerts, Prometheus);
//! - `runtime`: pinned cores, `CoreState`, mailboxes, the pipeline trait;
//! - adapters: `http` + `api` (HTTP), `ws` (WebSocket), `subsonic` (the Subsonic API,
//!   over `http`); `server` composes their routes into one pipeline;
//! - below everything: `config`, `validation`, `timestamp`, `logging`, `trace`
//!   (W3C Trace Context and the OTLP exporter; any layer may record a span).
//!
//! Everything is `pub(crate)` unless something outside the crate uses it; the
//! `unreachable_pub` lint (an error under CI's clippy) keeps it that way. The public
//! surface is what the binary, the benches and the integration tests use:
//! - start a server: `runtime::boot::run` with `server::pipeline` (the binary, tests);
//! - configuration and logging: `config::Config`, `logging`;
//! - the library: `library::Library`, `library::{demo, scan, probe}` (the binary's
//!   `scan` command, fixtures);
//! - one request without sockets: `http::service::{Service, poll_once}` over
//!   `api::routes()` and a `runtime::core_state::CoreState` (request-path bench);
//!   `http::parse` (parser bench), `http::router::Route` (the OpenAPI test);
//! - client-IP pinning: `runtime::listener::core_for_ipv4/ipv6` (pinning tests);
//! - audio and cache pieces the chunk bench times: `audio::{decode, encode, preset,
//!   wav, flac}`, `cache::{ChunkKey, tier2::TierTwo}`;
//! - the monitor's merge step: `monitor::{aggregator::SeriesStore, recorder}`.

#![warn(unreachable_pub)]

pub mod api;
pub mod audio;
pub mod cache;
pub mod cidr;
pub(crate) mod cluster;
pub mod config;
pub mod doctor;
pub(crate) mod faults;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz_api;
pub mod http;
pub mod library;
pub mod logging;
pub mod monitor;
pub(crate) mod panics;
pub(crate) mod random;
pub mod runtime;
pub mod server;
pub mod subsonic;
pub(crate) mod timestamp;
pub mod tls;
pub(crate) mod trace;
pub(crate) mod validation;
pub(crate) mod ws;
