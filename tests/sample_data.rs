//! `tests/data/sample.heka`, the file the README's first command reads, is
//! the output of the test producer; this test keeps the two the same.
//! Regenerate: `HEKA_BLESS=1 cargo test --test integration sample_data`.

use std::path::Path;

use crate::support::producer;

/// How many records the sample holds.
pub const SAMPLE_RECORDS: usize = 24;

#[test]
fn the_sample_file_is_the_producers_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample.heka");
    let fresh = producer::sample_stream(SAMPLE_RECORDS);
    if std::env::var_os("HEKA_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write the sample");
    }
    let current = std::fs::read(&path).expect("tests/data/sample.heka exists");
    assert!(
        current == fresh,
        "tests/data/sample.heka is stale: HEKA_BLESS=1 cargo test --test integration sample_data"
    );
}
