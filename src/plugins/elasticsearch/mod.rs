//! Heka's ElasticSearch plugin family: the encoders that turn messages
//! into bulk API line pairs ([`ESJsonEncoder`], [`ESLogstashV0Encoder`])
//! and the output that batches those pairs and POSTs them to `/_bulk`
//! ([`ElasticSearchOutput`]).
//!
//! Layout: `coordinates.rs` writes the action line (index/type/id with
//! `%{…}` interpolation), `document.rs` the document line, `json.rs` the
//! Go-compatible JSON text, `crate::golayout::format` Go time layouts; `encoders.rs`
//! holds the two encoders, `output.rs` the output and `bulk.rs` its
//! reading of ElasticSearch's bulk answer.

mod bulk;
mod coordinates;
mod document;
mod encoders;
pub mod json;
mod output;

pub use bulk::{BulkOutcome, Verdict};
pub use coordinates::{Coordinates, Template};
pub use document::{Column, DEFAULT_FIELDS, DEFAULT_TIMESTAMP};
pub use encoders::{
    ESJsonEncoder, ESJsonEncoderConfig, ESLogstashV0Encoder, ESLogstashV0EncoderConfig,
    FieldMappings,
};
pub use output::{ElasticSearchOutput, ElasticSearchOutputConfig};
