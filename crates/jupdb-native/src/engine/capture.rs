//! Call captures recorded by the engine itself, without calling into Python.
//!
//! A [`CallRecorder`] attached to a probe pairs each targeted frame's start with
//! its end. At the start it keeps only what is cheap and cannot be read later:
//! the argument values, the calling frames as `(code, instruction offset)` (line
//! numbers and source are read only when `stack` is asked for) and the thread.
//! No frame object outlives its call. At the end it adds the locals, globals and
//! result, and hands a [`CallInfo`] to its sink: a list (`capture_calls`) or one
//! `CallInfo` that always shows the latest call (`capture_call`).

use crate::compat;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

/// One calling frame: its code and where in it the call was, linked to its caller.
/// Calls from the same place share their nodes.
struct StackNode {
    code: Py<PyAny>,
    lasti: i32,
    parent: Option<Arc<StackNode>>,
}

/// What each thread keeps between the calls it records.
struct ThreadCache {
    /// The last recorded stack, outermost first: most calls come from where the
    /// previous one came from, and share its nodes.
    last_stack: Vec<Arc<StackNode>>,
    /// `threading.current_thread()`: the same object for the thread's life.
    thread: Option<Py<PyAny>>,
}

thread_local! {
    static THREAD_CACHE: RefCell<ThreadCache> = const {
        RefCell::new(ThreadCache { last_stack: Vec::new(), thread: None })
    };
}

/// The stack of `frame` (itself included), sharing what it can with the last
/// one, and this thread's `threading.Thread`.
fn record_stack<'py>(frame: &Bound<'py, PyAny>) -> PyResult<(Arc<StackNode>, Bound<'py, PyAny>)> {
    let py = frame.py();
    let mut chain: Vec<(Bound<'_, PyAny>, i32)> = Vec::with_capacity(32);
    let mut current = Some(frame.clone());
    while let Some(f) = current {
        chain.push((compat::frame_code(&f), compat::frame_lasti(&f)));
        current = compat::frame_back(&f);
    }
    let thread = THREAD_CACHE.with(|cache| cache.borrow().thread.as_ref().map(|t| t.clone_ref(py)));
    let thread = match thread {
        Some(thread) => thread.into_bound(py),
        None => {
            // Asked once per thread, without holding the cache: this runs Python code.
            let thread = current_thread(py)?;
            THREAD_CACHE.with(|cache| cache.borrow_mut().thread = Some(thread.clone().unbind()));
            thread
        }
    };
    let top = THREAD_CACHE.with(|cache| {
        let last = &mut cache.borrow_mut().last_stack;
        let mut path: Vec<Arc<StackNode>> = Vec::with_capacity(chain.len());
        let mut shared = true;
        for (depth, (code, lasti)) in chain.iter().rev().enumerate() {
            let reuse = shared
                .then(|| last.get(depth))
                .flatten()
                .filter(|node| node.code.as_ptr() == code.as_ptr() && node.lasti == *lasti);
            let node = match reuse {
                Some(node) => node.clone(),
                None => {
                    shared = false;
                    Arc::new(StackNode {
                        code: code.clone().unbind(),
                        lasti: *lasti,
                        parent: path.last().cloned(),
                    })
                }
            };
            path.push(node);
        }
        let top = path.last().cloned().expect("a frame is on its own stack");
        *last = path;
        top
    });
    Ok((top, thread))
}

/// The names of a code object's arguments, as `inspect.getargvalues` lists them.
fn argument_names<'py>(code: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    const CO_VARARGS: i64 = 0x4;
    const CO_VARKEYWORDS: i64 = 0x8;
    let py = code.py();
    let count = |attr| -> PyResult<usize> { code.getattr(attr)?.extract() };
    let flags: i64 = code.getattr(pyo3::intern!(py, "co_flags"))?.extract()?;
    let mut n = count(pyo3::intern!(py, "co_argcount"))? + count(pyo3::intern!(py, "co_kwonlyargcount"))?;
    n += usize::from(flags & CO_VARARGS != 0) + usize::from(flags & CO_VARKEYWORDS != 0);
    let varnames = code.getattr(pyo3::intern!(py, "co_varnames"))?;
    varnames
        .get_item(pyo3::types::PySlice::new(py, 0, n as isize, 1))?
        .downcast_into::<PyTuple>()
        .map_err(Into::into)
}

/// The names a code object's calls are recorded with.
struct CodeNames {
    /// Its arguments, as `inspect.getargvalues` lists them.
    args: Py<PyTuple>,
    /// All its variables in `frame.f_locals` order (a function's code only).
    locals: Option<Py<PyTuple>>,
}

