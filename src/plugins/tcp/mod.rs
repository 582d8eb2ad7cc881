//! Heka's TCP plugin family: TcpInput receives streams (framed protobuf by
//! default) from heka-inject, heka-flood or another hekad's TcpOutput;
//! TcpOutput ships encoded records to a TCP peer.

mod input;
mod output;

pub use input::{TcpInput, TcpInputConfig};
pub use output::{TcpOutput, TcpOutputConfig, build as build_output, resume_index};
