//! hekad: the Heka daemon. See `hekad::daemon` for the flags.

fn main() -> std::process::ExitCode {
    hekad::daemon::main(std::env::args_os().skip(1))
}
