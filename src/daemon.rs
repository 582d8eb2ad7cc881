//! hekad itself: read the command line (Heka's `-config=PATH` or
//! `--config PATH`, `-version`, `-check`), load the TOML config, build the
//! pipeline from the plugin catalogue, run it inside an actix System and map
//! signals onto it: SIGINT/SIGTERM shut down in order, SIGHUP makes outputs
//! reopen their files, SIGUSR1 prints the report to stderr.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use heka_actors::config::Config;
use heka_actors::{Pipeline, pipeline};
use tokio::signal::unix::{SignalKind, signal};

use crate::flags::{self, Flag, FlagError};

const CONFIG: Flag = Flag {
    name: "config",
    boolean: false,
    default: "/etc/hekad.toml",
    help: "config file or directory of *.toml files",
};
const VERSION: Flag = Flag {
    name: "version",
    boolean: true,
    default: "",
    help: "print the version and exit",
};
const CHECK: Flag = Flag {
    name: "check",
    boolean: true,
    default: "",
    help: "load the config and build every plugin, report every error, then exit (0 = valid)",
};

/// hekad's flags.
pub const FLAGS: &[Flag] = &[CONFIG, VERSION, CHECK];

const SYNOPSIS: &str =
    "hekad [-config PATH] [-check] [-version]\n       hekad queue inspect|verify DIR";

/// Runs hekad with these arguments (program name excluded). `hekad queue
/// ...` reads disk queues instead (see [`crate::queue_tool`]).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.first().is_some_and(|a| a == "queue") {
        return crate::queue_tool::main(args[1..].to_vec());
    }
    let args = match flags::parse(FLAGS, args) {
        Ok(args) => args,
        Err(FlagError::Help) => {
            print!("{}", flags::usage(SYNOPSIS, FLAGS));
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("{err}\n{}", flags::usage(SYNOPSIS, FLAGS));
            return ExitCode::from(1);
        }
    };
    if args.switch(&VERSION) {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging();
    let path = PathBuf::from(args.raw(&CONFIG));
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(errors) => {
            for err in errors.iter() {
                eprintln!("{err}");
            }
            eprintln!(
                "{} errors loading the configuration {}",
                errors.len(),
                path.display()
            );
            return ExitCode::from(1);
        }
    };
    if args.switch(&CHECK) {
        return check(&config, &path);
    }
    match run(config) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(code.clamp(1, 255) as u8),
        Err(err) => {
            eprintln!("hekad: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

fn check(config: &Config, path: &Path) -> ExitCode {
    match pipeline::check(
        &config.globals,
        &config.plugins,
        &crate::catalogue::catalogue(),
    ) {
        Ok(()) => {
            println!(
                "{}: {} plugins, configuration OK",
                path.display(),
                config.plugins.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for err in &errors {
                eprintln!("{err}");
            }
            eprintln!("{} errors loading plugins", errors.len());
            ExitCode::from(1)
        }
    }
}

fn run(config: Config) -> anyhow::Result<i32> {
    // Heka creates its writable state directory at startup.
    let base_dir = &config.globals.base_dir;
    std::fs::create_dir_all(base_dir)
        .with_context(|| format!("creating base_dir {}", base_dir.display()))?;
    let _pid_file = match &config.globals.pid_file {
        Some(path) => Some(PidFile::create(path)?),
        None => None,
    };
    actix_rt::System::new().block_on(async move {
        let pipeline = match Pipeline::start(
            config.globals,
            config.plugins,
            crate::catalogue::catalogue(),
        ) {
            Ok(pipeline) => pipeline,
            Err(errors) => {
                for err in &errors {
                    tracing::error!("{err}");
                }
                anyhow::bail!("{} errors loading plugins", errors.len());
            }
        };
        supervise(pipeline).await
    })
}

/// Maps signals onto the pipeline until it has stopped.
async fn supervise(pipeline: Pipeline) -> anyhow::Result<i32> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let finished = pipeline.finished();
    tokio::pin!(finished);
    loop {
        tokio::select! {
            code = &mut finished => {
                summarise(&pipeline);
                return Ok(code);
            }
            _ = term.recv() => {
                tracing::info!("SIGTERM received, shutting down.");
                pipeline.shutdown(0);
            }
            _ = int.recv() => {
                tracing::info!("SIGINT received, shutting down.");
                pipeline.shutdown(0);
            }
            _ = hup.recv() => {
                tracing::info!("SIGHUP received, outputs reopen their files.");
                pipeline.reopen();
            }
            _ = usr1.recv() => eprint!("{}", pipeline.report().to_text()),
        }
    }
}

/// Logs what each input routed and each output wrote, for operators
/// checking that a shutdown lost nothing.
fn summarise(pipeline: &Pipeline) {
    use heka_actors::config::Category;
    use heka_actors::stats::RunnerStats;
    for name in pipeline.running(Category::Input) {
        if let Some(s) = pipeline.stats(&name) {
            let (routed, dropped) = (RunnerStats::get(&s.injected), RunnerStats::get(&s.dropped));
            tracing::info!("Input {name} routed {routed} messages and dropped {dropped}.");
        }
    }
    for name in pipeline.running(Category::Output) {
        if let Some(s) = pipeline.stats(&name) {
            let (written, dropped) = (RunnerStats::get(&s.processed), RunnerStats::get(&s.dropped));
            tracing::info!("Output {name} delivered {written} messages and dropped {dropped}.");
        }
    }
}

/// `[hekad] pid_file`: refuses to start over a live process, removed on exit.
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: &Path) -> anyhow::Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<u32>()
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            anyhow::bail!(
                "pid_file {} names a running process ({pid})",
                path.display()
            );
        }
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid_file {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
