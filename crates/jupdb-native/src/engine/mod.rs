//! The engine: decides *when* a probe fires; the probe's Python handler decides *what* happens.
//!
//! A [`Probe`] names its targets (one code object, or a matcher that the engine
//! asks once per code object) and the events it wants. The registry maps the
//! address of every targeted code object to the probes that watch it, so the
//! hot path is one hash lookup. The hooks into the interpreter live in the
//! backends: `monitoring` (`sys.monitoring`, 3.12+) and `legacy` (C profile and
//! trace functions, 3.10 and 3.11).

mod actions;
mod capture;
#[cfg(not(Py_3_12))]
mod legacy;
#[cfg(Py_3_12)]
mod monitoring;
#[cfg(Py_3_12)]
mod quiet_close;
mod registry;

#[cfg(not(Py_3_12))]
use legacy as backend;
#[cfg(Py_3_12)]
use monitoring as backend;

use pyo3::prelude::*;
use pyo3::types::PyFrozenSet;
use rustc_hash::FxHashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use actions::Actions;
pub use capture::{CallInfo, CallRecorder};
pub use registry::CodeEntry;

/// The probe wants `on_call(frame)` when a targeted call starts.
pub const CALL: u8 = 1;
/// The probe wants `on_return(frame, value)` / `on_raise(frame, exc)` when it ends.
pub const RETURN: u8 = 2;
/// The probe wants `on_line(frame, line)` at its lines.
pub const LINE: u8 = 4;

pub type LineSet = Arc<FxHashSet<u32>>;

/// A registration with the engine: what to watch and whom to tell.
///
/// The handler is any object with the methods `on_call(frame)`,
/// `on_return(frame, value)`, `on_raise(frame, exc)` and `on_line(frame, line)`
/// (only those for the requested events are called). Exceptions raised by the
/// handler never reach the traced program.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Probe {
    id: u64,
    handler: Py<PyAny>,
    code: Option<Py<PyAny>>,
    matcher: Option<Py<PyAny>>,
    events: u8,
    lines: Option<LineSet>,
    instance: Option<Py<PyAny>>,
    /// Fire only in this thread (`threading.get_ident()`), e.g. for stepping.
    thread: Option<u64>,
    /// Record calls here instead of calling the handler's `on_call`/`on_return`/`on_raise`.
    recorder: Option<Py<CallRecorder>>,
    /// Run these at a call or line instead of calling `on_call`/`on_line`.
    actions: Option<Py<Actions>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[pymethods]
impl Probe {
    #[new]
    #[pyo3(signature = (handler, *, events, code=None, matcher=None, lines=None, instance=None, thread=None, recorder=None, actions=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        handler: Py<PyAny>,
        events: u8,
        code: Option<Bound<'_, PyAny>>,
        matcher: Option<Py<PyAny>>,
        lines: Option<Bound<'_, PyAny>>,
        instance: Option<Py<PyAny>>,
        thread: Option<u64>,
        recorder: Option<Py<CallRecorder>>,
        actions: Option<Py<Actions>>,
    ) -> PyResult<Self> {
        if events == 0 || events & !(CALL | RETURN | LINE) != 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "invalid event mask {events}"
            )));
        }
        if let Some(code) = &code {
            if code.get_type().name()? != "code" {
                return Err(pyo3::exceptions::PyTypeError::new_err("code must be a code object"));
            }
        }
        let lines = match lines {
            None => None,
            Some(lines) => Some(Arc::new(line_set(&lines)?)),
        };
        if events & LINE != 0 && lines.is_none() && matcher.is_none() {
            return Err(pyo3::exceptions::PyValueError::new_err("a line probe needs lines"));
        }
        Ok(Probe {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            handler,
            code: code.map(Bound::unbind),
            matcher,
            events,
            lines,
            instance,
            thread,
            recorder,
            actions,
        })
    }

    /// The events this probe asked for (a mask of CALL, RETURN, LINE).
    #[getter]
    fn events(&self) -> u8 {
        self.events
    }

    /// The object whose methods are called when the probe fires.
    #[getter]
    fn handler(&self, py: Python<'_>) -> Py<PyAny> {
        self.handler.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        let target = if self.code.is_some() { "code" } else { "matcher" };
        format!("<jupdb Probe #{} target={target} events={}>", self.id, self.events)
    }
}

