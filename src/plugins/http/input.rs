//! HttpInput: the start of the pipeline for data hekad fetches. Every
//! `ticker_interval` seconds (default 10; the first poll comes one interval
//! after start, as in Heka) it requests each of `url`/`urls` in turn and
//! runs the response body through the input's splitter (default
//! NullSplitter: the body is one record) and decoder.
//!
//! Messages made from a body: type `heka.httpinput.data`, logger = the URL,
//! hostname = hekad's, severity `success_severity` for status 200 and
//! `error_severity` for any other status (Heka's rule, kept: a 204 counts as
//! an error), fields `StatusCode` (int), `Status` ("200 OK"), `ResponseSize`
//! (int, "B": the bytes received; Heka reported Content-Length, -1 when
//! the server sent none), `ResponseTime` (double, "s") and `Protocol`. An
//! empty body still makes one message (empty payload, no decoder), so a
//! status is never lost.
//!
//! A request that gets no answer (refused, reset, TLS failure, or no
//! complete answer within `ticker_interval`, our bound where Heka waited
//! forever) makes one message of type `heka.httpinput.error`: payload = the
//! error text, severity `error_severity`, logger = the URL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::plugin::{
    BuildError, Input, InputCx, LocalBoxFuture, PluginError, StreamDefaults, message_defaults,
};
use heka_proto::{Field, Message, MessageView};
use hyper::header::{AUTHORIZATION, HeaderMap};
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::{
    Call, Endpoint, HeaderValues, HttpClient, MAX_RESPONSE_BODY, Reply, TlsSetup, basic_auth,
    header_map, protocol_text, status_text,
};
use crate::plugins::tcp::TlsConfig;

/// Type of messages made from response bodies.
pub const DATA_TYPE: &str = "heka.httpinput.data";
/// Type of messages about requests that got no answer.
pub const ERROR_TYPE: &str = "heka.httpinput.error";
/// Heka's default `ticker_interval`, seconds.
pub const DEFAULT_TICKER_INTERVAL: u64 = 10;

/// HttpInput's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpInputConfig {
    /// One URL to poll.
    #[serde(default)]
    pub url: String,
    /// More URLs to poll (after `url`).
    #[serde(default)]
    pub urls: Vec<String>,
    /// The request method (default "GET").
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Request body.
    #[serde(default)]
    pub body: String,
    /// Basic auth user (`username` in Heka's dev branch, accepted too).
    #[serde(default, alias = "username")]
    pub user: String,
    /// Basic auth password.
    #[serde(default)]
    pub password: String,
    /// Severity of messages from a 200 answer (default 6).
    #[serde(default = "default_success")]
    pub success_severity: i32,
    /// Severity of other answers and of failures (default 1).
    #[serde(default = "default_error")]
    pub error_severity: i32,
    /// `[<name>.tls]` for `https` URLs (`root_cafile` required).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_success() -> i32 {
    6
}
fn default_error() -> i32 {
    1
}

/// Heka's HttpInput; see the module docs.
pub struct HttpInput {
    endpoints: Vec<Endpoint>,
    /// One keep-alive client per URL.
    clients: Vec<HttpClient>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    interval: Duration,
    success_severity: i32,
    error_severity: i32,
    hostname: String,
}

impl HttpInput {
    /// Factory for the catalogue.
    pub fn build(spec: &PluginSpec, globals: &Globals) -> Result<Box<dyn Input>, BuildError> {
        let config: HttpInputConfig = crate::plugins::options(spec)?;
        let urls: Vec<&String> = std::iter::once(&config.url)
            .filter(|u| !u.is_empty())
            .chain(&config.urls)
            .collect();
        if urls.is_empty() {
            return Err(spec.invalid("url", "set `url` or `urls`").into());
        }
        let endpoints = urls
            .iter()
            .map(|u| super::endpoint(spec, "urls", u))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = TlsSetup::for_endpoints(spec, config.tls.as_ref(), &endpoints)?;
        let mut headers = header_map(spec, "headers", &config.headers)?;
        if !config.user.is_empty() {
            headers.insert(AUTHORIZATION, basic_auth(&config.user, &config.password));
        }
        let seconds = spec
            .common
            .ticker_interval
            .unwrap_or(DEFAULT_TICKER_INTERVAL);
        if seconds == 0 {
            return Err(spec
                .invalid(
                    "ticker_interval",
                    "HttpInput needs a ticker_interval above 0",
                )
                .into());
        }
        Ok(Box::new(HttpInput {
            clients: endpoints
                .iter()
                .map(|_| HttpClient::new(tls.clone(), None, true))
                .collect(),
            endpoints,
            method: super::method(spec, &config.method)?,
            headers,
            body: Bytes::from(config.body.into_bytes()),
            interval: Duration::from_secs(seconds),
            success_severity: config.success_severity,
            error_severity: config.error_severity,
            hostname: globals.hostname.clone(),
        }))
    }

