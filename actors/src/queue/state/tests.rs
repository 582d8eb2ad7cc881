//! The queue's bookkeeping on real files: rolling, deleting handled
//! segments, checkpoints and resuming, the size limit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::*;
use crate::config::FullAction;

fn frames(texts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        heka_proto::framing::encode_frame(t.as_bytes(), None, 1024, &mut out).unwrap();
    }
    out
}

fn config(max_file_size: u64, max_buffer_size: u64, cursor_update_count: u64) -> Buffering {
    Buffering {
        max_file_size,
        max_buffer_size,
        full_action: FullAction::Drop,
        cursor_update_count,
    }
}

fn read_all(dir: &Path, start: Cursor, live: u64) -> Vec<(String, Cursor)> {
    let mut reader = QueueReader::new(dir, start, 1024);
    let mut got = Vec::new();
    while let Some(item) = reader.next(live).unwrap() {
        if let Item::Record { message, end, .. } = item {
            got.push((String::from_utf8_lossy(&message).into_owned(), end));
        }
    }
    got
}

#[test]
fn segments_roll_at_max_file_size_and_go_once_handled() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(QueueStats::default());
    let (mut q, start) = Queue::open(dir.path(), config(40, 0, 1), 1024, stats.clone()).unwrap();
    assert_eq!(start, Cursor::default());
    let batch = frames(&["0123456789", "abcdefghij"]);
    assert!(batch.len() <= 40);
    for _ in 0..3 {
        q.append(&batch, 2).unwrap();
    }
    // Each batch filled its own segment.
    assert_eq!(segment::list(dir.path()).unwrap().len(), 3);
    assert_eq!(stats.records.load(Ordering::Relaxed), 6);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), 3 * batch.len() as u64);
    let read = read_all(dir.path(), start, q.live());
    assert_eq!(read.len(), 6);
    // Handling the first three records (into the second segment) deletes
    // only the first segment.
    q.settle(read[2].1, 3);
    let ids: Vec<u64> = segment::list(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(stats.records.load(Ordering::Relaxed), 3);
    assert_eq!(checkpoint::read(dir.path()).unwrap(), Some(read[2].1));
    // The end of a finished segment deletes it too; the live one stays.
    q.settle(read[5].1, 3);
    let ids: Vec<u64> = segment::list(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [2]);
    assert_eq!(stats.segments.load(Ordering::Relaxed), 1);
}

#[test]
fn a_reopened_queue_resumes_at_its_checkpoint_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(QueueStats::default());
    let (mut q, start) = Queue::open(dir.path(), config(1 << 20, 0, 2), 1024, stats).unwrap();
    q.append(&frames(&["a", "b", "c"]), 3).unwrap();
    let read = read_all(dir.path(), start, q.live());
    q.settle(read[0].1, 1);
    assert_eq!(
        checkpoint::read(dir.path()).unwrap(),
        None,
        "cursor_update_count = 2: one handled record writes nothing"
    );
    q.settle(read[1].1, 1);
    assert_eq!(checkpoint::read(dir.path()).unwrap(), Some(read[1].1));
    drop(q);
    let stats = Arc::new(QueueStats::default());
    let (q, start) = Queue::open(dir.path(), config(1 << 20, 0, 2), 1024, stats.clone()).unwrap();
    assert_eq!(start, read[1].1);
    assert_eq!(q.live(), 1, "a restart writes to a new segment");
    assert_eq!(
        stats.records.load(Ordering::Relaxed),
        1,
        "only `c` is pending"
    );
    let rest: Vec<String> = read_all(dir.path(), start, q.live())
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(rest, ["c"]);
}

#[test]
fn a_missing_or_garbled_checkpoint_replays_from_the_oldest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let stats = Arc::new(QueueStats::default());
    let (mut q, _) = Queue::open(dir.path(), config(1 << 20, 0, 1), 1024, stats).unwrap();
    q.append(&frames(&["a", "b"]), 2).unwrap();
    drop(q);
    std::fs::write(dir.path().join(checkpoint::CHECKPOINT), "garbage").unwrap();
    let (q, start) = Queue::open(dir.path(), config(1 << 20, 0, 1), 1024, Arc::default()).unwrap();
    assert_eq!(start, Cursor::default());
    assert_eq!(read_all(dir.path(), start, q.live()).len(), 2);
    drop(q);
    std::fs::write(dir.path().join(checkpoint::CHECKPOINT), "99 0").unwrap();
    let (_, start) = Queue::open(dir.path(), config(1 << 20, 0, 1), 1024, Arc::default()).unwrap();
    assert_eq!(
        start,
        Cursor::default(),
        "a checkpoint past the newest segment"
    );
}

#[test]
fn max_buffer_size_bounds_bytes_on_disk_and_a_handled_queue_is_reclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let batch = frames(&["0123456789"]);
    let len = batch.len() as u64;
    // max_file_size far above the limit: the live segment is the only one.
    let (mut q, start) = Queue::open(
        dir.path(),
        config(1 << 20, 3 * len, 1),
        1024,
        Arc::default(),
    )
    .unwrap();
    for _ in 0..3 {
        assert!(q.fits(len));
        q.append(&batch, 1).unwrap();
    }
    assert!(!q.fits(len), "a fourth batch is over the limit");
    let read = read_all(dir.path(), start, q.live());
    q.settle(read[1].1, 2);
    assert!(
        !q.fits(len),
        "a record is still pending in the live segment"
    );
    q.settle(read[2].1, 1);
    assert!(
        q.fits(len),
        "everything handled: the segment rolls and goes"
    );
    assert_eq!(q.bytes(), 0);
    let ids: Vec<u64> = segment::list(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [1]);
}
