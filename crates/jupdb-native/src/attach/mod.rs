//! Attaching to a running Python program that never imported jupdb: run a
//! bootstrap string in it without gdb and without stopping it for more than
//! the microseconds of a few writes.
//!
//! 3.10–3.13: a *remote pending call*. `_PyRuntime` (exported even by stripped
//! builds) and `/proc/PID/maps` give the main interpreter; the bootstrap, a
//! NUL-terminated string, goes into the unused bytes after the interpreter's
//! `.bss` on its last page; `{PyRun_SimpleString, string}` goes into the
//! interpreter's pending-call queue and its eval breaker is set, as
//! `Py_AddPendingCall` would do from inside. A remote writer cannot take the
//! queue's lock, so the target's threads are stopped meanwhile (`freeze`), and
//! the call is written only into an empty, unlocked, idle queue; otherwise it
//! tries again. 3.14+: PEP 768's own protocol (`layouts::pep768`), which
//! points a thread at a script file.
//!
//! - `process`: the target's memory, mappings, mapped files and `/proc`, and the opt-outs.
//! - `elf`: the interpreter's symbols.
//! - `freeze`: stopping its threads around the writes.
//! - `layouts`: every per-version layout, with its validation.

mod elf;
mod freeze;
mod layouts;
mod process;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{
    PyOSError, PyOverflowError, PyPermissionError, PyProcessLookupError, PyRuntimeError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use freeze::Frozen;
use layouts::Enqueue;
use process::{Mapping, Process, Unopened};

#[derive(Debug)]
pub enum AttachError {
    /// No such process (any more).
    Gone(String),
    /// Not allowed to trace it; the message says what to do.
    Permission(String),
    /// The target is not one jupdb may or can write to: nothing was written.
    Refused(String),
    Timeout(String),
    Os(String),
}

impl From<AttachError> for PyErr {
    fn from(err: AttachError) -> PyErr {
        match err {
            AttachError::Gone(m) => PyProcessLookupError::new_err(m),
            AttachError::Permission(m) => PyPermissionError::new_err(m),
            AttachError::Refused(m) => PyRuntimeError::new_err(m),
            AttachError::Timeout(m) => PyTimeoutError::new_err(m),
            AttachError::Os(m) => PyOSError::new_err(m),
        }
    }
}

/// Reading and writing the target's memory (a fake address space in unit tests).
pub trait Memory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), AttachError>;
    fn write(&self, addr: u64, data: &[u8]) -> Result<(), AttachError>;

    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, AttachError> {
        let mut buf = vec![0; len];
        self.read(addr, &mut buf)?;
        Ok(buf)
    }
    fn read_u64(&self, addr: u64) -> Result<u64, AttachError> {
        let mut buf = [0; 8];
        self.read(addr, &mut buf)?;
        Ok(u64::from_ne_bytes(buf))
    }
    fn read_i32(&self, addr: u64) -> Result<i32, AttachError> {
        let mut buf = [0; 4];
        self.read(addr, &mut buf)?;
        Ok(i32::from_ne_bytes(buf))
    }
}

/// When attaching gives up: at a time, or at once when the caller is interrupted (Ctrl-C).
#[derive(Clone)]
pub struct Deadline {
    at: Instant,
    cancelled: Arc<AtomicBool>,
}

impl Deadline {
    /// A deadline `limit` from now that nothing cancels.
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now()
                .checked_add(limit)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)),
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn passed(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.at
    }

    fn left(&self) -> Duration {
        if self.cancelled.load(Ordering::Relaxed) {
            Duration::ZERO
        } else {
            self.at.saturating_duration_since(Instant::now())
        }
    }
}

/// A timeout given in seconds: NaN or negative is a ValueError; more than a day is
/// no limit (a century); never a panic.
fn deadline_after(timeout: f64) -> PyResult<Deadline> {
    if timeout.is_nan() || timeout < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be a number of seconds, at least 0, not {timeout}"
        )));
    }
    let limit = if timeout > 86_400.0 {
        Duration::from_secs(100 * 365 * 86_400)
    } else {
        Duration::from_secs_f64(timeout)
    };
    Ok(Deadline::after(limit))
}

/// A process id from Python: any integer; outside 1..=i32::MAX (which no process has)
/// it is ProcessLookupError, as for a process that ended.
fn pid_argument(pid: &Bound<'_, PyAny>) -> PyResult<i32> {
    let none = || PyProcessLookupError::new_err(format!("no process {pid}"));
    match pid.extract::<i64>() {
        Ok(n) => i32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(none),
        Err(e) if e.is_instance_of::<PyOverflowError>(pid.py()) => Err(none()),
        Err(e) => Err(e),
    }
}

