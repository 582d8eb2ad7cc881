//! Loading the PEM files a `[<name>.tls]` table names (`cert_file`,
//! `key_file`, `client_cafile`, `root_cafile`) into rustls' types, for the
//! server (`server.rs`) and client (`client.rs`) configurations. Every
//! error names the key and the path that failed.

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::RootCertStore;

use super::invalid;

fn pem_error(path: &str, what: &str, err: pem::Error) -> String {
    match err {
        pem::Error::NoItemsFound => format!("{path} holds no PEM {what}"),
        pem::Error::Io(io) => format!("cannot read {what} file {path}: {io}"),
        other => format!("cannot load {what} from {path}: {other}"),
    }
}

/// Every certificate in the PEM file at `path` (at least one).
pub(super) fn load_certs(
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
pub(super) fn load_key(
    spec: &PluginSpec,
    path: &str,
) -> Result<PrivateKeyDer<'static>, BuildError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        invalid(
            spec,
            "tls.key_file",
            pem_error(path, "private key (PKCS#8, PKCS#1 or SEC1)", e),
        )
    })
}

/// A trust store of the CA certificates in the PEM file at `path`.
pub(super) fn load_roots(
    spec: &PluginSpec,
    key: &str,
    path: &str,
) -> Result<RootCertStore, BuildError> {
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
