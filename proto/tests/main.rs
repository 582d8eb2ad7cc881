//! The integration tests of heka-proto, in one binary.

mod chunking;
mod generated;
mod hostile;
mod socket;
mod view;
mod wire;
