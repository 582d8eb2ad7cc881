//! heka-actors integration tests.
