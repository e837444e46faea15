//! A breakpoint's condition and actions, run by the engine at each hit.
//!
//! The condition and `eval` expressions are code objects the engine evaluates
//! itself (`PyEval_EvalCode`) on a copy of the frame's locals, so such a hit
//! calls no Python function of jupdb's; every other action is a Python
//! callable given the frame.

use crate::compat;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::{PyTraverseError, PyVisit};
use std::sync::{Arc, Mutex};

enum Action {
    /// Appends the value of `code` in the frame to `results`.
    Eval {
        code: Py<PyAny>,
        variables: Option<Py<PyDict>>,
        results: Py<PyList>,
        what: String,
    },
    /// Calls `function(frame)`.
    Call { function: Py<PyAny>, what: String },
}

/// The condition and the actions of one breakpoint.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Actions {
    cond: Option<(Py<PyAny>, String)>,
    /// Replaced (not changed) when an action is added, so a hit runs a snapshot.
    actions: Mutex<Arc<Vec<Arc<Action>>>>,
    /// `report(what, exc, frame)`: reports a failure (as a warning).
    report: Py<PyAny>,
}

fn check_code(code: &Bound<'_, PyAny>) -> PyResult<()> {
    if code.get_type().name()? != "code" {
        return Err(pyo3::exceptions::PyTypeError::new_err("expected a code object"));
    }
    Ok(())
}

#[pymethods]
impl Actions {
    #[new]
    #[pyo3(signature = (*, cond, cond_text, report))]
    fn new(cond: Option<Bound<'_, PyAny>>, cond_text: String, report: Py<PyAny>) -> PyResult<Self> {
        if let Some(cond) = &cond {
            check_code(cond)?;
        }
        Ok(Actions {
            cond: cond.map(|c| (c.unbind(), cond_text)),
            actions: Mutex::new(Arc::new(Vec::new())),
            report,
        })
    }

    /// Adds an action that appends the value of `code` (an eval code object),
    /// evaluated in the frame with `variables` added, to `results`.
    #[pyo3(signature = (code, variables, results, what))]
    fn add_eval(
        &self,
        code: Bound<'_, PyAny>,
        variables: Option<Bound<'_, PyDict>>,
        results: Bound<'_, PyList>,
        what: String,
    ) -> PyResult<()> {
        check_code(&code)?;
        self.push(Action::Eval {
            code: code.unbind(),
            variables: variables.map(Bound::unbind),
            results: results.unbind(),
            what,
        });
        Ok(())
    }

    /// Adds an action that calls `function(frame)`.
    fn add_call(&self, function: Py<PyAny>, what: String) {
        self.push(Action::Call { function, what });
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(self.cond.as_ref().map(|(code, _)| code))?;
        visit.call(&self.report)?;
        if let Ok(actions) = self.actions.try_lock() {
            for action in actions.iter() {
                match &**action {
                    Action::Eval {
                        code,
                        variables,
                        results,
                        ..
                    } => {
                        visit.call(code)?;
                        visit.call(variables)?;
                        visit.call(results)?;
                    }
                    Action::Call { function, .. } => visit.call(function)?,
                }
            }
        }
        Ok(())
    }

    /// Runs the condition and, if it holds, the actions, in `frame`.
    fn run(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) {
        self.hit(py, frame)
    }
}

/// Evaluates `code` with the frame's globals and `locals`.
fn evaluate<'py>(
    py: Python<'py>,
    code: &Py<PyAny>,
    globals: &Bound<'py, PyAny>,
    locals: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: a code object (checked when added), a dict of globals and of locals; the GIL held.
    unsafe {
        let value = ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), locals.as_ptr());
        Bound::from_owned_ptr_or_err(py, value)
    }
}

impl Actions {
    fn push(&self, action: Action) {
        let mut guard = self.actions.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<Arc<Action>> = guard.iter().cloned().collect();
        list.push(Arc::new(action));
        let old = std::mem::replace(&mut *guard, Arc::new(list));
        drop(guard);
        drop(old);
    }

    fn fail(&self, py: Python<'_>, what: &str, err: PyErr, frame: &Bound<'_, PyAny>) {
        if let Err(err) = self.report.call1(py, (what, err.into_value(py), frame)) {
            err.write_unraisable(py, Some(self.report.bind(py)));
        }
    }

    /// A hit in `frame`: the condition, then each action in order. A failing
    /// condition skips the hit; a failing action is reported and the next runs.
    pub fn hit(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) {
        let globals = match frame.getattr(pyo3::intern!(py, "f_globals")) {
            Ok(globals) => globals,
            Err(err) => return self.fail(py, "breakpoint", err, frame),
        };
        // The frame's locals, read once and again after an action that may change them.
        let mut locals: Option<Bound<'_, PyDict>> = None;
        if let Some((cond, text)) = &self.cond {
            let holds = compat::locals_snapshot(frame)
                .and_then(|snapshot| {
                    // Its own copy: a `:=` in the condition stays out of the actions' view.
                    evaluate(py, cond, &globals, &snapshot)?.is_truthy()
                })
                .map_err(|err| self.fail(py, &format!("breakpoint condition {text}"), err, frame));
            if holds != Ok(true) {
                return;
            }
        }
        let actions = self.actions.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (i, action) in actions.iter().enumerate() {
            match &**action {
                Action::Eval {
                    code,
                    variables,
                    results,
                    what,
                } => {
                    // Each expression gets its own namespace, so a `:=` stays in it: the
                    // last one to read this snapshot (before an action may change the
                    // frame) takes it, the others a copy.
                    let shared = matches!(actions.get(i + 1).map(|a| &**a), Some(Action::Eval { .. }));
                    let value = (|| {
                        let namespace = match locals.take() {
                            Some(base) if shared => {
                                let copy = base.copy()?;
                                locals = Some(base);
                                copy
                            }
                            Some(base) => base,
                            None if shared => {
                                let base = compat::locals_snapshot(frame)?;
                                let copy = base.copy()?;
                                locals = Some(base);
                                copy
                            }
                            None => compat::locals_snapshot(frame)?,
                        };
                        if let Some(variables) = variables {
                            namespace.update(variables.bind(py).as_mapping())?;
                        }
                        let value = evaluate(py, code, &globals, &namespace)?;
                        results.bind(py).append(value)
                    })();
                    if let Err(err) = value {
                        self.fail(py, &format!("breakpoint action {what}"), err, frame);
                    }
                }
                Action::Call { function, what } => {
                    locals = None;
                    if let Err(err) = function.call1(py, (frame,)) {
                        self.fail(py, &format!("breakpoint action {what}"), err, frame);
                    }
                }
            }
        }
    }
}
