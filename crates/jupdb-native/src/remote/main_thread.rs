//! Running a Python callable in the main thread, at its next bytecode
//! boundary, from any thread: CPython's pending calls (the mechanism that
//! runs signal handlers there).
//!
//! jupdb uses it to pause a running main thread on CPython 3.10 and 3.11,
//! whose engine can only turn on line events for the thread it runs on.

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::{c_int, c_void};

/// Runs in the main thread with the GIL held. Never fails: an exception
/// returned from a pending call would be raised in the program's code.
extern "C" fn run_pending(callable: *mut c_void) -> c_int {
    // SAFETY: CPython runs pending calls in the main thread with the GIL
    // held; `callable` is the strong reference `call_in_main_thread` gave up.
    let py = unsafe { Python::assume_gil_acquired() };
    let callable = unsafe { Bound::from_owned_ptr(py, callable.cast::<ffi::PyObject>()) };
    if let Err(err) = callable.call0() {
        err.write_unraisable(py, Some(&callable));
    }
    0
}

/// Calls `callable()` in the main thread the next time it runs Python code
/// (a main thread blocked in a call such as `time.sleep` runs it when the call
/// returns). Its exceptions are reported as unraisable, never raised there.
#[pyfunction]
pub fn call_in_main_thread(callable: Bound<'_, PyAny>) -> PyResult<()> {
    let py = callable.py();
    let pointer = callable.into_ptr();
    // SAFETY: any thread may add a pending call; `run_pending` takes the reference over.
    if unsafe { ffi::Py_AddPendingCall(Some(run_pending), pointer.cast()) } != 0 {
        // Not queued (the queue is full): take the reference back.
        drop(unsafe { Bound::from_owned_ptr(py, pointer) });
        return Err(PyRuntimeError::new_err("the main thread has too many calls waiting to run; try again"));
    }
    Ok(())
}
