//! TLS for the TCP plugins: Heka's `[<name>.tls]` sub-table ([`TlsConfig`])
//! and the rustls configurations built from it, for TcpInput (a server:
//! [`TlsConfig::acceptor`]) and TcpOutput (a client:
//! [`TlsConfig::connector`]).
//!
//! Everything is rustls with its ring crypto provider, chosen explicitly:
//! no OpenSSL, and nothing is taken from the system. In particular there is
//! **no system trust store**: a TcpOutput verifies its server against
//! `root_cafile` only, so `root_cafile` is required unless
//! `insecure_skip_verify = true`.
//!
//! How each of Heka's keys maps (Heka's names and defaults; an empty string
//! counts as unset, like Go's zero value):
//!
//! | key | effect here |
//! | --- | --- |
//! | `cert_file`, `key_file` | PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1). Required for TcpInput; optional for TcpOutput (its client certificate), but both or neither. |
//! | `client_auth` | TcpInput only. `NoClientCert` (default): none asked for. `RequireAndVerifyClientCert`: a client certificate signed by `client_cafile` is required. `VerifyClientCertIfGiven`: asked for, verified against `client_cafile` when sent, anonymous clients allowed. `RequestClientCert` and `RequireAnyClientCert` are **refused**: they accept certificates without verifying them, which rustls does not do (it verifies every certificate it accepts), and accepting them silently would look like authentication while being none. |
//! | `client_cafile` | PEM CA certificate(s) for the two verifying `client_auth` modes; required by them (no system roots). |
//! | `root_cafile` | TcpOutput only: PEM CA certificate(s) the server's certificate must chain to. Required unless `insecure_skip_verify`. |
//! | `server_name` | TcpOutput only: the name sent as SNI and checked against the server's certificate; default the host part of `address` (an IP address is checked against the certificate's IP SANs and sends no SNI). |
//! | `insecure_skip_verify` | TcpOutput only: accept any server certificate (handshake signatures are still checked, so the peer holds the key of the certificate it shows, but nothing says who it is). Logged as a warning when the output is built. |
//! | `min_version`, `max_version` | `SSL30`, `TLS10`, `TLS11`, `TLS12`, and `TLS13` (not in Heka, whose Go had no TLS 1.3). rustls speaks only TLS 1.2 and 1.3, so a minimum of `SSL30`, `TLS10` or `TLS11` means "TLS 1.2 is the floor" (nothing older is ever offered or accepted); a maximum below `TLS12` is an error, because nothing would remain. Unset: TLS 1.2 and 1.3. `max_version = "TLS12"` is taken literally and turns TLS 1.3 off. |
//! | `ciphers` | Restricts the cipher suites to the names listed (IANA names as Go and rustls spell them, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`; TLS 1.3 suites as `TLS_AES_128_GCM_SHA256` or rustls' `TLS13_AES_128_GCM_SHA256`). The restriction applies per protocol version: TLS 1.3 suites stay enabled unless the list names one of them (as in Go, where TLS 1.3 suites are not configurable), and likewise for TLS 1.2. Names rustls does not implement (RC4, 3DES, CBC and static-RSA suites Heka's Go offered) are skipped with a warning; a list with no name rustls implements is an error. |
//! | `prefer_server_ciphers` | TcpInput: default true, the server's suite order wins (rustls' `ignore_client_order`); false follows the client's order. No effect on TcpOutput (as in Go). |
//! | `session_tickets_disabled` | TcpInput: false (default) issues stateless session tickets with rotating keys; true issues none (no TLS 1.3 resumption; TLS 1.2 may still resume by session id). TcpOutput: true turns client-side resumption off. |
//! | `session_ticket_key` | **Accepted and ignored, with a warning**: rustls' ticketer makes and rotates its own random keys and takes none from outside, so tickets are not shared between hekads (a client that moves to another one does a full handshake; nothing else changes). |
//!
//! Keys that only apply to the other side (`server_name`, `root_cafile`,
//! `insecure_skip_verify` on TcpInput; `client_auth`, `client_cafile` on
//! TcpOutput) are ignored with a warning, as Go ignores them. Unknown keys
//! are errors. Every error names the file, section and key, and for files
//! the path that failed to load.

