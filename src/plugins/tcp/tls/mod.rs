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
//!
//! Layout: this file holds the table itself and what both sides share
//! (protocol versions, cipher suites); `server.rs` builds TcpInput's
//! acceptor and client-certificate policy, `client.rs` TcpOutput's
//! connector, its server name and the `insecure_skip_verify` verifier;
//! `pem.rs` loads the certificate and key files they name.

use std::fmt;
use std::sync::Arc;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use serde::Deserialize;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::{self, ProtocolVersion, SupportedCipherSuite, SupportedProtocolVersion};

mod client;
mod pem;
mod server;

pub use client::TlsClient;

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

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
