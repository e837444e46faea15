//! Backend for CPython 3.10 and 3.11: a PEP 523 frame evaluation hook.
//!
//! The hook sees every frame the interpreter evaluates, in every thread, and
//! costs one hash lookup for code no probe targets. Only while a targeted frame
//! runs does the thread get the hooks that cost more: a C profile function
//! (calls and returns, with a frame object) and, while a frame with line
//! probes runs or an exception must be named, the trace slot (every
//! instruction). A profiler or tracer that was there (cProfile, pdb, coverage)
//! keeps receiving every event meanwhile and gets its slot back afterwards.
//! Frames that were running before their code got line probes are adopted
//! (see [`ADOPTIONS`]), since a thread's hooks can only be set by that thread.

use super::registry::Lookup;
use super::{fire_call, fire_line, fire_raise, fire_return, registry, CodeEntry, CALL, LINE, RETURN};
use crate::compat::code_ptr_of_frame;
use crate::compat::hooks::{self, Hook};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use rustc_hash::FxHashSet;
use std::cell::{Cell, RefCell};
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const NAME: &str = "frame evaluation hook";

/// The object CPython stores beside our profile and trace functions;
/// `sys.getprofile()` and `sys.gettrace()` show it.
#[pyclass(frozen, module = "jupdb._native")]
pub struct EngineHook;

#[pymethods]
impl EngineHook {
    fn __repr__(&self) -> &'static str {
        "<jupdb engine hook>"
    }
}

static HOOK: GILOnceCell<Py<EngineHook>> = GILOnceCell::new();