use std::fmt;
use std::sync::Arc;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::Deserialize;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, ProtocolVersion, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Heka's `[<name>.tls]` table (see the module docs for what each key does
/// here).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Name to send as SNI and verify the server's certificate against
    /// (TcpOutput; default the host part of `address`).
    pub server_name: Option<String>,
    /// PEM certificate chain: the server's (TcpInput) or the client's
    /// (TcpOutput).
    pub cert_file: Option<String>,
    /// PEM private key for `cert_file`.
    pub key_file: Option<String>,
    /// Client-certificate policy (TcpInput), Go's names.
    pub client_auth: ClientAuth,
    /// Cipher suites to allow (empty: rustls' safe defaults).
    pub ciphers: Vec<String>,
    /// Accept any server certificate (TcpOutput).
    pub insecure_skip_verify: bool,
    /// The server's suite order wins (TcpInput; default true).
    pub prefer_server_ciphers: bool,
    /// No session tickets (server) / no resumption (client).
    pub session_tickets_disabled: bool,
    /// Accepted and ignored: rustls makes its own ticket keys.
    pub session_ticket_key: Option<String>,
    /// Lowest version: SSL30, TLS10, TLS11, TLS12 or TLS13.
    pub min_version: Option<String>,
    /// Highest version: TLS12 or TLS13 (lower ones leave nothing).
    pub max_version: Option<String>,
    /// PEM CA certificate(s) client certificates must chain to (TcpInput).
    pub client_cafile: Option<String>,
    /// PEM CA certificate(s) the server's certificate must chain to
    /// (TcpOutput).
    pub root_cafile: Option<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            server_name: None,
            cert_file: None,
            key_file: None,
            client_auth: ClientAuth::default(),
            ciphers: Vec::new(),
            insecure_skip_verify: false,
            prefer_server_ciphers: true,
            session_tickets_disabled: false,
            session_ticket_key: None,
            min_version: None,
            max_version: None,
            client_cafile: None,
            root_cafile: None,
        }
    }
}

/// Go's `tls.ClientAuthType` names, as Heka's `client_auth` takes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    /// No client certificate is asked for (the default; `""` too).
    #[default]
    #[serde(alias = "")]
    NoClientCert,
    /// Refused: Go asks for a certificate and does not verify it.
    RequestClientCert,
    /// Refused: Go requires a certificate and does not verify it.
    RequireAnyClientCert,
    /// A certificate is asked for and verified when given.
    VerifyClientCertIfGiven,
    /// A verified certificate is required.
    RequireAndVerifyClientCert,
}

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

/// Protocol versions by age, for `min_version` / `max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Ssl30,
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

const VERSION_NAMES: [(&str, Version); 5] = [
    ("SSL30", Version::Ssl30),
    ("TLS10", Version::Tls10),
    ("TLS11", Version::Tls11),
    ("TLS12", Version::Tls12),
    ("TLS13", Version::Tls13),
];

/// `Some(text)` unless unset or empty (Go's zero value means unset).
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.is_empty())
}

fn invalid(spec: &PluginSpec, key: &str, text: impl fmt::Display) -> BuildError {
    spec.invalid(key, text).into()
}

