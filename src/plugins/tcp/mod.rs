//! Heka's TCP plugin family: TcpInput receives streams (framed protobuf by
//! default) from heka-inject, heka-flood or another hekad's TcpOutput;
//! TcpOutput ships encoded records to a TCP peer. Both speak TLS when
//! `use_tls = true`, configured by their `[<name>.tls]` table ([`tls`]).
//! Between two hekads, TcpInput `acknowledge` and TcpOutput `require_acks`
//! add acknowledged delivery ([`ack`], ours).

pub mod ack;
mod input;
mod output;
pub mod tls;

pub use input::{TcpInput, TcpInputConfig};
pub use output::{TcpOutput, TcpOutputConfig, build as build_output, resume_index};
pub use tls::{ClientAuth, TlsClient, TlsConfig};
