//! HttpListenInput: the start of the pipeline for data pushed to hekad over
//! HTTP (webhooks, `curl --data-binary @file`). It serves HTTP/1.1 on
//! `address`; every request body is one stream through the input's
//! splitter (default NullSplitter: the body is one record) and decoder, and
//! text records become messages of type `heka.httpdata.request`.
//!
//! Back pressure: the answer is sent only once every record of the body was
//! handed to the router, so a full pipeline makes clients wait (and their
//! body stays in the kernel's buffers) instead of hekad queueing requests.
//! At most [`MAX_CONNECTIONS`] connections are served at once; more wait in
//! the listen backlog.
//!
//! Messages made from text records carry Heka's headers and fields:
//! hostname = the client's IP, fields `Protocol` ("HTTP/1.1"), `UserAgent`,
//! `ContentType`, `RemoteAddr` (ip:port), one string field per URL query
//! parameter, and each of `request_headers` the request carries.
//!
//! Authentication (`auth_type`): `Basic` checks the `Authorization` header
//! against `username`/`password`, `API` checks `X-API-KEY` against
//! `api_key`; a failed check is answered 401 and nothing is read. Unlike
//! Heka, which silently served everyone when `auth_type` was set but its
//! credentials were empty, that combination is a config error.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults,
};
use heka_proto::Field;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::{HeaderValues, basic_auth, header_map, protocol_text};
use crate::plugins::tcp::TlsConfig;

/// Heka's default `address`.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8325";
/// The type of messages made from request bodies.
pub const MESSAGE_TYPE: &str = "heka.httpdata.request";
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send its request headers (or its TLS
/// handshake) before the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// At shutdown, how long requests in progress may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// HttpListenInput's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpListenInputConfig {
    /// `host:port` to listen on (default "127.0.0.1:8325").
    #[serde(default = "default_address")]
    pub address: String,
    /// Headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Request headers copied into message fields (when present).
    #[serde(default)]
    pub request_headers: Vec<String>,
    /// "" or "none" (default), "Basic" or "API".
    #[serde(default)]
    pub auth_type: String,
    /// Basic auth user name.
    #[serde(default)]
    pub username: String,
    /// Basic auth password.
    #[serde(default)]
    pub password: String,
    /// The `X-API-KEY` value for `auth_type = "API"`.
    #[serde(default)]
    pub api_key: String,
    /// Serve HTTPS, configured by `tls`.
    #[serde(default)]
    pub use_tls: bool,
    /// Heka's `[<name>.tls]` table (`cert_file` and `key_file` required
    /// with `use_tls`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_address() -> String {
    DEFAULT_ADDRESS.into()
}

/// Who may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthType {
    /// Everyone.
    None,
    /// `Authorization: Basic` with this exact header value.
    Basic(HeaderValue),
    /// `X-API-KEY` with this key.
    Api(String),
}

impl AuthType {
    fn from_config(spec: &PluginSpec, c: &HttpListenInputConfig) -> Result<AuthType, BuildError> {
        let invalid = |text: &str| BuildError::from(spec.invalid("auth_type", text));
        match c.auth_type.to_ascii_lowercase().as_str() {
            "" | "none" => Ok(AuthType::None),
            "basic" if c.username.is_empty() => {
                Err(invalid("auth_type = \"Basic\" needs a username"))
            }
            "basic" => Ok(AuthType::Basic(basic_auth(&c.username, &c.password))),
            "api" if c.api_key.is_empty() => Err(invalid("auth_type = \"API\" needs an api_key")),
            "api" => Ok(AuthType::Api(c.api_key.clone())),
            _ => Err(invalid(&format!(
                "{:?} is not one of \"Basic\", \"API\" or \"none\"",
                c.auth_type
            ))),
        }
    }