fn warn_ignored(spec: &PluginSpec, key: &str, why: &str) {
    tracing::warn!(plugin = %spec.name, "tls.{key} is ignored: {why}.");
}

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

    fn warn_ticket_key(&self, spec: &PluginSpec) {
        if set(&self.session_ticket_key).is_some() {
            warn_ignored(
                spec,
                "session_ticket_key",
                "rustls makes and rotates its own ticket keys",
            );
        }
    }

    /// `min_version` / `max_version` as the versions rustls may use.
    fn versions(
        &self,
        spec: &PluginSpec,
    ) -> Result<Vec<&'static SupportedProtocolVersion>, BuildError> {
        let parse = |key: &str, value: &Option<String>| match set(value) {
            None => Ok(None),
            Some(text) => VERSION_NAMES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(text))
                .map(|&(_, version)| Some(version))
                .ok_or_else(|| {
                    invalid(
                        spec,
                        key,
                        format!("unknown version {text:?} (SSL30, TLS10, TLS11, TLS12, TLS13)"),
                    )
                }),
        };
        let min = parse("tls.min_version", &self.min_version)?.unwrap_or(Version::Tls12);
        let max = parse("tls.max_version", &self.max_version)?.unwrap_or(Version::Tls13);
        if max < Version::Tls12 {
            return Err(invalid(
                spec,
                "tls.max_version",
                "rustls speaks only TLS 1.2 and 1.3, so the highest version must be TLS12 or TLS13",
            ));
        }
        if min > max {
            return Err(invalid(
                spec,
                "tls.min_version",
                "min_version is above max_version",
            ));
        }
        let mut versions = Vec::new();
        if max >= Version::Tls13 {
            versions.push(&rustls::version::TLS13);
        }
        if min <= Version::Tls12 {
            versions.push(&rustls::version::TLS12);
        }
        Ok(versions)
    }

    /// ring's provider, its cipher suites narrowed by `ciphers`.
    fn provider(&self, spec: &PluginSpec) -> Result<Arc<CryptoProvider>, BuildError> {
        let mut provider = crypto::ring::default_provider();
        let wanted: Vec<&str> = self
            .ciphers
            .iter()
            .map(|name| name.trim())
            .filter(|name| !name.is_empty())
            .collect();
        if wanted.is_empty() {
            return Ok(Arc::new(provider));
        }
        let named = |suite: &SupportedCipherSuite| wanted.iter().any(|name| suite_is(suite, name));
        let unknown: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|name| !provider.cipher_suites.iter().any(|s| suite_is(s, name)))
            .collect();
        if unknown.len() == wanted.len() {
            let available: Vec<&str> = provider
                .cipher_suites
                .iter()
                .filter_map(|s| s.suite().as_str())
                .collect();
            return Err(invalid(
                spec,
                "tls.ciphers",
                format!(
                    "none of these cipher suites is implemented by rustls; available: {}",
                    available.join(", ")
                ),
            ));
        }
        if !unknown.is_empty() {
            tracing::warn!(
                plugin = %spec.name,
                "tls.ciphers: {} not implemented by rustls; skipped.",
                unknown.join(", ")
            );
        }
        for version in [ProtocolVersion::TLSv1_2, ProtocolVersion::TLSv1_3] {
            let of_version = |s: &SupportedCipherSuite| s.version().version == version;
            if provider
                .cipher_suites
                .iter()
                .any(|s| of_version(s) && named(s))
            {
                provider
                    .cipher_suites
                    .retain(|s| !of_version(s) || named(s));
            }
        }
        Ok(Arc::new(provider))
    }
}

/// Whether `name` names `suite`: rustls' name, the IANA name of a TLS 1.3
/// suite (`TLS_` for rustls' `TLS13_`), or Go's short ChaCha20 names
/// (without `_SHA256`).
fn suite_is(suite: &SupportedCipherSuite, name: &str) -> bool {
    let Some(ours) = suite.suite().as_str() else {
        return false;
    };
    let iana = ours.replacen("TLS13_", "TLS_", 1);
    let short = ours
        .strip_suffix("_SHA256")
        .filter(|_| ours.contains("CHACHA20"));
    [Some(ours), Some(iana.as_str()), short]
        .into_iter()
        .flatten()
        .any(|candidate| candidate.eq_ignore_ascii_case(name))
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn pem_error(path: &str, what: &str, err: pem::Error) -> String {
    match err {
        pem::Error::NoItemsFound => format!("{path} holds no PEM {what}"),
        pem::Error::Io(io) => format!("cannot read {what} file {path}: {io}"),
        other => format!("cannot load {what} from {path}: {other}"),
    }
}

/// Every certificate in the PEM file at `path` (at least one).
fn load_certs(
    spec: &PluginSpec,
    key: &str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let what = "certificate";
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(spec, key, pem_error(path, what, e)))?;
    if certs.is_empty() {
        return Err(invalid(
            spec,
            key,
            pem_error(path, what, pem::Error::NoItemsFound),
        ));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
fn load_key(spec: &PluginSpec, path: &str) -> Result<PrivateKeyDer<'static>, BuildError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        invalid(
            spec,
            "tls.key_file",
            pem_error(path, "private key (PKCS#8, PKCS#1 or SEC1)", e),
        )
    })
}

