//! heka-logstreamer: prints the streams and files, in read order, that
//! each LogstreamerInput of a hekad config would read. See
//! `hekad::logstreamer_tool` for the flags.

fn main() -> std::process::ExitCode {
    hekad::logstreamer_tool::main(std::env::args_os().skip(1))
}