pub(crate) fn line_set(lines: &Bound<'_, PyAny>) -> PyResult<FxHashSet<u32>> {
    let mut set = FxHashSet::default();
    for line in lines.try_iter()? {
        set.insert(line?.extract::<u32>()?);
    }
    Ok(set)
}

/// Starts firing `probe`. Adding a probe that is already active does nothing.
#[pyfunction]
pub fn install(py: Python<'_>, probe: Bound<'_, Probe>) -> PyResult<()> {
    let running = probe
        .get()
        .code
        .as_ref()
        .filter(|_| probe.get().events & LINE != 0)
        .map(|c| c.clone_ref(py));
    if registry::add(py, probe.unbind()) {
        backend::sync(py)?;
        if let Some(code) = running {
            // Its code may be running already (a breakpoint set inside the loop it stops in).
            backend::code_resolved(py, code.bind(py))?;
        }
    }
    Ok(())
}

/// Stops firing `probe`. When the last probe goes, every hook is removed.
#[pyfunction]
pub fn uninstall(py: Python<'_>, probe: Bound<'_, Probe>) -> PyResult<()> {
    let removed = registry::remove(py, probe.get().id);
    if removed.is_some() {
        backend::sync(py)?;
    }
    drop(removed); // handlers are released only after the registry lock is gone
    Ok(())
}

/// Number of active probes.
#[pyfunction]
pub fn active_probes() -> usize {
    registry::len()
}

/// Which hook the engine uses on this interpreter.
#[pyfunction]
pub fn backend_name() -> &'static str {
    backend::NAME
}

/// Tells the engine that `code` is already running somewhere, so that line
/// probes matched by file or module reach it without waiting for its next call.
#[pyfunction]
pub fn watch_running_code(py: Python<'_>, code: Bound<'_, PyAny>) -> PyResult<()> {
    if registry::resolve(py, &code).is_some() {
        backend::code_resolved(py, &code)?;
    }
    Ok(())
}

/// Makes sure line events reach the engine from every frame of the calling
/// thread while held (stepping), including frames already running. Holds nest.
#[pyfunction]
pub fn hold_line_events(py: Python<'_>, hold: bool) {
    backend::hold_line_events(py, hold)
}

/// Puts back the trace function `previous` (what `sys.gettrace()` returned
/// before a debugger took the slot), including the engine's own hook.
#[pyfunction]
pub fn restore_trace(py: Python<'_>, previous: Bound<'_, PyAny>) -> PyResult<()> {
    backend::restore_trace(py, &previous)
}

// ---- firing: shared by both backends --------------------------------------

fn report(py: Python<'_>, err: PyErr, handler: &Py<PyAny>) {
    // Handlers report their own failures as warnings; this is the last line of
    // defence, so nothing ever propagates into the traced program.
    err.write_unraisable(py, Some(handler.bind(py)));
}

extern "C" {
    fn PyThread_get_thread_ident() -> std::os::raw::c_ulong;
}

/// This thread's `threading.get_ident()`.
pub(crate) fn current_thread() -> u64 {
    unsafe { PyThread_get_thread_ident() as u64 }
}

impl Probe {
    /// Whether the probe fires on this thread (its thread filter).
    fn fires_on_this_thread(&self) -> bool {
        self.thread.is_none_or(|thread| thread == current_thread())
    }
}

/// Whether `probe` may fire for `frame` on this thread: the thread and
/// `self` filters.
fn instance_matches(py: Python<'_>, probe: &Probe, frame: &Bound<'_, PyAny>) -> bool {
    if !probe.fires_on_this_thread() {
        return false;
    }
    match &probe.instance {
        None => true,
        Some(instance) => match crate::compat::first_argument(frame) {
            Ok(Some(first)) => first.is(instance.bind(py)),
            _ => false,
        },
    }
}