/// What marks a bootstrap string as jupdb's in the bytes after `.bss` (a Python comment).
const MARKER: &[u8] = b"#jupdb-attach\n";

/// A Python interpreter found in a live process.
struct Target {
    process: Process,
    version: (u32, u32, u32),
    /// The ELF object that holds `_PyRuntime` (the executable, or libpython), in the target's namespace.
    object: String,
    runtime: u64,
    run_simple_string: u64,
    /// The free bytes after the object's `.bss`, up to the end of its page.
    spare: (u64, u64),
}

fn refused(why: String) -> AttachError {
    AttachError::Refused(why)
}

/// The files a process maps, searched for its interpreter.
struct Search {
    /// The mapping (at offset 0) of the file holding `_PyRuntime`, and its symbols.
    found: Option<(Mapping, elf::Elf)>,
    /// The first libpython or python executable skipped for having been deleted or
    /// replaced since it was mapped (not those of shared memory, memfd…).
    replaced: Option<Mapping>,
}

const WANTED: [&str; 4] = [
    "_PyRuntime",
    "PyRun_SimpleString",
    "Py_Version",
    "PyModule_AddObjectRef",
];

/// The file name, without its directory.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Looks for `_PyRuntime` in the files `maps` maps at offset 0: libpython first (the
/// executable then only links it), then the executable, then the rest (an interpreter
/// embedded in another program: uwsgi…). `reading` says which file it is at.
fn search(process: &Process, maps: &[Mapping], reading: &Mutex<String>) -> Search {
    let mut files: Vec<&Mapping> = Vec::new();
    for m in maps {
        if m.path.is_some() && m.offset == 0 && !files.iter().any(|f| f.shown_path() == m.shown_path()) {
            files.push(m);
        }
    }
    files.sort_by_key(|m| {
        let name = file_name(m.path.as_deref().unwrap_or(""));
        (!name.starts_with("libpython3"), !name.starts_with("python3"))
    });
    let mut replaced = None;
    for m in files.into_iter().take(64) {
        let shown = m.shown_path();
        *reading.lock().unwrap_or_else(|e| e.into_inner()) = shown.clone();
        let file = match process.open_mapped(m) {
            Ok(file) => file,
            Err(Unopened::Replaced) => {
                let name = file_name(m.path.as_deref().unwrap_or(""));
                if name.starts_with("libpython") || name.starts_with("python") {
                    replaced.get_or_insert_with(|| m.clone());
                }
                continue;
            }
            Err(Unopened::Other(_)) => continue,
        };
        let Ok(found) = elf::read(file, &shown, &WANTED, |found| {
            // The runtime, the entry point and what tells the version (3.10 has
            // no Py_Version: waiting for it would read all of .symtab).
            ["_PyRuntime", "PyRun_SimpleString"]
                .iter()
                .all(|s| found.contains_key(s))
                && (found.contains_key("Py_Version") || found.contains_key("PyModule_AddObjectRef"))
        }) else {
            continue;
        };
        if found.symbols.contains_key("_PyRuntime") {
            return Search {
                found: Some((m.clone(), found)),
                replaced,
            };
        }
    }
    Search { found: None, replaced }
}

/// Runs `f` on a thread of its own until `deadline`: reading a file blocks for as long
/// as its file system does not answer (a FUSE file system the program serves itself,
/// an NFS server gone), and such a thread is left behind rather than the caller.
fn within<T: Send + 'static>(deadline: &Deadline, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("jupdb-attach-read".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    loop {
        match rx.recv_timeout(deadline.left().min(Duration::from_millis(50))) {
            Ok(value) => return Some(value),
            Err(mpsc::RecvTimeoutError::Timeout) if !deadline.passed() => continue,
            Err(_) => return None,
        }
    }
}

