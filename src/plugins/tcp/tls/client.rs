//! The connecting side of TLS: the rustls client configuration TcpOutput
//! wraps each new connection in ([`TlsConfig::client_config`],
//! [`TlsConfig::connector`]), the server name it verifies, and the
//! verifier behind `insecure_skip_verify`.

use std::fmt;
use std::sync::Arc;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::pem::{load_certs, load_key, load_roots};
use super::{ClientAuth, TlsConfig, invalid, set, warn_ignored};

/// The connecting side's TLS: a connector and the name it verifies.
#[derive(Clone)]
pub struct TlsClient {
    /// Wraps a connected socket in a client handshake.
    pub connector: TlsConnector,
    /// SNI and the name the server's certificate must carry.
    pub server_name: ServerName<'static>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// The connecting side's rustls configuration (TcpOutput).
    pub fn client_config(&self, spec: &PluginSpec) -> Result<Arc<ClientConfig>, BuildError> {
        let listening_only = "it applies to listening plugins (TcpInput) only";
        if self.client_auth != ClientAuth::NoClientCert {
            warn_ignored(spec, "client_auth", listening_only);
        }
        if set(&self.client_cafile).is_some() {
            warn_ignored(spec, "client_cafile", listening_only);
        }
        self.warn_ticket_key(spec);
        let provider = self.provider(spec)?;
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions(spec)?)
            .map_err(|e| invalid(spec, "tls", e))?;
        let builder = if self.insecure_skip_verify {
            tracing::warn!(
                plugin = %spec.name,
                "tls.insecure_skip_verify = true: the server's certificate is not verified; \
                 anyone on the path can impersonate it."
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
        } else {
            let Some(cafile) = set(&self.root_cafile) else {
                return Err(invalid(
                    spec,
                    "tls.root_cafile",
                    "use_tls needs root_cafile, the PEM CA certificate(s) the server's \
                     certificate must chain to: this hekad has no system trust store \
                     (or set insecure_skip_verify = true to skip verification)",
                ));
            };
            builder.with_root_certificates(load_roots(spec, "tls.root_cafile", cafile)?)
        };
        let mut config = match (set(&self.cert_file), set(&self.key_file)) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert_file), Some(key_file)) => {
                let certs = load_certs(spec, "tls.cert_file", cert_file)?;
                let key = load_key(spec, key_file)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    invalid(
                        spec,
                        "tls.key_file",
                        format!("{key_file} does not go with the certificate in {cert_file}: {e}"),
                    )
                })?
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    spec,
                    "tls",
                    "a client certificate needs both cert_file and key_file",
                ));
            }
        };
        if self.session_tickets_disabled {
            config.resumption = Resumption::disabled();
        }
        Ok(Arc::new(config))
    }

    /// A TLS connector for TcpOutput and the server name it checks:
    /// `server_name`, else the host part of `address` (`host:port`).
    pub fn connector(&self, spec: &PluginSpec, address: &str) -> Result<TlsClient, BuildError> {
        let config = self.client_config(spec)?;
        let (key, name) = match set(&self.server_name) {
            Some(name) => ("tls.server_name", name),
            None => ("address", host_of(address)),
        };
        let server_name = ServerName::try_from(name.to_owned()).map_err(|e| {
            invalid(
                spec,
                key,
                format!("{name:?} is neither a DNS name nor an IP address: {e}"),
            )
        })?;
        Ok(TlsClient {
            connector: TlsConnector::from(config),
            server_name,
        })
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub(super) fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `insecure_skip_verify`: any certificate for any name is accepted. The
/// handshake signatures are still checked with the provider's algorithms
/// (the peer must hold the key of the certificate it presents), which costs
/// nothing and keeps the handshake itself sound.
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
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
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
