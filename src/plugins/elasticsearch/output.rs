//! ElasticSearchOutput: the end of a pipeline branch that indexes into
//! ElasticSearch. Its encoder (ESJsonEncoder, ESLogstashV0Encoder or any
//! encoder writing bulk line pairs) makes one record per message; this
//! output collects them and POSTs them to `<server>/_bulk` when
//! `flush_count` records are pending or every `flush_interval` ms,
//! whichever comes first (Heka's rule).
//!
//! Nothing is dropped silently (Heka dropped a failed batch, or with
//! buffering replayed it whole):
//! - A connection error, a timeout (`http_timeout`) or a non-2xx answer
//!   keeps every pending record; the output waits (exponential back-off
//!   from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`]) and sends them again. While
//!   it fails, a write that brings the pending count to `flush_count`
//!   answers Retry, so the runner stops taking messages and the router is
//!   held back: at most `flush_count` records plus one batch wait here.
//! - A 2xx answer with `"errors": true` is read item by item: items with
//!   status 429 or 5xx stay pending and are retried the same way; items
//!   refused for good (any other status: a mapping conflict, a bad
//!   document) are dropped, counted in `RecordsRejected` and logged with
//!   ElasticSearch's error. When the answer's items do not line up with
//!   the records (an encoder writing several actions per message), a
//!   retryable item keeps the whole request pending.
//! - At shutdown what is pending is sent, with a few tries in
//!   [`SHUTDOWN_LIMIT`]; what still fails is logged and counted as lost.
//!
//! A request that timed out may have been indexed anyway, so a retry can
//! index a document twice; an encoder `id` makes that an overwrite.
//! Disk buffering is on unless `use_buffering = false` (Heka's default;
//! the `buffering` table as for any plugin, see `heka_actors::queue`); the
//! pending records' acknowledgements are held until they are indexed
//! ([`Output::holds_records`]), so the queue's checkpoint never passes a
//! record still waiting here.
//! `udp://` servers are refused (not implemented); `https://` uses the
//! `[<name>.tls]` table (`root_cafile` required).

use std::time::{Duration, Instant};

use bytes::Bytes;
use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use heka_actors::report::Metric;
use hyper::Method;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::bulk::{self, BulkOutcome, Verdict};
use crate::plugins::http::{Call, Endpoint, HttpClient, MAX_RESPONSE_BODY, TlsSetup, basic_auth};
use crate::plugins::tcp::TlsConfig;

/// First wait after a failed bulk request.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// At shutdown, how long pending records may take to go out.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(10);
/// Rejected items logged one by one per request (the rest are counted).
const LOGGED_REJECTIONS: usize = 3;

/// ElasticSearchOutput's options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticSearchOutputConfig {
    /// The server (default "http://localhost:9200").
    #[serde(default = "default_server")]
    pub server: String,
    /// Milliseconds between flushes (default 1000; 0: by count only).
    #[serde(default = "default_flush_interval")]
    pub flush_interval: u64,
    /// Records that trigger a flush (default 10).
    #[serde(default = "default_flush_count")]
    pub flush_count: usize,
    /// Milliseconds a bulk request may take (0, the default: no limit).
    #[serde(default)]
    pub http_timeout: u64,
    /// Open a new connection for every request.
    #[serde(default)]
    pub http_disable_keepalives: bool,
    /// Milliseconds a connection may take to open (0: no limit).
    #[serde(default)]
    pub connect_timeout: u64,
    /// Basic auth user (none when empty).
    #[serde(default)]
    pub username: String,
    /// Basic auth password.
    #[serde(default)]
    pub password: String,
    /// `[<name>.tls]` for an `https` server.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_server() -> String {
    "http://localhost:9200".into()
}
fn default_flush_interval() -> u64 {
    1000
}
fn default_flush_count() -> usize {
    10
}

/// Records waiting to be indexed, back to back.
#[derive(Debug, Default)]
struct Pending {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Pending {
    fn push(&mut self, record: &[u8]) {
        self.data.extend_from_slice(record);
        self.ends.push(self.data.len());
    }

    fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let record = &self.data[start..end];
            start = end;
            record
        })
    }

    /// Keeps only the records `keep` says yes to.
    fn retain(&mut self, keep: &[bool]) {
        let mut kept = Pending::default();
        for (record, _) in self.records().zip(keep).filter(|(_, k)| **k) {
            kept.push(record);
        }
        *self = kept;
    }
}

