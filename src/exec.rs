//! `portcullis exec -- COMMAND`: running an image's entrypoint or service
//! manager under test (the system calls are in [`crate::os::process`]). Starts COMMAND in a process
//! group of its own (with `--isolate`, in a fresh network namespace with
//! loopback up, so only its listeners are judged), keeps the tail of its
//! output, tells whether it is still running, and stops it: SIGTERM to the
//! group, SIGKILL after a grace period.
//!
//! The namespace is COMMAND's own and dies with it; the host's are never
//! touched.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::os::process::{Stop, group_alive, signal_group};

/// Lines of COMMAND's output kept for the report when it exits early.
const TAIL_LINES: usize = 20;

pub struct Running {
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    pumps: Vec<JoinHandle<()>>,
    /// `/proc/PID/ns/net` inode of COMMAND, when isolated.
    pub netns: Option<u64>,
}

/// Why COMMAND could not be run to the scan.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec: no COMMAND given (portcullis exec [OPTIONS] -- COMMAND ARGS...)")]
    NoCommand,
    #[error("exec: cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("exec: {path}: {source}")]
    Namespace {
        path: String,
        source: std::io::Error,
    },
    #[error("exec: cannot wait for COMMAND: {0}")]
    Wait(std::io::Error),
    /// COMMAND ended before the scan: how, and the tail of its output.
    #[error("exec: COMMAND exited before the scan ({status}){}", tail_text(.tail))]
    ExitedEarly { status: String, tail: Vec<String> },
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        " (no output)".to_owned()
    } else {
        format!("; last output:\n  {}", tail.join("\n  "))
    }
}

/// Starts `argv`. Its output goes to our stderr (stdout is the report) and
/// into the tail.
pub fn start(
    argv: &[String],
    isolate: bool,
    diag: &crate::diag::Diagnostics,
) -> Result<Running, ExecError> {
    let (program, args) = argv.split_first().ok_or(ExecError::NoCommand)?;
    let mut child =
        crate::os::process::spawn(program, args, isolate).map_err(|source| ExecError::Spawn {
            program: program.clone(),
            source,
        })?;
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let pumps = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tail = Arc::clone(&tail);
        let diag = diag.clone();
        std::thread::spawn(move || pump(stream, &tail, &diag))
    })
    .collect();
    let mut running = Running {
        child,
        tail,
        pumps,
        netns: None,
    };
    if isolate {
        let pid = running.child.id() as i32;
        let netns =
            crate::os::proc::ProcRoot::live().and_then(|root| root.process(pid)?.ns_id(c"ns/net"));
        match netns {
            Ok(id) => running.netns = Some(id.inode),
            // Gone already: say how COMMAND ended, not that a file is missing.
            Err(errno) => {
                return Err(running.exit_report().unwrap_or(ExecError::Namespace {
                    path: format!("net namespace of pid {pid}"),
                    source: errno.into(),
                }));
            }
        }
    }
    Ok(running)
}

/// Copies a stream to the diagnostics line by line, keeping the last lines.
fn pump(
    stream: Box<dyn Read + Send>,
    tail: &Mutex<VecDeque<String>>,
    diag: &crate::diag::Diagnostics,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        diag.passthrough(&line);
        let text = crate::model::ByteText::new(line.strip_suffix(b"\n").unwrap_or(&line).to_vec());
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.escaped());
        line.clear();
    }
}

impl Running {
    /// Ok while COMMAND runs; its status and output tail once it exited.
    pub fn alive(&mut self) -> Result<(), ExecError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exited_early(status)),
            Err(e) => Err(ExecError::Wait(e)),
        }
    }

    /// After something of COMMAND's vanished: how COMMAND ended, if it did.
    /// Its namespace goes away a moment before it can be waited for, so
    /// this waits up to a second for the exit to show.
    pub fn exit_report(&mut self) -> Option<ExecError> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.alive() {
                Err(report) => return Some(report),
                Ok(()) if Instant::now() >= deadline => return None,
                Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    fn exited_early(&mut self, status: ExitStatus) -> ExecError {
        // Its last output may still be in the pipes. A process it left
        // behind may hold them open, so wait a little, not for ever.
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.pumps.iter().any(|p| !p.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        ExecError::ExitedEarly {
            status: describe(status),
            tail: Vec::from(tail.clone()),
        }
    }

    /// SIGTERM to the process group, SIGKILL to what is left after `grace`.
    pub fn stop(mut self, grace: Duration) {
        let group = self.child.id();
        signal_group(group, Stop::Terminate);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) && !group_alive(group) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(group, Stop::Kill);
        let _ = self.child.wait();
        // The pumps end when the pipes close; a process that left the group
        // may keep them open, so they are not waited for.
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
