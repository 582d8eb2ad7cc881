//! The listening side of TLS: the rustls server configuration TcpInput
//! wraps accepted sockets in ([`TlsConfig::server_config`],
//! [`TlsConfig::acceptor`]), with its certificate, its client-certificate
//! policy (`client_auth`, `client_cafile`) and session tickets.

use std::sync::Arc;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto;
use tokio_rustls::rustls::server::WebPkiClientVerifier;

use super::pem::{load_certs, load_key, load_roots};
use super::{ClientAuth, TlsConfig, invalid, set, warn_ignored};

impl TlsConfig {
    /// The listening side's rustls configuration (TcpInput).
    pub fn server_config(&self, spec: &PluginSpec) -> Result<Arc<ServerConfig>, BuildError> {
        let connecting_only = "it applies to connecting plugins (TcpOutput) only";
        if set(&self.server_name).is_some() {
            warn_ignored(spec, "server_name", connecting_only);
        }
        if set(&self.root_cafile).is_some() {
            warn_ignored(spec, "root_cafile", connecting_only);
        }
        if self.insecure_skip_verify {
            warn_ignored(spec, "insecure_skip_verify", connecting_only);
        }
        self.warn_ticket_key(spec);
        let (Some(cert_file), Some(key_file)) = (set(&self.cert_file), set(&self.key_file)) else {
            let key = if set(&self.cert_file).is_none() {
                "tls.cert_file"
            } else {
                "tls.key_file"
            };
            return Err(invalid(
                spec,
                key,
                "use_tls needs the server's certificate and key: set cert_file and key_file",
            ));
        };
        let provider = self.provider(spec)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&self.versions(spec)?)
            .map_err(|e| invalid(spec, "tls", e))?;
        let builder = match self.client_auth {
            ClientAuth::NoClientCert => {
                if set(&self.client_cafile).is_some() {
                    warn_ignored(spec, "client_cafile", "client_auth is NoClientCert");
                }
                builder.with_no_client_auth()
            }
            ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
                return Err(invalid(
                    spec,
                    "tls.client_auth",
                    format!(
                        "{:?} is not supported: it accepts client certificates without \
                         verifying them, and rustls verifies every certificate it accepts; \
                         use VerifyClientCertIfGiven or RequireAndVerifyClientCert with \
                         client_cafile",
                        self.client_auth
                    ),
                ));
            }
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
                let Some(cafile) = set(&self.client_cafile) else {
                    return Err(invalid(
                        spec,
                        "tls.client_cafile",
                        format!(
                            "client_auth {:?} needs client_cafile, the PEM CA certificate(s) \
                             client certificates must chain to (this hekad has no system \
                             trust store)",
                            self.client_auth
                        ),
                    ));
                };
                let roots = load_roots(spec, "tls.client_cafile", cafile)?;
                let mut verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                );
                if self.client_auth == ClientAuth::VerifyClientCertIfGiven {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier
                    .build()
                    .map_err(|e| invalid(spec, "tls.client_cafile", format!("{cafile}: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let certs = load_certs(spec, "tls.cert_file", cert_file)?;
        let key = load_key(spec, key_file)?;
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            invalid(
                spec,
                "tls.key_file",
                format!("{key_file} does not go with the certificate in {cert_file}: {e}"),
            )
        })?;
        config.ignore_client_order = self.prefer_server_ciphers;
        if self.session_tickets_disabled {
            config.send_tls13_tickets = 0;
        } else {
            config.ticketer = crypto::ring::Ticketer::new()
                .map_err(|e| invalid(spec, "tls", format!("cannot set up session tickets: {e}")))?;
        }
        Ok(Arc::new(config))
    }

    /// A TLS acceptor for TcpInput's connections.
    pub fn acceptor(&self, spec: &PluginSpec) -> Result<TlsAcceptor, BuildError> {
        Ok(TlsAcceptor::from(self.server_config(spec)?))
    }
}
