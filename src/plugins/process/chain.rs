//! One run of a ProcessInput's command chain: real child processes
//! (tokio::process), each one's stdout piped into the next one's stdin, the
//! first reading /dev/null, the last one's stdout and stderr handed to the
//! caller. [`Running::wait`] collects every exit status and kills what is
//! still running when the `timeout` passes or hekad stops. Children are
//! also killed if a run is dropped half-way (`kill_on_drop`).

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::Instant;

/// One command of the chain, from a `[name.command.N]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The program (a path, or a name looked up in PATH).
    pub bin: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its whole environment when set (`KEY`, `VALUE` pairs); hekad's
    /// environment otherwise.
    pub env: Option<Vec<(String, String)>>,
    /// Its working directory; hekad's when unset.
    pub directory: Option<PathBuf>,
}

impl Step {
    /// `bin arg1 arg2`, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.bin.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A chain that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("Command [{command}] triggered an error: [{source}]")]
pub struct StartError {
    /// The command that failed to start.
    pub command: String,
    /// Why.
    pub source: std::io::Error,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The last command's exit code; -1 when a signal ended it (Go's
    /// convention, which Heka reported).
    pub exit_status: i64,
    /// One line per command that failed:
    /// `Subcommand[<index>] returned an error: <why>`.
    pub errors: Vec<String>,
}

/// Why the chain should be cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// `timeout` seconds passed.
    Timeout(Duration),
    /// hekad is stopping.
    Stop,
}

/// A started chain.
pub struct Running {
    children: Vec<(Child, String)>,
    /// The last command's stdout.
    pub stdout: Option<ChildStdout>,
    /// The last command's stderr.
    pub stderr: Option<ChildStderr>,
}

