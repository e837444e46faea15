//! Interrupting a client's code: a remote `eval` that runs too long (a loop
//! run by mistake) gets KeyboardInterrupt, as a notebook cell does, and the
//! thread stays paused, serving.
//!
//! Only a client's code is ever interrupted, never the program's or jupdb's:
//! a thread is marked as running it from just before the call to just after,
//! in Rust, with none of the caller's bytecode in between, and an interrupt
//! asked for but not yet raised when the call returns is taken in a loop of
//! our own ([`drain`]). The exception is raised at the next bytecode the code
//! runs (CPython's asynchronous exceptions): a call that blocks in C,
//! `time.sleep` say, is interrupted when it returns.

use crate::engine::current_thread;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple};
use std::os::raw::c_long;
use std::sync::Mutex;

/// Threads running a client's code, innermost last (a client's code may hit a
/// breakpoint and serve requests again), and whether each was interrupted.
/// Changed only with the GIL held, so a thread's entry cannot change while it
/// runs bytecode.
static RUNNING: Mutex<Vec<(u64, bool)>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<(u64, bool)>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// `function(*args)`, a client's code, interruptible by [`interrupt`].
#[pyfunction]
#[pyo3(signature = (function, *args))]
pub fn run_interruptibly(py: Python<'_>, function: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
    let thread = current_thread();
    running().push((thread, false));
    let result = function.call1(args);
    let interrupted = {
        let mut running = running();
        let at = running.iter().rposition(|&(t, _)| t == thread).expect("this thread's entry");
        running.remove(at).1
    };
    if interrupted {
        drain(py)?;
    }
    result.map(Bound::unbind)
}

/// Takes an interrupt that came too late to be raised in the client's code:
/// a Python loop, where CPython raises a pending asynchronous exception at
/// the first backward jump, caught here. (Withdrawing it instead, with
/// `PyThreadState_SetAsyncExc(thread, NULL)`, leaves the interpreter's
/// "something pending" flag set for good before 3.13: a plain loop then ran
/// 1.2–2.3x slower, and on 3.11 a breakpoint set afterwards was not reached.)
fn drain(py: Python<'_>) -> PyResult<()> {
    static DRAIN: GILOnceCell<PyObject> = GILOnceCell::new();
    let drain = DRAIN.get_or_try_init(py, || -> PyResult<PyObject> {
        let namespace = PyDict::new(py);
        py.run(c"def drain():\n    for _ in range(2):\n        pass\n", Some(&namespace), None)?;
        Ok(namespace.get_item("drain")?.expect("defined just above").unbind())
    })?;
    match drain.call0(py) {
        Err(err) if err.is_instance_of::<PyKeyboardInterrupt>(py) => Ok(()),
        other => other.map(drop),
    }
}

/// Raises KeyboardInterrupt in the client's code that `thread` runs, if it
/// runs one now; whether it did.
#[pyfunction]
pub fn interrupt(_py: Python<'_>, thread: u64) -> bool {
    let mut running = running();
    let Some(entry) = running.iter_mut().rev().find(|(t, _)| *t == thread) else { return false };
    entry.1 = true;
    // SAFETY: the GIL is held (`_py`); the exception type is a static object.
    unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, ffi::PyExc_KeyboardInterrupt) == 1 }
}
