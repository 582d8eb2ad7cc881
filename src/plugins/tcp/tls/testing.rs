//! Test-only fixtures shared by the TCP plugin tests (this module's own,
//! TcpInput's and TcpOutput's): a throwaway PKI made with rcgen at test
//! time, and plugin specs carrying a `tls` table.

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
                    Some(file) if self.dir.path().join(file).is_file() => self.path(file).into(),
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
