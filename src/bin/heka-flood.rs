//! heka-flood: a load generator for hekad's TCP inputs. See `hekad::flood`
//! for the flags and the config file.

fn main() -> std::process::ExitCode {
    hekad::flood::main(std::env::args_os().skip(1))
}