/// Runs `f` with PyO3 counting the GIL as held. The 3.10/3.11 hooks are C
/// functions CPython calls with the GIL held, but PyO3 does not know it there:
/// a reference dropped there (a capture's previous call, a handler's result)
/// would wait in PyO3's deferred pool, behind a lock and holding its memory,
/// until PyO3 is next called from Python. (The `sys.monitoring` callbacks are
/// PyO3 functions, which count it already.)
#[inline]
fn counting_gil<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(not(Py_3_12))]
    {
        Python::with_gil(|_| f())
    }
    #[cfg(Py_3_12)]
    {
        f()
    }
}

pub(crate) fn fire_call(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>) {
    counting_gil(|| fire_call_counted(py, entry, frame))
}

fn fire_call_counted(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>) {
    for target in &entry.targets {
        let probe = target.probe.get();
        if probe.events & (CALL | RETURN) == 0 || !instance_matches(py, probe, frame) {
            continue;
        }
        if let Some(recorder) = &probe.recorder {
            recorder.get().start(py, frame);
        } else if let Some(actions) = &probe.actions {
            actions.get().hit(py, frame);
        } else if let Err(err) = probe.handler.call_method1(py, pyo3::intern!(py, "on_call"), (frame,)) {
            report(py, err, &probe.handler);
        }
    }
}

pub(crate) fn fire_return(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) {
    counting_gil(|| fire_end(py, entry, frame, pyo3::intern!(py, "on_return"), value, false))
}

pub(crate) fn fire_raise(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>, exc: &Bound<'_, PyAny>) {
    counting_gil(|| fire_end(py, entry, frame, pyo3::intern!(py, "on_raise"), exc, true))
}

fn fire_end(
    py: Python<'_>,
    entry: &CodeEntry,
    frame: &Bound<'_, PyAny>,
    method: &Bound<'_, pyo3::types::PyString>,
    value: &Bound<'_, PyAny>,
    raised: bool,
) {
    for target in &entry.targets {
        let probe = target.probe.get();
        if probe.events & RETURN == 0 || (probe.thread.is_some() && !instance_matches(py, probe, frame)) {
            continue;
        }
        if let Some(recorder) = &probe.recorder {
            recorder.get().end(py, frame, value, raised);
        } else if let Err(err) = probe.handler.call_method1(py, method, (frame, value)) {
            report(py, err, &probe.handler);
        }
    }
}

/// Counts line events fired, so that handlers can tell one event from the next.
static LINE_EVENTS: AtomicU64 = AtomicU64::new(0);

/// The number of the line event being fired (or last fired): several probes
/// that fire for one event see the same number.
#[pyfunction]
pub fn line_event_number() -> u64 {
    LINE_EVENTS.load(Ordering::Relaxed)
}

/// Fires the line probes of `entry` that watch `line`.
pub(crate) fn fire_line(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>, line: u32) {
    counting_gil(|| fire_line_counted(py, entry, frame, line))
}

fn fire_line_counted(py: Python<'_>, entry: &CodeEntry, frame: &Bound<'_, PyAny>, line: u32) {
    LINE_EVENTS.fetch_add(1, Ordering::Relaxed);
    for target in &entry.targets {
        let probe = target.probe.get();
        if !target.watches(line) || !instance_matches(py, probe, frame) {
            continue;
        }
        if let Some(actions) = &probe.actions {
            actions.get().hit(py, frame);
        } else if let Err(err) = probe
            .handler
            .call_method1(py, pyo3::intern!(py, "on_line"), (frame, line))
        {
            report(py, err, &probe.handler);
        }
    }
}

/// The frozenset of line numbers a code object can report (`co_lines`), for
/// matchers and validation on the Python side.
#[pyfunction]
pub fn code_lines<'py>(py: Python<'py>, code: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyFrozenSet>> {
    let mut lines = FxHashSet::default();
    for item in code.call_method0(pyo3::intern!(py, "co_lines"))?.try_iter()? {
        let (_, _, line): (isize, isize, Option<u32>) = item?.extract()?;
        if let Some(line) = line {
            lines.insert(line);
        }
    }
    PyFrozenSet::new(py, lines.iter())
}
