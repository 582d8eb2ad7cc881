//! FileOutput: the end of a pipeline branch that appends to a file. Its
//! OutputRunner encodes each matched pack (and frames it when `use_framing`,
//! on by default with the ProtobufEncoder, so heka-cat can read the file);
//! this output buffers the records and appends them to `path` when Heka's
//! flush rules say so, and reopens `path` on SIGHUP for log rotation.
//!
//! Flush rules (`flush_count`, `flush_interval`, `flush_operator`): records
//! wait in memory until `flush_count` of them are pending AND (or OR) a
//! `flush_interval` tick has passed since the last flush. The runner ticks
//! [`Output::flush`] every `flush_interval`; `flush_interval = 0` drops the
//! time condition, so only the count decides. Shutdown and reopen always
//! write everything pending; shutdown also fsyncs.
//!
//! Decisions:
//! - At most [`MAX_PENDING`] bytes wait in memory: past that the records
//!   are written whatever the flush rules say (Heka kept a whole
//!   `flush_interval` of data, about 90 MB a second at W2's rate).
//! - Files are written with blocking `std::fs` calls on the runner's
//!   arbiter: appends to a local file are short, and a stalled disk then
//!   back-pressures the router like any slow output.
//! - A failed write is [`PluginError::Retry`]: the bytes already in the file
//!   are remembered, so the retry resumes after them and nothing is written
//!   twice; the file is reopened (and its folder recreated) on the retry.
//! - `rotation_interval` other than 0 is refused until rotation exists.
//! - While records wait in `pending`, [`Output::holds_records`] is true: the
//!   runner keeps their acknowledgements, so a disk queue's checkpoint (or
//!   an input's journal) only passes records once they are in the file.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use heka_actors::config::{Globals, PluginSpec};
use heka_actors::pack::EncodedBatch;
use heka_actors::plugin::{BuildError, LocalBoxFuture, Output, PluginError};
use serde::Deserialize;

/// FileOutput's own options, with Heka's names and defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {
    /// The file to append to (required).
    pub path: String,
    /// Octal permissions of a created file (default "644"; the umask applies).
    #[serde(default = "default_perm")]
    pub perm: String,
    /// Octal permissions of created parent folders (default "700").
    #[serde(default = "default_folder_perm")]
    pub folder_perm: String,
    /// Milliseconds between flush ticks (default 1000; 0 = no time condition).
    #[serde(default = "default_flush_interval")]
    pub flush_interval: u64,
    /// Records to accumulate before a flush (default 1; 0 counts as 1).
    #[serde(default = "default_flush_count")]
    pub flush_count: u64,
    /// How count and interval combine: "AND" (default) or "OR".
    #[serde(default = "default_flush_operator")]
    pub flush_operator: String,
    /// Hours between rotations; only 0 (no rotation) is supported for now.
    #[serde(default)]
    pub rotation_interval: u32,
}

fn default_perm() -> String {
    "644".into()
}
fn default_folder_perm() -> String {
    "700".into()
}
fn default_flush_interval() -> u64 {
    1000
}
fn default_flush_count() -> u64 {
    1
}
fn default_flush_operator() -> String {
    "AND".into()
}

/// Most bytes buffered before a write, whatever the flush rules.
pub const MAX_PENDING: usize = 1 << 20;

/// How `flush_count` and `flush_interval` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushOperator {
    /// Flush when both conditions hold.
    And,
    /// Flush when either condition holds.
    Or,
}

/// Appends encoded records to a file, with Heka's flush rules.
#[derive(Debug)]
pub struct FileOutput {
    path: PathBuf,
    perm: u32,
    folder_perm: u32,
    flush_interval: Option<Duration>,
    flush_count: usize,
    operator: FlushOperator,
    file: Option<File>,
    /// Records not yet in the file, back to back.
    pending: Vec<u8>,
    /// How many bytes at the front of `pending` the file already has.
    written: usize,
    pending_records: usize,
    /// A flush tick came since the last flush.
    interval_due: bool,
}

fn parse_octal(spec: &PluginSpec, key: &str, text: &str) -> Result<u32, BuildError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| {
            BuildError::invalid(spec, format!("`{key}` must be an octal mode, got {text:?}"))
        })
}

/// IO failures are worth retrying: a full disk or a removed folder heals.
fn io_error(path: &Path, doing: &str, err: std::io::Error) -> PluginError {
    PluginError::retry(format!("{doing} {}: {err}", path.display()))
}

#[cfg(unix)]
fn open_file(path: &Path, perm: u32, folder_perm: u32) -> std::io::Result<File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(folder_perm)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(perm)
        .open(path)
}

