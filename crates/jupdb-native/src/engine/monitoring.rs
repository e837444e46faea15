//! Backend for CPython 3.12+: `sys.monitoring` (PEP 669).
//!
//! Events are switched on per targeted code object (local events), so code no
//! probe targets runs at full speed. Matcher probes need a global `PY_START`,
//! whose callback returns `DISABLE` for code they refuse, so each refusal costs
//! one callback per code object. `PY_UNWIND` can only be global: its callback
//! is one hash lookup.

use super::registry::Lookup;
use super::{fire_call, fire_line, fire_raise, fire_return, quiet_close, registry, CALL, LINE, RETURN};
use crate::compat::current_frame;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyCFunction;
use rustc_hash::FxHashMap;
use std::sync::Mutex;

pub const NAME: &str = "sys.monitoring";

/// Tool ids in order of preference: DEBUGGER_ID, then the unassigned ones.
const TOOL_IDS: [u8; 4] = [0, 3, 4, 5];

struct Events {
    py_start: u32,
    py_return: u32,
    py_unwind: u32,
    line: u32,
}

struct State {
    tool: u8,
    /// Local event masks as last applied, so removals can be undone.
    applied: FxHashMap<usize, (Py<PyAny>, u32)>,
    global: u32,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static EVENTS: GILOnceCell<Events> = GILOnceCell::new();
static DISABLE: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

fn monitoring(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    py.import("sys")?.getattr("monitoring")
}

fn events(py: Python<'_>) -> PyResult<&'static Events> {
    EVENTS.get_or_try_init(py, || {
        let ev = monitoring(py)?.getattr("events")?;
        let get = |name: &str| -> PyResult<u32> { ev.getattr(name)?.extract() };
        Ok(Events {
            py_start: get("PY_START")?,
            py_return: get("PY_RETURN")?,
            py_unwind: get("PY_UNWIND")?,
            line: get("LINE")?,
        })
    })
}

fn disable(py: Python<'_>) -> Py<PyAny> {
    DISABLE
        .get_or_init(py, || {
            monitoring(py)
                .and_then(|m| m.getattr("DISABLE"))
                .map(Bound::unbind)
                .unwrap_or_else(|_| py.None())
        })
        .clone_ref(py)
}

fn local_mask(ev: &Events, events: u8) -> u32 {
    let mut mask = 0;
    if events & (CALL | RETURN) != 0 {
        mask |= ev.py_start;
    }
    if events & RETURN != 0 {
        mask |= ev.py_return;
    }
    if events & LINE != 0 {
        mask |= ev.line;
    }
    mask
}

fn claim_tool(py: Python<'_>, mon: &Bound<'_, PyAny>) -> PyResult<u8> {
    for id in TOOL_IDS {
        if mon.call_method1("get_tool", (id,))?.is_none() {
            mon.call_method1("use_tool_id", (id, "jupdb"))?;
            let ev = events(py)?;
            let callbacks: [(u32, &str); 4] = [
                (ev.py_start, "py_start"),
                (ev.py_return, "py_return"),
                (ev.py_unwind, "py_unwind"),
                (ev.line, "line"),
            ];
            for (event, name) in callbacks {
                let callback = make_callback(py, name)?;
                mon.call_method1("register_callback", (id, event, callback))?;
            }
            return Ok(id);
        }
    }
    Err(pyo3::exceptions::PyRuntimeError::new_err(
        "jupdb: every sys.monitoring tool id it can use (0, 3, 4, 5) is taken by other tools",
    ))
}

fn make_callback<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyCFunction>> {
    // Plain functions (METH_FASTCALL): the interpreter builds no argument tuple per event.
    match name {
        "py_start" => wrap_pyfunction!(py_start_callback, py),
        "py_return" => wrap_pyfunction!(py_return_callback, py),
        "py_unwind" => wrap_pyfunction!(py_unwind_callback, py),
        _ => wrap_pyfunction!(line_callback, py),
    }
}

#[pyfunction]
#[pyo3(name = "py_start")]
fn py_start_callback(code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>) -> Py<PyAny> {
    on_py_start(code.py(), code)
}

#[pyfunction]
#[pyo3(name = "py_return")]
fn py_return_callback(code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) {
    on_end(code.py(), code, value, false)
}

#[pyfunction]
#[pyo3(name = "py_unwind")]
fn py_unwind_callback(code: &Bound<'_, PyAny>, _offset: &Bound<'_, PyAny>, exc: &Bound<'_, PyAny>) {
    on_end(code.py(), code, exc, true)
}

#[pyfunction]
#[pyo3(name = "line")]
fn line_callback(code: &Bound<'_, PyAny>, line: u32) -> Py<PyAny> {
    on_line(code.py(), code, line)
}

fn on_py_start(py: Python<'_>, code: &Bound<'_, PyAny>) -> Py<PyAny> {
    let entry = match registry::classify(code.as_ptr() as usize) {
        Lookup::Hit(entry) => Some(entry),
        Lookup::Undecided => {
            let entry = registry::resolve(py, code);
            if entry.is_some() {
                if let Err(err) = code_resolved(py, code) {
                    err.write_unraisable(py, None);
                }
            }
            entry
        }
        Lookup::Miss => None,
    };
    match entry {
        Some(entry) if entry.events & (CALL | RETURN) != 0 => {
            if let Some(frame) = current_frame(py) {
                fire_call(py, &entry, &frame);
                if entry.is_generator && entry.events & RETURN != 0 {
                    quiet_close::watch(py, &frame);
                }
            }
            py.None()
        }
        Some(_) => py.None(),
        None => disable(py),
    }
}

fn on_end(py: Python<'_>, code: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, raised: bool) {
    let Some(entry) = registry::lookup(code.as_ptr() as usize) else {
        return;
    };
    if entry.events & RETURN == 0 {
        return;
    }
    if let Some(frame) = current_frame(py) {
        if raised {
            fire_raise(py, &entry, &frame, value);
        } else {
            fire_return(py, &entry, &frame, value);
        }
        if entry.is_generator {
            quiet_close::ended(&frame);
        }
    }
}

fn on_line(py: Python<'_>, code: &Bound<'_, PyAny>, line: u32) -> Py<PyAny> {
    let Some(entry) = registry::lookup(code.as_ptr() as usize) else {
        return disable(py);
    };
    if !entry.watches_line(line) {
        return disable(py);
    }
    if let Some(frame) = current_frame(py) {
        fire_line(py, &entry, &frame, line);
    }
    py.None()
}

/// Switches local events on for a code object the matchers just accepted.
pub fn code_resolved(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<()> {
    let key = code.as_ptr() as usize;
    let Some(entry) = registry::lookup(key) else {
        return Ok(());
    };
    let mask = local_mask(events(py)?, entry.events);
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(state) = guard.as_mut() else {
        return Ok(());
    };
    if state.applied.get(&key).is_some_and(|(_, m)| *m == mask) {
        return Ok(());
    }
    let tool = state.tool;
    state.applied.insert(key, (code.clone().unbind(), mask));
    drop(guard);
    monitoring(py)?.call_method1("set_local_events", (tool, code, mask))?;
    Ok(())
}

/// Makes the interpreter's events match the registry.
pub fn sync(py: Python<'_>) -> PyResult<()> {
    let mon = monitoring(py)?;
    let ev = events(py)?;
    let (all_events, has_matchers) = registry::summary();
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());

    if all_events == 0 {
        // Last probe gone: leave nothing behind.
        if let Some(state) = guard.take() {
            drop(guard);
            quiet_close::clear();
            for (_, (code, _)) in state.applied {
                mon.call_method1("set_local_events", (state.tool, code, 0))?;
            }
            mon.call_method1("set_events", (state.tool, 0))?;
            for event in [ev.py_start, ev.py_return, ev.py_unwind, ev.line] {
                mon.call_method1("register_callback", (state.tool, event, py.None()))?;
            }
            mon.call_method1("free_tool_id", (state.tool,))?;
        }
        return Ok(());
    }

    if guard.is_none() {
        let tool = claim_tool(py, &mon)?;
        *guard = Some(State {
            tool,
            applied: FxHashMap::default(),
            global: 0,
        });
    }
    let state = guard.as_mut().unwrap();
    let mut grew = false;
    let mut changes = Vec::new();
    let wanted: FxHashMap<usize, (Py<PyAny>, u32)> = registry::code_events(py)
        .into_iter()
        .map(|(key, code, events)| (key, (code, local_mask(ev, events))))
        .collect();
    for (key, (code, old)) in &state.applied {
        if !wanted.contains_key(key) {
            changes.push((code.clone_ref(py), 0));
        } else if wanted[key].1 != *old {
            grew |= wanted[key].1 & !old != 0;
            changes.push((code.clone_ref(py), wanted[key].1));
        }
    }
    for (key, (code, mask)) in &wanted {
        if !state.applied.contains_key(key) {
            grew = true;
            changes.push((code.clone_ref(py), *mask));
        }
    }
    state.applied = wanted;

    let mut global = 0;
    if has_matchers {
        global |= ev.py_start;
    }
    if all_events & RETURN != 0 {
        global |= ev.py_unwind;
    }
    grew |= global & !state.global != 0 || has_matchers;
    state.global = global;
    let tool = state.tool;
    drop(guard);

    for (code, mask) in changes {
        mon.call_method1("set_local_events", (tool, code, mask))?;
    }
    mon.call_method1("set_events", (tool, global))?;
    if grew {
        // Locations that returned DISABLE before may be wanted now.
        mon.call_method0("restart_events")?;
    }
    Ok(())
}

/// Puts back a trace function that a debugger displaced (see `restore_trace`).
pub fn restore_trace(py: Python<'_>, previous: &Bound<'_, PyAny>) -> PyResult<()> {
    py.import("sys")?.call_method1("settrace", (previous,)).map(drop)
}

/// Nothing to hold: `sys.monitoring` line events reach running frames anyway.
pub fn hold_line_events(_py: Python<'_>, _hold: bool) {}