    /// Whether a request with `headers` may go on.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        match self {
            AuthType::None => true,
            AuthType::Basic(expected) => headers.get(AUTHORIZATION).is_some_and(|got| {
                let (Ok(got), Ok(want)) = (got.to_str(), expected.to_str()) else {
                    return false;
                };
                // The scheme name is case-insensitive; the token is not.
                match (got.split_once(' '), want.split_once(' ')) {
                    (Some((scheme, token)), Some((_, want))) => {
                        scheme.eq_ignore_ascii_case("basic") && same(token.trim(), want)
                    }
                    _ => false,
                }
            }),
            AuthType::Api(key) => headers
                .get("x-api-key")
                .is_some_and(|got| same(got.to_str().unwrap_or(""), key)),
        }
    }
}

/// Compares secrets without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Heka's HttpListenInput; see the module docs.
pub struct HttpListenInput {
    address: String,
    auth: AuthType,
    response_headers: HeaderMap,
    request_headers: Vec<String>,
    tls: Option<TlsAcceptor>,
    listener: Option<std::net::TcpListener>,
}

impl HttpListenInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, _: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: HttpListenInputConfig = crate::plugins::options(spec)?;
        let tls = match config.use_tls {
            false => None,
            true => Some(config.tls.clone().unwrap_or_default().acceptor(spec)?),
        };
        Ok(Box::new(HttpListenInput {
            auth: AuthType::from_config(spec, &config)?,
            response_headers: header_map(spec, "headers", &config.headers)?,
            request_headers: config.request_headers.clone(),
            address: config.address,
            tls,
            listener: None,
        }))
    }
}

impl Input for HttpListenInput {
    fn prepare(&mut self) -> Result<(), PluginError> {
        let fail = |e: std::io::Error| {
            PluginError::fatal(format!("cannot listen on {}: {e}", self.address))
        };
        let listener = crate::plugins::listen::bind_tcp(&self.address).map_err(fail)?;
        self.listener = Some(listener);
        Ok(())
    }

    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            if self.listener.is_none() {
                self.prepare()?;
            }
            let std_listener = self.listener.take().expect("prepared above");
            let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| {
                PluginError::fatal(format!("cannot listen on {}: {e}", self.address))
            })?;
            tracing::info!(plugin = %cx.name(), address = %self.address, "Listening for HTTP.");
            let handler = Rc::new(Handler {
                max_record: heka_proto::framing::max_record_size(cx.max_message_size()),
                cx: cx.clone(),
                auth: self.auth.clone(),
                response_headers: self.response_headers.clone(),
                request_headers: self.request_headers.clone(),
                counts: Counts::default(),
            });
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let slot = tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                    slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
                };
                let (socket, peer) = tokio::select! {
                    biased;
                    _ = cx.stopped() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(err) => {
                            tracing::warn!(plugin = %cx.name(), error = %err, "Accept failed.");
                            continue;
                        }
                    },
                };
                let _ = socket.set_nodelay(true);
                let handler = Rc::clone(&handler);
                let tls = self.tls.clone();
                connections.spawn_local(async move {
                    let _slot = slot;
                    match tls {
                        None => serve(handler, socket, peer).await,
                        Some(tls) => {
                            match tokio::time::timeout(HEADER_TIMEOUT, tls.accept(socket)).await {
                                Ok(Ok(stream)) => serve(handler, stream, peer).await,
                                Ok(Err(err)) => {
                                    tracing::warn!(plugin = %handler.cx.name(), peer = %peer, error = %err, "TLS handshake failed.");
                                }
                                Err(_) => {
                                    tracing::warn!(plugin = %handler.cx.name(), peer = %peer, "TLS handshake timed out.");
                                }
                            }
                        }
                    }
                });
            }
            drop(listener);
            // Stop requested: requests in progress finish (their records
            // are routed), idle connections close.
            while connections.join_next().await.is_some() {}
            Ok(())
        })
    }
}