#[cfg(not(unix))]
fn open_file(path: &Path, _perm: u32, _folder_perm: u32) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
}

impl FileOutput {
    /// Checks `config` and opens (creating if needed) its file.
    pub fn new(spec: &PluginSpec, config: &FileOutputConfig) -> Result<FileOutput, BuildError> {
        let operator = match config.flush_operator.to_ascii_uppercase().as_str() {
            "AND" => FlushOperator::And,
            "OR" => FlushOperator::Or,
            other => {
                return Err(BuildError::invalid(
                    spec,
                    format!("`flush_operator` must be \"AND\" or \"OR\", got {other:?}"),
                ));
            }
        };
        match config.rotation_interval {
            0 => {}
            1 | 4 | 12 | 24 => {
                return Err(BuildError::invalid(
                    spec,
                    "`rotation_interval` is not implemented yet; only 0 is accepted",
                ));
            }
            other => {
                return Err(BuildError::invalid(
                    spec,
                    format!("`rotation_interval` must be one of 0, 1, 4, 12, 24; got {other}"),
                ));
            }
        }
        if config.path.is_empty() {
            return Err(BuildError::invalid(spec, "`path` must not be empty"));
        }
        let path = PathBuf::from(&config.path);
        let perm = parse_octal(spec, "perm", &config.perm)?;
        let folder_perm = parse_octal(spec, "folder_perm", &config.folder_perm)?;
        let file = open_file(&path, perm, folder_perm).map_err(|err| {
            BuildError::invalid(spec, format!("cannot open {}: {err}", path.display()))
        })?;
        Ok(FileOutput {
            path,
            perm,
            folder_perm,
            flush_interval: (config.flush_interval > 0)
                .then(|| Duration::from_millis(config.flush_interval)),
            flush_count: config.flush_count.max(1) as usize,
            operator,
            file: Some(file),
            pending: Vec::new(),
            written: 0,
            pending_records: 0,
            interval_due: false,
        })
    }

    fn flush_due(&self) -> bool {
        if self.pending_records == 0 {
            return false;
        }
        if self.pending.len() >= MAX_PENDING {
            // Heka buffered a whole interval in memory, whatever the rate;
            // the rules only ever delay a write, so writing early is safe.
            return true;
        }
        let count = self.pending_records >= self.flush_count;
        match (self.flush_interval, self.operator) {
            (None, _) => count,
            (Some(_), FlushOperator::And) => count && self.interval_due,
            (Some(_), FlushOperator::Or) => count || self.interval_due,
        }
    }

    /// Writes everything pending, resuming after what a failed attempt
    /// already wrote.
    fn write_pending(&mut self) -> Result<(), PluginError> {
        if self.written < self.pending.len() {
            let file = match &mut self.file {
                Some(file) => file,
                slot @ None => slot.insert(
                    open_file(&self.path, self.perm, self.folder_perm)
                        .map_err(|err| io_error(&self.path, "opening", err))?,
                ),
            };
            while self.written < self.pending.len() {
                match file.write(&self.pending[self.written..]) {
                    Ok(0) => {
                        self.file = None;
                        return Err(io_error(&self.path, "writing", ErrorKind::WriteZero.into()));
                    }
                    Ok(n) => self.written += n,
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(err) => {
                        // Reopen on the retry: the file may be gone or broken.
                        self.file = None;
                        return Err(io_error(&self.path, "writing", err));
                    }
                }
            }
        }
        self.pending.clear();
        self.written = 0;
        self.pending_records = 0;
        self.interval_due = false;
        Ok(())
    }

    fn write_batch(&mut self, batch: &EncodedBatch) -> Result<(), PluginError> {
        // A Retry call carries the same batch, already in `pending`.
        if batch.attempt == 0 {
            self.pending.extend_from_slice(&batch.data);
            self.pending_records += batch.len();
        }
        if !self.flush_due() {
            return Ok(());
        }
        self.write_pending()
    }

    fn tick(&mut self) -> Result<(), PluginError> {
        self.interval_due = true;
        if self.flush_due() {
            self.write_pending()?;
        }
        Ok(())
    }

    fn reopen_file(&mut self) -> Result<(), PluginError> {
        // What is pending belongs to the old file (the one being rotated).
        let flushed = self.write_pending();
        self.file = None;
        let opened = open_file(&self.path, self.perm, self.folder_perm)
            .map(|file| self.file = Some(file))
            .map_err(|err| io_error(&self.path, "reopening", err));
        flushed.and(opened)
    }

