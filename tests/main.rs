//! The integration tests of the hekad package, in one binary: the tools run
//! as real child processes on real files and real sockets.

mod ackfwd;
mod build_props;
mod cat;
mod crash;
mod daemon;
mod dashboard;
mod decoding;
mod example;
mod hostile;
mod http;
mod logstreamer;
mod netplugins;
mod queue;
mod sample_data;
mod sandbox;
mod sandbox_manager;
mod scripts;
mod soak;
mod support;
mod tools;
