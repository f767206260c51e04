//! The certificate and key, read from PEM files and replaceable at run time.

use super::TlsError;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The current certificate, swapped whole on reload.
#[derive(Debug)]
pub(crate) struct Reloadable {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloadable {
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Reloadable, TlsError> {
        Ok(Reloadable {
            current: RwLock::new(Arc::new(read_pair(cert, key)?)),
            cert_file: cert.to_path_buf(),
            key_file: key.to_path_buf(),
        })
    }

    /// Replaces the certificate with what the files hold now; a bad pair changes nothing.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(read_pair(&self.cert_file, &self.key_file)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Reads a chain and its key, checking that they belong together.
fn read_pair(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(cert_file)?;
    let key_pem = read(key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        path: key_file.to_path_buf(),
        message: e.to_string(),
    })?;
    let signer = any_supported_type(&key).map_err(|source| TlsError::Key {
        path: key_file.to_path_buf(),
        source,
    })?;
    let pair = CertifiedKey::new(chain, signer);
    pair.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_file.to_path_buf(),
        key: key_file.to_path_buf(),
    })?;
    Ok(pair)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, ck.cert.pem()).unwrap();
        std::fs::write(&k, ck.signing_key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn loads_reloads_and_names_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("auralis-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c1, k1) = write_pair(&dir, "a");
        let (_c2, k2) = write_pair(&dir, "b");
        let r = Reloadable::load(&c1, &k1).unwrap();
        let before = r.current.read().unwrap().cert[0].clone();

        let err = Reloadable::load(&c1, &k2).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        let err = Reloadable::load(&k1, &k1).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = Reloadable::load(&dir.join("absent.crt"), &k1).unwrap_err();
        assert!(err.to_string().contains("absent.crt"), "{err}");

        // A bad pair on reload keeps the current certificate.
        std::fs::copy(&k2, &k1).unwrap();
        assert!(r.reload().is_err());
        assert_eq!(r.current.read().unwrap().cert[0], before);
        // A good one replaces it.
        let (c3, k3) = write_pair(&dir, "c");
        std::fs::copy(&c3, &c1).unwrap();
        std::fs::copy(&k3, &k1).unwrap();
        r.reload().unwrap();
        assert_ne!(r.current.read().unwrap().cert[0], before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
