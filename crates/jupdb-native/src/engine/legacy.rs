//! Backend for CPython 3.10 and 3.11: a C profile function on every thread.
//!
//! The profile hook sees calls and returns only, so untargeted code pays one
//! C call and one hash lookup per Python call. The trace slot, which costs
//! every instruction of every frame, is taken only while it is needed, on the
//! thread that needs it: while a frame with line probes runs, and for the one
//! event that tells which exception ended a targeted call (the profile hook is
//! not shown the exception). Any trace function that was there (pdb, coverage)
//! keeps receiving its events meanwhile and gets the slot back afterwards.

use super::{fire_call, fire_line, fire_raise, fire_return, registry, CodeEntry, CALL, LINE, RETURN};
use crate::compat::{code_ptr_of_frame, hooks};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use rustc_hash::FxHashSet;
use std::cell::RefCell;
use std::os::raw::c_int;
use std::sync::{Arc, Mutex};

pub const NAME: &str = "profile hook";

/// The object CPython stores beside our hooks; `sys.getprofile()` and
/// `sys.gettrace()` show it, which is how the engine recognises its own hook.
#[pyclass(frozen, module = "jupdb._native")]
pub struct EngineHook;

#[pymethods]
impl EngineHook {
    fn __repr__(&self) -> &'static str {
        "<jupdb engine hook>"
    }
}

static HOOK: GILOnceCell<Py<EngineHook>> = GILOnceCell::new();
static INSTALLED: Mutex<Option<Py<PyAny>>> = Mutex::new(None); // threading's previous profile hook
/// Generator and coroutine frames that started and have not finished.
static RUNNING: Mutex<Option<FxHashSet<usize>>> = Mutex::new(None);

fn hook(py: Python<'_>) -> &Bound<'_, PyAny> {
    HOOK.get_or_init(py, || Py::new(py, EngineHook).expect("allocating the engine hook")).bind(py).as_any()
}

/// Per-thread use of the trace slot.
#[derive(Default)]
struct TraceSlot {
    /// Frames with line probes running on this thread (generators count per resume).
    line_frames: u32,
    /// Targeted calls that ended with an exception not yet seen.
    pending: Vec<(Arc<CodeEntry>, Py<PyAny>)>,
    /// What `sys.gettrace()` was before we took the slot, if we hold it.
    held: Option<Py<PyAny>>,
}

thread_local! {
    static SLOT: RefCell<TraceSlot> = RefCell::new(TraceSlot::default());
}

/// Makes the profile hooks match the registry.
pub fn sync(py: Python<'_>) -> PyResult<()> {
    let threading = py.import("threading")?;
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    let want = registry::len() > 0;
    match (want, installed.is_some()) {
        (true, false) => {
            hooks::set_profile_all_threads(py, Some(profile), hook(py))?;
            // Threads started later install it from their first profile event.
            let previous = threading.call_method0("getprofile")?;
            threading.call_method1("setprofile", (wrap_pyfunction!(thread_start, py)?,))?;
            *installed = Some(previous.unbind());
        }
        (false, true) => {
            let previous = installed.take().unwrap();
            drop(installed);
            hooks::set_profile_all_threads(py, None, hook(py))?;
            threading.call_method1("setprofile", (previous,))?;
            RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        _ => {}
    }
    Ok(())
}

/// Nothing to switch on per code object with a profile hook.
pub fn code_resolved(_py: Python<'_>, _code: &Bound<'_, PyAny>) -> PyResult<()> {
    Ok(())
}

/// `threading.setprofile` hook: moves a new thread onto the C profile hook.
#[pyfunction]
fn thread_start(py: Python<'_>, frame: Bound<'_, PyAny>, event: &str, arg: Bound<'_, PyAny>) -> PyResult<()> {
    hooks::set_profile_this_thread(Some(profile), hook(py));
    let what = match event {
        "call" => hooks::CALL,
        "return" => hooks::RETURN,
        _ => return Ok(()),
    };
    unsafe { profile(std::ptr::null_mut(), frame.as_ptr().cast(), what, arg.as_ptr()) };
    Ok(())
}

fn entry_for(py: Python<'_>, frame: *mut ffi::PyFrameObject) -> Option<Arc<CodeEntry>> {
    let key = unsafe { code_ptr_of_frame(frame) };
    if let Some(entry) = registry::lookup(key) {
        return Some(entry);
    }
    if !registry::is_undecided(key) {
        return None;
    }
    let code = unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame).cast()) };
    registry::resolve(py, &code)
}

