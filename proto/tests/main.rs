//! The integration tests of heka-proto, in one binary.

mod generated;
