use super::*;

fn spec(options: &str) -> PluginSpec {
    let mut spec = PluginSpec::new("web", "HttpListenInput").unwrap();
    spec.options = options.parse().unwrap();
    spec
}

fn auth(options: &str) -> Result<AuthType, String> {
    let s = spec(options);
    let config: HttpListenInputConfig = s.options().map_err(|e| e.to_string())?;
    AuthType::from_config(&s, &config).map_err(|e| e.message)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn auth_types_check_their_credentials() {
    assert_eq!(auth("").unwrap(), AuthType::None);
    assert_eq!(auth("auth_type = 'none'").unwrap(), AuthType::None);
    assert!(
        auth("auth_type = 'Basic'")
            .unwrap_err()
            .contains("username")
    );
    assert!(auth("auth_type = 'API'").unwrap_err().contains("api_key"));
    assert!(auth("auth_type = 'Digest'").unwrap_err().contains("Digest"));

    let basic = auth("auth_type = 'Basic'\nusername = 'u'\npassword = 'p'").unwrap();
    let good = basic_auth("u", "p");
    assert!(basic.allows(&headers(&[("authorization", good.to_str().unwrap())])));
    let lower = good.to_str().unwrap().replace("Basic", "basic");
    assert!(basic.allows(&headers(&[("authorization", &lower)])));
    let wrong = basic_auth("u", "q");
    assert!(!basic.allows(&headers(&[("authorization", wrong.to_str().unwrap())])));
    assert!(!basic.allows(&headers(&[])));
    assert!(!basic.allows(&headers(&[("authorization", "Bearer x")])));

    let api = auth("auth_type = 'API'\napi_key = 'k3y'").unwrap();
    assert!(api.allows(&headers(&[("x-api-key", "k3y")])));
    assert!(!api.allows(&headers(&[("x-api-key", "k3")])));
    assert!(!api.allows(&headers(&[])));
    assert!(AuthType::None.allows(&headers(&[])));
}

#[test]
fn query_parameters_are_decoded() {
    assert_eq!(
        query_pairs("a=1&b=x%20y+z&&c&=v&d=%zz"),
        vec![
            ("a".into(), "1".into()),
            ("b".into(), "x y z".into()),
            ("c".into(), String::new()),
            ("d".into(), "%zz".into()),
        ]
    );
}

#[test]
fn config_defaults_are_hekas() {
    let config: HttpListenInputConfig = spec("").options().unwrap();
    assert_eq!(config.address, "127.0.0.1:8325");
    assert!(!config.use_tls);
    let err = HttpListenInput::build(&spec("use_tls = true"), &Globals::default())
        .err()
        .unwrap()
        .message;
    assert!(err.contains("cert_file"), "{err}");
}
