//! Stopping every thread of the target for the few microseconds of a write:
//! `PTRACE_SEIZE` + `PTRACE_INTERRUPT` (the same permission as
//! `process_vm_writev`, and no signal the program could see), then
//! `PTRACE_DETACH`, always: on drop, and by the kernel should the tracing thread
//! end first (attaching runs on a thread of its own for that reason).
//! A signal that arrived while a thread was stopped is handed back to it.
//!
//! A target that is the tracing process's own child is refused: a parent that
//! traces its child shares the child's ptrace stops with its other threads, and
//! a `subprocess.Popen` waiting for it in one of them would take a stop for its
//! exit (`attach.py` attaches to its own children from a helper process).

use std::io;
use std::time::Duration;

use super::process::Process;
use super::{AttachError, Deadline};

struct Thread {
    tid: i32,
    stopped: bool,
    /// A signal the thread stopped for: delivered again when it is let go.
    signal: i32,
}

pub struct Frozen {
    threads: Vec<Thread>,
}

fn tasks(process: &Process) -> Result<Vec<i32>, AttachError> {
    let dir = std::fs::read_dir(process.proc("task")).map_err(|e| process.error("list the threads of", e))?;
    Ok(dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
}

fn state(process: &Process, tid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{}/task/{tid}/stat", process.pid)).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next().map(str::to_owned)
}

fn describe(process: &Process, tid: i32) -> String {
    let read = |name: &str| std::fs::read_to_string(format!("/proc/{}/task/{tid}/{name}", process.pid));
    let state = state(process, tid);
    let wchan = read("wchan").unwrap_or_default();
    format!(
        "state {}, in kernel function {}",
        state.unwrap_or_else(|| "?".into()),
        if wchan.is_empty() { "?" } else { &wchan }
    )
}

impl Frozen {
    /// Stops every thread of `process`, threads started meanwhile included; by `deadline`, or a clear error.
    pub fn freeze(process: &Process, deadline: &Deadline) -> Result<Frozen, AttachError> {
        let parent = process.status_field("PPid").and_then(|p| p.parse::<i32>().ok());
        if parent == Some(unsafe { libc::getpid() }) {
            return Err(AttachError::Refused(format!(
                "process {} is this process's child: its stops would reach this process's own waits \
                 for it (subprocess.Popen's), so it must be attached to from another process",
                process.pid
            )));
        }
        let mut frozen = Frozen { threads: Vec::new() };
        loop {
            let fresh: Vec<i32> = tasks(process)?
                .into_iter()
                .filter(|t| !frozen.threads.iter().any(|s| s.tid == *t))
                .collect();
            if fresh.is_empty() {
                return Ok(frozen);
            }
            for tid in fresh {
                let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) };
                if seized < 0 {
                    let err = io::Error::last_os_error();
                    if err.raw_os_error() == Some(libc::ESRCH) {
                        continue; // the thread ended
                    }
                    return Err(process.error("stop the threads of", err));
                }
                frozen.threads.push(Thread {
                    tid,
                    stopped: false,
                    signal: 0,
                });
                unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) };
            }
            let mut i = 0;
            while i < frozen.threads.len() {
                if frozen.threads[i].stopped {
                    i += 1;
                    continue;
                }
                match wait_for_stop(frozen.threads[i].tid, deadline) {
                    Stop::Stopped(signal) => {
                        frozen.threads[i].stopped = true;
                        frozen.threads[i].signal = signal;
                        i += 1;
                    }
                    Stop::Gone => {
                        frozen.threads.remove(i);
                    }
                    Stop::TimedOut => {
                        let tid = frozen.threads[i].tid;
                        return Err(AttachError::Timeout(format!(
                            "thread {tid} of process {} did not stop for the write ({}): \
                             it may be in an uninterruptible wait (disk, NFS); try again",
                            process.pid,
                            describe(process, tid)
                        )));
                    }
                }
            }
        }
    }
}

enum Stop {
    Stopped(i32),
    Gone,
    TimedOut,
}

fn wait_for_stop(tid: i32, deadline: &Deadline) -> Stop {
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
        if r == tid {
            if libc::WIFSTOPPED(status) {
                let event = (status >> 16) & 0xff;
                let signal = libc::WSTOPSIG(status);
                // PTRACE_EVENT_STOP: our interrupt, or a group stop; otherwise a signal on its way in.
                return Stop::Stopped(if event == libc::PTRACE_EVENT_STOP { 0 } else { signal });
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                return Stop::Gone;
            }
            continue;
        }
        if r < 0 {
            return Stop::Gone; // ECHILD: no longer ours to wait for (it ended)
        }
        if deadline.passed() {
            return Stop::TimedOut;
        }
        std::thread::sleep(Duration::from_micros(20));
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for thread in &self.threads {
            let r = unsafe { libc::ptrace(libc::PTRACE_DETACH, thread.tid, 0, thread.signal as libc::c_long) };
            if r < 0 && !thread.stopped {
                // Seized but not yet stopped (a timeout): detaching needs the stop, so wait for it
                // briefly; failing that the kernel detaches it when this (attach-only) thread ends.
                if let Stop::Stopped(signal) = wait_for_stop(thread.tid, &Deadline::after(Duration::from_secs(2))) {
                    unsafe { libc::ptrace(libc::PTRACE_DETACH, thread.tid, 0, signal as libc::c_long) };
                }
            }
        }
    }
}
