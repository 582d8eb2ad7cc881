//! The HTTP/1.1 client under HttpInput, HttpOutput and ElasticSearchOutput:
//! one hyper connection at a time per plugin (their calls are serialised,
//! so a pool would only hold idle sockets), kept alive between requests
//! unless told not to, and reopened when the server closed it. `https`
//! URLs go through rustls with the plugin's `[<name>.tls]` table (the same
//! one TcpOutput reads; no system trust store).
//!
//! Bodies are read whole, up to a limit: every caller wants the complete
//! answer (a polled document, an ElasticSearch bulk report).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::plugins::tcp::TlsConfig;
use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;

/// A parsed `http://` or `https://` URL, ready to send requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as configured (for logs and loggers).
    pub url: String,
    /// True for `https`.
    pub https: bool,
    /// Host name or IP (no brackets).
    pub host: String,
    /// Port (80/443 when the URL has none).
    pub port: u16,
    /// The `Host` header: the URL's authority.
    pub authority: String,
    /// Path and query, `/` when empty.
    pub path: String,
}

impl Endpoint {
    /// Parses `url`; only `http` and `https` are accepted.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(format!("{url:?}: scheme {other:?} is not http or https")),
            None => return Err(format!("{url:?} has no scheme (http:// or https://)")),
        };
        let Some(authority) = uri.authority() else {
            return Err(format!("{url:?} has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "{url:?}: credentials in the URL are not supported; use username/password"
            ));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Endpoint {
            url: url.to_owned(),
            https,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path: if path.is_empty() { "/".into() } else { path },
        })
    }

    /// The same server with another path (ElasticSearch's `/_bulk`).
    pub fn with_path(&self, path: &str) -> Endpoint {
        let base = self
            .path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('/');
        Endpoint {
            path: format!("{base}{path}"),
            ..self.clone()
        }
    }

    fn key(&self) -> (bool, &str) {
        (self.https, &self.authority)
    }
}

/// The TLS side of a client: a rustls connector and the configured
/// `server_name` (each URL's host otherwise).
#[derive(Clone)]
pub struct TlsSetup {
    connector: TlsConnector,
    server_name: Option<String>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// The TLS setup for `endpoints` when one of them is `https`; `tls` is
    /// the plugin's `[<name>.tls]` table (its `root_cafile` is required:
    /// there is no system trust store).
    pub fn for_endpoints(
        spec: &PluginSpec,
        tls: Option<&TlsConfig>,
        endpoints: &[Endpoint],
    ) -> Result<Option<TlsSetup>, BuildError> {
        if !endpoints.iter().any(|e| e.https) {
            return Ok(None);
        }
        let tls = tls.cloned().unwrap_or_default();
        let config = tls.client_config(spec)?;
        Ok(Some(TlsSetup {
            connector: TlsConnector::from(Arc::clone(&config)),
            server_name: tls.server_name.filter(|s| !s.is_empty()),
        }))
    }
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The protocol version of the response.
    pub version: Version,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection (or the TLS handshake) failed.
    #[error("connecting to {0}: {1}")]
    Connect(String, std::io::Error),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The exchange failed after connecting.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The body could not be read, or was larger than allowed.
    #[error("reading the response body: {0}")]
    Body(String),
    /// An `https` URL without TLS set up (a bug in the caller's checks).
    #[error("https is not configured for {0}")]
    NoTls(String),
}

/// A request to send: method, extra headers and body.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// Headers added to the request (`Host` is set by the client).
    pub headers: &'a HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
    /// The longest the whole exchange (connecting included) may take.
    pub timeout: Option<Duration>,
    /// The largest response body accepted.
    pub body_limit: usize,
}

/// One keep-alive connection and what it takes to open another.
pub struct HttpClient {
    tls: Option<TlsSetup>,
    connect_timeout: Option<Duration>,
    keep_alive: bool,
    conn: Option<Conn>,
}

