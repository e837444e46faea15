//! Interrupting a client's code: a remote `eval` that runs too long (a loop
//! run by mistake) gets KeyboardInterrupt, as a notebook cell does, and the
//! thread stays paused, serving.
//!
//! Only a client's code is ever interrupted, never the program's or jupdb's:
//! a thread is marked as running it from just before the call to just after,
//! in Rust, with none of the caller's bytecode in between, and an interrupt
//! asked for but not yet raised when the call returns is withdrawn. The
//! exception is raised at the next bytecode the code runs (CPython's
//! asynchronous exceptions): a call that blocks in C, `time.sleep` say, is
//! interrupted when it returns.

use crate::engine::current_thread;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
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
pub fn run_interruptibly(_py: Python<'_>, function: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
    let thread = current_thread();
    running().push((thread, false));
    let result = function.call1(args);
    let interrupted = {
        let mut running = running();
        let at = running.iter().rposition(|&(t, _)| t == thread).expect("this thread's entry");
        running.remove(at).1
    };
    if interrupted {
        // Withdraw an interrupt that came too late to be raised in the client's code.
        // SAFETY: the GIL is held; a null exception clears the thread's pending one.
        unsafe { ffi::PyThreadState_SetAsyncExc(thread as c_long, std::ptr::null_mut()) };
    }
    result.map(Bound::unbind)
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
