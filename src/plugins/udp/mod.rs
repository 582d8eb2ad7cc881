//! Heka's UDP plugin family: UdpInput receives datagrams (UDP or Unix
//! datagram sockets) and runs each through the input's splitter; UdpOutput
//! sends each encoded message as one datagram. [`net`] holds what both
//! share: the `net` key and address resolution.

mod input;
pub mod net;
mod output;

pub use input::{UdpInput, UdpInputConfig};
pub use output::{UdpOutput, UdpOutputConfig};