fn code_names(code: &Bound<'_, PyAny>) -> PyResult<CodeNames> {
    const CO_OPTIMIZED: i64 = 0x1;
    let py = code.py();
    let flags: i64 = code.getattr(pyo3::intern!(py, "co_flags"))?.extract()?;
    let locals = if flags & CO_OPTIMIZED != 0 {
        let varnames = code
            .getattr(pyo3::intern!(py, "co_varnames"))?
            .downcast_into::<PyTuple>()?;
        let mut names: Vec<Bound<'_, PyAny>> = varnames.iter().collect();
        for cell in code.getattr(pyo3::intern!(py, "co_cellvars"))?.try_iter()? {
            let cell = cell?;
            if !varnames.contains(&cell)? {
                names.push(cell);
            }
        }
        names.extend(
            code.getattr(pyo3::intern!(py, "co_freevars"))?
                .try_iter()?
                .collect::<PyResult<Vec<_>>>()?,
        );
        Some(PyTuple::new(py, names)?.unbind())
    } else {
        None
    };
    Ok(CodeNames {
        args: argument_names(code)?.unbind(),
        locals,
    })
}

/// A call's locals at its end: the values of its variables (a dict of them is
/// made when first asked for), or the dict `frame.f_locals` gave.
enum Locals {
    Values {
        names: Py<PyTuple>,
        values: Vec<Option<Py<PyAny>>>,
        dict: OnceLock<Py<PyAny>>,
    },
    Dict(Py<PyAny>),
}

impl Locals {
    fn read(frame: &Bound<'_, PyAny>, names: &Arc<CodeNames>) -> PyResult<Locals> {
        let py = frame.py();
        if let Some(names) = &names.locals {
            if let Some(values) = compat::variable_values(frame, names.bind(py)) {
                return Ok(Locals::Values {
                    names: names.clone_ref(py),
                    values,
                    dict: OnceLock::new(),
                });
            }
        }
        Ok(Locals::Dict(compat::locals_snapshot(frame)?.into_any().unbind()))
    }

    fn dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Locals::Dict(dict) => Ok(dict.clone_ref(py)),
            Locals::Values { names, values, dict } => once(dict, py, || {
                let locals = PyDict::new(py);
                for (name, value) in names.bind(py).iter().zip(values) {
                    if let Some(value) = value {
                        locals.set_item(name, value)?;
                    }
                }
                Ok::<_, PyErr>(locals.into_any().unbind())
            }),
        }
    }
}

/// What is known of a call at its start.
struct Started {
    /// Held so that its address, the key of this call, is not reused while it is open.
    _frame: Py<PyAny>,
    code: Py<PyAny>,
    names: Arc<CodeNames>,
    arg_values: Vec<Option<Py<PyAny>>>,
    stack: Arc<StackNode>,
    thread: Py<PyAny>,
    thread_id: u64,
}

/// A finished call.
pub struct Call {
    code: Py<PyAny>,
    names: Arc<CodeNames>,
    arg_values: Vec<Option<Py<PyAny>>>,
    stack: Arc<StackNode>,
    thread: Py<PyAny>,
    thread_id: u64,
    locals: Locals,
    globals: Py<PyAny>,
    return_value: Py<PyAny>,
    exception: Py<PyAny>,
    /// Built on first access, then the same object every time.
    args: OnceLock<Py<PyAny>>,
    stack_summary: OnceLock<Py<PyAny>>,
}

/// What happened in one call (the base of `jupdb.CallInfo`): every attribute is
/// None until a call is recorded into it.
#[pyclass(frozen, subclass, dict, module = "jupdb._native", name = "CallInfo")]
pub struct CallInfo {
    call: Mutex<Option<Arc<Call>>>,
}

impl Call {
    /// Visits the references this call owns alone (the stack's nodes and the
    /// names are shared between calls, and hold only code objects and strings).
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for value in self.arg_values.iter().flatten() {
            visit.call(value)?;
        }
        match &self.locals {
            Locals::Values { values, dict, .. } => {
                for value in values.iter().flatten() {
                    visit.call(value)?;
                }
                visit.call(dict.get())?;
            }
            Locals::Dict(dict) => visit.call(dict)?,
        }
        visit.call(&self.code)?;
        visit.call(&self.thread)?;
        visit.call(&self.globals)?;
        visit.call(&self.return_value)?;
        visit.call(&self.exception)?;
        visit.call(self.args.get())?;
        visit.call(self.stack_summary.get())
    }
}