impl Target {
    fn inspect(pid: i32, deadline: &Deadline) -> Result<Target, AttachError> {
        let process = Process { pid };
        let stat = process.read_proc("stat")?;
        let state = stat.rsplitn(2, |b| *b == b')').next().and_then(|s| s.get(1).copied());
        if matches!(state, Some(b'Z') | Some(b'X')) {
            return Err(AttachError::Gone(format!("process {pid} has ended (a zombie)")));
        }
        if pid == std::process::id() as i32 {
            return Err(refused(
                "that is this process: use jupdb.set_trace() or jupdb.listen() here".into(),
            ));
        }
        let (environ, cmdline) = (process.read_proc("environ")?, process.read_proc("cmdline")?);
        if let Some(why) = process::opted_out(&environ, &cmdline) {
            return Err(refused(format!("process {pid} opted out of remote debugging: {why}")));
        }
        let maps = process.maps()?;
        let reading = Arc::new(Mutex::new(String::new()));
        let (all, at) = (maps.clone(), reading.clone());
        let Some(Search { found, replaced }) = within(deadline, move || search(&Process { pid }, &all, &at)) else {
            let file = reading.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(AttachError::Timeout(format!(
                "reading {file}, a file process {pid} maps, did not finish in time: its file system \
                 does not answer (a FUSE or network file system?)"
            )));
        };
        let Some((map, found)) = found else {
            let first = maps
                .iter()
                .find(|m| m.path.is_some())
                .map(|m| file_name(m.path.as_deref().unwrap_or("")).to_owned())
                .unwrap_or_default();
            let Some(gone) = replaced else {
                return Err(refused(format!(
                    "process {pid} ({first}) is not running a CPython jupdb can find (no _PyRuntime)"
                )));
            };
            let path = gone.path.as_deref().unwrap_or("");
            return Err(refused(format!(
                "process {pid} ({first}): its interpreter's file {path} was deleted or replaced since the program started \
                 (an upgrade?), and only root can read the file it still runs (through \
                 /proc/{pid}/map_files): attach as root (sudo), or restart the program"
            )));
        };
        let path = map.shown_path();
        let bias = map.start.wrapping_sub(found.base);
        let version = if let Some(&v) = found.symbols.get("Py_Version") {
            let hex = process.read_u64(bias + v)? as u32;
            (hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
        } else if found.symbols.contains_key("PyModule_AddObjectRef") {
            (3, 10, 0) // 3.10 added PyModule_AddObjectRef; Py_Version came with 3.11
        } else {
            return Err(refused(format!("process {pid} runs a Python older than 3.10 ({path})")));
        };
        let Some(&run) = found.symbols.get("PyRun_SimpleString") else {
            return Err(refused(format!("{path} does not export PyRun_SimpleString")));
        };
        let runtime = found.symbols["_PyRuntime"];
        let start = bias + found.writable_end;
        let spare = (start, (start + 0xfff) & !0xfff);
        if !maps
            .iter()
            .any(|m| m.writable && m.start <= spare.0 && spare.1 <= m.end)
        {
            return Err(refused(format!("the end of {path}'s .bss is not mapped writable")));
        }
        Ok(Target {
            version,
            object: path,
            runtime: bias + runtime,
            run_simple_string: bias + run,
            spare,
            process,
        })
    }

    fn method(&self) -> &'static str {
        if self.version.1 >= 14 {
            "PEP 768"
        } else {
            "pending call"
        }
    }
}

/// What injecting did.
struct Outcome {
    /// The target took the call off its queue (it is running or ran the bootstrap).
    taken: bool,
    /// Not taken in time, and taken back (or made a no-op).
    withdrawn: bool,
    /// Attempts that found the queue busy.
    busy: u32,
    /// The longest the target's threads were stopped for, in microseconds.
    frozen_us: u128,
}

fn backoff(attempt: u32) -> Duration {
    // Short at first (a queue is busy for microseconds), then up to 2 ms; a little jitter
    // so as not to fall in step with a program that adds calls periodically.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let jitter = (now.subsec_nanos() ^ attempt.wrapping_mul(2654435761)) % 200;
    Duration::from_micros((50u64 << attempt.min(5)).min(2000) + jitter as u64)
}

