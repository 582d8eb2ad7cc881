//! heka-inject: sends one message to a hekad TcpInput. See `hekad::inject`
//! for the flags.

fn main() -> std::process::ExitCode {
    hekad::inject::main(std::env::args_os().skip(1))
}