/// Serves one connection until the client closes it or a stop is
/// requested (then the request in progress finishes first).
async fn serve<S>(handler: Rc<Handler>, stream: S, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let service = {
        let handler = Rc::clone(&handler);
        service_fn(move |req| Rc::clone(&handler).handle(req, peer))
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        done = conn.as_mut() => done,
        _ = handler.cx.stopped() => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await {
                Ok(done) => done,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(err) = result {
        tracing::debug!(plugin = %handler.cx.name(), peer = %peer, error = %err, "HTTP connection ended with an error.");
    }
}

#[derive(Default)]
struct Counts {
    requests: Cell<u64>,
    unauthorized: Cell<u64>,
    failed: Cell<u64>,
}

struct Handler {
    cx: InputCx,
    auth: AuthType,
    response_headers: HeaderMap,
    request_headers: Vec<String>,
    max_record: usize,
    counts: Counts,
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

impl Handler {
    async fn handle(
        self: Rc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        bump(&self.counts.requests);
        let status = if self.auth.allows(req.headers()) {
            self.receive(req, peer).await
        } else {
            bump(&self.counts.unauthorized);
            tracing::warn!(plugin = %self.cx.name(), peer = %peer, "Unauthorized HTTP request refused.");
            StatusCode::UNAUTHORIZED
        };
        if !status.is_success() && status != StatusCode::UNAUTHORIZED {
            bump(&self.counts.failed);
        }
        self.cx.report_fields(vec![
            ("Requests", self.counts.requests.get(), "count"),
            ("Unauthorized", self.counts.unauthorized.get(), "count"),
            ("FailedRequests", self.counts.failed.get(), "count"),
        ]);
        let mut response = Response::new(Full::new(match status {
            StatusCode::OK => Bytes::new(),
            other => Bytes::from(format!("{other}\n")),
        }));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        for (name, value) in &self.response_headers {
            headers.append(name, value.clone());
        }
        if let AuthType::Basic(_) = self.auth
            && status == StatusCode::UNAUTHORIZED
        {
            headers.insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"hekad\""),
            );
        }
        Ok(response)
    }

    /// Routes the body; the status to answer with.
    async fn receive(&self, req: Request<Incoming>, peer: SocketAddr) -> StatusCode {
        let (parts, mut body) = req.into_parts();
        let defaults = StreamDefaults {
            hostname: Some(peer.ip().to_string()),
            msg_type: Some(MESSAGE_TYPE.to_owned()),
            logger: None,
        };
        let mut sink = match self.cx.stream(defaults) {
            Ok(sink) => sink,
            Err(err) => {
                tracing::error!(plugin = %self.cx.name(), error = %err, "Cannot open a stream.");
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
        };
        sink.set_fields(self.fields(&parts, peer));
        loop {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Err(err) = super::feed(&mut sink, &data, self.max_record).await {
                        return self.route_failed(err);
                    }
                }
                Some(Err(err)) => {
                    // What was whole before the failure was routed; the
                    // rest is counted as dropped by the stream.
                    tracing::warn!(plugin = %self.cx.name(), peer = %peer, error = %err, "Reading a request body failed.");
                    let _ = sink.flush(false).await;
                    return StatusCode::BAD_REQUEST;
                }
            }
        }
        match sink.flush(true).await {
            Ok(()) => StatusCode::OK,
            Err(err) => self.route_failed(err),
        }
    }

    fn route_failed(&self, err: PluginError) -> StatusCode {
        tracing::error!(plugin = %self.cx.name(), error = %err, "Request body not routed.");
        StatusCode::SERVICE_UNAVAILABLE
    }

    /// The fields Heka put on request messages.
    fn fields(&self, parts: &hyper::http::request::Parts, peer: SocketAddr) -> Vec<Field> {
        let text = |v: Option<&HeaderValue>| {
            v.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let mut fields = vec![
            Field::string("Protocol", protocol_text(parts.version)),
            Field::string("UserAgent", text(parts.headers.get(USER_AGENT))),
            Field::string("ContentType", text(parts.headers.get(CONTENT_TYPE))),
            Field::string("RemoteAddr", peer.to_string()),
        ];
        if let Some(query) = parts.uri.query() {
            for (key, value) in query_pairs(query) {
                fields.push(Field::string(&key, value));
            }
        }
        for name in &self.request_headers {
            for value in parts.headers.get_all(name.as_str()) {
                fields.push(Field::string(name, text(Some(value))));
            }
        }
        fields
    }
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space), empty keys skipped.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .filter(|(key, _)| !key.is_empty())
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
