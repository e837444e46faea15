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

/// The frame that called `frame` (a new reference), None at the bottom of the stack.
pub fn frame_back<'py>(frame: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    // SAFETY: a live frame object, the GIL held; PyFrame_GetBack (3.9+) returns a new reference.
    unsafe { Bound::from_owned_ptr_or_opt(frame.py(), ffi::PyFrame_GetBack(frame.as_ptr().cast()).cast()) }
}

/// The code object a frame runs.
pub fn frame_code<'py>(frame: &Bound<'py, PyAny>) -> Bound<'py, PyAny> {
    // SAFETY: a live frame object, the GIL held; PyFrame_GetCode never fails and returns a new reference.
    unsafe { Bound::from_owned_ptr(frame.py(), ffi::PyFrame_GetCode(frame.as_ptr().cast()).cast()) }
}

/// `frame.f_lasti`: the byte offset of the instruction the frame is at (negative
/// before its first one), without building the attribute's int.
pub fn frame_lasti(frame: &Bound<'_, PyAny>) -> i32 {
    #[cfg(Py_3_11)]
    {
        extern "C" {
            fn PyFrame_GetLasti(frame: *mut ffi::PyFrameObject) -> std::os::raw::c_int;
        }
        // SAFETY: a live frame object, the GIL held.
        unsafe { PyFrame_GetLasti(frame.as_ptr().cast()) }
    }
    #[cfg(not(Py_3_11))]
    {
        // 3.10 counts code units (`frame.f_lasti` doubles it); -1 before the start.
        // SAFETY: a live frame object: `PyFrameObject` starts as `EvalFrameHead`.
        let units = unsafe { hooks::frame_lasti_units(frame.as_ptr().cast()) };
        if units < 0 {
            -1
        } else {
            units * 2
        }
    }
}

/// The value of the local variable `name` of a frame, None when it is unbound.
pub fn frame_variable<'py>(frame: &Bound<'py, PyAny>, name: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    local_variable(frame, name)
}

/// A new dict with the frame's local variables now (`dict(frame.f_locals)`).
pub fn locals_snapshot<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = frame.py();
    let locals = frame.getattr(pyo3::intern!(py, "f_locals"))?;
    // Up to 3.12 a dict the frame reuses (so copy it), from 3.13 a write-through proxy.
    match locals.downcast::<PyDict>() {
        Ok(dict) => dict.copy(),
        Err(_) => {
            let dict = PyDict::new(py);
            // SAFETY: both live objects, the GIL held; PyDict_Merge takes any mapping.
            let rc = unsafe { ffi::PyDict_Merge(dict.as_ptr(), locals.as_ptr(), 1) };
            if rc < 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(dict)
        }
    }
}

/// The values of a function frame's variables (`names`: its `co_varnames`, then
/// its other cell variables, then its free variables, as `frame.f_locals` lists
/// them; None for an unbound one), read one by one without building
/// `frame.f_locals`, which costs two dicts per call. None where `f_locals` may
/// hold more than these (a debugger wrote new names into it): then read that.
#[cfg(all(Py_3_12, not(Py_3_14), not(Py_GIL_DISABLED)))]
pub fn variable_values(
    frame: &Bound<'_, PyAny>,
    names: &Bound<'_, pyo3::types::PyTuple>,
) -> Option<Vec<Option<Py<PyAny>>>> {
    if may_have_extra_locals(frame) {
        return None;
    }
    let mut values = Vec::with_capacity(names.len());
    for name in names.iter() {
        values.push(local_variable(frame, &name).ok()?.map(Bound::unbind));
    }
    Some(values)
}

#[cfg(not(all(Py_3_12, not(Py_3_14), not(Py_GIL_DISABLED))))]
pub fn variable_values(
    _frame: &Bound<'_, PyAny>,
    _names: &Bound<'_, pyo3::types::PyTuple>,
) -> Option<Vec<Option<Py<PyAny>>>> {
    None // 3.10 and 3.11 have no PyFrame_GetVar: read f_locals
}

