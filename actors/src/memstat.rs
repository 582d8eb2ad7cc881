//! `heka.memstat`: hekad's memory figures as a message, routed right after
//! each `heka.all-report` a [`crate::report::Reporter`] injects (Heka's
//! dashboard ticker emitted both).
//!
//! Heka's fields were the Go runtime's heap statistics (HeapSys, HeapAlloc,
//! ...), which have no meaning for a Rust process. Ours are what the kernel
//! reports for the whole process in `/proc/self/status`, under the kernel's
//! own names, in bytes (representation `B`): `VmRSS` (resident now),
//! `VmHWM` (resident peak), `VmSize` (virtual) and `VmData` (heap and other
//! private data). Where `/proc` is absent no memstat is emitted.

use bytes::Bytes;
use heka_proto::{Field, Message};

/// The message type.
pub const MEMSTAT_TYPE: &str = "heka.memstat";

/// The `/proc/self/status` lines reported, in field order.
pub const FIGURES: [&str; 4] = ["VmRSS", "VmHWM", "VmSize", "VmData"];

/// Reads the figures of `status` (the text of `/proc/<pid>/status`), in
/// bytes; a figure missing from the text is left out.
pub fn parse(status: &str) -> Vec<(&'static str, i64)> {
    FIGURES
        .iter()
        .filter_map(|&name| {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
            let kib: i64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some((name, kib.saturating_mul(1024)))
        })
        .collect()
}

/// The `heka.memstat` message (logger `hekad`) built on `base`, or `None`
/// when this process's figures cannot be read.
pub fn message(mut base: Message) -> Option<Message> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let figures = parse(&status);
    if figures.is_empty() {
        return None;
    }
    base.r#type = Some(Bytes::from_static(MEMSTAT_TYPE.as_bytes()));
    base.logger = Some(Bytes::from_static(b"hekad"));
    base.fields = figures
        .into_iter()
        .map(|(name, bytes)| Field::integer(name, bytes).with_representation("B"))
        .collect();
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_in_bytes_and_missing_ones_left_out() {
        let status = "Name:\thekad\nVmPeak:\t  9000 kB\nVmSize:\t  8000 kB\n\
                      VmHWM:\t   300 kB\nVmRSS:\t   200 kB\nVmRSSX:\t1 kB\n";
        assert_eq!(
            parse(status),
            [
                ("VmRSS", 200 * 1024),
                ("VmHWM", 300 * 1024),
                ("VmSize", 8000 * 1024)
            ]
        );
        assert!(parse("garbage\nVmRSS: lots\n").is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_resident_size() {
        let msg = message(Message::new([0; 16], 1)).expect("/proc on Linux");
        assert_eq!(msg.r#type.as_deref(), Some(&b"heka.memstat"[..]));
        let rss = msg.fields.iter().find(|f| f.name == "VmRSS").unwrap();
        assert!(rss.value_integer[0] > 0);
        assert_eq!(rss.representation.as_deref(), Some(&b"B"[..]));
    }
}
