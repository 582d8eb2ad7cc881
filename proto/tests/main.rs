//! The integration tests of heka-proto, in one binary.

mod generated;
mod hostile;
mod socket;
mod view;
mod wire;
