//! Starting, watching and stopping the command `exec` runs: in a process
//! group of its own, optionally in a fresh network namespace with loopback
//! up, its output piped back to us.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Starts `program` with `args`, stdin closed, stdout and stderr piped, in
/// a process group of its own (so it and its children can be stopped
/// together); with `isolate`, in a new network namespace with loopback up.
pub fn spawn(program: &str, args: &[String], isolate: bool) -> std::io::Result<Child> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if isolate {
        // SAFETY: the hook runs in the child between fork and exec and only
        // makes system calls (unshare, socket, ioctl, close); no allocation.
        unsafe {
            command.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
                super::net::loopback_up()
            });
        }
    }
    command.spawn()
}

/// What to send a process group.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    Terminate,
    Kill,
}

/// Signals the process group led by `leader`; errors (already gone) are
/// nothing to act on.
pub fn signal_group(leader: u32, stop: Stop) {
    let signal = match stop {
        Stop::Terminate => Signal::SIGTERM,
        Stop::Kill => Signal::SIGKILL,
    };
    let _ = killpg(Pid::from_raw(leader as i32), signal);
}

/// Whether any process of the group led by `leader` is left.
pub fn group_alive(leader: u32) -> bool {
    killpg(Pid::from_raw(leader as i32), None).is_ok()
}
