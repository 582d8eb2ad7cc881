//! What a stream's follower tells the input about its files: where it
//! started, each rotation it followed, and every skip or loss. The follower
//! only collects notices; the input logs each one (with the file and byte
//! offset) and counts losses in its statistics row, so the follower stays a
//! plain, testable state machine.

use std::path::PathBuf;

use heka_actors::stats::RunnerStats;

/// One event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Resumed where the journal says.
    Resumed {
        /// The file.
        file: PathBuf,
        /// Byte offset.
        offset: u64,
    },
    /// No journal: started at the start of the oldest file, or at the end
    /// of the newest with `initial_tail`.
    Started {
        /// The file.
        file: PathBuf,
        /// Byte offset.
        offset: u64,
    },
    /// The journal's file and position were not found among the stream's
    /// files; the stream is read again from its oldest file.
    JournalLost {
        /// The file the journal named.
        file: String,
        /// The offset it named.
        offset: u64,
    },
    /// The journal could not be read: the stream is read from its oldest
    /// file.
    JournalUnreadable {
        /// Why.
        error: String,
    },
    /// Moved on to the next file of the stream.
    Opened {
        /// The file left (at its end).
        from: Option<PathBuf>,
        /// The file entered, at offset 0.
        to: PathBuf,
    },
    /// The file shrank below the read position (or its first bytes
    /// changed) and no copy of it was found: reading restarts at 0, and
    /// whatever was written past `offset` before the truncation is lost.
    Truncated {
        /// The file.
        file: PathBuf,
        /// Read position when the truncation was seen.
        offset: u64,
        /// Its size then.
        len: u64,
    },
    /// The file was truncated after being copied (copytruncate): reading
    /// goes on in the copy from the same offset, then the file from 0.
    CopyTruncated {
        /// The truncated file.
        file: PathBuf,
        /// Its copy.
        copy: PathBuf,
        /// The offset reading goes on from.
        offset: u64,
    },
    /// The file was deleted while being read; it was read to its end.
    Removed {
        /// The file.
        file: PathBuf,
        /// The offset read up to.
        offset: u64,
    },
    /// The file was renamed to a name `file_match` does not match; it was
    /// read to its end.
    Unmatched {
        /// Its old path.
        file: PathBuf,
        /// The offset read up to.
        offset: u64,
    },
    /// The file could not be opened and is skipped.
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The offset it would have been read from.
        offset: u64,
        /// Why.
        error: String,
    },
    /// A read failed; it is tried again after `check_data_interval`.
    ReadFailed {
        /// The file.
        file: PathBuf,
        /// Read position.
        offset: u64,
        /// Why.
        error: String,
    },
    /// The journal could not be written.
    JournalFailed {
        /// Why.
        error: String,
    },
}

impl Notice {
    /// Logs the notice for `input`'s `stream` and counts it in `stats`:
    /// data skipped is `dropped`, failures are `errors`.
    pub fn report(&self, input: &str, stream: &str, stats: &RunnerStats) {
        use Notice::*;
        match self {
            Resumed { file, offset } => {
                tracing::info!(plugin = %input, stream = %stream, file = %file.display(), offset, "Resuming from the journal.");
            }
            Started { file, offset } => {
                tracing::info!(plugin = %input, stream = %stream, file = %file.display(), offset, "No journal: starting.");
            }
            Opened { from, to } => {
                let from = from.as_ref().map(|f| f.display().to_string());
                let from = from.as_deref().unwrap_or("-");
                tracing::info!(plugin = %input, stream = %stream, from = %from, file = %to.display(), "Reading the next file.");
            }
            CopyTruncated { file, copy, offset } => {
                tracing::info!(plugin = %input, stream = %stream, file = %file.display(), copy = %copy.display(), offset, "File truncated after a copy: reading on in the copy.");
            }
            Removed { file, offset } => {
                tracing::warn!(plugin = %input, stream = %stream, file = %file.display(), offset, "File removed while being read; read to its end.");
            }
            Unmatched { file, offset } => {
                tracing::warn!(plugin = %input, stream = %stream, file = %file.display(), offset, "File renamed out of file_match while being read; read to its end.");
            }
            JournalLost { file, offset } => {
                RunnerStats::add(&stats.errors, 1);
                tracing::warn!(plugin = %input, stream = %stream, file = %file, offset, "Journaled position not found: reading the stream from its oldest file.");
            }
            JournalUnreadable { error } => {
                RunnerStats::add(&stats.errors, 1);
                tracing::warn!(plugin = %input, stream = %stream, error = %error, "Journal unreadable: reading the stream from its oldest file.");
            }
            Truncated { file, offset, len } => {
                RunnerStats::add(&stats.dropped, 1);
                tracing::warn!(plugin = %input, stream = %stream, file = %file.display(), offset, size = len, "File truncated below the read position: data written past the offset before the truncation is skipped; reading restarts at 0.");
            }
            Unreadable {
                file,
                offset,
                error,
            } => {
                RunnerStats::add(&stats.dropped, 1);
                tracing::warn!(plugin = %input, stream = %stream, file = %file.display(), offset, error = %error, "File unreadable: skipped.");
            }
            ReadFailed {
                file,
                offset,
                error,
            } => {
                RunnerStats::add(&stats.errors, 1);
                tracing::warn!(plugin = %input, stream = %stream, file = %file.display(), offset, error = %error, "Read failed; retrying.");
            }
            JournalFailed { error } => {
                RunnerStats::add(&stats.errors, 1);
                tracing::warn!(plugin = %input, stream = %stream, error = %error, "Journal not written.");
            }
        }
    }
}
