//! The local host and process as the tools stamp them on the messages they
//! make: hostname, pid, a random v4 UUID and the current time. Heka's Go
//! tools took these from `os.Hostname`, `os.Getpid`, `uuid.NewRandom` and
//! `time.Now`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The kernel's hostname file; read directly so no libc call is needed.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// Used when the hostname cannot be read (not Linux, no /proc).
pub const FALLBACK_HOSTNAME: &str = "localhost";

/// The OS hostname, or [`FALLBACK_HOSTNAME`].
pub fn hostname() -> String {
    std::fs::read_to_string(HOSTNAME_FILE)
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| FALLBACK_HOSTNAME.to_owned())
}

/// This process's id as the `Pid` header holds it (int32 on the wire).
pub fn pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

/// A random (version 4, RFC 4122 variant) UUID. Not cryptographic: UUIDs
/// only need to be unique, and fastrand is seeded per thread.
pub fn uuid_v4() -> [u8; 16] {
    let mut uuid = [0u8; 16];
    fastrand::fill(&mut uuid);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    uuid
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        for u in [a, b] {
            assert_eq!(u[6] >> 4, 4);
            assert_eq!(u[8] >> 6, 0b10);
        }
    }

    #[test]
    fn hostname_and_clock_are_sane() {
        assert!(!hostname().is_empty());
        assert!(!hostname().ends_with('\n'));
        // After 2020-01-01.
        assert!(now_ns() > 1_577_836_800_000_000_000);
        assert!(pid() > 0);
    }
}
