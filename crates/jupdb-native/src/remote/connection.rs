//! Connection files, for Python: written by the debuggee, read by clients.
//!
//! The checks (a directory of the user's alone, files of the user's with
//! mode 0600, no links) are `jupdb_protocol`'s; a refusal is an `OSError`
//! whose message says why.

use jupdb_protocol::{
    list_connection_files, prepare_runtime_dir, read_connection_file, runtime_dir, write_connection_file_in,
    ConnectionFileError, ConnectionInfo,
};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;

fn json_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("json")
}

fn os_error(err: ConnectionFileError) -> PyErr {
    PyOSError::new_err(err.to_string())
}

fn info_from_dict(info: &Bound<'_, PyAny>) -> PyResult<ConnectionInfo> {
    let text: String = json_module(info.py())?.call_method1("dumps", (info,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("bad connection info: {e}")))
}

fn info_to_dict<'py>(py: Python<'py>, info: &ConnectionInfo) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(info).map_err(|e| PyValueError::new_err(e.to_string()))?;
    json_module(py)?.call_method1("loads", (text,))
}

/// The directory connection files are meant to live in (`JUPDB_RUNTIME_DIR`
/// overrides it), whether or not it can be used.
#[pyfunction]
fn connection_dir() -> PyResult<PathBuf> {
    runtime_dir().map_err(os_error)
}

/// The directory to write this process's connection file to, and why the
/// runtime directory was refused when it is a private one instead (None when
/// it is the runtime directory). OSError when neither can be used.
#[pyfunction]
fn prepare_connection_dir() -> PyResult<(PathBuf, Option<String>)> {
    let prepared = prepare_runtime_dir().map_err(os_error)?;
    Ok((
        prepared.dir.path().to_owned(),
        prepared.refused.map(|err| err.to_string()),
    ))
}

/// Writes a connection file (mode 0600) into `dir`, which must be the user's
/// alone (mode 0700, not a link); returns its path.
#[pyfunction]
fn write_connection(info: &Bound<'_, PyAny>, dir: PathBuf) -> PyResult<PathBuf> {
    write_connection_file_in(&dir, &info_from_dict(info)?).map_err(os_error)
}

/// Reads one connection file as a dict: a regular file of the user's with mode 0600.
#[pyfunction]
fn read_connection<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let info = read_connection_file(&path).map_err(os_error)?;
    info_to_dict(py, &info)
}

/// Every live session's `(path, info)`, newest first; what was passed over,
/// each as a sentence that says why; the directories looked in. Files of dead
/// processes are removed.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn list_connections(py: Python<'_>) -> PyResult<(Vec<(PathBuf, Bound<'_, PyAny>)>, Vec<String>, Vec<PathBuf>)> {
    let listing = list_connection_files().map_err(os_error)?;
    let files = listing
        .files
        .into_iter()
        .map(|f| Ok((f.path, info_to_dict(py, &f.info)?)))
        .collect::<PyResult<_>>()?;
    Ok((
        files,
        listing.skipped.iter().map(ToString::to_string).collect(),
        listing.searched,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // What a debuggee writes as its connection file's `signature_scheme`.
    m.add("SIGNATURE_SCHEME", jupdb_protocol::SIGNATURE_SCHEME)?;
    // What a debuggee accepts: a client splits what it sends to fit.
    m.add("MAX_FRAME_LEN", jupdb_protocol::MAX_CONTENT_LEN)?;
    m.add("MAX_REQUEST_LEN", jupdb_protocol::MAX_REQUEST_LEN)?;
    m.add_function(wrap_pyfunction!(connection_dir, m)?)?;
    m.add_function(wrap_pyfunction!(prepare_connection_dir, m)?)?;
    m.add_function(wrap_pyfunction!(write_connection, m)?)?;
    m.add_function(wrap_pyfunction!(read_connection, m)?)?;
    m.add_function(wrap_pyfunction!(list_connections, m)?)?;
    Ok(())
}
