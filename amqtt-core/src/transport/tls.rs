//! TLS for a listener with `ssl: true`: the server certificate chain and key from PEM files, and
//! client-certificate verification against `cafile`, `capath` and `cadata`.
//!
//! Everything is read and checked when the broker binds, so a missing or broken file stops the
//! broker at startup with a message that names the file. The crypto provider is aws-lc-rs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use thiserror::Error;

use crate::config::ListenerConfig;

/// Why a listener's TLS setup cannot be built. Every variant names the file it is about.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// `ssl: true` without `certfile` and `keyfile`.
    #[error("`ssl: true` needs `certfile` and `keyfile`")]
    MissingCertificate,
    /// `require_certificate: true` without any CA to verify client certificates with.
    #[error("`require_certificate: true` needs `cafile`, `capath` or `cadata`")]
    RequireWithoutCa,
    /// A file (or the `capath` directory) cannot be read.
    #[error("cannot read {key} `{}`: {source}", path.display())]
    Read {
        /// The listener key that names the file (`certfile`, `keyfile`, `cafile`, `capath`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should.
    #[error("{key} `{}`: {reason}", path.display())]
    Parse {
        /// The listener key that names the file (`certfile`, `keyfile`, `cafile`, `capath`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The inline `cadata` does not hold usable CA certificates.
    #[error("cadata: {0}")]
    CaData(String),
    /// The certificate, key and CAs are each valid but do not make a TLS configuration (a key
    /// that does not match the certificate, say).
    #[error("certfile `{}` and keyfile `{}`: {reason}", certfile.display(), keyfile.display())]
    Config {
        /// The certificate chain file.
        certfile: PathBuf,
        /// The key file.
        keyfile: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

/// The crypto provider every TLS configuration of the broker uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls server configuration for `listener` (which has `ssl: true`).
pub(crate) fn server_config(listener: &ListenerConfig) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let (Some(certfile), Some(keyfile)) = (&listener.certfile, &listener.keyfile) else {
        return Err(TlsSetupError::MissingCertificate);
    };
    let chain = load_certificates(certfile, "certfile")?;
    let key = load_key(keyfile)?;
    let roots = client_roots(listener)?;
    let config_error = |e: rustls::Error| TlsSetupError::Config {
        certfile: certfile.clone(),
        keyfile: keyfile.clone(),
        reason: e.to_string(),
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let builder = match roots {
        None if listener.require_certificate => return Err(TlsSetupError::RequireWithoutCa),
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if listener.require_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| TlsSetupError::Config {
                certfile: certfile.clone(),
                keyfile: keyfile.clone(),
                reason: format!("client certificate verifier: {e}"),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(config_error)?;
    Ok(Arc::new(config))
}

/// Reads `path`, naming `key` in the error.
fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn parse_error(path: &Path, key: &'static str, reason: impl Into<String>) -> TlsSetupError {
    TlsSetupError::Parse {
        key,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Every `CERTIFICATE` block of a PEM text; other blocks (keys, parameters) are skipped.
fn pem_certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    CertificateDer::pem_slice_iter(text).collect()
}

/// The certificates of a PEM file; at least one.
fn load_certificates(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certificates = pem_certificates(&read(path, key)?)
        .map_err(|e| parse_error(path, key, format!("invalid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(parse_error(path, key, "no PEM `CERTIFICATE` block"));
    }
    Ok(certificates)
}

/// The private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), the first one found.
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let text = read(path, "keyfile")?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => parse_error(
            path,
            "keyfile",
            "no PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block",
        ),
        e => parse_error(path, "keyfile", format!("invalid PEM: {e}")),
    })
}

/// The roots that verify client certificates, or `None` when the listener names no CA.
fn client_roots(listener: &ListenerConfig) -> Result<Option<RootCertStore>, TlsSetupError> {
    if listener.cafile.is_none() && listener.capath.is_none() && listener.cadata.is_none() {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &listener.cafile {
        for certificate in load_certificates(cafile, "cafile")? {
            roots.add(certificate).map_err(|e| {
                parse_error(cafile, "cafile", format!("unusable CA certificate: {e}"))
            })?;
        }
    }
    if let Some(capath) = &listener.capath {
        add_directory(&mut roots, capath)?;
    }
    if let Some(cadata) = &listener.cadata {
        let certificates = pem_certificates(cadata.as_bytes())
            .map_err(|e| TlsSetupError::CaData(format!("invalid PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(TlsSetupError::CaData("no PEM `CERTIFICATE` block".into()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| TlsSetupError::CaData(format!("unusable CA certificate: {e}")))?;
        }
    }
    Ok(Some(roots))
}

/// Adds the CA certificates of every file in `capath` (as OpenSSL's `capath`: one or more PEM
/// certificates per file; files without a `CERTIFICATE` block are skipped). The directory must
/// hold at least one.
fn add_directory(roots: &mut RootCertStore, capath: &Path) -> Result<(), TlsSetupError> {
    let read_error = |source| TlsSetupError::Read {
        key: "capath",
        path: capath.to_owned(),
        source,
    };
    let mut entries = std::fs::read_dir(capath)
        .map_err(read_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<PathBuf>, _>>()
        .map_err(read_error)?;
    entries.sort();
    let mut added = 0usize;
    for path in entries.into_iter().filter(|p| p.is_file()) {
        let certificates = pem_certificates(&read(&path, "capath")?)
            .map_err(|e| parse_error(&path, "capath", format!("invalid PEM: {e}")))?;
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                parse_error(&path, "capath", format!("unusable CA certificate: {e}"))
            })?;
            added += 1;
        }
    }
    if added == 0 {
        return Err(parse_error(
            capath,
            "capath",
            "the directory holds no PEM `CERTIFICATE` block",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(pem_certificates(b"not pem at all"), Ok(v) if v.is_empty()));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(pem_certificates(broken).is_err());
    }

    #[test]
    fn errors_name_the_file() {
        let missing = Path::new("/nonexistent/amqtt-test/server.crt");
        let e = load_certificates(missing, "certfile").expect_err("missing file");
        let text = e.to_string();
        assert!(text.contains("certfile"), "{text}");
        assert!(
            text.contains("/nonexistent/amqtt-test/server.crt"),
            "{text}"
        );
    }
}