fn inject_pending_call(target: &Target, code: &[u8], deadline: &Deadline) -> Result<Outcome, AttachError> {
    let process = &target.process;
    let layout = layouts::layout(target.version.1).ok_or_else(|| refused("no layout".into()))?;
    let interp = layouts::main_interpreter(process, layout, target.runtime)?;
    let mut string = MARKER.to_vec();
    string.extend_from_slice(code);
    if string.contains(&0) {
        return Err(refused("the bootstrap contains a NUL byte".into()));
    }
    let room = (target.spare.1 - target.spare.0) as usize;
    if string.len() + 1 > room {
        return Err(refused(format!(
            "the bootstrap is {} bytes, and {} has room for {} after its .bss",
            string.len() + 1,
            target.object,
            room
        )));
    }
    string.resize(room, 0); // NUL-terminated, and whatever a longer earlier one left is cleared
    let mut outcome = Outcome {
        taken: false,
        withdrawn: false,
        busy: 0,
        frozen_us: 0,
    };
    let slot = loop {
        let frozen = Frozen::freeze(process, deadline)?;
        let start = Instant::now();
        let current = process.read_bytes(target.spare.0, room)?;
        if !current.starts_with(MARKER) && current.iter().any(|b| *b != 0) {
            return Err(refused(format!(
                "the spare bytes after {}'s .bss are in use by something else: jupdb does not write there",
                target.object
            )));
        }
        let enqueued = layouts::enqueue(process, layout, interp, target.run_simple_string, target.spare.0);
        if let Ok(Enqueue::Queued(_)) = enqueued {
            if current != string {
                process.write(target.spare.0, &string)?;
            }
        }
        outcome.frozen_us = outcome.frozen_us.max(start.elapsed().as_micros());
        drop(frozen);
        match enqueued? {
            Enqueue::Queued(slot) => break slot,
            Enqueue::Busy(why) => {
                outcome.busy += 1;
                if deadline.passed() {
                    return Err(AttachError::Timeout(format!(
                        "the program's pending-call queue stayed busy until the timeout ({why}; {} tries)",
                        outcome.busy
                    )));
                }
                std::thread::sleep(backoff(outcome.busy));
            }
        }
    };
    let (mut signalled, mut every) = (Instant::now(), Duration::from_millis(20));
    loop {
        if layouts::taken(process, layout, interp, slot)? {
            outcome.taken = true;
            return Ok(outcome);
        }
        if deadline.passed() {
            break;
        }
        if signalled.elapsed() >= every {
            let _frozen = Frozen::freeze(process, deadline)?;
            if !layouts::taken(process, layout, interp, slot)? {
                layouts::signal(process, layout, interp)?;
            }
            (signalled, every) = (Instant::now(), (every * 2).min(Duration::from_millis(500)));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    // Not run in time (3.10/3.11: the main thread is in C): take it back.
    let _frozen = Frozen::freeze(process, &Deadline::after(Duration::from_secs(2)))?;
    if layouts::taken(process, layout, interp, slot)? {
        outcome.taken = true;
    } else {
        if !layouts::withdraw(process, layout, interp, slot)? {
            process.write(target.spare.0, MARKER)?; // a comment alone: the call then does nothing
        }
        outcome.withdrawn = true;
    }
    Ok(outcome)
}

fn inject_pep768(target: &Target, script: &[u8], deadline: &Deadline) -> Result<Outcome, AttachError> {
    use layouts::pep768;
    let process = &target.process;
    let bytes = process.read_bytes(target.runtime, pep768::SIZE as usize)?;
    let offsets = pep768::parse(&bytes, target.version.1)?;
    let (_, tstate) = pep768::main_thread(process, target.runtime, &offsets)?;
    let mut outcome = Outcome {
        taken: false,
        withdrawn: false,
        busy: 0,
        frozen_us: 0,
    };
    loop {
        let frozen = Frozen::freeze(process, deadline)?;
        let start = Instant::now();
        let requested = pep768::request(process, tstate, &offsets, script);
        outcome.frozen_us = outcome.frozen_us.max(start.elapsed().as_micros());
        drop(frozen);
        if requested? {
            break;
        }
        outcome.busy += 1;
        if deadline.passed() {
            return Err(AttachError::Timeout(
                "another remote debugger's request is pending in the program".into(),
            ));
        }
        std::thread::sleep(backoff(outcome.busy));
    }
    while !deadline.passed() {
        if pep768::taken(process, tstate, &offsets)? {
            outcome.taken = true;
            return Ok(outcome);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let _frozen = Frozen::freeze(process, &Deadline::after(Duration::from_secs(2)))?;
    if pep768::taken(process, tstate, &offsets)? {
        outcome.taken = true;
    } else {
        pep768::withdraw(process, tstate, &offsets)?;
        outcome.withdrawn = true;
    }
    Ok(outcome)
}

/// Runs `f` on a thread of its own: ptrace ties a tracee to the thread that seized
/// it, and should anything go wrong the kernel detaches them when that thread ends.
/// Meanwhile a signal whose handler raises (Ctrl-C's KeyboardInterrupt) cancels
/// `deadline`: `f` lets the program go and takes back what it left pending (for a
/// second or two at most), and then the exception is raised.
fn on_own_thread<T: Send + 'static>(
    py: Python<'_>,
    deadline: &Deadline,
    f: impl FnOnce() -> Result<T, AttachError> + Send + 'static,
) -> PyResult<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("jupdb-attach".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| PyErr::from(AttachError::Os(format!("cannot start a thread: {e}"))))?;
    let (mut rx, mut interrupted) = (rx, None);
    loop {
        let received;
        (rx, received) = py.allow_threads(move || {
            let received = rx.recv_timeout(Duration::from_millis(50));
            (rx, received)
        });
        match received {
            Ok(result) => return interrupted.map_or_else(|| result.map_err(PyErr::from), Err),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(interrupted.unwrap_or_else(|| AttachError::Os("attaching panicked".into()).into()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.is_none() {
                    if let Err(e) = py.check_signals() {
                        deadline.cancelled.store(true, Ordering::Relaxed);
                        interrupted = Some(e);
                    }
                }
            }
        }
    }
}

fn describe<'py>(py: Python<'py>, target: &Target) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pid", target.process.pid)?;
    d.set_item("version", target.version)?;
    d.set_item("object", &target.object)?;
    d.set_item("method", target.method())?;
    // PEP 768 asks the main thread; the pending calls of 3.10/3.11 only it runs.
    let main_only = layouts::layout(target.version.1).is_none_or(|l| l.main_thread_only);
    d.set_item("main_thread_only", main_only)?;
    Ok(d)
}

/// What jupdb can tell of process `pid` without changing it: its Python
/// (`version`, the `object` holding the interpreter, the `method` attaching would
/// use), within `timeout` seconds. Refuses (RuntimeError) a target that opted out or
/// that jupdb cannot attach to, PermissionError saying what to do where tracing it is
/// not allowed, ProcessLookupError for no such process (any pid outside 1..=2**31-1).
#[pyfunction]
#[pyo3(signature = (pid, timeout = 10.0))]
pub fn attach_probe<'py>(py: Python<'py>, pid: &Bound<'py, PyAny>, timeout: f64) -> PyResult<Bound<'py, PyDict>> {
    let pid = pid_argument(pid)?;
    let deadline = deadline_after(timeout)?;
    let within = deadline.clone();
    let target = on_own_thread(py, &deadline, move || Target::inspect(pid, &within))?;
    if !(10..=14).contains(&target.version.1) || target.version.0 != 3 {
        let (a, b, c) = target.version;
        return Err(refused(format!("jupdb can attach to CPython 3.10 to 3.14, not {a}.{b}.{c}")).into());
    }
    describe(py, &target)
}

/// Makes process `pid` run `code` (3.10–3.13) or the file `script` (3.14+, PEP 768)
/// in one of its threads, within `timeout` seconds (more than a day: no limit; NaN or
/// negative: ValueError). Returns `taken` (the target took it and is running or ran
/// it) or, when no thread took it in time, `withdrawn` (nothing is left pending in the
/// program), and what it took. Ctrl-C stops it, leaving nothing pending either.
#[pyfunction]
pub fn attach_inject<'py>(
    py: Python<'py>,
    pid: &Bound<'py, PyAny>,
    code: &str,
    script: &str,
    timeout: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let started = Instant::now();
    let pid = pid_argument(pid)?;
    let deadline = deadline_after(timeout)?;
    let within = deadline.clone();
    let (code, script) = (code.as_bytes().to_vec(), script.as_bytes().to_vec());
    let (target, outcome) = on_own_thread(py, &deadline, move || {
        let target = Target::inspect(pid, &within)?;
        let outcome = match target.version {
            (3, 10..=13, _) => inject_pending_call(&target, &code, &within)?,
            (3, 14, _) => inject_pep768(&target, &script, &within)?,
            (a, b, c) => {
                return Err(refused(format!(
                    "jupdb can attach to CPython 3.10 to 3.14, not {a}.{b}.{c}"
                )))
            }
        };
        Ok((target, outcome))
    })?;
    let d = describe(py, &target)?;
    d.set_item("taken", outcome.taken)?;
    d.set_item("withdrawn", outcome.withdrawn)?;
    d.set_item("busy", outcome.busy)?;
    d.set_item("frozen_us", outcome.frozen_us as u64)?;
    d.set_item("seconds", started.elapsed().as_secs_f64())?;
    Ok(d)
}

/// The pending-call layout jupdb uses for CPython 3.`minor`, by field (for the
/// tests that compare it with the headers' `offsetof`); None where 3.`minor` has none.
#[pyfunction]
pub fn attach_layout(py: Python<'_>, minor: u32) -> PyResult<Option<Bound<'_, PyDict>>> {
    let Some(layout) = layouts::layout(minor) else {
        return Ok(None);
    };
    let d = PyDict::new(py);
    for (name, value) in layouts::offsets(layout) {
        d.set_item(name, value)?;
    }
    Ok(Some(d))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(attach_probe, m)?)?;
    m.add_function(wrap_pyfunction!(attach_inject, m)?)?;
    m.add_function(wrap_pyfunction!(attach_layout, m)?)?;
    Ok(())
}
