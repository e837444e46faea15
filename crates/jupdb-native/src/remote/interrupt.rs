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
//! `time.sleep` say, is interrupted when it returns. A client's interrupt is
//! answered by the server at once, without the GIL ([`want`]), and raised by
//! the service thread when it gets the GIL ([`raise_interrupts`]): a call into
//! C that holds the GIL delays the interrupt, never the answer.

use crate::engine::current_thread;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyTuple};
use std::os::raw::c_long;
use std::sync::Mutex;

/// Where an interrupt of one call of a client's code stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    None,
    /// Asked for by a client, not raised yet: raising needs the GIL, which a
    /// long call into C may hold (see [`want`]).
    Wanted,
    /// Raised: pending in the thread, or taken.
    Raised,
}

/// Threads running a client's code, innermost last, and where an interrupt
/// of each call stands. Raised and removed only with the GIL held, so a
/// thread's entry cannot go while another thread raises in it; marked
/// wanted by the server without it.
static RUNNING: Mutex<Vec<(u64, Interrupt)>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<(u64, Interrupt)>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// `function(*args)`, a client's code, interruptible by [`want`] and [`raise_interrupts`].
#[pyfunction]
#[pyo3(signature = (function, *args))]
pub fn run_interruptibly(py: Python<'_>, function: &Bound<'_, PyAny>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
    let thread = current_thread();
    running().push((thread, Interrupt::None));
    let result = function.call1(args);
    let interrupt = {
        let mut running = running();
        let at = running
            .iter()
            .rposition(|&(t, _)| t == thread)
            .expect("this thread's entry");
        running.remove(at).1
    };
    if interrupt == Interrupt::Raised {
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
        py.run(
            c"def drain():\n    for _ in range(2):\n        pass\n",
            Some(&namespace),
            None,
        )?;
        Ok(namespace.get_item("drain")?.expect("defined just above").unbind())
    })?;
    match drain.call0(py) {
        Err(err) if err.is_instance_of::<PyKeyboardInterrupt>(py) => Ok(()),
        other => other.map(drop),
    }
}

/// Marks the client's code that `thread` (None: every thread) runs now as
/// to be interrupted; the threads that run one. Needs no GIL: the server
/// answers a client's interrupt at once with this, even while a call into C
/// holds the GIL; [`raise_interrupts`] raises them once the GIL is free.
pub fn want(thread: Option<u64>) -> Vec<u64> {
    let mut running = running();
    let mut threads = Vec::new();
    for (t, interrupt) in running.iter_mut().rev() {
        if thread.is_some_and(|wanted| wanted != *t) || threads.contains(t) {
            continue; // another thread, or an outer call of this one
        }
        if *interrupt == Interrupt::None {
            *interrupt = Interrupt::Wanted;
        }
        threads.push(*t);
    }
    threads
}

/// Raises KeyboardInterrupt in the client's code marked by [`want`], in
/// each thread that still runs it (CPython's asynchronous exception, taken
/// at the code's next bytecode); the threads it was raised in.
#[pyfunction]
pub fn raise_interrupts(_py: Python<'_>) -> Vec<u64> {
    let mut running = running();
    let mut raised = Vec::new();
    for (thread, interrupt) in running.iter_mut() {
        if *interrupt == Interrupt::Wanted {
            // SAFETY: the GIL is held (`_py`); the exception type is a static object.
            if unsafe { ffi::PyThreadState_SetAsyncExc(*thread as c_long, ffi::PyExc_KeyboardInterrupt) } == 1 {
                *interrupt = Interrupt::Raised;
                raised.push(*thread);
            }
        }
    }
    raised
}
