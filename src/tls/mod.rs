//! TLS termination: rustls on the cores' own rings (monoio-rustls), one shared
//! `ServerConfig` whose certificate can be replaced while the server runs.
//!
//! Concurrency contract: [`Tls`] is built once at boot and shared by every core
//! (`Arc`). Each handshake reads the current certificate through [`certs::Reloadable`]
//! (one uncontended `RwLock` read per handshake, never per request); SIGHUP's thread
//! swaps it. Open connections keep the session they negotiated, so a reload drops none.

pub(crate) mod certs;

use certs::Reloadable;
use monoio_rustls::TlsAcceptor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS could not be set up or reloaded; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a PEM file of the expected kind: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{path}: no certificate in it")]
    NoCertificate { path: PathBuf },
    #[error("{path}: unusable private key: {source}")]
    Key {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("{key}: the key does not belong to the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The protocol offered in ALPN: this server speaks HTTP/1.1 only (and WebSocket over
/// it); a client that offers only `h2` is refused in the handshake, not misunderstood.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The server's TLS state, shared by all cores.
pub(crate) struct Tls {
    acceptor: TlsAcceptor,
    certs: Arc<Reloadable>,
    /// The port HTTPS is served on (the bound one), for redirects.
    https_port: u16,
}

impl Tls {
    /// Loads the certificate and key and builds the rustls configuration.
    pub(crate) fn new(cert: &Path, key: &Path, https_port: u16) -> Result<Tls, TlsError> {
        let certs = Arc::new(Reloadable::load(cert, key)?);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certs,
            https_port,
        })
    }

    pub(crate) fn https_port(&self) -> u16 {
        self.https_port
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again (SIGHUP). On error the current certificate stays.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        self.certs.reload()
    }
}
