//! The follower on real files: a rotated sequence read oldest first,
//! rename+create and copytruncate rotations while following, truncation,
//! deletion, a file that vanished before it was opened, and resuming from
//! a journal after the file was renamed.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;

use super::{Follower, Step};
use crate::plugins::logstreamer::journal::Journal;
use crate::plugins::logstreamer::notice::Notice;
use crate::plugins::logstreamer::pattern::FilePattern;
use crate::plugins::logstreamer::scan::{LogFile, scan};

struct Harness {
    dir: tempfile::TempDir,
    pattern: FilePattern,
    follower: Follower,
    buf: BytesMut,
    notices: Vec<Notice>,
}

impl Harness {
    fn new() -> Harness {
        let pattern = FilePattern::new(
            r"app\.log\.?(?P<Seq>\d*)",
            &["^Seq".to_owned()],
            &[],
            &BTreeMap::new(),
            "app",
        )
        .unwrap();
        Harness {
            dir: tempfile::tempdir().unwrap(),
            pattern,
            follower: Follower::new(Vec::new(), Duration::ZERO),
            buf: BytesMut::new(),
            notices: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn append(&self, name: &str, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn files(&self) -> Vec<LogFile> {
        files(self.dir.path(), &self.pattern)
    }

    fn start(&mut self, journal: Option<&Journal>, initial_tail: bool) {
        self.follower = Follower::new(self.files(), Duration::ZERO);
        self.follower
            .start(journal, initial_tail, &mut self.notices);
    }

    /// Plays the driver until the stream is quiet for three checks, taking
    /// every byte read as accepted; returns the text read.
    fn pump(&mut self) -> String {
        let (dir, pattern) = (self.dir.path().to_owned(), self.pattern.clone());
        let mut rescan = || files(&dir, &pattern);
        let mut out = Vec::new();
        let mut quiet = 0;
        while quiet < 3 {
            if self.follower.read(&mut self.buf).unwrap() > 0 {
                out.extend_from_slice(&self.buf.split());
                quiet = 0;
                continue;
            }
            match self.follower.at_end(&mut rescan, &mut self.notices) {
                Step::Read => {}
                Step::Wait => quiet += 1,
                Step::End(next) => {
                    out.extend_from_slice(&self.buf.split());
                    self.follower.enter(next, &mut self.notices);
                    quiet = 0;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
}

fn files(dir: &Path, pattern: &FilePattern) -> Vec<LogFile> {
    let found = scan(dir, pattern, Duration::from_secs(3600), SystemTime::now());
    found.streams.into_values().next().unwrap_or_default()
}

#[test]
fn a_rotated_sequence_is_read_oldest_first() {
    let mut h = Harness::new();
    h.append("app.log.2", "a\n");
    h.append("app.log.1", "b\n");
    h.append("app.log", "c\n");
    h.start(None, false);
    assert_eq!(h.pump(), "a\nb\nc\n");
    assert!(
        matches!(&h.notices[0], Notice::Started { file, offset: 0 } if file.ends_with("app.log.2"))
    );
}

#[test]
fn rename_and_create_is_followed_without_gaps() {
    let mut h = Harness::new();
    h.append("app.log", "1\n2\n");
    h.start(None, false);
    assert_eq!(h.pump(), "1\n2\n");
    h.append("app.log", "3\n");
    std::fs::rename(h.path("app.log"), h.path("app.log.1")).unwrap();
    h.append("app.log", "4\n");
    // The writer had not reopened yet: its last line lands in the old file.
    h.append("app.log.1", "5\n");
    assert_eq!(h.pump(), "3\n5\n4\n");
    h.append("app.log", "6\n");
    assert_eq!(h.pump(), "6\n");
}

#[test]
fn copytruncate_goes_on_in_the_copy_then_the_file_from_zero() {
    let mut h = Harness::new();
    h.append("app.log", "1\n2\n");
    h.start(None, false);
    assert_eq!(h.pump(), "1\n2\n");
    h.append("app.log", "3\n");
    std::fs::copy(h.path("app.log"), h.path("app.log.1")).unwrap();
    std::fs::write(h.path("app.log"), "").unwrap();
    h.append("app.log", "4\n");
    assert_eq!(h.pump(), "3\n4\n");
    assert!(
        h.notices
            .iter()
            .any(|n| matches!(n, Notice::CopyTruncated { offset: 4, .. }))
    );
}

#[test]
fn truncation_without_a_copy_restarts_at_zero_and_says_where() {
    let mut h = Harness::new();
    h.append("app.log", "1\n2\n");
    h.start(None, false);
    assert_eq!(h.pump(), "1\n2\n");
    std::fs::write(h.path("app.log"), "x\n").unwrap();
    assert_eq!(h.pump(), "x\n");
    assert!(h.notices.contains(&Notice::Truncated {
        file: h.path("app.log"),
        offset: 4,
        len: 2
    }));
    // Rewritten past the read position: the changed head gives it away.
    std::fs::write(h.path("app.log"), "a longer line\n").unwrap();
    assert_eq!(h.pump(), "a longer line\n");
}

#[test]
fn a_file_deleted_while_read_is_reported_and_its_successor_read() {
    let mut h = Harness::new();
    h.append("app.log", "1\n");
    h.start(None, false);
    assert_eq!(h.pump(), "1\n");
    std::fs::remove_file(h.path("app.log")).unwrap();
    assert_eq!(h.pump(), "");
    assert!(h.notices.contains(&Notice::Removed {
        file: h.path("app.log"),
        offset: 2
    }));
    h.append("app.log", "2\n");
    assert_eq!(h.pump(), "2\n");
}

#[test]
fn a_file_gone_before_it_is_opened_is_skipped_and_reported() {
    let mut h = Harness::new();
    h.append("app.log.1", "old\n");
    h.append("app.log", "new\n");
    let listed = h.files();
    std::fs::remove_file(h.path("app.log.1")).unwrap();
    h.follower = Follower::new(listed, Duration::ZERO);
    h.follower.start(None, false, &mut h.notices);
    assert_eq!(h.pump(), "new\n");
    assert!(
        matches!(&h.notices[0], Notice::Unreadable { file, offset: 0, .. } if file.ends_with("app.log.1"))
    );
}

#[test]
fn a_journal_resumes_in_the_renamed_file_without_gap_or_repeat() {
    let mut h = Harness::new();
    h.append("app.log", "1\n2\n");
    h.start(None, false);
    assert_eq!(h.follower.read(&mut h.buf).unwrap(), 4);
    // Only "1\n" was accepted: two bytes are still buffered.
    let journal = h.follower.journal("app", 2).unwrap().unwrap();
    assert_eq!(journal.offset, 2);
    std::fs::rename(h.path("app.log"), h.path("app.log.1")).unwrap();
    h.append("app.log", "3\n");
    h.buf.clear();
    h.notices.clear();
    h.start(Some(&journal), false);
    assert_eq!(
        h.notices[0],
        Notice::Resumed {
            file: h.path("app.log.1"),
            offset: 2
        }
    );
    assert_eq!(h.pump(), "2\n3\n");
}

#[test]
fn a_journal_that_matches_nothing_rereads_from_the_oldest_file() {
    let mut h = Harness::new();
    h.append("app.log", "1\n2\n");
    h.start(None, false);
    h.pump();
    let journal = h.follower.journal("app", 0).unwrap().unwrap();
    std::fs::write(h.path("app.log"), "other content\n").unwrap();
    h.notices.clear();
    h.start(Some(&journal), false);
    assert!(matches!(
        h.notices[0],
        Notice::JournalLost { offset: 4, .. }
    ));
    assert_eq!(h.pump(), "other content\n");
}

#[test]
fn initial_tail_starts_at_the_end_of_the_newest_file() {
    let mut h = Harness::new();
    h.append("app.log.1", "old\n");
    h.append("app.log", "seen\n");
    h.start(None, true);
    h.append("app.log", "new\n");
    assert_eq!(h.pump(), "new\n");
}
