//! Tests of what a `[<name>.tls]` table may say: version and cipher-suite
//! names, the server name taken from `address`, and the errors a bad
//! table gets (naming section, key and file).

use super::super::client::host_of;
use super::*;

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