unsafe extern "C" fn profile(_obj: *mut ffi::PyObject, frame: *mut ffi::PyFrameObject, what: c_int, arg: *mut ffi::PyObject) -> c_int {
    if what != hooks::CALL && what != hooks::RETURN {
        return 0;
    }
    let py = Python::assume_gil_acquired();
    flush_unseen_exceptions(py);
    let Some(entry) = entry_for(py, frame) else { return 0 };
    let frame = Bound::from_borrowed_ptr(py, frame.cast());
    if what == hooks::CALL {
        if entry.events & LINE != 0 {
            SLOT.with(|s| s.borrow_mut().line_frames += 1);
            update_trace_slot(py);
        }
        if entry.events & (CALL | RETURN) != 0 && first_start(&entry, &frame) {
            fire_call(py, &entry, &frame);
        }
    } else {
        if entry.events & LINE != 0 {
            SLOT.with(|s| {
                let mut s = s.borrow_mut();
                s.line_frames = s.line_frames.saturating_sub(1);
            });
        }
        if entry.events & RETURN != 0 {
            if arg.is_null() {
                // Ended by an exception: the next exception trace event shows it.
                SLOT.with(|s| s.borrow_mut().pending.push((entry.clone(), frame.clone().unbind())));
                forget_running(&entry, &frame);
            } else if finished(&entry, &frame) {
                fire_return(py, &entry, &frame, &Bound::from_borrowed_ptr(py, arg));
            }
        }
        update_trace_slot(py);
    }
    0
}

/// A generator frame's profile "call" comes at its start and at each resume.
fn first_start(entry: &CodeEntry, frame: &Bound<'_, PyAny>) -> bool {
    if !entry.is_generator {
        return true;
    }
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.get_or_insert_with(FxHashSet::default).insert(frame.as_ptr() as usize)
}

/// A generator frame's profile "return" comes at each yield and at the end.
fn finished(entry: &CodeEntry, frame: &Bound<'_, PyAny>) -> bool {
    if !entry.is_generator {
        return true;
    }
    if !hooks::returned_for_good(frame).unwrap_or(true) {
        return false;
    }
    forget_running(entry, frame);
    true
}

fn forget_running(entry: &CodeEntry, frame: &Bound<'_, PyAny>) {
    if entry.is_generator {
        if let Some(running) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            running.remove(&(frame.as_ptr() as usize));
        }
    }
}

/// Reports calls whose exception went by unseen (it crossed only C code).
fn flush_unseen_exceptions(py: Python<'_>) {
    let pending = SLOT.with(|s| {
        let mut s = s.borrow_mut();
        if s.pending.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut s.pending)
        }
    });
    for (entry, frame) in pending {
        fire_raise(py, &entry, frame.bind(py), &py.None().into_bound(py));
    }
}

/// Takes the trace slot on this thread while it is needed, and gives it back after.
///
/// If another tool takes the slot meanwhile (pdb entered from a breakpoint),
/// it keeps it; the engine takes the slot again once it is free.
fn update_trace_slot(py: Python<'_>) {
    let (want, held) = SLOT.with(|s| {
        let s = s.borrow();
        (s.line_frames > 0 || !s.pending.is_empty(), s.held.is_some())
    });
    if !want && !held {
        return;
    }
    let Ok(current) = hooks::current_trace_object(py) else { return };
    let ours = current.is(hook(py));
    if want {
        if !held {
            SLOT.with(|s| s.borrow_mut().held = Some(current.clone().unbind()));
        }
        if !held || current.is_none() {
            take_trace_slot(py);
        }
    } else {
        let previous = SLOT.with(|s| s.borrow_mut().held.take()).unwrap();
        if ours {
            if let Err(err) = give_trace_slot(py, previous.bind(py)) {
                err.write_unraisable(py, None);
            }
        }
    }
}

