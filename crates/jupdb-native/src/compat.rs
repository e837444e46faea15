//! Every difference between CPython versions that jupdb depends on, in one place.
//!
//! The rest of the crate asks this module for "the code object of a frame",
//! "write these locals back into a frame", "install a C profile function on
//! every thread", and never looks at a version itself.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::os::raw::c_int;

/// `PyFrame_GetCode` returns a new reference; the engine only needs the address
/// (to look it up) and keeps the frame alive meanwhile, so give the reference back.
///
/// # Safety
/// `frame` must be a live frame object and the GIL must be held.
pub unsafe fn code_ptr_of_frame(frame: *mut ffi::PyFrameObject) -> usize {
    let code = ffi::PyFrame_GetCode(frame);
    ffi::Py_DECREF(code.cast());
    code as usize
}

/// The frame that is executing on this thread right now: inside a
/// `sys.monitoring` callback that is the monitored frame, since a Rust
/// callback pushes no Python frame of its own.
pub fn current_frame(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    unsafe {
        let frame = ffi::PyEval_GetFrame();
        Bound::from_borrowed_ptr_or_opt(py, frame.cast())
    }
}

/// Value of the first local of a frame (the `self` of a method call), if set.
pub fn first_argument<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = frame.py();
    let code = frame.getattr(pyo3::intern!(py, "f_code"))?;
    let varnames = code.getattr(pyo3::intern!(py, "co_varnames"))?;
    if varnames.len()? == 0 {
        return Ok(None);
    }
    let name = varnames.get_item(0)?;
    local_variable(frame, &name)
}

#[cfg(Py_3_12)]
fn local_variable<'py>(
    frame: &Bound<'py, PyAny>,
    name: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    // PyFrame_GetVar (3.12+) reads one variable without building the locals dict.
    extern "C" {
        fn PyFrame_GetVar(frame: *mut ffi::PyFrameObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
    }
    let py = frame.py();
    unsafe {
        let value = PyFrame_GetVar(frame.as_ptr().cast(), name.as_ptr());
        if value.is_null() {
            // NameError: the variable is unbound (e.g. deleted); not an error for us.
            let _ = PyErr::take(py);
            Ok(None)
        } else {
            Ok(Some(Bound::from_owned_ptr(py, value)))
        }
    }
}

#[cfg(not(Py_3_12))]
fn local_variable<'py>(
    frame: &Bound<'py, PyAny>,
    name: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let locals = frame.getattr(pyo3::intern!(frame.py(), "f_locals"))?;
    Ok(locals.downcast::<PyDict>()?.get_item(name)?)
}

