//! Heka framing as a tokio-util codec, for sockets: `FramedRead` yields
//! [`Event`]s (records, corruption reports, rejected signatures) and
//! `FramedWrite` frames message bytes, signing them when given a key.
//!
//! Corruption is an item, not an error: a tokio-util stream ends after its
//! first error, and a garbled stretch must not end a connection that
//! resynchronises on the next record. Only I/O errors are errors.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::deframer::{Authentication, DeframeStats, Deframer, Event};
use crate::framing::{self, EncodeError};
use crate::signing::SigningKey;

/// Errors of the framing codec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The transport failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A message could not be framed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// The codec; see the module docs.
#[derive(Debug, Clone)]
pub struct HekaFramingCodec {
    deframer: Deframer,
    max_message_size: usize,
    key: Option<SigningKey>,
}

impl HekaFramingCodec {
    /// A codec for messages up to `max_message_size` bytes that does not
    /// check signatures and writes unsigned records.
    pub fn new(max_message_size: usize) -> Self {
        HekaFramingCodec {
            deframer: Deframer::new(max_message_size),
            max_message_size,
            key: None,
        }
    }

    /// Checks signatures of the records it reads.
    pub fn with_authentication(mut self, auth: Authentication) -> Self {
        self.deframer = self.deframer.with_authentication(auth);
        self
    }

    /// Signs every record it writes.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Totals of what was read so far.
    pub fn stats(&self) -> DeframeStats {
        self.deframer.stats()
    }
}

impl Decoder for HekaFramingCodec {
    type Item = Event;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Event>, FramingError> {
        Ok(self.deframer.next(src))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Event>, FramingError> {
        Ok(self.deframer.next_at_eof(src))
    }
}

impl Encoder<&[u8]> for HekaFramingCodec {
    type Error = FramingError;

    fn encode(&mut self, message: &[u8], dst: &mut BytesMut) -> Result<(), FramingError> {
        framing::encode_frame(message, self.key.as_ref(), self.max_message_size, dst)?;
        Ok(())
    }
}