    fn close(&mut self) -> Result<(), PluginError> {
        self.write_pending()?;
        if let Some(file) = &self.file {
            file.sync_all()
                .map_err(|err| io_error(&self.path, "syncing", err))?;
        }
        Ok(())
    }
}

impl Output for FileOutput {
    fn write<'a>(
        &'a mut self,
        batch: &'a EncodedBatch,
    ) -> LocalBoxFuture<'a, Result<(), PluginError>> {
        let result = self.write_batch(batch);
        Box::pin(async move { result })
    }

    fn flush(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        let result = self.tick();
        Box::pin(async move { result })
    }

    fn flush_interval(&self) -> Option<Duration> {
        self.flush_interval
    }

    fn reopen(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        let result = self.reopen_file();
        Box::pin(async move { result })
    }

    fn shutdown(&mut self) -> LocalBoxFuture<'_, Result<(), PluginError>> {
        let result = self.close();
        Box::pin(async move { result })
    }

    fn frames_protobuf_by_default(&self) -> bool {
        true
    }

    fn holds_records(&self) -> bool {
        self.pending_records > 0
    }
}

/// Builds a FileOutput from its spec.
pub fn build(spec: &PluginSpec, _globals: &Globals) -> Result<Box<dyn Output>, BuildError> {
    let config: FileOutputConfig = super::options(spec)?;
    Ok(Box::new(FileOutput::new(spec, &config)?))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::future::Future;
    use std::os::unix::fs::PermissionsExt;

    fn run<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    fn spec(path: &Path, options: &[(&str, toml::Value)]) -> PluginSpec {
        let mut spec = PluginSpec::new("File", "FileOutput").unwrap();
        spec.options
            .insert("path".into(), path.to_str().unwrap().into());
        for (key, value) in options {
            spec.options.insert((*key).into(), value.clone());
        }
        spec
    }

    fn output(path: &Path, options: &[(&str, toml::Value)]) -> Box<dyn Output> {
        build(&spec(path, options), &Globals::default()).unwrap()
    }

    fn batch(records: &[&str]) -> EncodedBatch {
        let mut batch = EncodedBatch::default();
        for rec in records {
            batch.data.extend_from_slice(rec.as_bytes());
            batch.ends.push(batch.data.len());
        }
        batch
    }

    fn contents(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn defaults_write_records_on_the_next_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.log");
        let mut out = output(&path, &[]);
        assert_eq!(out.flush_interval(), Some(Duration::from_secs(1)));
        assert!(out.frames_protobuf_by_default());
        run(out.write(&batch(&["one\n", "two\n"]))).unwrap();
        assert_eq!(contents(&path), "", "AND: waits for the interval");
        run(out.flush()).unwrap();
        assert_eq!(contents(&path), "one\ntwo\n");
        run(out.write(&batch(&["three\n"]))).unwrap();
        run(out.flush()).unwrap();
        assert_eq!(contents(&path), "one\ntwo\nthree\n");
    }

    #[test]
    fn and_needs_both_the_count_and_a_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(&path, &[("flush_count", 3.into())]);
        run(out.write(&batch(&["a", "b"]))).unwrap();
        run(out.flush()).unwrap();
        assert_eq!(contents(&path), "", "tick without the count");
        run(out.write(&batch(&["c"]))).unwrap();
        assert_eq!(contents(&path), "abc", "count reached after a tick");
        run(out.write(&batch(&["d", "e", "f"]))).unwrap();
        assert_eq!(contents(&path), "abc", "count without a tick");
        run(out.flush()).unwrap();
        assert_eq!(contents(&path), "abcdef");
    }

    #[test]
    fn or_flushes_on_the_count_or_a_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(
            &path,
            &[("flush_count", 3.into()), ("flush_operator", "OR".into())],
        );
        run(out.write(&batch(&["a", "b"]))).unwrap();
        assert_eq!(contents(&path), "");
        run(out.write(&batch(&["c"]))).unwrap();
        assert_eq!(contents(&path), "abc", "count alone");
        run(out.write(&batch(&["d"]))).unwrap();
        assert_eq!(contents(&path), "abc");
        run(out.flush()).unwrap();
        assert_eq!(contents(&path), "abcd", "tick alone");
    }

    #[test]
    fn a_megabyte_pending_is_written_before_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(&path, &[]);
        let record = "x".repeat(1000);
        let records: Vec<&str> = vec![&record; MAX_PENDING / 1000 - 1];
        run(out.write(&batch(&records))).unwrap();
        assert_eq!(contents(&path).len(), 0, "below the cap: waits");
        run(out.write(&batch(&[&record, &record]))).unwrap();
        assert_eq!(contents(&path).len(), (records.len() + 2) * 1000);
    }

    #[test]
    fn zero_interval_leaves_the_count_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(
            &path,
            &[("flush_count", 2.into()), ("flush_interval", 0.into())],
        );
        assert_eq!(out.flush_interval(), None);
        run(out.write(&batch(&["a"]))).unwrap();
        assert_eq!(contents(&path), "");
        run(out.write(&batch(&["b"]))).unwrap();
        assert_eq!(contents(&path), "ab");
    }

    #[test]
    fn shutdown_writes_what_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(&path, &[("flush_count", 100.into())]);
        run(out.write(&batch(&["a", "b"]))).unwrap();
        assert_eq!(contents(&path), "");
        run(out.shutdown()).unwrap();
        assert_eq!(contents(&path), "ab");
    }

    #[test]
    fn appends_to_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut out = output(&path, &[("flush_interval", 0.into())]);
        run(out.write(&batch(&["new\n"]))).unwrap();
        assert_eq!(contents(&path), "old\nnew\n");
    }

    #[test]
    fn reopen_after_rename_writes_to_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let rotated = dir.path().join("out.log.1");
        let mut out = output(&path, &[]);
        run(out.write(&batch(&["before\n"]))).unwrap();
        std::fs::rename(&path, &rotated).unwrap();
        // Pending records belong to the rotated file; new ones to `path`.
        run(out.reopen()).unwrap();
        run(out.write(&batch(&["after\n"]))).unwrap();
        run(out.flush()).unwrap();
        assert_eq!(contents(&rotated), "before\n");
        assert_eq!(contents(&path), "after\n");
    }

    #[test]
    fn retries_resume_without_writing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut out = output(&path, &[("flush_interval", 0.into())]);
        run(out.write(&batch(&["a"]))).unwrap();
        // Make `path` unopenable: a directory stands in its place.
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(run(out.reopen()), Err(PluginError::Retry(_))));
        // As the runner does: the same batch again, its attempt counted.
        let mut b = batch(&["b", "c"]);
        for _ in 0..3 {
            assert!(matches!(run(out.write(&b)), Err(PluginError::Retry(_))));
            b.attempt += 1;
        }
        std::fs::remove_dir(&path).unwrap();
        run(out.write(&b)).unwrap();
        assert_eq!(contents(&path), "bc", "the retried batch once");
        run(out.write(&batch(&["d"]))).unwrap();
        assert_eq!(contents(&path), "bcd");
        assert_eq!(contents(&dir.path().join("moved")), "a");
    }

    /// The permission bits the umask lets through.
    fn umask_allows(dir: &Path) -> u32 {
        use std::os::unix::fs::DirBuilderExt;
        let probe = dir.join("probe");
        std::fs::DirBuilder::new()
            .mode(0o777)
            .create(&probe)
            .unwrap();
        std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn perm_and_folder_perm_apply_to_what_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = umask_allows(dir.path());
        let path = dir.path().join("logs/out.log");
        let _out = output(
            &path,
            &[("perm", "600".into()), ("folder_perm", "0750".into())],
        );
        assert_eq!(mode(&path), 0o600 & allowed);
        assert_eq!(mode(&dir.path().join("logs")), 0o750 & allowed);

        let default = dir.path().join("d/out.log");
        let _out = output(&default, &[]);
        assert_eq!(mode(&default), 0o644 & allowed);
        assert_eq!(mode(&dir.path().join("d")), 0o700 & allowed);
    }

    fn error(path: &Path, options: &[(&str, toml::Value)]) -> String {
        build(&spec(path, options), &Globals::default())
            .err()
            .unwrap()
            .message
    }

    #[test]
    fn config_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut no_path = PluginSpec::new("File", "FileOutput").unwrap();
        no_path.options.clear();
        let err = build(&no_path, &Globals::default()).err().unwrap();
        assert!(err.message.contains("path"), "{}", err.message);
        assert!(error(&path, &[("perm", "rw-".into())]).contains("`perm`"));
        assert!(error(&path, &[("folder_perm", "99".into())]).contains("`folder_perm`"));
        assert!(error(&path, &[("flush_operator", "XOR".into())]).contains("flush_operator"));
        assert!(error(&path, &[("rotation_interval", 24.into())]).contains("not implemented"));
        assert!(error(&path, &[("rotation_interval", 5.into())]).contains("one of"));
        assert!(error(&path, &[("encoding", "x".into())]).contains("encoding"));
        let ok = build(
            &spec(&path, &[("flush_operator", "or".into())]),
            &Globals::default(),
        );
        assert!(ok.is_ok());
    }
}