/// Write `updates` into the live local variables of `frame` and remove the
/// names in `deleted`, so the running function sees the change.
///
/// Up to 3.12 `frame.f_locals` is a snapshot dict that `PyFrame_LocalsToFast`
/// copies back into the fast locals; from 3.13 (PEP 667) it is a write-through proxy.
pub fn write_locals(
    frame: &Bound<'_, PyAny>,
    updates: &Bound<'_, PyDict>,
    deleted: &[Bound<'_, PyString>],
) -> PyResult<()> {
    let locals = frame.getattr(pyo3::intern!(frame.py(), "f_locals"))?;
    for (name, value) in updates.iter() {
        locals.set_item(name, value)?;
    }
    for name in deleted {
        remove_local(&locals, name)?;
    }
    locals_to_fast(frame)
}

#[cfg(not(Py_3_13))]
fn remove_local(locals: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<()> {
    // Removing the key from the snapshot makes LocalsToFast(clear=1) unbind it.
    locals.downcast::<PyDict>()?.del_item(name).or(Ok(()))
}

#[cfg(Py_3_13)]
fn remove_local(locals: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<()> {
    // The PEP 667 proxy refuses to delete fast locals; such names stay bound,
    // which is what 3.13's own debuggers do as well.
    match locals.del_item(name) {
        Ok(()) => Ok(()),
        Err(_) => Ok(()),
    }
}

#[cfg(not(Py_3_13))]
fn locals_to_fast(frame: &Bound<'_, PyAny>) -> PyResult<()> {
    extern "C" {
        fn PyFrame_LocalsToFast(frame: *mut ffi::PyFrameObject, clear: c_int);
    }
    unsafe { PyFrame_LocalsToFast(frame.as_ptr().cast(), 1) };
    match PyErr::take(frame.py()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

#[cfg(Py_3_13)]
fn locals_to_fast(_frame: &Bound<'_, PyAny>) -> PyResult<()> {
    Ok(())
}

/// The C profile and trace hooks of CPython 3.10 and 3.11 (3.12+ uses
/// `sys.monitoring` instead, see `engine::monitoring`).
#[cfg(not(Py_3_12))]
pub mod hooks {
    use super::*;

    pub use ffi::Py_tracefunc as TraceFunc;
    pub const CALL: c_int = ffi::PyTrace_CALL;
    pub const EXCEPTION: c_int = ffi::PyTrace_EXCEPTION;
    pub const LINE: c_int = ffi::PyTrace_LINE;
    pub const RETURN: c_int = ffi::PyTrace_RETURN;

    extern "C" {
        // Exported by libpython 3.10/3.11 (Include/cpython/ceval.h): the
        // per-thread-state variants that 3.12's `...AllThreads` functions wrap.
        fn _PyEval_SetProfile(ts: *mut ffi::PyThreadState, func: Option<TraceFunc>, arg: *mut ffi::PyObject) -> c_int;
        fn _PyEval_SetTrace(ts: *mut ffi::PyThreadState, func: Option<TraceFunc>, arg: *mut ffi::PyObject) -> c_int;
        fn PyInterpreterState_ThreadHead(interp: *mut ffi::PyInterpreterState) -> *mut ffi::PyThreadState;
        fn PyThreadState_Next(ts: *mut ffi::PyThreadState) -> *mut ffi::PyThreadState;
    }

    /// Sets (or with `None` clears) the C profile function of every existing thread.
    pub fn set_profile_all_threads(py: Python<'_>, func: Option<TraceFunc>, arg: &Bound<'_, PyAny>) -> PyResult<()> {
        let arg_ptr = if func.is_some() { arg.as_ptr() } else { std::ptr::null_mut() };
        unsafe {
            let interp = ffi::PyInterpreterState_Get();
            let mut ts = PyInterpreterState_ThreadHead(interp);
            while !ts.is_null() {
                if _PyEval_SetProfile(ts, func, arg_ptr) < 0 {
                    return Err(PyErr::fetch(py));
                }
                ts = PyThreadState_Next(ts);
            }
        }
        Ok(())
    }

    /// Sets the C profile function of the calling thread.
    pub fn set_profile_this_thread(func: Option<TraceFunc>, arg: &Bound<'_, PyAny>) {
        let arg_ptr = if func.is_some() { arg.as_ptr() } else { std::ptr::null_mut() };
        unsafe { ffi::PyEval_SetProfile(func, arg_ptr) };
    }

    /// Sets the C trace function of the calling thread. `arg` may be null.
    ///
    /// # Safety
    /// GIL held; `arg` null or a live object.
    pub unsafe fn set_trace_this_thread(func: Option<TraceFunc>, arg: *mut ffi::PyObject) -> c_int {
        _PyEval_SetTrace(ffi::PyThreadState_Get(), func, arg)
    }

    /// The trace function installed on this thread right now, as a pair the
    /// engine can hand back later: CPython keeps the C function and its object
    /// in the thread state, and `sys.gettrace()` shows the object.
    pub fn current_trace_object(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        py.import(pyo3::intern!(py, "sys"))?.call_method0(pyo3::intern!(py, "gettrace"))
    }

    /// Whether a frame of a generator or coroutine has just finished for good
    /// (its profile "return" event comes from RETURN_VALUE, not from a yield).
    pub fn returned_for_good(frame: &Bound<'_, PyAny>) -> PyResult<bool> {
        const RETURN_VALUE: u8 = 83; // the same opcode number in 3.10 and 3.11
        let py = frame.py();
        let lasti: isize = frame.getattr(pyo3::intern!(py, "f_lasti"))?.extract()?;
        if lasti < 0 {
            return Ok(false);
        }
        let code = frame.getattr(pyo3::intern!(py, "f_code"))?;
        let co_code = code.getattr(pyo3::intern!(py, "co_code"))?;
        let bytes: &[u8] = co_code.downcast::<pyo3::types::PyBytes>()?.as_bytes();
        Ok(bytes.get(lasti as usize) == Some(&RETURN_VALUE))
    }

    /// Line number the frame is at, as a line event reports it.
    ///
    /// # Safety
    /// `frame` must be a live frame object.
    pub unsafe fn line_number(frame: *mut ffi::PyFrameObject) -> u32 {
        ffi::PyFrame_GetLineNumber(frame) as u32
    }
}
