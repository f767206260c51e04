//! HTTP/1.1: parsing, the connection loop, routing, middleware and envelopes.

pub(crate) mod accept;
pub(crate) mod chunked;
pub(crate) mod conn;
pub(crate) mod context;
pub(crate) mod cover;
pub(crate) mod date;
mod domain_errors;
pub(crate) mod envelope;
pub(crate) mod error;
pub(crate) mod file;
pub(crate) mod limiter;
pub(crate) mod middleware;
pub(crate) mod pagination;
pub mod parse;
pub(crate) mod recycle;
pub(crate) mod redirect;
pub(crate) mod request;
pub(crate) mod response;
pub mod router;
pub mod service;
pub(crate) mod site;
pub(crate) mod trace;
pub(crate) mod validate;
