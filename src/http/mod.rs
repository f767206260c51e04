//! HTTP/1.1: parsing, the connection loop, routing, middleware and envelopes.

pub mod conn;
pub mod context;
mod domain_errors;
pub mod envelope;
pub mod error;
pub mod limiter;
pub mod middleware;
pub mod pagination;
pub mod parse;
pub mod request;
pub mod response;
pub mod router;
pub mod service;
pub mod validate;
