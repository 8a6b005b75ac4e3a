//! The rustls configuration of a client: the CAs the server certificate must chain to (files, a
//! directory, inline PEM, or the Mozilla roots of `webpki-roots` when none is given, as aMQTT
//! falls back to the system's), an optional client certificate, and the two relaxations of
//! verification: `check_hostname: false` and `insecure_skip_verify`.
//!
//! The crypto provider is aws-lc-rs, as on the server side.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
};

use super::{ClientTransportError, ConnectOptions};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS configuration `options` describe; reads every file they name.
pub(super) fn client_config(
    options: &ConnectOptions,
) -> Result<Arc<ClientConfig>, ClientTransportError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientTransportError::TlsConfig(e.to_string()))?;
    let builder = if options.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
    } else {
        let roots = Arc::new(roots(options)?);
        if options.check_hostname {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| ClientTransportError::TlsConfig(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(IgnoreServerName { inner }))
        }
    };
    let config = match (&options.cert_file, &options.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (None, Some(key_file)) => {
            return Err(ClientTransportError::TlsConfig(format!(
                "keyfile `{}` without certfile",
                key_file.display()
            )));
        }
        (Some(cert_file), key_file) => {
            let chain = load_certificates(cert_file, "certfile")?;
            // Without a key file the key is in the certificate file, as in Python's
            // `load_cert_chain`.
            let (key_path, key_name) = match key_file {
                Some(path) => (path, "keyfile"),
                None => (cert_file, "certfile"),
            };
            let key = load_key(key_path, key_name)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                ClientTransportError::TlsConfig(format!(
                    "client certificate `{}` and key `{}`: {e}",
                    cert_file.display(),
                    key_path.display()
                ))
            })?
        }
    };
    Ok(Arc::new(config))
}

/// The CAs of `options`, or the webpki roots when it names none.
fn roots(options: &ConnectOptions) -> Result<RootCertStore, ClientTransportError> {
    let mut roots = RootCertStore::empty();
    if options.ca_file.is_none() && options.ca_path.is_none() && options.ca_data.is_none() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    }
    if let Some(ca_file) = &options.ca_file {
        for certificate in load_certificates(ca_file, "cafile")? {
            roots.add(certificate).map_err(|e| {
                file_error(ca_file, "cafile", format!("unusable CA certificate: {e}"))
            })?;
        }
    }
    if let Some(ca_path) = &options.ca_path {
        add_directory(&mut roots, ca_path)?;
    }
    if let Some(ca_data) = &options.ca_data {
        let certificates = pem_certificates(ca_data.as_bytes())
            .map_err(|e| ClientTransportError::CaData(format!("invalid PEM: {e}")))?;
        if certificates.is_empty() {
            return Err(ClientTransportError::CaData(
                "no PEM `CERTIFICATE` block".into(),
            ));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                ClientTransportError::CaData(format!("unusable CA certificate: {e}"))
            })?;
        }
    }
    Ok(roots)
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, ClientTransportError> {
    std::fs::read(path).map_err(|source| ClientTransportError::TlsFileRead {
        key,
        path: path.to_owned(),
        source,
    })
}

fn file_error(path: &Path, key: &'static str, reason: impl Into<String>) -> ClientTransportError {
    ClientTransportError::TlsFile {
        key,
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn pem_certificates(text: &[u8]) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    CertificateDer::pem_slice_iter(text).collect()
}

/// The certificates of a PEM file; at least one.
fn load_certificates(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ClientTransportError> {
    let certificates = pem_certificates(&read(path, key)?)
        .map_err(|e| file_error(path, key, format!("invalid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(file_error(path, key, "no PEM `CERTIFICATE` block"));
    }
    Ok(certificates)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn load_key(
    path: &Path,
    key: &'static str,
) -> Result<PrivateKeyDer<'static>, ClientTransportError> {
    PrivateKeyDer::from_pem_slice(&read(path, key)?).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(
            path,
            key,
            "no PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block",
        ),
        e => file_error(path, key, format!("invalid PEM: {e}")),
    })
}

/// Adds the certificates of every file in `capath` (files without one are skipped); at least
/// one must be found.
fn add_directory(roots: &mut RootCertStore, capath: &Path) -> Result<(), ClientTransportError> {
    let read_error = |source| ClientTransportError::TlsFileRead {
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
            .map_err(|e| file_error(&path, "capath", format!("invalid PEM: {e}")))?;
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                file_error(&path, "capath", format!("unusable CA certificate: {e}"))
            })?;
            added += 1;
        }
    }
    if added == 0 {
        return Err(file_error(
            capath,
            "capath",
            "the directory holds no PEM `CERTIFICATE` block",
        ));
    }
    Ok(())
}

/// `insecure_skip_verify`: any server certificate is accepted, but the handshake signatures are
/// still checked (so the server holds the key of the certificate it sent).
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `check_hostname: false`: the chain must verify as usual, but a certificate not issued for
/// the host of the URL is accepted. webpki checks the name last, after the chain, its validity
/// period and revocation, so ignoring that one error skips nothing else.
#[derive(Debug)]
struct IgnoreServerName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for IgnoreServerName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
