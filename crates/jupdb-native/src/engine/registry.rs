//! Active probes and the code objects they target, keyed by code address.
//!
//! Every entry holds a strong reference to its code object, so an address
//! cannot be reused by another code object while it is in the map.

use super::{LineSet, Probe, LINE};
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One probe watching one code object, with the lines it watches there.
pub struct Target {
    pub probe: Py<Probe>,
    pub lines: Option<LineSet>,
}

/// The probes that watch one code object. Immutable: changes build a new one,
/// so firing works on a snapshot and never holds the lock while Python runs.
pub struct CodeEntry {
    pub code: Py<PyAny>,
    pub targets: Vec<Target>,
    /// Union of the targets' event masks.
    pub events: u8,
    /// Generators and coroutines start and stop several times per call.
    pub is_generator: bool,
}

impl Target {
    /// Whether this target's probe wants line events at `line`.
    pub fn watches(&self, line: u32) -> bool {
        self.probe.get().events & LINE != 0 && self.lines.as_ref().is_some_and(|l| l.contains(&line))
    }
}

impl CodeEntry {
    /// Whether some target watches `line` here.
    pub fn watches_line(&self, line: u32) -> bool {
        self.targets.iter().any(|t| t.watches(line))
    }

    /// Whether some target wants line events here on this thread.
    #[cfg_attr(Py_3_12, allow(dead_code))]
    pub fn wants_lines_on_this_thread(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.probe.get().events & LINE != 0 && t.probe.get().fires_on_this_thread())
    }
}

