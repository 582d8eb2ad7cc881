//! Disk buffering for filters and outputs (`use_buffering = true`, the
//! `[name.buffering]` table; HEKA-SPEC §3.3). A buffered plugin's router
//! destination is its [`runner::QueueRunner`], not its runner: each
//! `Deliver` batch is appended to the plugin's queue on disk and its packs
//! are released at once, so a stalled plugin holds nothing back until the
//! queue reaches `max_buffer_size` (then `full_action` decides). A
//! [`feeder`] task reads the queue in order and feeds the plugin's runner,
//! with a bounded number of records in flight; the checkpoint advances only
//! past records the plugin handled (at least once).
//!
//! Layout (Heka's): `<base_dir>/output_queue/<name, \W→_>/N.log` segment
//! files ([`segment`]) of unsigned Heka frames (§1.3) of the message
//! protobuf, and `checkpoint.txt` ([`checkpoint`]) holding
//! `"<file id> <offset>"` of the next record not yet handled.
//!
//! Durability: records reach the OS with one write(2) per batch and are
//! never fsynced, so a killed hekad (kill -9, a panic) loses nothing the
//! queue took, but a power loss or kernel crash may lose what the page
//! cache held. Corrupt or torn records are reported with their file and
//! offset, counted, and skipped ([`reader`]).
//!
//! Files: [`segment`] (segment files and the writer), [`checkpoint`],
//! [`reader`] (records in order, corruption reported), [`state`] (the
//! queue shared by the writer and the feeder: sizes, settling, reclaiming),
//! [`feeder`], [`runner`] (the actor), [`inspect`] (`hekad queue`).

pub mod checkpoint;
pub mod feeder;
pub mod inspect;
pub mod reader;
pub mod runner;
pub mod segment;
pub mod state;

use std::path::{Path, PathBuf};

pub use checkpoint::Cursor;

/// The folder under `base_dir` holding every plugin's queue.
pub const QUEUE_ROOT: &str = "output_queue";

/// Failures of the disk queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file operation failed.
    #[error("{doing} {path}: {source}")]
    Io {
        /// What was being done ("writing", "opening", …).
        doing: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `checkpoint.txt` does not hold `"<file id> <offset>"`.
    #[error("checkpoint {path} is garbled: {text:?}")]
    Garbled {
        /// The checkpoint file.
        path: PathBuf,
        /// What it held (at most 64 bytes).
        text: String,
    },
}

impl QueueError {
    /// An IO error while `doing` something to `path`.
    pub fn io(doing: &'static str, path: &Path, source: std::io::Error) -> QueueError {
        QueueError::Io {
            doing,
            path: path.to_owned(),
            source,
        }
    }
}

/// The queue folder of plugin `name`: every character that is not a word
/// character (`\W`: not ASCII alphanumeric or `_`) becomes `_`, as in Heka.
pub fn queue_dir(base_dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base_dir.join(QUEUE_ROOT).join(safe)
}

/// Opens the disk queue of buffered plugin `spec` under `base_dir`.
pub fn open_queue(
    spec: &crate::config::PluginSpec,
    buffering: crate::config::Buffering,
    globals: &crate::config::Globals,
) -> Result<(state::Queue, Cursor), crate::plugin::BuildError> {
    let dir = queue_dir(&globals.base_dir, &spec.name);
    state::Queue::open(
        &dir,
        buffering,
        globals.max_message_size as usize,
        Default::default(),
    )
    .map_err(|err| crate::plugin::BuildError::invalid(spec, format!("disk queue: {err}")))
}

/// Starts the queue actor of a buffered plugin on `arbiter`, feeding
/// `runner`; subscribe the returned address to the router in the
/// runner's place.
pub fn start_queue(
    env: &crate::runner::Env,
    arbiter: &actix::ArbiterHandle,
    spec: &crate::config::PluginSpec,
    opened: (state::Queue, Cursor),
    runner: actix::Recipient<crate::messages::Deliver>,
    stats: std::sync::Arc<crate::stats::RunnerStats>,
) -> actix::Addr<runner::QueueRunner> {
    let chansize = env.globals.plugin_chansize.max(1);
    let batch = match spec.category {
        crate::config::Category::Filter => (env.globals.poolsize / 4).max(1),
        _ => feeder::BATCH_RECORDS,
    };
    let (env, name, type_name) = (
        env.clone(),
        spec.name.as_str().into(),
        spec.type_name.as_str().into(),
    );
    use actix::Actor as _;
    runner::QueueRunner::start_in_arbiter(arbiter, move |ctx| {
        ctx.set_mailbox_capacity(chansize);
        runner::QueueRunner::new(env, name, type_name, opened, runner, batch, stats)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_folders_replace_non_word_characters() {
        let dir = queue_dir(Path::new("/b"), "my-out.1 é");
        assert_eq!(dir, Path::new("/b/output_queue/my_out_1__"));
    }
}
