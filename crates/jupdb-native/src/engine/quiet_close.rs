//! Generators that end without an event (3.13's `close()` fast path, see
//! [`compat::CLOSE_MAY_RUN_NOTHING`](crate::compat::generator_frames::CLOSE_MAY_RUN_NOTHING)): each targeted generator frame gets an
//! [`EndWatch`] that CPython releases with the frame's locals. Released while
//! its call is still open, it means that `close()` ended the generator without
//! running it, and the call ends with `GeneratorExit`, as if thrown in.

use super::{fire_raise, registry, RETURN};
use crate::compat::generator_frames as compat;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Open calls of watched generator frames: frame address → (the watch's
/// token, the frame, kept alive so that its address names it alone).
type OpenCalls = FxHashMap<usize, (u64, Py<PyAny>)>;

static OPEN: Mutex<Option<OpenCalls>> = Mutex::new(None);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

#[pyclass(frozen, module = "jupdb._native")]
struct EndWatch {
    frame: usize,
    token: u64,
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        Python::with_gil(|py| closed_quietly(py, self.frame, self.token));
    }
}

/// Watches a targeted generator frame that just started.
pub fn watch(py: Python<'_>, frame: &Bound<'_, PyAny>) {
    if !compat::CLOSE_MAY_RUN_NOTHING {
        return;
    }
    let key = frame.as_ptr() as usize;
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let Ok(watch) = Bound::new(py, EndWatch { frame: key, token }) else {
        return;
    };
    if compat::release_with_frame(frame, watch.into_any()) {
        let old = OPEN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(FxHashMap::default)
            .insert(key, (token, frame.clone().unbind()));
        drop(old); // outside the lock: dropping a frame may release another watch
    }
}

/// The call of `frame` ended with an event: its watch has nothing left to tell.
pub fn ended(frame: &Bound<'_, PyAny>) {
    if compat::CLOSE_MAY_RUN_NOTHING {
        let old = OPEN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|open| open.remove(&(frame.as_ptr() as usize)));
        drop(old);
    }
}

/// The last probe went: forget every open call.
pub fn clear() {
    let old = OPEN.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(old);
}

fn closed_quietly(py: Python<'_>, key: usize, token: u64) {
    let open = {
        let mut guard = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(open) if open.get(&key).is_some_and(|(t, _)| *t == token) => open.remove(&key),
            _ => None,
        }
    };
    let Some((_, frame)) = open else { return };
    let frame = frame.bind(py);
    let Ok(code) = frame.getattr(pyo3::intern!(py, "f_code")) else {
        return;
    };
    let Some(entry) = registry::lookup(code.as_ptr() as usize) else {
        return;
    };
    if entry.events & RETURN == 0 {
        return;
    }
    compat::forget_freed_locals(frame);
    // Released inside CPython's own work (a deallocation): keep its error state.
    let saved = PyErr::take(py);
    let exit = pyo3::exceptions::PyGeneratorExit::new_err(()).into_value(py);
    fire_raise(py, &entry, frame, exit.bind(py).as_any());
    if let Some(err) = saved {
        err.restore(py);
    }
}