#[derive(Default)]
struct Registry {
    probes: Vec<Py<Probe>>,
    codes: FxHashMap<usize, Arc<CodeEntry>>,
    /// Code objects every matcher said no to (kept alive, see module docs).
    rejected: FxHashMap<usize, Py<PyAny>>,
    matchers: usize,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Registry>> {
    // A panic cannot leave the map half-changed in a way that matters more
    // than losing every probe would, so recover from poisoning.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn len() -> usize {
    lock().as_ref().map_or(0, |r| r.probes.len())
}

/// Adds a probe; false when it was already there.
pub fn add(py: Python<'_>, probe: Py<Probe>) -> bool {
    let mut guard = lock();
    let reg = guard.get_or_insert_with(Registry::default);
    let id = probe.get().id;
    if reg.probes.iter().any(|p| p.get().id == id) {
        return false;
    }
    let p = probe.get();
    if let Some(code) = &p.code {
        let target = Target {
            probe: probe.clone_ref(py),
            lines: p.lines.clone(),
        };
        add_target(py, reg, code.bind(py), target);
    }
    if p.matcher.is_some() {
        reg.matchers += 1;
        // Codes refused before may match the new probe.
        reg.rejected.clear();
    }
    reg.probes.push(probe);
    true
}

fn add_target(py: Python<'_>, reg: &mut Registry, code: &Bound<'_, PyAny>, target: Target) {
    let key = code.as_ptr() as usize;
    let mut targets: Vec<Target> = match reg.codes.get(&key) {
        Some(entry) => entry
            .targets
            .iter()
            .map(|t| Target {
                probe: t.probe.clone_ref(py),
                lines: t.lines.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    targets.push(target);
    reg.codes.insert(key, Arc::new(new_entry(py, code, targets)));
}

fn new_entry(py: Python<'_>, code: &Bound<'_, PyAny>, targets: Vec<Target>) -> CodeEntry {
    const GENERATOR_FLAGS: i64 = 0x20 | 0x80 | 0x200; // CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
    let flags: i64 = code
        .getattr(pyo3::intern!(py, "co_flags"))
        .and_then(|f| f.extract())
        .unwrap_or(0);
    CodeEntry {
        code: code.clone().unbind(),
        events: targets.iter().fold(0, |m, t| m | t.probe.get().events),
        targets,
        is_generator: flags & GENERATOR_FLAGS != 0,
    }
}

/// Removes the probe with `id`; returns what was removed so the caller drops
/// it (and the Python objects it holds) after the lock is released.
pub fn remove(py: Python<'_>, id: u64) -> Option<Removed> {
    let mut guard = lock();
    let reg = guard.as_mut()?;
    let index = reg.probes.iter().position(|p| p.get().id == id)?;
    let probe = reg.probes.remove(index);
    if probe.get().matcher.is_some() {
        reg.matchers -= 1;
    }
    let mut old_entries = Vec::new();
    let keys: Vec<usize> = reg.codes.keys().copied().collect();
    for key in keys {
        let entry = &reg.codes[&key];
        if !entry.targets.iter().any(|t| t.probe.get().id == id) {
            continue;
        }
        let targets: Vec<Target> = entry
            .targets
            .iter()
            .filter(|t| t.probe.get().id != id)
            .map(|t| Target {
                probe: t.probe.clone_ref(py),
                lines: t.lines.clone(),
            })
            .collect();
        let code = entry.code.clone_ref(py);
        let old = if targets.is_empty() {
            reg.codes.remove(&key)
        } else {
            reg.codes.insert(key, Arc::new(new_entry(py, code.bind(py), targets)))
        };
        old_entries.extend(old);
    }
    let rejected = if reg.probes.is_empty() {
        std::mem::take(&mut reg.rejected)
    } else {
        Default::default()
    };
    Some(Removed {
        _probe: probe,
        _entries: old_entries,
        _rejected: rejected,
    })
}

/// What [`remove`] took out of the registry.
pub struct Removed {
    _probe: Py<Probe>,
    _entries: Vec<Arc<CodeEntry>>,
    _rejected: FxHashMap<usize, Py<PyAny>>,
}

/// The entry for a code address, if any probe targets it. The hot path.
#[inline]
pub fn lookup(code: usize) -> Option<Arc<CodeEntry>> {
    lock().as_ref()?.codes.get(&code).cloned()
}

/// What the registry knows about a code address.
pub enum Lookup {
    /// Probes target it.
    Hit(Arc<CodeEntry>),
    /// No probe targets it.
    Miss,
    /// Matcher probes have not been asked about it yet (see [`resolve`]).
    Undecided,
}

/// [`lookup`], and whether the matchers must still be asked, under one lock.
#[inline]
pub fn classify(code: usize) -> Lookup {
    let guard = lock();
    let Some(reg) = guard.as_ref() else {
        return Lookup::Miss;
    };
    if let Some(entry) = reg.codes.get(&code) {
        Lookup::Hit(entry.clone())
    } else if reg.matchers > 0 && !reg.rejected.contains_key(&code) {
        Lookup::Undecided
    } else {
        Lookup::Miss
    }
}

/// The entry for `code`, asking the matcher probes about it if no one has yet.
/// A matcher returns false/None (no), True (yes, with the probe's own lines) or
/// an iterable of line numbers (yes, at these lines of this code object).
pub fn resolve(py: Python<'_>, code: &Bound<'_, PyAny>) -> Option<Arc<CodeEntry>> {
    let key = code.as_ptr() as usize;
    let matchers: Vec<Py<Probe>> = {
        let guard = lock();
        let reg = guard.as_ref()?;
        if reg.rejected.contains_key(&key) {
            return reg.codes.get(&key).cloned();
        }
        reg.probes
            .iter()
            .filter(|p| p.get().matcher.is_some())
            .filter(|p| {
                !reg.codes
                    .get(&key)
                    .is_some_and(|e| e.targets.iter().any(|t| t.probe.get().id == p.get().id))
            })
            .map(|p| p.clone_ref(py))
            .collect()
    };
    // Ask the matchers without holding the lock: they are Python code.
    let mut found = Vec::new();
    for probe in matchers {
        let p = probe.get();
        let answer = match p.matcher.as_ref().unwrap().call1(py, (code,)) {
            Ok(answer) => answer.into_bound(py),
            Err(err) => {
                err.write_unraisable(py, Some(p.handler.bind(py)));
                continue;
            }
        };
        let lines = if answer.is_none() || answer.is(pyo3::types::PyBool::new(py, false)) {
            continue;
        } else if answer.is(pyo3::types::PyBool::new(py, true)) {
            p.lines.clone()
        } else {
            match super::line_set(&answer) {
                Ok(set) => Some(Arc::new(set)),
                Err(err) => {
                    err.write_unraisable(py, Some(p.handler.bind(py)));
                    continue;
                }
            }
        };
        found.push(Target { probe, lines });
    }
    let mut guard = lock();
    let reg = guard.as_mut()?;
    if found.is_empty() {
        if !reg.codes.contains_key(&key) {
            reg.rejected.insert(key, code.clone().unbind());
        }
    } else {
        // A probe may have been removed while its matcher ran.
        found.retain(|t| reg.probes.iter().any(|p| p.get().id == t.probe.get().id));
        for target in found {
            add_target(py, reg, code, target);
        }
        // Matchers that said no need not be asked again about this code.
        reg.rejected.insert(key, code.clone().unbind());
    }
    reg.codes.get(&key).cloned()
}

#[cfg_attr(not(Py_3_12), allow(dead_code))]
/// Snapshot of the targeted code objects with the union of their events, for
/// backends that switch events on per code object.
pub fn code_events(py: Python<'_>) -> Vec<(usize, Py<PyAny>, u8)> {
    lock().as_ref().map_or_else(Vec::new, |r| {
        r.codes
            .iter()
            .map(|(k, e)| (*k, e.code.clone_ref(py), e.events))
            .collect()
    })
}

#[cfg_attr(not(Py_3_12), allow(dead_code))]
/// Union of the events of all probes, and whether any probe uses a matcher.
pub fn summary() -> (u8, bool) {
    lock().as_ref().map_or((0, false), |r| {
        (r.probes.iter().fold(0, |m, p| m | p.get().events), r.matchers > 0)
    })
}
