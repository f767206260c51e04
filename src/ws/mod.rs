//! WebSocket: `GET /ws` upgraded on the core that accepted it. docs/PROTOCOL.md v1:
//! envelope and registry, priority rate limits, heartbeats, topics with cross-core
//! fan-out, player sessions (shared across cores and, with a broker, nodes), and
//! streaming over the socket.

pub(crate) mod connection;
mod direct;
mod errors;
pub(crate) mod frame;
pub(crate) mod handlers;
pub(crate) mod heartbeat;
pub(crate) mod hub;
pub(crate) mod limiter;
pub(crate) mod outbound;
pub(crate) mod payload;
pub(crate) mod player;
pub(crate) mod protocol;
mod reader;
pub(crate) mod revocation;
pub(crate) mod sessions;
pub(crate) mod stream;
pub(crate) mod trace;
pub(crate) mod upgrade;
mod writer;