#[derive(Debug, Default)]
struct Counts {
    sent: u64,
    rejected: u64,
    retried: u64,
    requests: u64,
    failures: u64,
    lost: u64,
}

/// Heka's ElasticSearchOutput; see the module docs.
#[derive(Debug)]
pub struct ElasticSearchOutput {
    bulk: Endpoint,
    client: HttpClient,
    headers: HeaderMap,
    timeout: Option<Duration>,
    flush_interval: Option<Duration>,
    flush_count: usize,
    pending: Pending,
    /// No request before this instant (back-off after a failure).
    next_try: Option<Instant>,
    backoff: Duration,
    counts: Counts,
}

impl ElasticSearchOutput {
    /// Checks `config`; nothing connects until the first flush.
    pub fn new(
        spec: &PluginSpec,
        config: &ElasticSearchOutputConfig,
    ) -> Result<ElasticSearchOutput, BuildError> {
        if config.server.starts_with("udp://") {
            return Err(spec
                .invalid("server", "udp:// servers are not supported; use http(s)://")
                .into());
        }
        let server = crate::plugins::http::Endpoint::parse(&config.server)
            .map_err(|e| BuildError::from(spec.invalid("server", e)))?;
        let tls =
            TlsSetup::for_endpoints(spec, config.tls.as_ref(), std::slice::from_ref(&server))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        if !config.username.is_empty() {
            headers.insert(
                AUTHORIZATION,
                basic_auth(&config.username, &config.password),
            );
        }
        let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        Ok(ElasticSearchOutput {
            bulk: server.with_path("/_bulk"),
            client: HttpClient::new(
                tls,
                millis(config.connect_timeout),
                !config.http_disable_keepalives,
            ),
            headers,
            timeout: millis(config.http_timeout),
            flush_interval: millis(config.flush_interval),
            flush_count: config.flush_count.max(1),
            pending: Pending::default(),
            next_try: None,
            backoff: FIRST_BACKOFF,
            counts: Counts::default(),
        })
    }

