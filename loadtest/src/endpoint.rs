//! Where the harness connects: a loopback address, and TLS when the URL said
//! `https://` or `wss://` (the certificate is checked against `--tls-ca`, for the
//! address in the URL: load tests of TLS measure real, verified sessions).

use crate::client::Failure;
use crate::stream::Stream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A server URL as given: its address and whether it asks for TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerUrl {
    pub addr: SocketAddr,
    pub secure: bool,
}

/// A server to connect to, TLS set up when asked for.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}",
            if self.tls.is_some() {
                "https://"
            } else {
                "http://"
            },
            self.addr
        )
    }
}

impl Endpoint {
    /// Plain HTTP to `addr`.
    pub fn plain(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, tls: None }
    }

    /// The endpoint for `url`; a secure one trusts the PEM certificates in `ca` only.
    pub fn new(url: ServerUrl, ca: Option<&Path>) -> Result<Endpoint, String> {
        if !url.secure {
            return Ok(Endpoint::plain(url.addr));
        }
        let ca = ca.ok_or("https:// and wss:// targets need --tls-ca FILE (the server's certificate or its CA, PEM)")?;
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no certificate in it", ca.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Endpoint {
            addr: url.addr,
            tls: Some(Arc::new(cfg)),
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn server_name(&self) -> ServerName<'static> {
        ServerName::IpAddress(self.addr.ip().into())
    }

    /// Connects (from `source` when given) with socket read/write timeouts, then
    /// completes the TLS handshake when the endpoint is secure.
    pub async fn connect(
        &self,
        source: Option<Ipv4Addr>,
        timeout: Option<Duration>,
    ) -> Result<Stream, Failure> {
        let tcp = crate::client::open(self.addr, source).await?;
        let _ = tcp.set_nodelay(true);
        if timeout.is_some() {
            tcp.set_read_timeout(timeout)
                .and_then(|()| tcp.set_write_timeout(timeout))
                .map_err(|_| Failure::Connect)?;
        }
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some(cfg) => {
                let tls = futures_rustls::TlsConnector::from(cfg.clone())
                    .connect(self.server_name(), tcp)
                    .await
                    .map_err(|_| Failure::Connect)?;
                Ok(Stream::Tls(Box::new(tls)))
            }
        }
    }

    /// A blocking connection for set-up requests.
    pub fn connect_blocking(&self, timeout: Duration) -> Result<Box<dyn BlockingIo>, String> {
        let tcp = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        tcp.set_nodelay(true).ok();
        tcp.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let Some(cfg) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let conn = rustls::ClientConnection::new(cfg.clone(), self.server_name())
            .map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("TLS handshake with {}: {e}", self.addr))?;
        }
        Ok(Box::new(tls))
    }
}

/// A blocking byte stream (plain or TLS).
pub trait BlockingIo: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> BlockingIo for T {}