/// Whether names that are not the code's own variables may have been written
/// into the frame's locals: up to 3.12 they live in the dict `f_locals` made
/// (none before someone asks for it), from 3.13 in the frame's extra locals.
#[cfg(all(Py_3_12, not(Py_3_14), not(Py_GIL_DISABLED)))]
fn may_have_extra_locals(frame: &Bound<'_, PyAny>) -> bool {
    use std::os::raw::{c_char, c_int, c_void};
    /// The start of `PyFrameObject` (Include/internal/pycore_frame.h).
    #[repr(C)]
    struct FrameObjectHead {
        ob_refcnt: ffi::Py_ssize_t,
        ob_type: *mut c_void,
        f_back: *mut c_void,
        f_frame: *mut InterpreterFrameHead,
        f_trace: *mut c_void,
        f_lineno: c_int,
        f_trace_lines: c_char,
        f_trace_opcodes: c_char,
        #[cfg(Py_3_13)]
        f_extra_locals: *mut ffi::PyObject,
    }
    /// The start of `_PyInterpreterFrame`.
    #[repr(C)]
    struct InterpreterFrameHead {
        f_code: *mut c_void,
        previous: *mut c_void,
        f_funcobj: *mut c_void,
        f_globals: *mut c_void,
        f_builtins: *mut c_void,
        f_locals: *mut ffi::PyObject,
        frame_obj: *mut ffi::PyObject,
    }
    // SAFETY: a frame object (its type checked first) whose interpreter frame points back at it; the GIL held.
    unsafe {
        if ffi::Py_TYPE(frame.as_ptr()) != std::ptr::addr_of_mut!(ffi::PyFrame_Type) {
            return true;
        }
        let head = frame.as_ptr() as *mut FrameObjectHead;
        let inner = (*head).f_frame;
        if inner.is_null() || (*inner).frame_obj != frame.as_ptr() {
            return true;
        }
        #[cfg(Py_3_13)]
        {
            !(*head).f_extra_locals.is_null()
        }
        #[cfg(not(Py_3_13))]
        {
            !(*inner).f_locals.is_null()
        }
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
fn local_variable<'py>(frame: &Bound<'py, PyAny>, name: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
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
fn local_variable<'py>(frame: &Bound<'py, PyAny>, name: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
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
    // Removing the key from the snapshot makes LocalsToFast(clear=1) unbind it on 3.10;
    // 3.11 and 3.12 set a fast local to None instead (jupdb.frames.write_back never asks).
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

    /// The start of the frame the evaluation hook receives (a `PyFrameObject`),
    /// up to the last instruction it ran.
    #[cfg(not(Py_3_11))]
    #[repr(C)]
    struct EvalFrameHead {
        ob_refcnt: ffi::Py_ssize_t,
        ob_type: *mut c_void,
        ob_size: ffi::Py_ssize_t,
        f_back: *mut c_void,
        f_code: *mut ffi::PyObject,
        f_builtins: *mut c_void,
        f_globals: *mut c_void,
        f_locals: *mut c_void,
        f_valuestack: *mut c_void,
        f_trace: *mut c_void,
        f_stackdepth: c_int,
        f_trace_lines: std::os::raw::c_char,
        f_trace_opcodes: std::os::raw::c_char,
        f_gen: *mut c_void,
        /// -1 until its first instruction runs.
        f_lasti: c_int,
    }

    /// The start of `_PyInterpreterFrame`, up to the code unit before the next instruction.
    #[cfg(Py_3_11)]
    #[repr(C)]
    struct EvalFrameHead {
        f_func: *mut c_void,
        f_globals: *mut c_void,
        f_builtins: *mut c_void,
        f_locals: *mut c_void,
        f_code: *mut ffi::PyObject,
        frame_obj: *mut c_void,
        previous: *mut c_void,
        /// At `RETURN_GENERATOR` while a generator has not started.
        prev_instr: *const u16,
    }

    /// Borrowed code object of a frame handed to the evaluation hook.
    ///
    /// # Safety
    /// `frame` must be the frame argument of an `EvalFrame` call.
    #[inline]
    pub unsafe fn frame_code(frame: *mut c_void) -> *mut ffi::PyObject {
        (*(frame as *mut EvalFrameHead)).f_code
    }

    /// `f_lasti` of a 3.10 frame object, in code units (-1 before its first instruction).
    ///
    /// # Safety
    /// `frame` must be a live `PyFrameObject`.
    #[cfg(not(Py_3_11))]
    pub unsafe fn frame_lasti_units(frame: *mut c_void) -> c_int {
        (*(frame as *mut EvalFrameHead)).f_lasti
    }

    /// Whether a generator or coroutine frame handed to the evaluation hook
    /// with `throw` set has not started: `close()` (or finalization) of a
    /// generator that never ran, which raises at once and runs none of it
    /// (3.12 marks such a generator closed without running it at all).
    ///
    /// # Safety
    /// `frame` must be the frame argument of an `EvalFrame` call, of generator code.
    pub unsafe fn thrown_before_start(frame: *mut c_void) -> bool {
        let head = &*(frame as *mut EvalFrameHead);
        #[cfg(not(Py_3_11))]
        {
            head.f_lasti < 0
        }
        #[cfg(Py_3_11)]
        {
            const RETURN_GENERATOR: u16 = 75;
            if head.prev_instr.is_null() {
                return false;
            }
            let unit = *head.prev_instr;
            let opcode = if cfg!(target_endian = "big") {
                unit >> 8
            } else {
                unit & 0xff
            };
            opcode == RETURN_GENERATOR
        }
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
        unsafe {
            Hook {
                func: (*head()).c_profilefunc,
                obj: (*head()).c_profileobj,
            }
        }
    }

    /// The calling thread's trace hook (borrowed object).
    pub fn trace_hook() -> Hook {
        unsafe {
            Hook {
                func: (*head()).c_tracefunc,
                obj: (*head()).c_traceobj,
            }
        }
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

/// What `engine::quiet_close` needs (3.12+): 3.13's generator frames, whose
/// `close()` may end them without any event.
#[cfg(Py_3_12)]
pub mod generator_frames {
    use pyo3::prelude::*;

    /// Whether `close()` may end a generator without any `sys.monitoring` event.
    ///
    /// From 3.13, `close()` of a generator or coroutine suspended at a `yield` or
    /// `await` outside any `try` block (also what its finalization does, after a
    /// `break` out of the loop over it) marks it finished and frees its locals
    /// without running it (`gen_close`'s fast path): no `PY_THROW`, no `PY_UNWIND`.
    /// Such an ending is seen by [`release_with_frame`].
    pub const CLOSE_MAY_RUN_NOTHING: bool = cfg!(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED)));

    /// 3.13's interpreter frame layout, for [`release_with_frame`] and [`forget_freed_locals`].
    #[cfg(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED)))]
    mod frame_layout {
        use pyo3::ffi;
        use pyo3::prelude::*;
        use std::os::raw::{c_char, c_int, c_void};

        /// The start of `PyFrameObject` (Include/internal/pycore_frame.h).
        #[repr(C)]
        struct FrameObjectHead {
            ob_refcnt: ffi::Py_ssize_t,
            ob_type: *mut c_void,
            f_back: *mut c_void,
            f_frame: *mut InterpreterFrame,
        }

        /// `_PyInterpreterFrame`, up to its locals.
        #[repr(C)]
        pub struct InterpreterFrame {
            f_executable: *mut ffi::PyObject,
            previous: *mut c_void,
            f_funcobj: *mut c_void,
            f_globals: *mut c_void,
            f_builtins: *mut c_void,
            pub f_locals: *mut ffi::PyObject,
            frame_obj: *mut ffi::PyObject,
            instr_ptr: *mut c_void,
            pub stacktop: c_int,
            return_offset: u16,
            owner: c_char,
            pub localsplus: [*mut ffi::PyObject; 0],
        }

        /// The interpreter frame of a frame object of optimized code (a
        /// function's), checked by its pointer back at the frame object.
        pub fn of(frame: &Bound<'_, PyAny>) -> Option<*mut InterpreterFrame> {
            const CO_OPTIMIZED: i64 = 0x1;
            let optimized = frame
                .getattr(pyo3::intern!(frame.py(), "f_code"))
                .and_then(|code| code.getattr(pyo3::intern!(frame.py(), "co_flags")))
                .and_then(|flags| flags.extract::<i64>())
                .is_ok_and(|flags| flags & CO_OPTIMIZED != 0);
            // SAFETY: a live frame object (its type checked first), the GIL held.
            unsafe {
                if !optimized || ffi::Py_TYPE(frame.as_ptr()) != std::ptr::addr_of_mut!(ffi::PyFrame_Type) {
                    return None;
                }
                let inner = (*(frame.as_ptr() as *mut FrameObjectHead)).f_frame;
                (!inner.is_null() && (*inner).frame_obj == frame.as_ptr()).then_some(inner)
            }
        }
    }

    /// Makes the interpreter frame of `frame` (a generator's, just started) own
    /// `object`, so that CPython releases it when it frees the frame's locals:
    /// at `close()`'s fast path (see [`CLOSE_MAY_RUN_NOTHING`]), or when the frame
    /// is cleared after it ended. The slot used is the interpreter frame's
    /// `f_locals`, which only unoptimized code (modules, class bodies) reads.
    /// False, and `object` is dropped, where the frame is not as expected.
    #[cfg(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED)))]
    pub fn release_with_frame(frame: &Bound<'_, PyAny>, object: Bound<'_, PyAny>) -> bool {
        let Some(inner) = frame_layout::of(frame) else {
            return false;
        };
        // SAFETY: checked by `of`; the slot is empty, so nothing is leaked.
        unsafe {
            if !(*inner).f_locals.is_null() {
                return false;
            }
            (*inner).f_locals = object.into_ptr();
        }
        true
    }

    #[cfg(not(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED))))]
    pub fn release_with_frame(_frame: &Bound<'_, PyAny>, _object: Bound<'_, PyAny>) -> bool {
        false
    }

    /// After `close()`'s fast path, the frame's slots still point at the locals it
    /// freed, and 3.13.0's `frame.f_locals` reads them (a use after free: only a
    /// frame object kept beyond its generator, like the engine's, can reach it).
    /// Empties them, so the frame reads as having no locals left.
    #[cfg(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED)))]
    pub fn forget_freed_locals(frame: &Bound<'_, PyAny>) {
        let Some(inner) = frame_layout::of(frame) else {
            return;
        };
        let py = frame.py();
        let names = |attr: &str| -> Vec<String> {
            frame
                .getattr(pyo3::intern!(py, "f_code"))
                .and_then(|code| code.getattr(attr))
                .and_then(|names| names.extract())
                .unwrap_or_default()
        };
        let (varnames, cellvars, freevars) = (names("co_varnames"), names("co_cellvars"), names("co_freevars"));
        // One slot per name; an argument that is also a cell has one slot.
        let shared = cellvars.iter().filter(|name| varnames.contains(name)).count();
        let slots = varnames.len() + cellvars.len() - shared + freevars.len();
        // SAFETY: checked by `of`; stacktop 0 says the slots were released, and the
        // frame has room for them all.
        unsafe {
            if (*inner).stacktop != 0 {
                return;
            }
            let locals = std::ptr::addr_of_mut!((*inner).localsplus) as *mut *mut pyo3::ffi::PyObject;
            for i in 0..slots {
                *locals.add(i) = std::ptr::null_mut();
            }
        }
    }

    #[cfg(not(all(Py_3_13, not(Py_3_14), not(Py_GIL_DISABLED))))]
    pub fn forget_freed_locals(_frame: &Bound<'_, PyAny>) {}
}
