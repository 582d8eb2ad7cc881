//! Heka's HTTP plugin family:
//! - [`HttpListenInput`] starts the pipeline for data pushed to hekad: an
//!   HTTP server whose request bodies go through the input's splitter and
//!   decoder, each request its own stream.
//! - [`HttpInput`] starts it for data hekad fetches: it polls URLs every
//!   `ticker_interval` and turns each response into messages.
//! - [`HttpOutput`] ends a pipeline branch: one request per encoded record.
//!
//! All of them speak HTTP/1.1 through hyper (`client.rs` is the client the
//! polling input and the outputs share; ElasticSearchOutput uses it too).
//! TLS is rustls with the `[<name>.tls]` table TcpInput/TcpOutput read.

mod client;
mod input;
mod listen_input;
mod output;
#[cfg(test)]
mod tls_tests;

pub use client::{
    Call, ClientError, Endpoint, HttpClient, Reply, TlsSetup, basic_auth, protocol_text,
    status_text,
};
pub use input::{HttpInput, HttpInputConfig};
pub use listen_input::{AuthType, HttpListenInput, HttpListenInputConfig};
pub use output::{HttpOutput, HttpOutputConfig};

use std::collections::BTreeMap;

use heka_actors::config::PluginSpec;
use heka_actors::plugin::BuildError;
use hyper::Method;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

/// A header's value in a config table: one string, or a list of them
/// (HttpOutput's `headers` were `map[string][]string` in Heka).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HeaderValues {
    /// `Name = "value"`.
    One(String),
    /// `Name = ["value", "other"]`.
    Many(Vec<String>),
}

impl HeaderValues {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[String]) = match self {
            HeaderValues::One(v) => (Some(v), &[]),
            HeaderValues::Many(vs) => (None, vs),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

/// Checks a `headers` table and makes it a header map.
pub(crate) fn header_map(
    spec: &PluginSpec,
    key: &str,
    table: &BTreeMap<String, HeaderValues>,
) -> Result<HeaderMap, BuildError> {
    let mut map = HeaderMap::new();
    for (name, values) in table {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            BuildError::from(spec.invalid(key, format!("{name:?} is not a header name")))
        })?;
        for value in values.iter() {
            let value = HeaderValue::from_str(value).map_err(|_| {
                BuildError::from(
                    spec.invalid(key, format!("{name}: {value:?} is not a header value")),
                )
            })?;
            map.append(header.clone(), value);
        }
    }
    Ok(map)
}

/// Checks a `method` option.
pub(crate) fn method(spec: &PluginSpec, text: &str) -> Result<Method, BuildError> {
    let upper = text.to_ascii_uppercase();
    match Method::from_bytes(upper.as_bytes()) {
        Ok(method) if !upper.is_empty() => Ok(method),
        _ => Err(spec
            .invalid("method", format!("{text:?} is not an HTTP method"))
            .into()),
    }
}

/// Parses a URL option into an endpoint.
pub(crate) fn endpoint(spec: &PluginSpec, key: &str, url: &str) -> Result<Endpoint, BuildError> {
    Endpoint::parse(url).map_err(|e| spec.invalid(key, e).into())
}

/// The largest response body a client reads: ElasticSearch bulk reports
/// and polled documents are small; anything past this is an error rather
/// than memory.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// Appends `data` to a stream's buffer in pieces that keep the buffer
/// within `max_record` bytes, routing whole records after each piece (so
/// a body never sits in memory past one record's size).
pub(crate) async fn feed(
    sink: &mut heka_actors::plugin::StreamSink,
    mut data: &[u8],
    max_record: usize,
) -> Result<(), heka_actors::plugin::PluginError> {
    while !data.is_empty() {
        let room = max_record.saturating_sub(sink.buffer().len()).max(1);
        let take = room.min(data.len());
        sink.buffer().extend_from_slice(&data[..take]);
        data = &data[take..];
        if sink.buffer().len() >= max_record {
            sink.flush(false).await?;
        }
    }
    Ok(())
}
