//! Every difference between CPython versions that jupdb depends on, in one place.
//!
//! The rest of the crate asks this module for "the code object of a frame",
//! "write these locals back into a frame", "install a C profile function on
//! every thread", and never looks at a version itself.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// `PyFrame_GetCode` returns a new reference; the engine only needs the address
/// (to look it up) and keeps the frame alive meanwhile, so give the reference back.
///
/// # Safety
/// `frame` must be a live frame object and the GIL must be held.
#[cfg(not(Py_3_12))]
pub unsafe fn code_ptr_of_frame(frame: *mut ffi::PyFrameObject) -> usize {
    let code = ffi::PyFrame_GetCode(frame);
    ffi::Py_DECREF(code.cast());
    code as usize
}

/// The frame that is executing on this thread right now: inside a
/// `sys.monitoring` callback that is the monitored frame, since a Rust
/// callback pushes no Python frame of its own.
#[cfg(Py_3_12)]
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
    locals.downcast::<PyDict>()?.get_item(name)
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

/// Copies what was written into the dict `frame.f_locals` returned back into
/// the running frame, as CPython does after a trace function returns (up to
/// 3.12; from 3.13 `f_locals` writes through and there is nothing to copy).
pub fn commit_locals(frame: &Bound<'_, PyAny>) -> PyResult<()> {
    locals_to_fast(frame)
}

#[cfg(not(Py_3_13))]
fn locals_to_fast(frame: &Bound<'_, PyAny>) -> PyResult<()> {
    extern "C" {
        fn PyFrame_LocalsToFast(frame: *mut ffi::PyFrameObject, clear: std::os::raw::c_int);
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

/// The C-level hooks of CPython 3.10 and 3.11 (3.12+ uses `sys.monitoring`
/// instead, see `engine::monitoring`): the PEP 523 frame evaluation hook, and
/// the profile and trace functions of one thread state.
#[cfg(not(Py_3_12))]
pub mod hooks {
    use super::*;
    use std::os::raw::{c_int, c_void};

    pub use ffi::Py_tracefunc as TraceFunc;
    pub const CALL: c_int = ffi::PyTrace_CALL;
    pub const EXCEPTION: c_int = ffi::PyTrace_EXCEPTION;
    pub const LINE: c_int = ffi::PyTrace_LINE;
    pub const RETURN: c_int = ffi::PyTrace_RETURN;

    /// `_PyFrameEvalFunction`: the frame is a `PyFrameObject` on 3.10 and a
    /// `_PyInterpreterFrame` on 3.11; only `frame_code` looks inside it.
    pub type EvalFrame = unsafe extern "C" fn(*mut ffi::PyThreadState, *mut c_void, c_int) -> *mut ffi::PyObject;

    extern "C" {
        // Exported by libpython 3.10/3.11 (Include/cpython/pystate.h, ceval.h).
        fn _PyInterpreterState_GetEvalFrameFunc(interp: *mut ffi::PyInterpreterState) -> EvalFrame;
        fn _PyInterpreterState_SetEvalFrameFunc(interp: *mut ffi::PyInterpreterState, f: EvalFrame);
        fn _PyEval_SetProfile(ts: *mut ffi::PyThreadState, func: Option<TraceFunc>, arg: *mut ffi::PyObject) -> c_int;
        fn _PyEval_SetTrace(ts: *mut ffi::PyThreadState, func: Option<TraceFunc>, arg: *mut ffi::PyObject) -> c_int;
    }

    /// The start of `struct _ts` (Include/cpython/pystate.h), up to the hooks.
    #[cfg(not(Py_3_11))]
    #[repr(C)]
    struct ThreadStateHead {
        prev: *mut c_void,
        next: *mut c_void,
        interp: *mut c_void,
        frame: *mut c_void,
        recursion_depth: c_int,
        recursion_headroom: c_int,
        stackcheck_counter: c_int,
        tracing: c_int,
        cframe: *mut c_void,
        c_profilefunc: Option<TraceFunc>,
        c_tracefunc: Option<TraceFunc>,
        c_profileobj: *mut ffi::PyObject,
        c_traceobj: *mut ffi::PyObject,
    }

    #[cfg(Py_3_11)]
    #[repr(C)]
    struct ThreadStateHead {
        prev: *mut c_void,
        next: *mut c_void,
        interp: *mut c_void,
        _initialized: c_int,
        _static: c_int,
        recursion_remaining: c_int,
        recursion_limit: c_int,
        recursion_headroom: c_int,
        tracing: c_int,
        tracing_what: c_int,
        cframe: *mut c_void,
        c_profilefunc: Option<TraceFunc>,
        c_tracefunc: Option<TraceFunc>,
        c_profileobj: *mut ffi::PyObject,
        c_traceobj: *mut ffi::PyObject,
    }

    /// The start of the frame the evaluation hook receives, up to its code.
    #[cfg(not(Py_3_11))]
    #[repr(C)]
    struct EvalFrameHead {
        ob_refcnt: ffi::Py_ssize_t,
        ob_type: *mut c_void,
        ob_size: ffi::Py_ssize_t,
        f_back: *mut c_void,
        f_code: *mut ffi::PyObject,
    }

    #[cfg(Py_3_11)]
    #[repr(C)]
    struct EvalFrameHead {
        f_func: *mut c_void,
        f_globals: *mut c_void,
        f_builtins: *mut c_void,
        f_locals: *mut c_void,
        f_code: *mut ffi::PyObject,
    }

    /// Borrowed code object of a frame handed to the evaluation hook.
    ///
    /// # Safety
    /// `frame` must be the frame argument of an `EvalFrame` call.
    #[inline]
    pub unsafe fn frame_code(frame: *mut c_void) -> *mut ffi::PyObject {
        (*(frame as *mut EvalFrameHead)).f_code
    }

    /// The interpreter's frame evaluation function.
    pub fn eval_frame_func() -> EvalFrame {
        unsafe { _PyInterpreterState_GetEvalFrameFunc(ffi::PyInterpreterState_Get()) }
    }

    /// Replaces the interpreter's frame evaluation function (every thread).
    pub fn set_eval_frame_func(f: EvalFrame) {
        unsafe { _PyInterpreterState_SetEvalFrameFunc(ffi::PyInterpreterState_Get(), f) }
    }

    /// A thread's profile or trace hook: the C function and its object.
    #[derive(Clone, Copy)]
    pub struct Hook {
        pub func: Option<TraceFunc>,
        pub obj: *mut ffi::PyObject,
    }

    fn head() -> *mut ThreadStateHead {
        unsafe { ffi::PyThreadState_Get() as *mut ThreadStateHead }
    }

    /// The calling thread's profile hook (borrowed object).
    pub fn profile_hook() -> Hook {
        unsafe { Hook { func: (*head()).c_profilefunc, obj: (*head()).c_profileobj } }
    }

    /// The calling thread's trace hook (borrowed object).
    pub fn trace_hook() -> Hook {
        unsafe { Hook { func: (*head()).c_tracefunc, obj: (*head()).c_traceobj } }
    }

    /// Sets the calling thread's profile hook (CPython takes its own reference).
    pub fn set_profile_hook(hook: Hook) -> c_int {
        unsafe { _PyEval_SetProfile(ffi::PyThreadState_Get(), hook.func, hook.obj) }
    }

    /// Sets the calling thread's trace hook (CPython takes its own reference).
    pub fn set_trace_hook(hook: Hook) -> c_int {
        unsafe { _PyEval_SetTrace(ffi::PyThreadState_Get(), hook.func, hook.obj) }
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