fn take_trace_slot(py: Python<'_>) {
    unsafe { hooks::set_trace_this_thread(Some(trace), hook(py).as_ptr()) };
}

fn give_trace_slot(py: Python<'_>, previous: &Bound<'_, PyAny>) -> PyResult<()> {
    if previous.is_none() {
        unsafe { hooks::set_trace_this_thread(None, std::ptr::null_mut()) };
        Ok(())
    } else if previous.is(hook(py)) {
        take_trace_slot(py);
        Ok(())
    } else {
        py.import("sys")?.call_method1("settrace", (previous,)).map(drop)
    }
}

/// Puts back a trace function that a debugger displaced (see `restore_trace`).
pub fn restore_trace(py: Python<'_>, previous: &Bound<'_, PyAny>) -> PyResult<()> {
    give_trace_slot(py, previous)
}

unsafe extern "C" fn trace(_obj: *mut ffi::PyObject, frame: *mut ffi::PyFrameObject, what: c_int, arg: *mut ffi::PyObject) -> c_int {
    let py = Python::assume_gil_acquired();
    let bound = Bound::from_borrowed_ptr(py, frame.cast());
    if what == hooks::EXCEPTION {
        let pending = SLOT.with(|s| std::mem::take(&mut s.borrow_mut().pending));
        if !pending.is_empty() {
            let exc = Bound::from_borrowed_ptr(py, arg).get_item(1).unwrap_or_else(|_| py.None().into_bound(py));
            for (entry, frame) in pending {
                fire_raise(py, &entry, frame.bind(py), &exc);
            }
            update_trace_slot(py);
        }
    } else if what == hooks::LINE {
        if let Some(entry) = registry::lookup(code_ptr_of_frame(frame)) {
            let line = hooks::line_number(frame);
            if entry.watches_line(line) {
                with_frame_trace(py, &bound, || {
                    fire_line(py, &entry, &bound, line);
                });
            }
        }
    }
    forward(py, &bound, what, arg)
}

/// Line actions may jump (`frame.f_lineno = n`), which CPython allows only
/// in frames that have a trace function; lend the frame one meanwhile.
fn with_frame_trace(py: Python<'_>, frame: &Bound<'_, PyAny>, action: impl FnOnce()) {
    let name = pyo3::intern!(py, "f_trace");
    let own = frame.getattr(name).ok().filter(|t| !t.is_none());
    if own.is_none() {
        let _ = frame.setattr(name, hook(py));
    }
    action();
    if own.is_none() {
        let _ = frame.setattr(name, py.None());
    }
}

/// Hands the event to the trace function we displaced, as CPython's own
/// trampoline would (`sys.settrace` semantics: the global function gets "call",
/// the frame's `f_trace` gets the rest); frames no one traces skip line events.
fn forward(py: Python<'_>, frame: &Bound<'_, PyAny>, what: c_int, arg: *mut ffi::PyObject) -> c_int {
    let previous = SLOT.with(|s| s.borrow().held.as_ref().map(|p| p.clone_ref(py)));
    let Some(previous) = previous.filter(|p| !p.is_none(py)) else {
        if what == hooks::CALL {
            let _ = frame.setattr(pyo3::intern!(py, "f_trace_lines"), false);
        }
        return 0;
    };
    let f_trace = pyo3::intern!(py, "f_trace");
    let callback = if what == hooks::CALL {
        previous.into_bound(py)
    } else {
        match frame.getattr(f_trace) {
            Ok(local) if !local.is_none() && !local.is(hook(py)) => local,
            _ => return 0,
        }
    };
    let event = match what {
        hooks::CALL => "call",
        hooks::EXCEPTION => "exception",
        hooks::LINE => "line",
        hooks::RETURN => "return",
        _ => "opcode",
    };
    let arg = if arg.is_null() { py.None().into_bound(py) } else { unsafe { Bound::from_borrowed_ptr(py, arg) } };
    match callback.call1((frame, event, arg)) {
        Ok(result) => {
            if !result.is_none() {
                let _ = frame.setattr(f_trace, result);
            }
            0
        }
        Err(err) => {
            // As CPython does when a trace function raises: stop tracing, propagate.
            err.restore(py);
            -1
        }
    }
}
