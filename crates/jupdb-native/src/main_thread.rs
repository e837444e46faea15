//! Running code in the main thread, at its next bytecode boundary, from any
//! thread: CPython's pending calls (the mechanism that runs signal handlers there).
//!
//! jupdb uses it on CPython 3.10 and 3.11, where a thread's line events can
//! only be turned on by that thread: to pause a running main thread, and to
//! give a breakpoint to a loop the main thread runs already.
//!
//! Everything goes through one queue with at most one pending call of ours
//! at CPython at a time. A call added while our pending call runs (the code
//! it runs sets a breakpoint) is run by it after the current one; it must not
//! be handed to CPython, which runs no pending call from inside another and,
//! on 3.11, then spins for ever on a traced function's first instruction.

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

enum Call {
    Python(Py<PyAny>),
    #[cfg_attr(Py_3_12, allow(dead_code))] // the 3.12+ engine reaches every thread by itself
    Native(fn(Python<'_>)),
}

/// Calls waiting for the main thread, oldest first.
static QUEUE: Mutex<Vec<Call>> = Mutex::new(Vec::new());
/// Whether our pending call is at CPython or running; changed under `QUEUE`'s lock.
static SCHEDULED: AtomicBool = AtomicBool::new(false);

fn queue() -> MutexGuard<'static, Vec<Call>> {
    QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

fn schedule(call: Call) -> PyResult<()> {
    let mut queue = queue();
    queue.push(call);
    if SCHEDULED.swap(true, Ordering::AcqRel) {
        return Ok(()); // the pending call that is there runs it
    }
    // Under the lock, so that a failure takes back this call and no other.
    // SAFETY: any thread may add a pending call (it needs no GIL); `run_queue` takes no argument.
    if unsafe { ffi::Py_AddPendingCall(Some(run_queue), std::ptr::null_mut()) } != 0 {
        SCHEDULED.store(false, Ordering::Release);
        queue.pop();
        return Err(PyRuntimeError::new_err("the main thread has too many calls waiting to run; try again"));
    }
    Ok(())
}

/// Runs in the main thread with the GIL held, until the queue is empty. Never
/// fails: an exception returned from a pending call would be raised in the
/// program's code.
extern "C" fn run_queue(_: *mut c_void) -> c_int {
    // SAFETY: CPython runs pending calls in the main thread with the GIL held.
    let py = unsafe { Python::assume_gil_acquired() };
    loop {
        let calls = {
            let mut queue = queue();
            if queue.is_empty() {
                SCHEDULED.store(false, Ordering::Release);
                return 0;
            }
            std::mem::take(&mut *queue)
        };
        for call in calls {
            match call {
                Call::Python(callable) => {
                    if let Err(err) = callable.call0(py) {
                        err.write_unraisable(py, Some(callable.bind(py)));
                    }
                }
                Call::Native(function) => function(py),
            }
        }
    }
}

/// Calls `callable()` in the main thread the next time it runs Python code
/// (a main thread blocked in a call such as `time.sleep` runs it when the call
/// returns). Its exceptions are reported as unraisable, never raised there.
#[pyfunction]
pub fn call_in_main_thread(callable: Py<PyAny>) -> PyResult<()> {
    schedule(Call::Python(callable))
}

/// Runs `function` in the main thread, as [`call_in_main_thread`] does.
#[cfg_attr(Py_3_12, allow(dead_code))]
pub fn run_in_main_thread(function: fn(Python<'_>)) -> PyResult<()> {
    schedule(Call::Native(function))
}
