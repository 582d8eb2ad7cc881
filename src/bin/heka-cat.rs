//! heka-cat: prints, filters and counts the messages of a file of framed
//! Heka records. See `hekad::cat` for the flags.

fn main() -> std::process::ExitCode {
    hekad::cat::main(std::env::args_os().skip(1))
}