impl CallInfo {
    fn get(&self) -> Option<Arc<Call>> {
        self.call.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, call: Arc<Call>) {
        let old = self.call.lock().unwrap_or_else(|e| e.into_inner()).replace(call);
        drop(old); // may run Python finalizers: after the lock is gone
    }
}

/// The value of `cell`, made by `make` the first time (if two threads race, the
/// first value stored wins and both get it).
fn once(cell: &OnceLock<Py<PyAny>>, py: Python<'_>, make: impl FnOnce() -> PyResult<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    if let Some(value) = cell.get() {
        return Ok(value.clone_ref(py));
    }
    let value = make()?;
    let _ = cell.set(value);
    Ok(cell.get().expect("set above").clone_ref(py))
}

fn ordered_dict(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static ORDERED_DICT: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    ORDERED_DICT.import(py, "collections", "OrderedDict")
}

#[pymethods]
impl CallInfo {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        CallInfo { call: Mutex::new(None) }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Each call belongs to one CallInfo only, so each reference is visited once.
        match self.call.try_lock() {
            Ok(call) => call.as_ref().map_or(Ok(()), |call| call.traverse(&visit)),
            Err(_) => Ok(()),
        }
    }

    fn __clear__(&self) {
        let old = self.call.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
    }

    /// Name of the function's code object.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get()
            .map(|c| c.code.bind(py).getattr(pyo3::intern!(py, "co_name")).map(Bound::unbind))
            .transpose()
    }

    /// File the function is defined in.
    #[getter]
    fn file(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get()
            .map(|c| {
                c.code
                    .bind(py)
                    .getattr(pyo3::intern!(py, "co_filename"))
                    .map(Bound::unbind)
            })
            .transpose()
    }

    /// Arguments as they were at the call, in an `OrderedDict`.
    #[getter]
    fn args(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let Some(call) = self.get() else { return Ok(None) };
        once(&call.args, py, || {
            let args = ordered_dict(py)?.call0()?;
            for (name, value) in call.names.args.bind(py).iter().zip(&call.arg_values) {
                if let Some(value) = value {
                    args.set_item(name, value)?;
                }
            }
            Ok::<_, PyErr>(args.unbind())
        })
        .map(Some)
    }

    /// Local variables at return.
    #[getter]
    fn locals(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get().map(|c| c.locals.dict(py)).transpose()
    }

    /// The function's globals.
    #[getter]
    fn globals(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.get().map(|c| c.globals.clone_ref(py))
    }

    /// What the call returned (None if it raised).
    #[getter]
    fn return_value(&self, py: Python<'_>) -> Py<PyAny> {
        self.get().map_or_else(|| py.None(), |c| c.return_value.clone_ref(py))
    }

    /// The exception that ended the call, or None.
    #[getter]
    fn exception(&self, py: Python<'_>) -> Py<PyAny> {
        self.get().map_or_else(|| py.None(), |c| c.exception.clone_ref(py))
    }

    /// Name of the thread the call ran in.
    #[getter]
    fn thread_name(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.get()
            .map(|c| c.thread.bind(py).getattr(pyo3::intern!(py, "name")).map(Bound::unbind))
            .transpose()
    }

    /// `threading.get_ident()` of the thread the call ran in.
    #[getter]
    fn thread_id(&self) -> Option<u64> {
        self.get().map(|c| c.thread_id)
    }

    /// The call stack at the call, built by `build(frames)` from the
    /// `(code, instruction offset)` of each frame, outermost first, on first use.
    fn _stack(&self, py: Python<'_>, build: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let Some(call) = self.get() else { return Ok(None) };
        once(&call.stack_summary, py, || {
            let mut frames = Vec::new();
            let mut node = Some(&call.stack);
            while let Some(n) = node {
                frames.push((n.code.clone_ref(py), n.lasti));
                node = n.parent.as_ref();
            }
            frames.reverse();
            build.call1((PyList::new(py, frames)?,)).map(Bound::unbind)
        })
        .map(Some)
    }
}

/// Code address → (the code object, kept alive, and its names).
type NamesByCode = FxHashMap<usize, (Py<PyAny>, Arc<CodeNames>)>;

/// Records the calls of a probe's frames into `sink`.
#[pyclass(frozen, module = "jupdb._native")]
pub struct CallRecorder {
    /// A list to append to, or a `CallInfo` that shows the latest call.
    sink: Py<PyAny>,
    latest: bool,
    /// The `CallInfo` subclass appended to a list sink.
    info_type: Py<PyType>,
    /// `report(what, exc, frame)`: reports a failure (as a warning).
    report: Py<PyAny>,
    open: Mutex<FxHashMap<usize, Started>>,
    /// Names per code object (kept alive, so its address stays its own).
    names: Mutex<NamesByCode>,
}