struct Conn {
    https: bool,
    authority: String,
    sender: SendRequest<Full<Bytes>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("keep_alive", &self.keep_alive)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl HttpClient {
    /// A client; nothing is connected until the first request.
    pub fn new(tls: Option<TlsSetup>, connect_timeout: Option<Duration>, keep_alive: bool) -> Self {
        HttpClient {
            tls,
            connect_timeout,
            keep_alive,
            conn: None,
        }
    }

    /// Forgets the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// Sends `call` to `endpoint` and reads the whole answer.
    pub async fn send(
        &mut self,
        endpoint: &Endpoint,
        call: Call<'_>,
    ) -> Result<Reply, ClientError> {
        let result = match call.timeout {
            Some(limit) => tokio::time::timeout(limit, self.exchange(endpoint, &call))
                .await
                .unwrap_or(Err(ClientError::Timeout(limit))),
            None => self.exchange(endpoint, &call).await,
        };
        if result.is_err() || !self.keep_alive {
            // A failed or timed-out exchange leaves the connection in an
            // unknown state: never reuse it.
            self.conn = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        endpoint: &Endpoint,
        call: &Call<'_>,
    ) -> Result<Reply, ClientError> {
        let reused = self.ready(endpoint).await?;
        let response = match self.post(endpoint, call).await {
            // The server closed a kept-alive connection before our request
            // went out: nothing was sent, so one more try is safe.
            Err(err) if reused && err.is_canceled() => {
                self.conn = None;
                self.ready(endpoint).await?;
                self.post(endpoint, call).await?
            }
            other => other?,
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, call.body_limit)
            .collect()
            .await
            .map_err(|e| ClientError::Body(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }

    async fn post(
        &mut self,
        endpoint: &Endpoint,
        call: &Call<'_>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error> {
        let mut request = Request::new(Full::new(call.body.clone()));
        *request.method_mut() = call.method.clone();
        // Origin form: the path goes on the request line, the host in Host.
        *request.uri_mut() = endpoint
            .path
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
        let headers = request.headers_mut();
        for (name, value) in call.headers {
            headers.append(name, value.clone());
        }
        if let Ok(host) = HeaderValue::from_str(&endpoint.authority) {
            headers.insert(HOST, host);
        }
        if !self.keep_alive {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        let conn = self.conn.as_mut().expect("ready() connected");
        conn.sender.send_request(request).await
    }

    /// Makes sure a usable connection to `endpoint` is open; true when an
    /// existing one is reused.
    async fn ready(&mut self, endpoint: &Endpoint) -> Result<bool, ClientError> {
        if let Some(conn) = &mut self.conn {
            if (conn.https, conn.authority.as_str()) == endpoint.key()
                && !conn.sender.is_closed()
                && conn.sender.ready().await.is_ok()
            {
                return Ok(true);
            }
            self.conn = None;
        }
        let connect = self.connect(endpoint);
        let sender = match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .unwrap_or_else(|_| {
                    Err(ClientError::Connect(
                        endpoint.authority.clone(),
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
                    ))
                })?,
            None => connect.await?,
        };
        self.conn = Some(Conn {
            https: endpoint.https,
            authority: endpoint.authority.clone(),
            sender,
        });
        Ok(false)
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let failed = |err| ClientError::Connect(endpoint.authority.clone(), err);
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(failed)?;
        let _ = tcp.set_nodelay(true);
        if !endpoint.https {
            return handshake(tcp).await;
        }
        let tls = self
            .tls
            .as_ref()
            .ok_or_else(|| ClientError::NoTls(endpoint.url.clone()))?;
        let name = tls.server_name.as_deref().unwrap_or(&endpoint.host);
        let name = ServerName::try_from(name.to_owned()).map_err(|e| {
            failed(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                e.to_string(),
            ))
        })?;
        let stream = tls.connector.connect(name, tcp).await.map_err(failed)?;
        handshake(stream).await
    }
}

async fn handshake<S>(io: S) -> Result<SendRequest<Full<Bytes>>, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io)).await?;
    // The connection task ends when the sender is dropped or the peer
    // closes; its error, if any, shows in the request that failed.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `Authorization: Basic …` for `user`/`password`.
pub fn basic_auth(user: &str, password: &str) -> HeaderValue {
    let token = crate::render::base64(format!("{user}:{password}").as_bytes());
    HeaderValue::from_str(&format!("Basic {token}")).expect("base64 is a valid header value")
}

/// Go's `resp.Status` text: `"200 OK"` (the code alone for unknown codes).
pub fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Go's `req.Proto` text: `"HTTP/1.1"`.
pub fn protocol_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_http_and_https_only() {
        let e = Endpoint::parse("http://127.0.0.1:9200").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 9200, "/")
        );
        assert_eq!(e.authority, "127.0.0.1:9200");
        let e = Endpoint::parse("https://example.com/a/b?x=1").unwrap();
        assert_eq!((e.https, e.port, e.path.as_str()), (true, 443, "/a/b?x=1"));
        let e = Endpoint::parse("http://[::1]:80/").unwrap();
        assert_eq!(e.host, "::1");
        assert!(Endpoint::parse("udp://localhost:9700").is_err());
        assert!(Endpoint::parse("localhost:9200").is_err());
        assert!(Endpoint::parse("http://u:p@host/").is_err());
        let bulk = Endpoint::parse("http://h:1/es/")
            .unwrap()
            .with_path("/_bulk");
        assert_eq!(bulk.path, "/es/_bulk");
    }

    #[test]
    fn basic_auth_and_status_texts_look_like_go() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(status_text(StatusCode::OK), "200 OK");
        assert_eq!(
            status_text(StatusCode::INTERNAL_SERVER_ERROR),
            "500 Internal Server Error"
        );
        assert_eq!(protocol_text(Version::HTTP_10), "HTTP/1.0");
    }
}