    /// Builds an ElasticSearchOutput from its spec.
    pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
        let config: ElasticSearchOutputConfig = crate::plugins::options(spec)?;
        Ok(Box::new(ElasticSearchOutput::new(spec, &config)?))
    }

    async fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        // A Retry call carries the same batch, already pending.
        if batch.attempt == 0 {
            for record in batch.records() {
                self.pending.push(record);
            }
        }
        if self.pending.ends.len() < self.flush_count {
            return Ok(());
        }
        self.send_pending().await.map_err(PluginError::retry)
    }

    /// Sends everything pending (after the back-off, if one is running).
    async fn send_pending(&mut self) -> Result<(), String> {
        if self.pending.ends.is_empty() {
            return Ok(());
        }
        if let Some(at) = self.next_try {
            tokio::time::sleep_until(at.into()).await;
        }
        let result = self.request().await;
        match &result {
            Ok(()) => {
                if self.next_try.take().is_some() {
                    tracing::info!(server = %self.bulk.url, "ElasticSearchOutput indexing again.");
                }
                self.backoff = FIRST_BACKOFF;
            }
            Err(text) => {
                self.counts.failures += 1;
                if self.next_try.is_none() {
                    tracing::warn!(server = %self.bulk.url, error = %text, pending = self.pending.ends.len(), "Bulk request failed; retrying.");
                } else {
                    tracing::debug!(server = %self.bulk.url, error = %text, "Bulk request failed again.");
                }
                self.next_try = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
        result
    }

    /// One bulk request of everything pending; what stays pending is what
    /// must be sent again.
    async fn request(&mut self) -> Result<(), String> {
        let records = self.pending.ends.len();
        let call = Call {
            method: &Method::POST,
            headers: &self.headers,
            body: Bytes::copy_from_slice(&self.pending.data),
            timeout: self.timeout,
            body_limit: MAX_RESPONSE_BODY,
        };
        self.counts.requests += 1;
        let reply = self
            .client
            .send(&self.bulk, call)
            .await
            .map_err(|e| e.to_string())?;
        if !reply.status.is_success() {
            let body = String::from_utf8_lossy(&reply.body);
            let quoted: String = body.chars().take(512).collect();
            return Err(format!(
                "{}: {}",
                crate::plugins::http::status_text(reply.status),
                quoted.trim_end()
            ));
        }
        let items = match bulk::read(&reply.body) {
            BulkOutcome::AllDone => {
                self.done(records);
                return Ok(());
            }
            BulkOutcome::Unreadable(why) => {
                tracing::debug!(server = %self.bulk.url, error = %why, "Bulk answer not readable; taking the 2xx status as success.");
                self.done(records);
                return Ok(());
            }
            BulkOutcome::Items(items) => items,
        };
        self.judge(&items)
    }

    fn done(&mut self, records: usize) {
        self.counts.sent += records as u64;
        self.pending = Pending::default();
    }

    /// Applies per-item verdicts: rejected items are dropped (and logged),
    /// retryable ones stay pending.
    fn judge(&mut self, items: &[Verdict]) -> Result<(), String> {
        let records = self.pending.ends.len();
        let retry = items
            .iter()
            .filter(|v| matches!(v, Verdict::Retry(_)))
            .count();
        let rejected: Vec<&String> = items
            .iter()
            .filter_map(|v| match v {
                Verdict::Rejected(e) => Some(e),
                _ => None,
            })
            .collect();
        for error in rejected.iter().take(LOGGED_REJECTIONS) {
            tracing::error!(server = %self.bulk.url, error = %error, "ElasticSearch rejected a document; dropped.");
        }
        if rejected.len() > LOGGED_REJECTIONS {
            tracing::error!(server = %self.bulk.url, count = rejected.len() - LOGGED_REJECTIONS, "ElasticSearch rejected more documents; dropped.");
        }
        let first_retry = items.iter().find_map(|v| match v {
            Verdict::Retry(e) => Some(e.clone()),
            _ => None,
        });
        if items.len() != records {
            // Items do not map onto records: all or nothing.
            self.counts.rejected += rejected.len() as u64;
            return match first_retry {
                Some(error) => {
                    self.counts.retried += records as u64;
                    Err(format!(
                        "{retry} items to retry ({error}); resending the whole request"
                    ))
                }
                None => {
                    self.done(records);
                    Ok(())
                }
            };
        }
        let keep: Vec<bool> = items
            .iter()
            .map(|v| matches!(v, Verdict::Retry(_)))
            .collect();
        self.counts.rejected += rejected.len() as u64;
        self.counts.sent += (records - retry - rejected.len()) as u64;
        self.pending.retain(&keep);
        match first_retry {
            Some(error) => {
                self.counts.retried += retry as u64;
                Err(format!("{retry} of {records} items to retry: {error}"))
            }
            None => Ok(()),
        }
    }

    async fn tick(&mut self) -> Result<(), PluginError> {
        // While backing off, the tick leaves the records to the next one
        // (or to the write that fills the batch).
        if self.next_try.is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        let _ = self.send_pending().await;
        Ok(())
    }

    async fn close(&mut self) -> Result<(), PluginError> {
        let deadline = Instant::now() + SHUTDOWN_LIMIT;
        while !self.pending.ends.is_empty() && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, self.send_pending())
                .await
                .is_err()
            {
                break;
            }
        }
        let lost = self.pending.ends.len();
        if lost == 0 {
            return Ok(());
        }
        self.counts.lost += lost as u64;
        self.pending = Pending::default();
        tracing::error!(server = %self.bulk.url, records = lost, "ElasticSearchOutput could not deliver records before shutdown; they are lost.");
        Err(PluginError::message(format!(
            "{lost} records not indexed at shutdown"
        )))
    }
}

impl Output for ElasticSearchOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        Box::pin(self.write_batch(batch))
    }

    fn flush(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(self.tick())
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.flush_interval
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        Box::pin(self.close())
    }

    fn holds_records(&self) -> bool {
        !self.pending.ends.is_empty()
    }

    fn default_buffering(&self) -> Option<heka_actors::config::Buffering> {
        Some(heka_actors::config::Buffering::default())
    }

    fn report_fields(&self) -> Vec<Metric> {
        let c = &self.counts;
        vec![
            ("RecordsSent", c.sent, "count"),
            ("RecordsRejected", c.rejected, "count"),
            ("RecordsRetried", c.retried, "count"),
            ("RecordsLost", c.lost, "count"),
            ("RecordsPending", self.pending.ends.len() as u64, "count"),
            ("BulkRequests", c.requests, "count"),
            ("BulkFailures", c.failures, "count"),
        ]
    }
}

#[cfg(test)]
mod tests;
