//! WebSocket: `GET /ws` upgraded on the core that accepted it. PROTOCOL.md v1:
//! envelope and registry, priority rate limits, heartbeats, topics with cross-core
//! fan-out, player sessions (shared across cores), and streaming over the socket.

pub mod connection;
mod errors;
pub mod handlers;
pub mod heartbeat;
pub mod hub;
pub mod limiter;
pub mod outbound;
pub mod payload;
pub mod player;
pub mod protocol;
pub mod stream;
pub mod tap;
pub mod upgrade;
