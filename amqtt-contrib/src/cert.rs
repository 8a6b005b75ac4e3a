//! aMQTT's certificate authentication plugin, [`UserAuthCert`]: a client is admitted when its
//! verified TLS client certificate names it, by the SPIFFE URI `spiffe://<uri_domain>/device/<client id>`
//! in its subject alternative names.
//!
//! ```yaml
//! listeners:
//!   tls:
//!     bind: 0.0.0.0:8883
//!     ssl: true
//!     certfile: server.crt
//!     keyfile: server.key
//!     cafile: ca.crt               # client certificates are verified against this CA
//!     require_certificate: true
//! plugins:
//!   amqtt.contrib.cert.UserAuthCertPlugin:   # or auth_cert
//!     uri_domain: test.amqtt.io
//! ```
//!
//! `ca_creds`, `server_creds` and `device_creds --uri <uri_domain> --device-id <client id>` make
//! such a CA, server certificate and device certificates.

use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin};
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Configuration of [`UserAuthCert`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserAuthCertConfig {
    /// The trust domain of the device certificates' SPIFFE URIs, e.g. `test.amqtt.io`
    /// (`device_creds --uri`). Required.
    pub uri_domain: Option<String>,
}

/// Admits a client whose verified certificate's SPIFFE URI is
/// `spiffe://<uri_domain>/device/<its client id>` (aMQTT's `UserAuthCertPlugin`).
///
/// The listener verifies the certificate chain against its `cafile`/`capath`/`cadata`; this
/// plugin reads the client's own certificate. Verdicts: Allow when the certificate carries
/// exactly one URI among its subject alternative names (as SPIFFE requires) and that URI is
/// the expected one; Deny (CONNACK 0x05) otherwise: no certificate (a plain connection, or a TLS
/// listener that does not ask for one), no URI, several URIs, another domain or path, or
/// another client id.
#[derive(Debug, Clone)]
pub struct UserAuthCert {
    /// `spiffe://<uri_domain>/device/`.
    prefix: String,
}

#[plugin(
    name = "auth_cert",
    alias = "amqtt.contrib.cert.UserAuthCertPlugin",
    config = UserAuthCertConfig
)]
impl Plugin for UserAuthCert {
    fn build(config: UserAuthCertConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let domain = match config.uri_domain.as_deref().map(str::trim) {
            Some(domain)
                if !domain.is_empty() && !domain.contains(['/', ':', '?', '#', '@', ' ']) =>
            {
                domain
            }
            Some(domain) => {
                return Err(PluginError::new(format!(
                    "`uri_domain`: expected a domain such as `test.amqtt.io`, got `{domain}`"
                )));
            }
            None => {
                return Err(PluginError::new(
                    "`uri_domain`: required: the domain of the device certificates' \
                     spiffe:// URIs, e.g. `uri_domain: test.amqtt.io`",
                ));
            }
        };
        Ok(UserAuthCert {
            prefix: format!("spiffe://{domain}/device/"),
        })
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        match self.check(session) {
            Ok(()) => {
                tracing::debug!(
                    client_id = &*session.client_id,
                    "certificate authentication success"
                );
                Verdict::Allow
            }
            Err(why) => {
                tracing::debug!(
                    client_id = &*session.client_id,
                    why,
                    "certificate authentication failure"
                );
                Verdict::Deny
            }
        }
    }
}

impl UserAuthCert {
    /// Whether the session's certificate names its client id; the error says why not.
    fn check(&self, session: &SessionInfo) -> Result<(), &'static str> {
        let der = session
            .peer_certificates
            .first()
            .ok_or("no client certificate")?;
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|_| "the certificate does not parse")?;
        let san = cert
            .subject_alternative_name()
            .map_err(|_| "the subject alternative names do not parse")?
            .ok_or("no subject alternative names")?;
        let mut uris = san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::URI(uri) => Some(*uri),
                _ => None,
            });
        let uri = uris
            .next()
            .ok_or("no URI among the subject alternative names")?;
        if uris.next().is_some() {
            return Err("several URIs among the subject alternative names");
        }
        let device = uri
            .strip_prefix(self.prefix.as_str())
            .ok_or("the URI is not spiffe://<uri_domain>/device/...")?;
        if device.is_empty() || device.contains('/') {
            return Err("the URI's device id is empty or has a `/`");
        }
        if device != &*session.client_id {
            return Err("the certificate's device id is not the client id");
        }
        Ok(())
    }
}