/// Starts every step, in order, piped together.
pub fn start(steps: &[Step]) -> Result<Running, StartError> {
    let mut children = Vec::with_capacity(steps.len());
    let mut previous: Option<ChildStdout> = None;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let fail = |source| StartError {
            command: step.display(),
            source,
        };
        let stdin = match previous.take() {
            None => Stdio::null(),
            Some(out) => out.try_into().map_err(fail)?,
        };
        let mut cmd = Command::new(&step.bin);
        cmd.args(&step.args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(if last { Stdio::piped() } else { Stdio::null() })
            .kill_on_drop(true);
        if let Some(env) = &step.env {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        if let Some(dir) = &step.directory {
            cmd.current_dir(dir);
        }
        // Earlier children are killed when `children` drops on error.
        let mut child = cmd.spawn().map_err(fail)?;
        previous = child.stdout.take();
        children.push((child, step.display()));
    }
    let stderr = children.last_mut().and_then(|(c, _)| c.stderr.take());
    Ok(Running {
        children,
        stdout: previous,
        stderr,
    })
}

impl Running {
    /// Waits for every command, killing the ones still running once `cut`
    /// resolves; reports the last command's status and every failure.
    pub async fn wait(&mut self, cut: impl std::future::Future<Output = Cut>) -> Outcome {
        tokio::pin!(cut);
        let mut statuses: Vec<Option<Result<ExitStatus, String>>> = vec![None; self.children.len()];
        let mut reason = None;
        for (i, (child, _)) in self.children.iter_mut().enumerate() {
            tokio::select! {
                status = child.wait() => statuses[i] = Some(status.map_err(|e| e.to_string())),
                why = &mut cut => {
                    reason = Some(why);
                    break;
                }
            }
        }
        let Some(why) = reason else {
            return outcome(&statuses);
        };
        for (i, (child, _)) in self.children.iter_mut().enumerate() {
            if statuses[i].is_some() {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                statuses[i] = Some(Ok(status));
                continue;
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            statuses[i] = Some(Err(match why {
                Cut::Timeout(after) => {
                    format!("timed out after {} s and was killed", after.as_secs())
                }
                Cut::Stop => "killed because hekad is stopping".to_owned(),
            }));
        }
        outcome(&statuses)
    }
}

fn outcome(statuses: &[Option<Result<ExitStatus, String>>]) -> Outcome {
    let mut errors = Vec::new();
    let mut exit_status = 0;
    for (i, status) in statuses.iter().enumerate() {
        let (code, error) = match status {
            Some(Ok(status)) => match status.code() {
                Some(0) => (0, None),
                Some(code) => (i64::from(code), Some(format!("exit status {code}"))),
                None => (-1, Some(describe_signal(status))),
            },
            Some(Err(why)) => (-1, Some(why.clone())),
            None => (-1, Some("never waited for".to_owned())),
        };
        if let Some(why) = error {
            errors.push(format!("Subcommand[{i}] returned an error: {why}"));
        }
        exit_status = code;
    }
    Outcome {
        exit_status,
        errors,
    }
}

fn describe_signal(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!("signal: {sig}"),
        None => status.to_string(),
    }
}

/// A future resolving to [`Cut::Timeout`] `timeout` after `start`, or
/// never when `timeout` is zero.
pub async fn deadline(start: Instant, timeout: Duration) -> Cut {
    if timeout.is_zero() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep_until(start + timeout).await;
    Cut::Timeout(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn step(bin: &str, args: &[&str]) -> Step {
        Step {
            bin: bin.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: None,
            directory: None,
        }
    }

    async fn read_all(running: &mut Running) -> String {
        let mut out = String::new();
        running
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn stdout_flows_through_the_chain() {
        let steps = [
            step("printf", &["one\\ntwo\\n"]),
            step("tr", &["a-z", "A-Z"]),
        ];
        let mut running = start(&steps).unwrap();
        let out = read_all(&mut running).await;
        let outcome = running.wait(std::future::pending()).await;
        assert_eq!(out, "ONE\nTWO\n");
        assert_eq!(
            outcome,
            Outcome {
                exit_status: 0,
                errors: vec![]
            }
        );
    }

    #[tokio::test]
    async fn every_failure_is_reported_and_the_last_status_is_kept() {
        let steps = [
            step("sh", &["-c", "exit 3"]),
            step("sh", &["-c", "cat; exit 5"]),
        ];
        let mut running = start(&steps).unwrap();
        let _ = read_all(&mut running).await;
        let outcome = running.wait(std::future::pending()).await;
        assert_eq!(outcome.exit_status, 5);
        assert_eq!(
            outcome.errors,
            [
                "Subcommand[0] returned an error: exit status 3",
                "Subcommand[1] returned an error: exit status 5"
            ]
        );
    }

    #[tokio::test]
    async fn env_and_directory_apply_to_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = step("sh", &["-c", "printf '%s %s' \"$GREETING\" \"$(pwd)\""]);
        s.env = Some(vec![("GREETING".into(), "hi".into())]);
        s.directory = Some(dir.path().to_owned());
        let mut running = start(&[s]).unwrap();
        let out = read_all(&mut running).await;
        running.wait(std::future::pending()).await;
        let pwd = dir.path().canonicalize().unwrap();
        assert_eq!(out, format!("hi {}", pwd.display()));
    }

    #[tokio::test]
    async fn a_timeout_kills_the_chain() {
        let steps = [step("sleep", &["30"])];
        let mut running = start(&steps).unwrap();
        let began = std::time::Instant::now();
        let timeout = Duration::from_millis(200);
        let outcome = running.wait(deadline(Instant::now(), timeout)).await;
        assert!(began.elapsed() < Duration::from_secs(10));
        assert_eq!(outcome.exit_status, -1);
        assert_eq!(outcome.errors.len(), 1);
        assert!(outcome.errors[0].contains("timed out"), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_start_error() {
        let err = start(&[step("/nonexistent/bin", &[])]).err().unwrap();
        assert!(
            err.to_string().starts_with("Command [/nonexistent/bin]"),
            "{err}"
        );
    }
}
