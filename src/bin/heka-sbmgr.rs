//! heka-sbmgr: sends one SandboxManagerFilter control message to a hekad
//! TcpInput. See `hekad::sbmgr` for the flags.

fn main() -> std::process::ExitCode {
    hekad::sbmgr::main(std::env::args_os().skip(1))
}
