//! Frame access for the Python layer: the version-specific parts are in `compat`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// Writes `updates` into the local variables of the running `frame` and unbinds
/// the names in `deleted`, so the function continues with the new values.
#[pyfunction]
#[pyo3(signature = (frame, updates, deleted=Vec::new()))]
pub fn write_locals(
    frame: &Bound<'_, PyAny>,
    updates: &Bound<'_, PyDict>,
    deleted: Vec<Bound<'_, PyString>>,
) -> PyResult<()> {
    if frame.get_type().name()? != "frame" {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "write_locals needs a frame object",
        ));
    }
    crate::compat::write_locals(frame, updates, &deleted)
}

/// The value of the frame's first argument (`self` in a method), or None.
#[pyfunction]
pub fn first_argument<'py>(frame: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    crate::compat::first_argument(frame)
}

/// Makes changes made to the dict that `frame.f_locals` returned (by pdb, or
/// by a callback) take effect in the running frame. Read `frame.f_locals`
/// first: that is the snapshot this copies back.
#[pyfunction]
pub fn commit_locals(frame: &Bound<'_, PyAny>) -> PyResult<()> {
    crate::compat::commit_locals(frame)
}
