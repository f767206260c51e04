//! auralis-server: a thread-per-core audio streaming server on io_uring.
//!
//! The folder layout is the architecture: `runtime` boots pinned cores and owns the
//! per-core state, `http` is the request path, `api` the handlers, `config` the settings.

pub mod api;
pub mod audio;
pub mod cache;
pub mod config;
pub mod http;
pub mod library;
pub mod logging;
pub mod monitor;
pub mod runtime;
pub mod ws;