#[pymethods]
impl CallRecorder {
    #[new]
    #[pyo3(signature = (sink, *, info_type, report))]
    fn new(sink: Bound<'_, PyAny>, info_type: Bound<'_, PyType>, report: Py<PyAny>) -> PyResult<Self> {
        let latest = sink.downcast::<CallInfo>().is_ok();
        if !latest && sink.downcast::<PyList>().is_err() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "the sink must be a list or a CallInfo",
            ));
        }
        if !info_type.is_subclass_of::<CallInfo>()? {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "info_type must be a CallInfo subclass",
            ));
        }
        Ok(CallRecorder {
            sink: sink.unbind(),
            latest,
            info_type: info_type.unbind(),
            report,
            open: Mutex::new(FxHashMap::default()),
            names: Mutex::new(FxHashMap::default()),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.sink)?;
        visit.call(&self.info_type)?;
        visit.call(&self.report)?;
        if let Ok(open) = self.open.try_lock() {
            for started in open.values() {
                for value in started.arg_values.iter().flatten() {
                    visit.call(value)?;
                }
            }
        }
        Ok(())
    }

    /// Number of calls started and not ended yet.
    fn open_calls(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn current_thread(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static CURRENT_THREAD: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    CURRENT_THREAD.import(py, "threading", "current_thread")?.call0()
}

impl CallRecorder {
    fn names_of(&self, code: &Bound<'_, PyAny>) -> PyResult<Arc<CodeNames>> {
        let key = code.as_ptr() as usize;
        if let Some((_, names)) = self.names.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(names.clone());
        }
        let names = Arc::new(code_names(code)?);
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (code.clone().unbind(), names.clone()));
        Ok(names)
    }

    fn fail(&self, py: Python<'_>, what: &str, err: PyErr, frame: &Bound<'_, PyAny>) {
        if let Err(err) = self.report.call1(py, (what, err.into_value(py), frame)) {
            err.write_unraisable(py, Some(self.report.bind(py)));
        }
    }

    /// A targeted call starts in `frame`.
    pub fn start(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) {
        if let Err(err) = self.try_start(py, frame) {
            self.fail(py, "capturing a call", err, frame);
        }
    }

    fn try_start(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        let code = compat::frame_code(frame);
        let names = self.names_of(&code)?;
        let arg_names = names.args.bind(py);
        let mut arg_values = Vec::with_capacity(arg_names.len());
        for name in arg_names.iter() {
            arg_values.push(compat::frame_variable(frame, &name)?.map(Bound::unbind));
        }
        let (stack, thread) = record_stack(frame)?;
        let started = Started {
            _frame: frame.clone().unbind(),
            code: code.unbind(),
            names,
            arg_values,
            stack,
            thread: thread.unbind(),
            thread_id: super::current_thread(),
        };
        let old = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(frame.as_ptr() as usize, started);
        drop(old);
        Ok(())
    }

    /// The call in `frame` ends, returning `value` or raising `exc` (`raised`).
    pub fn end(&self, py: Python<'_>, frame: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, raised: bool) {
        let started = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(frame.as_ptr() as usize));
        let Some(started) = started else { return };
        if let Err(err) = self.try_end(py, frame, started, value, raised) {
            self.fail(py, "capturing a call", err, frame);
        }
    }

    fn try_end(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        started: Started,
        value: &Bound<'_, PyAny>,
        raised: bool,
    ) -> PyResult<()> {
        let locals = Locals::read(frame, &started.names)?;
        let globals = frame.getattr(pyo3::intern!(py, "f_globals"))?;
        let (return_value, exception) = if raised {
            (py.None(), value.clone().unbind())
        } else {
            (value.clone().unbind(), py.None())
        };
        let Started {
            _frame: _,
            code,
            names,
            arg_values,
            stack,
            thread,
            thread_id,
        } = started;
        let call = Arc::new(Call {
            code,
            names,
            arg_values,
            stack,
            thread,
            thread_id,
            locals,
            globals: globals.unbind(),
            return_value,
            exception,
            args: OnceLock::new(),
            stack_summary: OnceLock::new(),
        });
        let sink = self.sink.bind(py);
        if self.latest {
            sink.downcast::<CallInfo>()?.get().set(call);
        } else {
            let info = self.info_type.bind(py).call0()?;
            info.downcast::<CallInfo>()?.get().set(call);
            sink.downcast::<PyList>()?.append(info)?;
        }
        Ok(())
    }
}