fn hook(py: Python<'_>) -> &Bound<'_, PyAny> {
    HOOK.get_or_init(py, || Py::new(py, EngineHook).expect("allocating the engine hook"))
        .bind(py)
        .as_any()
}

/// The evaluation function that was installed before ours (normally CPython's
/// own); ours calls it for every frame. Kept after we step back, since another
/// tool that stacked its hook on ours may still hand frames to ours.
/// Stored as an address so the hot path reads it with one atomic load.
static NEXT_EVAL: AtomicUsize = AtomicUsize::new(0);
/// Generator and coroutine frames that started and have not finished.
static RUNNING: Mutex<Option<FxHashSet<usize>>> = Mutex::new(None);
/// Counts line probes added for code that may be running already (a
/// breakpoint in a loop in progress, a client's pause). Each thread compares
/// it with the count it last adopted at, at its next frame start, and adopts
/// its running frames of such code (see [`adopt_running_frames`]); the main
/// thread also at its next bytecode, by a pending call, since a loop may call
/// no function at all.
static ADOPTIONS: AtomicU64 = AtomicU64::new(0);
/// Whether that pending call waits to run.
static MAIN_ADOPTION_PENDING: AtomicBool = AtomicBool::new(false);

/// What one thread borrowed from CPython while targeted frames run on it.
#[derive(Default)]
struct ThreadHooks {
    /// Targeted frames being evaluated on this thread (nested calls, recursion).
    targeted: u32,
    /// The profile hook we displaced (a strong reference), while we hold the slot.
    profile_held: Option<Saved>,
    /// Frames with line probes running on this thread (a generator's while it runs),
    /// kept by address so that they are let go even if their probe is removed meanwhile.
    line_frames: Vec<usize>,
    /// Targeted calls that ended with an exception not yet seen.
    pending: Vec<(Arc<CodeEntry>, Py<PyAny>)>,
    /// Targeted generator and coroutine frames running on this thread (one per
    /// resume), each with the last exception seen in it: the exception that ends
    /// one usually goes on into C (`close()`, `throw()`, an event loop's step),
    /// where no Python caller's exception event would name it.
    generators: Vec<(usize, Option<Py<PyAny>>)>,
    /// The trace hook we displaced, while we hold the trace slot.
    trace_held: Option<Saved>,
    /// Holds on line events for every frame of this thread (stepping).
    line_holds: u32,
}

/// A displaced hook with a strong reference to its object.
struct Saved(Hook);

impl Saved {
    fn take(hook: Hook) -> Saved {
        unsafe { ffi::Py_XINCREF(hook.obj) };
        Saved(hook)
    }

    /// Installs it again with `set` and releases our reference.
    fn restore(self, set: fn(Hook) -> c_int) {
        set_hook(set, self.0);
        unsafe { ffi::Py_XDECREF(self.0.obj) };
    }
}

/// Puts `hook` in this thread's slot with `set`, as the engine's own work: setting
/// it raises `sys.setprofile` / `sys.settrace` audit events, whose hooks may run
/// Python code (never traced for that, nor entering the engine while the caller
/// holds a borrow of `THREAD`). A hook that refuses leaves the slot as it was, and
/// is reported as unraisable, as `PyEval_SetProfile` does; an exception on its way
/// (a `throw()` into a generator) is kept.
fn set_hook(set: fn(Hook) -> c_int, hook: Hook) {
    unsafe {
        let (mut kind, mut value, mut traceback) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        ffi::PyErr_Fetch(&mut kind, &mut value, &mut traceback);
        if busy(|| set(hook)) < 0 {
            ffi::PyErr_WriteUnraisable(std::ptr::null_mut());
        }
        ffi::PyErr_Restore(kind, value, traceback);
    }
}

thread_local! {
    static THREAD: RefCell<ThreadHooks> = RefCell::new(ThreadHooks::default());
    /// Set while the engine runs Python code (matchers, handlers) on this thread:
    /// frames evaluated meanwhile are the engine's own business, not the program's.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    /// The value of [`ADOPTIONS`] this thread last adopted its frames at.
    static ADOPTED: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` with this thread marked busy (see `BUSY`).
fn busy<R>(f: impl FnOnce() -> R) -> R {
    let was = BUSY.with(|b| b.replace(true));
    let result = f();
    BUSY.with(|b| b.set(was));
    result
}

/// Installs the evaluation hook while any probe is active.
pub fn sync(_py: Python<'_>) -> PyResult<()> {
    let want = registry::len() > 0;
    let current = hooks::eval_frame_func();
    let ours = current as usize == eval_frame as hooks::EvalFrame as usize;
    if want && !ours {
        NEXT_EVAL.store(current as usize, Ordering::Release);
        hooks::set_eval_frame_func(eval_frame);
    } else if !want && ours {
        hooks::set_eval_frame_func(next_eval());
    }
    if !want {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
    Ok(())
}

/// The evaluation hook sees every new frame; frames of `code` already
/// running get its line probes by adoption, on every thread.
pub fn code_resolved(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<()> {
    if registry::lookup(code.as_ptr() as usize).is_none_or(|entry| entry.events & LINE == 0) {
        return Ok(());
    }
    ADOPTIONS.fetch_add(1, Ordering::AcqRel);
    adopt_running_frames(py);
    if !MAIN_ADOPTION_PENDING.swap(true, Ordering::AcqRel) {
        // SAFETY: any thread may add a pending call; this one takes no argument.
        if unsafe { ffi::Py_AddPendingCall(Some(adopt_in_main_thread), std::ptr::null_mut()) } != 0 {
            MAIN_ADOPTION_PENDING.store(false, Ordering::Release); // queue full: its next frame start will do
        }
    }
    Ok(())
}

/// A pending call: CPython runs it in the main thread with the GIL held.
/// Never more than one of them waits: CPython runs no pending call from inside
/// another, and 3.11 then spins for ever on a traced function's first instruction.
extern "C" fn adopt_in_main_thread(_: *mut c_void) -> c_int {
    adopt_running_frames(unsafe { Python::assume_gil_acquired() });
    MAIN_ADOPTION_PENDING.store(false, Ordering::Release);
    0
}

/// Takes line events on this thread for its running frames whose code has
/// line probes for it, as if they had started since the probes were added.
fn adopt_running_frames(py: Python<'_>) {
    ADOPTED.with(|a| a.set(ADOPTIONS.load(Ordering::Acquire)));
    // SAFETY: the GIL is held; PyEval_GetFrame's frame is borrowed and lives
    // while it runs, PyFrame_GetBack's are new references.
    let mut frame = unsafe { Bound::from_borrowed_ptr_or_opt(py, ffi::PyEval_GetFrame().cast()) };
    let mut adopted = false;
    while let Some(current) = frame {
        let pointer = current.as_ptr() as usize;
        if entry_for(pointer as *mut ffi::PyFrameObject).is_some_and(|entry| entry.wants_lines_on_this_thread())
            && THREAD.with(|t| !t.borrow().line_frames.contains(&pointer))
        {
            THREAD.with(|t| t.borrow_mut().line_frames.push(pointer));
            // Started while this thread traced other frames, it may have been told to skip its lines.
            let _ = current.setattr(pyo3::intern!(py, "f_trace_lines"), true);
            adopted = true;
        }
        frame = unsafe {
            Bound::from_owned_ptr_or_opt(py, ffi::PyFrame_GetBack(pointer as *mut ffi::PyFrameObject).cast())
        };
    }
    if adopted {
        update_trace_slot(py);
    }
}

fn next_eval() -> hooks::EvalFrame {
    let address = NEXT_EVAL.load(Ordering::Acquire);
    assert_ne!(address, 0, "the evaluation hook ran before it was installed");
    // SAFETY: only ever stored from a valid `EvalFrame` in `sync`.
    unsafe { std::mem::transmute::<usize, hooks::EvalFrame>(address) }
}

unsafe extern "C" fn eval_frame(ts: *mut ffi::PyThreadState, frame: *mut c_void, throw: c_int) -> *mut ffi::PyObject {
    let next = next_eval();
    if BUSY.with(Cell::get) {
        return next(ts, frame, throw);
    }
    let adoptions = ADOPTIONS.load(Ordering::Relaxed);
    if adoptions != 0 && ADOPTED.with(Cell::get) != adoptions {
        busy(|| adopt_running_frames(Python::assume_gil_acquired()));
    }
    let code = hooks::frame_code(frame);
    let targeted = match registry::classify(code as usize) {
        Lookup::Hit(_) => true,
        Lookup::Miss => false,
        Lookup::Undecided => {
            let py = Python::assume_gil_acquired();
            busy(|| registry::resolve(py, &Bound::from_borrowed_ptr(py, code)).is_some())
        }
    };
    if !targeted || (throw != 0 && hooks::thrown_before_start(frame)) {
        // A generator closed before it ran is no call (as on 3.12+, where it does not run).
        return next(ts, frame, throw);
    }
    let py = Python::assume_gil_acquired();
    enter_targeted(py);
    let result = next(ts, frame, throw);
    leave_targeted();
    result
}

/// Gives this thread our profile hook for the targeted frame about to run.
fn enter_targeted(py: Python<'_>) {
    let outermost = THREAD.with(|t| {
        let mut t = t.borrow_mut();
        t.targeted += 1;
        if t.targeted > 1 {
            return false;
        }
        let current = hooks::profile_hook();
        // Ours already (left by a call that never came back here): restore none.
        let displaced = if current.obj == hook(py).as_ptr() {
            Hook {
                func: None,
                obj: std::ptr::null_mut(),
            }
        } else {
            current
        };
        t.profile_held = Some(Saved::take(displaced));
        true
    });
    if outermost {
        set_hook(
            hooks::set_profile_hook,
            Hook {
                func: Some(profile),
                obj: hook(py).as_ptr(),
            },
        );
    }
}

fn leave_targeted() {
    let saved = THREAD.with(|t| {
        let mut t = t.borrow_mut();
        t.targeted -= 1;
        if t.targeted == 0 {
            t.profile_held.take()
        } else {
            None
        }
    });
    if let Some(saved) = saved {
        // Whoever set a profile hook inside the call (rare) is replaced, as
        // CPython's own sys.setprofile would replace ours.
        saved.restore(hooks::set_profile_hook);
    }
}

fn entry_for(frame: *mut ffi::PyFrameObject) -> Option<Arc<CodeEntry>> {
    registry::lookup(unsafe { code_ptr_of_frame(frame) })
}

/// Calls the hook we displaced with the same event, as CPython would have.
unsafe fn forward(saved: Option<Hook>, frame: *mut ffi::PyFrameObject, what: c_int, arg: *mut ffi::PyObject) -> c_int {
    match saved {
        Some(Hook { func: Some(func), obj }) => func(obj, frame, what, arg),
        _ => 0,
    }
}

unsafe extern "C" fn profile(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    let displaced = THREAD.with(|t| t.borrow().profile_held.as_ref().map(|s| s.0));
    if what == hooks::CALL || what == hooks::RETURN {
        let py = Python::assume_gil_acquired();
        busy(|| {
            flush_unseen_exceptions(py);
            // Taken whatever the registry says now: its probes may have gone meanwhile.
            let raised = if what == hooks::RETURN {
                leave_generator_frame(frame)
            } else {
                None
            };
            if let Some(entry) = entry_for(frame) {
                on_profile_event(py, &entry, frame, what, arg, raised);
            }
            if what == hooks::RETURN {
                forget_line_frame(frame);
                update_trace_slot(py);
            }
        });
    }
    forward(displaced, frame, what, arg)
}

/// `raised`: for a generator frame, the last exception seen in it while it ran.
unsafe fn on_profile_event(
    py: Python<'_>,
    entry: &Arc<CodeEntry>,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
    raised: Option<Option<Py<PyAny>>>,
) {
    let frame = Bound::from_borrowed_ptr(py, frame.cast());
    if what == hooks::CALL {
        // Decided once per call: another thread's stepper does not make this one trace.
        let lines = entry.wants_lines_on_this_thread();
        let generator = entry.is_generator && entry.events & RETURN != 0;
        if lines || generator {
            THREAD.with(|t| {
                let mut t = t.borrow_mut();
                if lines {
                    t.line_frames.push(frame.as_ptr() as usize);
                }
                if generator {
                    t.generators.push((frame.as_ptr() as usize, None));
                }
            });
            update_trace_slot(py);
        }
        if entry.events & (CALL | RETURN) != 0 && first_start(entry, &frame) {
            fire_call(py, entry, &frame);
        }
        return;
    }
    if entry.events & RETURN != 0 {
        if arg.is_null() {
            forget_running(entry, &frame);
            match raised {
                // Its own exception event named it (it may have started before the probe).
                Some(exc) => fire_raise(
                    py,
                    entry,
                    &frame,
                    exc.as_ref().map_or(&py.None().into_bound(py), |e| e.bind(py)),
                ),
                // Ended by an exception: the next exception trace event (its caller's) names it.
                None => THREAD.with(|t| t.borrow_mut().pending.push((entry.clone(), frame.clone().unbind()))),
            }
        } else if finished(entry, &frame) {
            fire_return(py, entry, &frame, &Bound::from_borrowed_ptr(py, arg));
        }
    }
}

/// Stops following the exceptions of generator `frame` on this thread: the
/// last one seen in it, if it was followed.
fn leave_generator_frame(frame: *mut ffi::PyFrameObject) -> Option<Option<Py<PyAny>>> {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        let index = t.generators.iter().rposition(|(f, _)| *f == frame as usize)?;
        Some(t.generators.remove(index).1)
    })
}

/// A generator frame's profile "call" comes at its start and at each resume.
fn first_start(entry: &CodeEntry, frame: &Bound<'_, PyAny>) -> bool {
    if !entry.is_generator {
        return true;
    }
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running
        .get_or_insert_with(FxHashSet::default)
        .insert(frame.as_ptr() as usize)
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
    let pending = THREAD.with(|t| {
        let mut t = t.borrow_mut();
        if t.pending.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut t.pending)
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
    let (want, held) = THREAD.with(|t| {
        let t = t.borrow();
        let want = t.line_holds > 0 || !t.line_frames.is_empty() || !t.pending.is_empty() || !t.generators.is_empty();
        (want, t.trace_held.is_some())
    });
    let current = hooks::trace_hook();
    let ours = current.obj == hook(py).as_ptr();
    if want {
        if !held {
            THREAD.with(|t| t.borrow_mut().trace_held = Some(Saved::take(current)));
        }
        if !held || current.func.is_none() {
            take_trace_slot(py);
        }
    } else if held {
        let saved = THREAD.with(|t| t.borrow_mut().trace_held.take()).unwrap();
        if ours {
            saved.restore(hooks::set_trace_hook);
        } else {
            unsafe { ffi::Py_XDECREF(saved.0.obj) };
        }
    }
}

fn take_trace_slot(py: Python<'_>) {
    set_hook(
        hooks::set_trace_hook,
        Hook {
            func: Some(trace),
            obj: hook(py).as_ptr(),
        },
    );
}

/// Takes (or gives back) the trace slot of this thread for stepping.
pub fn hold_line_events(py: Python<'_>, hold: bool) {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        t.line_holds = if hold {
            t.line_holds + 1
        } else {
            t.line_holds.saturating_sub(1)
        };
    });
    update_trace_slot(py);
}

/// The entry for a traced frame's code, asking the matchers if no one has.
fn resolved_entry(py: Python<'_>, frame: *mut ffi::PyFrameObject) -> Option<Arc<CodeEntry>> {
    let key = unsafe { code_ptr_of_frame(frame) };
    match registry::classify(key) {
        Lookup::Hit(entry) => Some(entry),
        Lookup::Miss => None,
        Lookup::Undecided => {
            let code = unsafe { Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame).cast()) };
            registry::resolve(py, &code)
        }
    }
}

/// Puts back a trace function that a debugger displaced (see `restore_trace`).
pub fn restore_trace(py: Python<'_>, previous: &Bound<'_, PyAny>) -> PyResult<()> {
    if previous.is(hook(py)) {
        take_trace_slot(py);
        Ok(())
    } else {
        py.import("sys")?.call_method1("settrace", (previous,)).map(drop)
    }
}

unsafe extern "C" fn trace(
    _obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    arg: *mut ffi::PyObject,
) -> c_int {
    let py = Python::assume_gil_acquired();
    let slot_may_go = busy(|| on_trace_event(py, frame, what, arg));
    let displaced = THREAD.with(|t| t.borrow().trace_held.as_ref().map(|s| s.0));
    let result = match displaced {
        Some(Hook { func: Some(_), .. }) => forward(displaced, frame, what, arg),
        _ => {
            if what == hooks::CALL && busy(|| resolved_entry(py, frame)).is_none() {
                // No one else traces: spare untargeted frames their line events.
                let _ = Bound::from_borrowed_ptr(py, frame.cast()).setattr(pyo3::intern!(py, "f_trace_lines"), false);
            }
            0
        }
    };
    // Only now: the tool we displaced must see this event before it gets its slot back.
    if slot_may_go {
        busy(|| update_trace_slot(py));
    }
    result
}

/// Fires what the event calls for; whether this thread may need the trace slot no more.
unsafe fn on_trace_event(py: Python<'_>, frame: *mut ffi::PyFrameObject, what: c_int, arg: *mut ffi::PyObject) -> bool {
    if what == hooks::EXCEPTION {
        let exc = || {
            Bound::from_borrowed_ptr(py, arg)
                .get_item(1)
                .unwrap_or_else(|_| py.None().into_bound(py))
        };
        THREAD.with(|t| {
            let mut t = t.borrow_mut();
            if let Some((_, seen)) = t.generators.iter_mut().rev().find(|(f, _)| *f == frame as usize) {
                *seen = Some(exc().unbind());
            }
        });
        let pending = THREAD.with(|t| std::mem::take(&mut t.borrow_mut().pending));
        if pending.is_empty() {
            return false;
        }
        let exc = exc();
        for (entry, frame) in pending {
            fire_raise(py, &entry, frame.bind(py), &exc);
        }
        true
    } else if what == hooks::LINE {
        match resolved_entry(py, frame) {
            Some(entry) => {
                let line = hooks::line_number(frame);
                if entry.watches_line(line) {
                    let bound = Bound::from_borrowed_ptr(py, frame.cast());
                    with_frame_trace(py, &bound, || {
                        fire_line(py, &entry, &bound, line);
                    });
                }
                false
            }
            // Its line probes are gone: let it run untraced.
            None => forget_line_frame(frame),
        }
    } else if what == hooks::RETURN {
        // The profile hook sees the returns of the frames started while it
        // was there; an adopted frame may have started before.
        forget_line_frame(frame)
    } else {
        false
    }
}

/// Stops taking line events for `frame` on this thread; whether it took them.
fn forget_line_frame(frame: *mut ffi::PyFrameObject) -> bool {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        let index = t.line_frames.iter().rposition(|f| *f == frame as usize);
        index.map(|i| t.line_frames.swap_remove(i)).is_some()
    })
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
    // The action may have given the frame a tracer of its own (pdb): keep that.
    let lent = frame.getattr(name).is_ok_and(|t| t.is(hook(py)));
    if own.is_none() && lent {
        let _ = frame.setattr(name, py.None());
    }
}