    /// Fetches one URL and routes what came of it.
    async fn poll(&mut self, index: usize, cx: &InputCx) -> Result<(), PluginError> {
        let endpoint = &self.endpoints[index];
        let call = Call {
            method: &self.method,
            headers: &self.headers,
            body: self.body.clone(),
            timeout: Some(self.interval),
            body_limit: MAX_RESPONSE_BODY,
        };
        let started = Instant::now();
        match self.clients[index].send(endpoint, call).await {
            Ok(reply) => {
                let elapsed = started.elapsed().as_secs_f64();
                self.route_reply(endpoint, reply, elapsed, cx).await
            }
            Err(err) => {
                tracing::debug!(plugin = %cx.name(), url = %endpoint.url, error = %err, "Poll failed.");
                let text = format!("{} {}: {err}", self.method, endpoint.url);
                let msg = self.message(ERROR_TYPE, &endpoint.url, self.error_severity, text);
                cx.deliver(vec![view(&msg)]).await
            }
        }
    }

    async fn route_reply(
        &self,
        endpoint: &Endpoint,
        reply: Reply,
        elapsed: f64,
        cx: &InputCx,
    ) -> Result<(), PluginError> {
        let severity = if reply.status == StatusCode::OK {
            self.success_severity
        } else {
            self.error_severity
        };
        let fields = vec![
            Field::integer("StatusCode", i64::from(reply.status.as_u16())),
            Field::string("Status", status_text(reply.status)),
            Field::integer("ResponseSize", reply.body.len() as i64).with_representation("B"),
            Field::double("ResponseTime", elapsed).with_representation("s"),
            Field::string("Protocol", protocol_text(reply.version)),
        ];
        if reply.body.is_empty() {
            let mut msg = self.message(DATA_TYPE, &endpoint.url, severity, String::new());
            msg.fields = fields;
            return cx.deliver(vec![view(&msg)]).await;
        }
        let defaults = StreamDefaults {
            hostname: Some(self.hostname.clone()),
            msg_type: Some(DATA_TYPE.to_owned()),
            logger: Some(endpoint.url.clone()),
        };
        let mut sink = cx
            .stream(defaults)
            .map_err(|e| PluginError::fatal(e.to_string()))?;
        sink.set_fields(fields);
        sink.set_severity(Some(severity));
        let max_record = heka_proto::framing::max_record_size(cx.max_message_size());
        super::feed(&mut sink, &reply.body, max_record).await?;
        sink.flush(true).await
    }

    fn message(&self, msg_type: &str, url: &str, severity: i32, payload: String) -> Message {
        let mut msg = message_defaults(&self.hostname, 0);
        msg.pid = None;
        msg.r#type = Some(Bytes::copy_from_slice(msg_type.as_bytes()));
        msg.logger = Some(Bytes::copy_from_slice(url.as_bytes()));
        msg.severity = Some(severity);
        msg.payload = Some(Bytes::from(payload.into_bytes()));
        msg
    }
}

fn view(msg: &Message) -> MessageView {
    MessageView::from_message(msg).expect("a message built from valid parts encodes")
}

impl Input for HttpInput {
    fn run<'a>(&'a mut self, cx: InputCx) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(async move {
            let start = tokio::time::Instant::now() + self.interval;
            let mut ticker = tokio::time::interval_at(start, self.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    biased;
                    _ = cx.stopped() => return Ok(()),
                    _ = ticker.tick() => {}
                }
                for index in 0..self.endpoints.len() {
                    if cx.is_stopping() {
                        return Ok(());
                    }
                    self.poll(index, &cx).await?;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &str) -> PluginSpec {
        let mut spec = PluginSpec::new("poll", "HttpInput").unwrap();
        spec.options = options.parse().unwrap();
        spec
    }

    fn build_err(options: &str) -> String {
        HttpInput::build(&spec(options), &Globals::default())
            .err()
            .expect("refused")
            .message
    }

    #[test]
    fn config_needs_a_url_and_takes_heka_defaults() {
        assert!(build_err("").contains("url"));
        assert!(build_err("url = 'ftp://x/'").contains("scheme"));
        assert!(build_err("url = 'http://x/'\nmethod = ''").contains("method"));
        assert!(build_err("url = 'http://x/'\nbogus = 1").contains("bogus"));
        // https needs a root CA: there is no system trust store.
        assert!(build_err("url = 'https://x/'").contains("root_cafile"));
        let config: HttpInputConfig = spec("url = 'http://x/'\nusername = 'u'").options().unwrap();
        assert_eq!(config.method, "GET");
        assert_eq!((config.success_severity, config.error_severity), (6, 1));
        assert_eq!(config.user, "u");
        let mut zero = spec("url = 'http://x/'");
        zero.common.ticker_interval = Some(0);
        assert!(HttpInput::build(&zero, &Globals::default()).is_err());
    }
}
