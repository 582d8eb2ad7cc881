//! The directory scan: walks `log_directory` (recursively, not following
//! symlinked directories), keeps the files `file_match` places and that
//! were modified within `oldest_duration`, and groups them into streams
//! with each stream's files in read order (oldest first). The input scans
//! at start and every `rescan_interval`; a stream rescans when its file
//! moves; heka-logstreamer prints one scan.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::pattern::{FilePattern, SortError};

/// A file's identity while it exists: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity `meta` describes.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// One file of a stream, as the scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Full path.
    pub path: PathBuf,
    /// Sort key from `priority` (see [`super::pattern::Placement`]).
    pub key: Vec<i64>,
    /// Last modification.
    pub modified: SystemTime,
    /// Identity at scan time.
    pub id: FileId,
    /// Size at scan time.
    pub len: u64,
}

impl LogFile {
    /// Read order: sort key, then (for files the key does not tell apart,
    /// e.g. with no `priority`) modification time, then path.
    pub fn read_order(&self, other: &LogFile) -> Ordering {
        self.key
            .cmp(&other.key)
            .then(self.modified.cmp(&other.modified))
            .then_with(|| self.path.cmp(&other.path))
    }
}

/// Something the scan reports: a file it read with a doubtful order, or a
/// directory it could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its name matched, but a group value does not convert (translation
    /// or number): the file is kept, sorted with -1 for that group.
    Unsortable(PathBuf, SortError),
    /// A directory could not be read while scanning.
    Unreadable(PathBuf, String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Unsortable(path, err) => {
                write!(f, "{}: {err} (sorted as -1)", path.display())
            }
            Problem::Unreadable(path, err) => write!(f, "{}: {err}", path.display()),
        }
    }
}

/// What one scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Stream name → its files, oldest first.
    pub streams: BTreeMap<String, Vec<LogFile>>,
    /// Files and directories left out, with the reason.
    pub problems: Vec<Problem>,
}

/// Scans `dir` for files `pattern` places, ignoring files last modified
/// more than `oldest` before `now`.
pub fn scan(dir: &Path, pattern: &FilePattern, oldest: Duration, now: SystemTime) -> Scan {
    let mut out = Scan::default();
    let cutoff = now.checked_sub(oldest).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(err) => {
                out.problems
                    .push(Problem::Unreadable(current, err.to_string()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // `file_type` does not follow symlinks: linked directories are
            // not walked (no loops), linked files are read through.
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    pending.push(path);
                    continue;
                }
                Ok(_) => {}
                Err(_) => continue,
            }
            let Some(relative) = relative_text(dir, &path) else {
                continue;
            };
            let Some(placement) = pattern.place(&relative) else {
                continue;
            };
            let meta = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => continue,
                // Gone since the listing, or a dangling link.
                Err(_) => continue,
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if modified < cutoff {
                continue;
            }
            if let Some(issue) = placement.issue {
                out.problems.push(Problem::Unsortable(path.clone(), issue));
            }
            out.streams
                .entry(placement.stream)
                .or_default()
                .push(LogFile {
                    path,
                    key: placement.key,
                    modified,
                    id: FileId::of(&meta),
                    len: meta.len(),
                });
        }
    }
    for files in out.streams.values_mut() {
        files.sort_by(LogFile::read_order);
    }
    out
}

/// `path` under `dir` as `/`-separated text (the text `file_match` sees).
fn relative_text(dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pattern(file_match: &str, priority: &[&str], differentiator: &[&str]) -> FilePattern {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FilePattern::new(
            file_match,
            &owned(priority),
            &owned(differentiator),
            &BTreeMap::new(),
            "logs",
        )
        .unwrap()
    }

    fn names(files: &[LogFile], dir: &Path) -> Vec<String> {
        files
            .iter()
            .map(|f| relative_text(dir, &f.path).unwrap())
            .collect()
    }

    #[test]
    fn streams_are_grouped_and_ordered_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a.com/access.log",
            "a.com/access.log.1",
            "a.com/access.log.2",
            "b.com/access.log",
            "b.com/error.log",
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, name).unwrap();
        }
        let p = pattern(
            r"(?P<Domain>[^/]+)/access\.log\.?(?P<Seq>\d*)",
            &["^Seq"],
            &["Domain", "-access"],
        );
        let found = scan(dir.path(), &p, Duration::from_secs(3600), SystemTime::now());
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        assert_eq!(
            found.streams.keys().collect::<Vec<_>>(),
            ["a.com-access", "b.com-access"]
        );
        assert_eq!(
            names(&found.streams["a.com-access"], dir.path()),
            [
                "a.com/access.log.2",
                "a.com/access.log.1",
                "a.com/access.log"
            ]
        );
    }

    #[test]
    fn unsortable_files_are_kept_and_reported_and_old_ones_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.log"), "x").unwrap();
        std::fs::write(dir.path().join("x.log"), "x").unwrap();
        let p = pattern(r"(?P<N>\w+)\.log", &["N"], &[]);
        let found = scan(dir.path(), &p, Duration::from_secs(3600), SystemTime::now());
        assert_eq!(
            names(&found.streams["logs"], dir.path()),
            ["x.log", "1.log"]
        );
        assert!(
            matches!(&found.problems[..], [Problem::Unsortable(path, _)] if path.ends_with("x.log"))
        );
        let later = SystemTime::now() + Duration::from_secs(7200);
        let found = scan(dir.path(), &p, Duration::from_secs(3600), later);
        assert!(found.streams.is_empty());
    }

    #[test]
    fn without_priority_files_read_in_modification_order() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::write(dir.path().join("b.log"), "x").unwrap();
        std::fs::write(dir.path().join("a.log"), "x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("b.log"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let p = pattern(r".*\.log", &[], &[]);
        let found = scan(dir.path(), &p, Duration::from_secs(3600), SystemTime::now());
        assert_eq!(
            names(&found.streams["logs"], dir.path()),
            ["b.log", "a.log"]
        );
    }

    #[test]
    fn a_missing_directory_is_a_problem_not_a_panic() {
        let p = pattern(r"a", &[], &[]);
        let found = scan(
            Path::new("/nonexistent/dir"),
            &p,
            Duration::from_secs(1),
            SystemTime::now(),
        );
        assert!(found.streams.is_empty());
        assert_eq!(found.problems.len(), 1);
    }
}