/// A trust store of the CA certificates in the PEM file at `path`.
fn load_roots(spec: &PluginSpec, key: &str, path: &str) -> Result<RootCertStore, BuildError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in load_certs(spec, key, path)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            invalid(
                spec,
                key,
                format!("certificate {} in {path} is not a usable CA: {e}", i + 1),
            )
        })?;
    }
    Ok(roots)
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

/// Certificates made at test time, and helpers shared by the TCP tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use heka_actors::config::PluginSpec;
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose,
    };

    /// A temporary directory of PEM files: `ca.pem` signs `server.pem`
    /// (for `localhost` and 127.0.0.1, key `server.key`) and `client.pem`
    /// (key `client.key`); `other-ca.pem` signs `stranger.pem` (a client,
    /// key `stranger.key`) and `other-server.pem` (key `other-server.key`).
    pub(crate) struct Pki {
        pub dir: tempfile::TempDir,
    }

    fn ca(name: &str) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (params.self_signed(&key).unwrap(), key)
    }

    fn leaf(
        dir: &Path,
        name: &str,
        usage: ExtendedKeyUsagePurpose,
        (ca, ca_key): &(Certificate, KeyPair),
    ) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, ca, ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    impl Pki {
        pub(crate) fn new() -> Pki {
            let dir = tempfile::tempdir().unwrap();
            let ours = ca("hekad test CA");
            let theirs = ca("someone else's CA");
            std::fs::write(dir.path().join("ca.pem"), ours.0.pem()).unwrap();
            std::fs::write(dir.path().join("other-ca.pem"), theirs.0.pem()).unwrap();
            let (server, client) = (
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            );
            leaf(dir.path(), "server", server.clone(), &ours);
            leaf(dir.path(), "client", client.clone(), &ours);
            leaf(dir.path(), "other-server", server, &theirs);
            leaf(dir.path(), "stranger", client, &theirs);
            Pki { dir }
        }

        /// The path of one of the files, as a config string.
        pub(crate) fn path(&self, name: &str) -> String {
            self.dir.path().join(name).to_string_lossy().into_owned()
        }

        /// A `tls` table with `keys`, where a value naming one of the
        /// files above (`ca.pem`, …) becomes its path.
        pub(crate) fn table(&self, keys: &[(&str, toml::Value)]) -> toml::Table {
            keys.iter()
                .map(|(key, value)| {
                    let value = match value.as_str() {
                        Some(file) if self.dir.path().join(file).is_file() => {
                            self.path(file).into()
                        }
                        _ => value.clone(),
                    };
                    ((*key).to_owned(), value)
                })
                .collect()
        }
    }

    /// A spec of `type_name` whose options are `options` plus `tls`.
    pub(crate) fn spec(
        type_name: &str,
        options: &[(&str, toml::Value)],
        tls: Option<toml::Table>,
    ) -> PluginSpec {
        let mut spec = PluginSpec::new("Tcp", type_name).unwrap();
        spec.options.clear();
        for (key, value) in options {
            spec.options.insert((*key).into(), value.clone());
        }
        if let Some(tls) = tls {
            spec.options.insert("tls".into(), tls.into());
        }
        spec
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Pki, spec};
    use super::*;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const LIMIT: Duration = Duration::from_secs(5);

    async fn within<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(LIMIT, fut).await.expect("timed out")
    }

    fn config(pki: &Pki, keys: &[(&str, toml::Value)]) -> TlsConfig {
        pki.table(keys).try_into().unwrap()
    }

    fn server(pki: &Pki, keys: &[(&str, toml::Value)]) -> TlsAcceptor {
        let mut all = vec![
            ("cert_file", "server.pem".into()),
            ("key_file", "server.key".into()),
        ];
        all.extend_from_slice(keys);
        config(pki, &all)
            .acceptor(&spec("TcpInput", &[], None))
            .unwrap()
    }

    fn client(pki: &Pki, addr: SocketAddr, keys: &[(&str, toml::Value)]) -> TlsClient {
        let mut all = vec![("root_cafile", "ca.pem".into())];
        all.extend_from_slice(keys);
        config(pki, &all)
            .connector(&spec("TcpOutput", &[], None), &addr.to_string())
            .unwrap()
    }

    /// What the server side of one connection saw: the plaintext, or the
    /// handshake error; and the negotiated version and suite.
    type Seen = Result<(Vec<u8>, Option<ProtocolVersion>, Option<String>), String>;

    /// Accepts one connection with `acceptor` and reads it to its end.
    async fn serve_one(acceptor: TlsAcceptor) -> (SocketAddr, tokio::task::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut stream = acceptor.accept(socket).await.map_err(|e| e.to_string())?;
            let (_, session) = stream.get_ref();
            let version = session.protocol_version();
            let suite = session
                .negotiated_cipher_suite()
                .and_then(|s| s.suite().as_str())
                .map(str::to_owned);
            let mut data = Vec::new();
            stream
                .read_to_end(&mut data)
                .await
                .map_err(|e| e.to_string())?;
            Ok((data, version, suite))
        });
        (addr, task)
    }

    /// Connects with `tls`, sends `data` and closes; the client's error if
    /// any.
    async fn send(addr: SocketAddr, tls: &TlsClient, data: &[u8]) -> Result<(), String> {
        let socket = TcpStream::connect(addr).await.unwrap();
        let mut stream = tls
            .connector
            .connect(tls.server_name.clone(), socket)
            .await
            .map_err(|e| e.to_string())?;
        stream.write_all(data).await.map_err(|e| e.to_string())?;
        stream.shutdown().await.map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn acceptor_and_connector_carry_data_over_tls13_by_default() {
        let pki = Pki::new();
        let (addr, seen) = serve_one(server(&pki, &[])).await;
        let tls = client(&pki, addr, &[]);
        assert_eq!(tls.server_name, ServerName::try_from("127.0.0.1").unwrap());
        within(send(addr, &tls, b"hello over TLS")).await.unwrap();
        let (data, version, _) = within(seen).await.unwrap().unwrap();
        assert_eq!(data, b"hello over TLS");
        assert_eq!(version, Some(ProtocolVersion::TLSv1_3));
    }

    #[tokio::test]
    async fn server_name_overrides_the_address_host() {
        let pki = Pki::new();
        let (addr, seen) = serve_one(server(&pki, &[])).await;
        let tls = client(&pki, addr, &[("server_name", "localhost".into())]);
        assert_eq!(tls.server_name, ServerName::try_from("localhost").unwrap());
        within(send(addr, &tls, b"by name")).await.unwrap();
        assert_eq!(within(seen).await.unwrap().unwrap().0, b"by name");

        // A name the certificate does not carry fails verification.
        let (addr, seen) = serve_one(server(&pki, &[])).await;
        let tls = client(&pki, addr, &[("server_name", "elsewhere.test".into())]);
        let err = within(send(addr, &tls, b"x")).await.unwrap_err();
        assert!(err.contains("certificate"), "{err}");
        assert!(within(seen).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn servers_signed_by_other_cas_are_refused_unless_insecure_skip_verify() {
        let pki = Pki::new();
        let other = &[
            ("cert_file", "other-server.pem".into()),
            ("key_file", "other-server.key".into()),
        ];
        let (addr, seen) = serve_one(
            config(&pki, other)
                .acceptor(&spec("TcpInput", &[], None))
                .unwrap(),
        )
        .await;
        let err = within(send(addr, &client(&pki, addr, &[]), b"x"))
            .await
            .unwrap_err();
        assert!(err.contains("UnknownIssuer"), "{err}");
        assert!(within(seen).await.unwrap().is_err());

        let (addr, seen) = serve_one(
            config(&pki, other)
                .acceptor(&spec("TcpInput", &[], None))
                .unwrap(),
        )
        .await;
        let insecure = config(&pki, &[("insecure_skip_verify", true.into())])
            .connector(&spec("TcpOutput", &[], None), &addr.to_string())
            .unwrap();
        within(send(addr, &insecure, b"trusting")).await.unwrap();
        assert_eq!(within(seen).await.unwrap().unwrap().0, b"trusting");
    }

    #[tokio::test]
    async fn require_and_verify_client_cert_wants_one_signed_by_client_cafile() {
        let pki = Pki::new();
        let auth = [
            ("client_auth", "RequireAndVerifyClientCert".into()),
            ("client_cafile", "ca.pem".into()),
        ];
        // No certificate: the server refuses the handshake.
        let (addr, seen) = serve_one(server(&pki, &auth)).await;
        let _ = within(send(addr, &client(&pki, addr, &[]), b"anonymous")).await;
        let err = within(seen).await.unwrap().unwrap_err();
        assert!(err.contains("certificate"), "{err}");

        // A certificate from another CA: refused too.
        let (addr, seen) = serve_one(server(&pki, &auth)).await;
        let stranger = [
            ("cert_file", "stranger.pem".into()),
            ("key_file", "stranger.key".into()),
        ];
        let _ = within(send(addr, &client(&pki, addr, &stranger), b"stranger")).await;
        let err = within(seen).await.unwrap().unwrap_err();
        assert!(err.contains("UnknownIssuer"), "{err}");

        // A certificate signed by client_cafile: accepted.
        let (addr, seen) = serve_one(server(&pki, &auth)).await;
        let ours = [
            ("cert_file", "client.pem".into()),
            ("key_file", "client.key".into()),
        ];
        within(send(addr, &client(&pki, addr, &ours), b"known client"))
            .await
            .unwrap();
        assert_eq!(within(seen).await.unwrap().unwrap().0, b"known client");
    }

    #[tokio::test]
    async fn verify_client_cert_if_given_lets_anonymous_clients_in() {
        let pki = Pki::new();
        let auth = [
            ("client_auth", "VerifyClientCertIfGiven".into()),
            ("client_cafile", "ca.pem".into()),
        ];
        let (addr, seen) = serve_one(server(&pki, &auth)).await;
        within(send(addr, &client(&pki, addr, &[]), b"anonymous"))
            .await
            .unwrap();
        assert_eq!(within(seen).await.unwrap().unwrap().0, b"anonymous");

        let (addr, seen) = serve_one(server(&pki, &auth)).await;
        let stranger = [
            ("cert_file", "stranger.pem".into()),
            ("key_file", "stranger.key".into()),
        ];
        let _ = within(send(addr, &client(&pki, addr, &stranger), b"x")).await;
        assert!(within(seen).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn max_version_and_ciphers_narrow_the_handshake() {
        let pki = Pki::new();
        let suite = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";
        let narrow = [
            ("max_version", "TLS12".into()),
            (
                "ciphers",
                toml::Value::Array(vec!["TLS_RSA_WITH_RC4_128_SHA".into(), suite.into()]),
            ),
        ];
        let (addr, seen) = serve_one(server(&pki, &narrow)).await;
        // An old Heka floor (SSL30) still negotiates: TLS 1.2 is the floor.
        let tls = client(&pki, addr, &[("min_version", "SSL30".into())]);
        within(send(addr, &tls, b"tls12")).await.unwrap();
        let (data, version, negotiated) = within(seen).await.unwrap().unwrap();
        assert_eq!(data, b"tls12");
        assert_eq!(version, Some(ProtocolVersion::TLSv1_2));
        assert_eq!(negotiated.as_deref(), Some(suite));

        // A TLS 1.3-only client cannot talk to a TLS 1.2-only server.
        let (addr, seen) = serve_one(server(&pki, &narrow)).await;
        let tls = client(&pki, addr, &[("min_version", "TLS13".into())]);
        assert!(within(send(addr, &tls, b"x")).await.is_err());
        assert!(within(seen).await.unwrap().is_err());
    }

    #[test]
    fn versions_map_onto_tls12_and_tls13() {
        let spec = spec("TcpOutput", &[], None);
        let versions = |min: &str, max: &str| {
            let tls = TlsConfig {
                min_version: Some(min.into()),
                max_version: Some(max.into()),
                ..TlsConfig::default()
            };
            tls.versions(&spec)
                .map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>())
                .map_err(|e| e.message)
        };
        use ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(versions("", ""), Ok(vec![TLSv1_3, TLSv1_2]));
        assert_eq!(versions("SSL30", "TLS12"), Ok(vec![TLSv1_2]));
        assert_eq!(versions("TLS11", "TLS13"), Ok(vec![TLSv1_3, TLSv1_2]));
        assert_eq!(versions("tls13", ""), Ok(vec![TLSv1_3]));
        let err = versions("TLS10", "TLS11").unwrap_err();
        assert!(
            err.contains("tls.max_version") && err.contains("TLS 1.2 and 1.3"),
            "{err}"
        );
        let err = versions("TLS13", "TLS12").unwrap_err();
        assert!(err.contains("above max_version"), "{err}");
        let err = versions("TLS14", "").unwrap_err();
        assert!(
            err.contains("tls.min_version") && err.contains("TLS14"),
            "{err}"
        );
    }

    #[test]
    fn cipher_names_follow_go_and_rustls() {
        let spec = spec("TcpInput", &[], None);
        let suites = |names: &[&str]| {
            let tls = TlsConfig {
                ciphers: names.iter().map(|n| (*n).to_owned()).collect(),
                ..TlsConfig::default()
            };
            tls.provider(&spec).map(|p| p.cipher_suites.len())
        };
        let all = suites(&[]).unwrap();
        // One TLS 1.2 suite named: all TLS 1.3 suites stay (3 with ring).
        assert_eq!(
            suites(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]).unwrap(),
            4
        );
        // Go's and IANA's TLS 1.3 and ChaCha names are understood.
        assert_eq!(suites(&["TLS_AES_128_GCM_SHA256"]).unwrap(), all - 2);
        assert_eq!(
            suites(&[
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
                "TLS13_AES_256_GCM_SHA384"
            ])
            .unwrap(),
            2
        );
        let err = suites(&["TLS_RSA_WITH_RC4_128_SHA"]).unwrap_err().message;
        assert!(
            err.contains("tls.ciphers") && err.contains("available"),
            "{err}"
        );
    }

    #[test]
    fn host_of_strips_the_port_and_brackets() {
        assert_eq!(host_of("example.com:9125"), "example.com");
        assert_eq!(host_of("127.0.0.1:9125"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9125"), "::1");
    }

    fn server_error(pki: &Pki, keys: &[(&str, toml::Value)]) -> String {
        let spec = spec("TcpInput", &[], None);
        config(pki, keys)
            .server_config(&spec)
            .err()
            .unwrap()
            .message
    }

    fn client_error(pki: &Pki, keys: &[(&str, toml::Value)]) -> String {
        let spec = spec("TcpOutput", &[], None);
        config(pki, keys)
            .connector(&spec, "localhost:9125")
            .err()
            .unwrap()
            .message
    }

    #[test]
    fn config_errors_name_the_section_key_and_file() {
        let pki = Pki::new();
        let cert = [
            ("cert_file", "server.pem".into()),
            ("key_file", "server.key".into()),
        ];
        let missing = pki.path("missing.pem");
        let err = server_error(
            &pki,
            &[
                ("cert_file", missing.clone().into()),
                ("key_file", "server.key".into()),
            ],
        );
        assert!(err.contains("section `Tcp`"), "{err}");
        assert!(err.contains("tls.cert_file"), "{err}");
        assert!(err.contains(&missing), "{err}");
        let err = server_error(&pki, &[("cert_file", "server.pem".into())]);
        assert!(
            err.contains("tls.key_file") && err.contains("cert_file and key_file"),
            "{err}"
        );
        let err = server_error(&pki, &[]);
        assert!(err.contains("tls.cert_file"), "{err}");
        // A key that is not a key, and a key for another certificate.
        let err = server_error(
            &pki,
            &[
                ("cert_file", "server.pem".into()),
                ("key_file", "ca.pem".into()),
            ],
        );
        assert!(
            err.contains(&pki.path("ca.pem")) && err.contains("private key"),
            "{err}"
        );
        let err = server_error(
            &pki,
            &[
                ("cert_file", "server.pem".into()),
                ("key_file", "client.key".into()),
            ],
        );
        assert!(err.contains("does not go with"), "{err}");

        let mut refused = cert.to_vec();
        refused.push(("client_auth", "RequireAnyClientCert".into()));
        let err = server_error(&pki, &refused);
        assert!(
            err.contains("tls.client_auth") && err.contains("rustls verifies"),
            "{err}"
        );
        let mut no_ca = cert.to_vec();
        no_ca.push(("client_auth", "RequireAndVerifyClientCert".into()));
        let err = server_error(&pki, &no_ca);
        assert!(err.contains("tls.client_cafile"), "{err}");
        no_ca.push(("client_cafile", "nowhere.pem".into()));
        let err = server_error(&pki, &no_ca);
        assert!(
            err.contains("nowhere.pem") && err.contains("cannot read"),
            "{err}"
        );

        let err = client_error(&pki, &[]);
        assert!(err.contains("tls.root_cafile"), "{err}");
        assert!(err.contains("no system trust store"), "{err}");
        assert!(err.contains("insecure_skip_verify"), "{err}");
        let err = client_error(&pki, &[("root_cafile", "server.key".into())]);
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = client_error(
            &pki,
            &[
                ("root_cafile", "ca.pem".into()),
                ("cert_file", "client.pem".into()),
            ],
        );
        assert!(err.contains("both cert_file and key_file"), "{err}");
        let err = client_error(
            &pki,
            &[
                ("root_cafile", "ca.pem".into()),
                ("server_name", "not a name!".into()),
            ],
        );
        assert!(err.contains("tls.server_name"), "{err}");
    }

    #[test]
    fn heka_keys_parse_and_unknown_ones_are_refused() {
        let text = r#"
            server_name = "hekad.example"
            cert_file = "c.pem"
            key_file = "k.pem"
            client_auth = "VerifyClientCertIfGiven"
            ciphers = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
            insecure_skip_verify = false
            prefer_server_ciphers = false
            session_tickets_disabled = true
            session_ticket_key = "0123456789abcdef0123456789abcdef"
            min_version = "TLS10"
            max_version = "TLS12"
            client_cafile = "ca.pem"
            root_cafile = "roots.pem"
        "#;
        let tls: TlsConfig = toml::from_str(text).unwrap();
        assert_eq!(tls.client_auth, ClientAuth::VerifyClientCertIfGiven);
        assert!(!tls.prefer_server_ciphers);
        assert!(TlsConfig::default().prefer_server_ciphers);
        let empty: TlsConfig = toml::from_str("client_auth = \"\"").unwrap();
        assert_eq!(empty, TlsConfig::default());

        let mut table = toml::Table::new();
        table.insert("cert_file".into(), "c.pem".into());
        table.insert("verify_depth".into(), 3.into());
        let input = spec(
            "TcpInput",
            &[("address", "127.0.0.1:0".into())],
            Some(table),
        );
        let err = crate::plugins::options::<crate::plugins::tcp::TcpInputConfig>(&input)
            .unwrap_err()
            .message;
        assert!(err.contains("unknown key `tls.verify_depth`"), "{err}");
        let mut table = toml::Table::new();
        table.insert("client_auth".into(), "Sometimes".into());
        let output = spec("TcpOutput", &[], Some(table));
        let err = crate::plugins::options::<crate::plugins::tcp::TcpOutputConfig>(&output)
            .unwrap_err()
            .message;
        assert!(
            err.contains("tls.client_auth") && err.contains("Sometimes"),
            "{err}"
        );
    }
}
