//! Heka's wire contract: the `Message` protobuf, stream framing and HMAC signing.
//!
//! This crate sits at the bottom of hekad's dependency graph
//! (`proto` <- `grammar` <- `actors` <- `hekad`): inputs use it to cut and
//! authenticate records, decoders to build messages, the matcher to read them,
//! and outputs and files to write them back.
//!
//! # Layout
//! - [`message`]: prost types generated from `message.proto` (Heka 0.10's schema,
//!   tag for tag), checked in so the build needs no `protoc`.
//! - [`ext`]: reading fields by name, field index and array index; constructors;
//!   the UUID text form; decoding from bytes.
//! - [`view`]: [`MessageView`], the decoded form the pipeline carries: the
//!   record's bytes plus an index, validated like prost but with no copies
//!   and no per-field refcounts. [`wire`] is its protobuf reader.
//! - [`framing`]: `0x1E | hlen | Header | 0x1F | message` over a byte slice,
//!   with resynchronisation, size limits and header encoding.
//! - [`signing`]: HMAC-MD5/SHA1 signatures keyed by `<signer>_<key_version>`.
//! - [`deframer`]: the framing state machine over a growing buffer, shared by
//!   the tokio-util [`codec`] (sockets) and the blocking [`reader`] (files).
//!
//! # Strings are bytes
//! Heka's Go code never checked that `string` fields held UTF-8, and real
//! streams carry Latin-1 hostnames and binary payloads. `string` and `bytes`
//! share one wire type, so every string field is generated as [`bytes::Bytes`]:
//! any byte sequence is accepted and re-emitted exactly, decoding copies
//! nothing (fields are slices of the record), and text is only interpreted
//! where it is shown (lossily, with U+FFFD, as Go's JSON encoder did).
//!
//! # Decoding rules kept from Heka
//! Packed and unpacked repeated numbers are both accepted; negative `int32`
//! values decode from the 5-byte form Go wrote and the standard 10-byte form;
//! `required` fields are not enforced. Unknown fields are skipped: where the
//! original bytes matter, the record's raw bytes are kept beside the message.

#![deny(missing_docs)]

pub mod codec;
pub mod deframer;
pub mod ext;
pub mod framing;
#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod message;
pub mod reader;
pub mod signing;
pub mod view;
pub mod wire;
pub mod write;

pub use bytes::Bytes;
pub use ext::{FieldValue, UUID_TEXT_LEN, decode_message};
pub use framing::DEFAULT_MAX_MESSAGE_SIZE;
pub use message::{Field, Header, Message, field::ValueType, header::HmacHashFunction};
pub use prost;
pub use view::{FieldHead, FieldView, MessageBuilder, MessageView};
pub use wire::WireError;
