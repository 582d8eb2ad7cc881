//! HttpOutput: the end of a pipeline branch that sends each encoded record
//! as the body of one HTTP request (`method` POST by default) to `address`,
//! with the configured `headers` and Basic auth when `username` is set.
//!
//! Delivery: a record counts as delivered when the server answers 2xx.
//! Anything else (a refused connection, a non-2xx status, no answer within
//! `http_timeout` ms when that is above 0) stops the batch there and
//! answers [`PluginError::Retry`]; the runner backs off and calls again with
//! the same batch, and the output resumes at the first record not yet
//! delivered, so nothing is dropped and nothing delivered is sent again.
//! (Heka retried non-2xx too; its `http_timeout` doc warned that a timeout
//! dropped data, which is not the case here.) A request that timed out may
//! still have been processed by the server: that record is sent again.
//!
//! One keep-alive connection is used, reopened when the server closes it.
//! `https` addresses use rustls and the `[<name>.tls]` table (`root_cafile`
//! required).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use heka_actors::report::Metric;
use hyper::Method;
use hyper::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;

use super::{Call, Endpoint, HeaderValues, HttpClient, TlsSetup, basic_auth, header_map};
use crate::plugins::tcp::TlsConfig;

/// The most of an error answer's body quoted in the log.
const QUOTED_BODY: usize = 512;
/// Error answers are read up to this size (only quoted in the log).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// HttpOutput's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOutputConfig {
    /// The URL to send to (required).
    pub address: String,
    /// The request method (default "POST").
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers: `Name = "v"` or `Name = ["v", "w"]`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Basic auth user (none when empty).
    #[serde(default)]
    pub username: String,
    /// Basic auth password.
    #[serde(default)]
    pub password: String,
    /// Milliseconds one request may take (0, the default: no limit).
    #[serde(default)]
    pub http_timeout: u64,
    /// `[<name>.tls]` for an `https` address.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_method() -> String {
    "POST".into()
}

/// Heka's HttpOutput; see the module docs.
#[derive(Debug)]
pub struct HttpOutput {
    endpoint: Endpoint,
    method: Method,
    headers: HeaderMap,
    timeout: Option<Duration>,
    client: HttpClient,
    /// Where a Retry broke off in the current batch.
    resume: Option<usize>,
    /// The last attempt failed (the outage is logged once).
    failing: bool,
    sent: u64,
    failures: u64,
}

impl HttpOutput {
    /// Checks `config`; nothing connects until the first record.
    pub fn new(spec: &PluginSpec, config: &HttpOutputConfig) -> Result<HttpOutput, BuildError> {
        let endpoint = super::endpoint(spec, "address", &config.address)?;
        let tls =
            TlsSetup::for_endpoints(spec, config.tls.as_ref(), std::slice::from_ref(&endpoint))?;
        let mut headers = header_map(spec, "headers", &config.headers)?;
        if !config.username.is_empty() {
            headers.insert(
                AUTHORIZATION,
                basic_auth(&config.username, &config.password),
            );
        }
        Ok(HttpOutput {
            endpoint,
            method: super::method(spec, &config.method)?,
            headers,
            timeout: (config.http_timeout > 0).then(|| Duration::from_millis(config.http_timeout)),
            client: HttpClient::new(tls, None, true),
            resume: None,
            failing: false,
            sent: 0,
            failures: 0,
        })
    }

    /// Builds an HttpOutput from its spec.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        let config: HttpOutputConfig = crate::plugins::options(spec)?;
        Ok(Box::new(HttpOutput::new(spec, &config)?))
    }

    /// Sends one record; the error text when it was not delivered.
    async fn send(&mut self, record: &[u8]) -> Result<(), String> {
        let call = Call {
            method: &self.method,
            headers: &self.headers,
            body: Bytes::copy_from_slice(record),
            timeout: self.timeout,
            body_limit: ERROR_BODY_LIMIT,
        };
        match self.client.send(&self.endpoint, call).await {
            Ok(reply) if reply.status.is_success() => Ok(()),
            Ok(reply) => {
                let body = String::from_utf8_lossy(&reply.body);
                let quoted: String = body.chars().take(QUOTED_BODY).collect();
                Err(format!(
                    "HTTP error code returned: {} - {}",
                    super::status_text(reply.status),
                    quoted.trim_end()
                ))
            }
            Err(err) => Err(format!("error making HTTP request: {err}")),
        }
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        // A Retry call carries the same batch: resume where it broke off.
        let first = match self.resume.take() {
            Some(index) if batch.attempt > 0 => index,
            _ => 0,
        };
        for (index, record) in batch.records().enumerate().skip(first) {
            if let Err(text) = self.send(record).await {
                self.resume = Some(index);
                self.failures += 1;
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(address = %self.endpoint.url, error = %text, "HttpOutput request failed; retrying.");
                }
                return Err(PluginError::retry(text));
            }
            self.sent += 1;
            if self.failing {
                self.failing = false;
                tracing::info!(address = %self.endpoint.url, "HttpOutput delivering again.");
            }
        }
        Ok(())
    }
}

impl Output for HttpOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.write_batch(batch))
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        self.client.disconnect();
        Box::pin(async { Ok(()) })
    }

    fn report_fields(&self) -> Vec<Metric> {
        vec![
            ("RequestsSent", self.sent, "count"),
            ("RequestsFailed", self.failures, "count"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(options: &str) -> PluginSpec {
        let mut spec = PluginSpec::new("post", "HttpOutput").unwrap();
        spec.options = options.parse().unwrap();
        spec
    }

    #[test]
    fn config_checks_address_method_and_headers() {
        let err = |o: &str| {
            HttpOutput::build(&spec(o), &Globals::default())
                .err()
                .expect("refused")
                .message
        };
        assert!(err("").contains("address"));
        assert!(err("address = 'udp://h:1'").contains("scheme"));
        assert!(err("address = 'https://h:1'").contains("root_cafile"));
        assert!(err("address = 'http://h:1'\nmethod = 'P OST'").contains("method"));
        assert!(err("address = 'http://h:1'\n[headers]\n'Bad Name' = 'x'").contains("header"));
        let out = HttpOutput::new(
            &spec(""),
            &spec(
                "address = 'http://h:1/x'\nusername = 'u'\npassword = 'p'\n\
                 [headers]\nX-One = 'a'\nX-Two = ['b', 'c']",
            )
            .options()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(out.method, Method::POST);
        assert_eq!(out.timeout, None);
        assert_eq!(out.headers.get_all("x-two").iter().count(), 2);
        assert_eq!(out.headers[AUTHORIZATION], basic_auth("u", "p"));
    }
}
