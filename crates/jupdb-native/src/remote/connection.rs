//! Connection files, for Python: written by the debuggee, read by clients.

use jupdb_protocol::{list_connection_files, read_connection_file, runtime_dir, write_connection_file, ConnectionInfo};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;

fn json_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("json")
}

fn info_from_dict(info: &Bound<'_, PyAny>) -> PyResult<ConnectionInfo> {
    let text: String = json_module(info.py())?.call_method1("dumps", (info,))?.extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("bad connection info: {e}")))
}

fn info_to_dict<'py>(py: Python<'py>, info: &ConnectionInfo) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(info).map_err(|e| PyValueError::new_err(e.to_string()))?;
    json_module(py)?.call_method1("loads", (text,))
}

/// The directory connection files live in (`JUPDB_RUNTIME_DIR` overrides it).
#[pyfunction]
fn connection_dir() -> PyResult<PathBuf> {
    runtime_dir().map_err(|e| PyOSError::new_err(e.to_string()))
}

/// Writes a connection file (mode 0600, in a 0700 directory); returns its path.
#[pyfunction]
fn write_connection(info: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    write_connection_file(&info_from_dict(info)?).map_err(|e| PyOSError::new_err(e.to_string()))
}

/// Reads one connection file as a dict.
#[pyfunction]
fn read_connection<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let info = read_connection_file(&path).map_err(|e| PyOSError::new_err(e.to_string()))?;
    info_to_dict(py, &info)
}

/// Every live session's `(path, info)`; files of dead processes are removed.
#[pyfunction]
fn list_connections(py: Python<'_>) -> PyResult<Vec<(PathBuf, Bound<'_, PyAny>)>> {
    let files = list_connection_files().map_err(|e| PyOSError::new_err(e.to_string()))?;
    files.into_iter().map(|f| Ok((f.path, info_to_dict(py, &f.info)?))).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // What a debuggee writes as its connection file's `signature_scheme`.
    m.add("SIGNATURE_SCHEME", jupdb_protocol::SIGNATURE_SCHEME)?;
    m.add_function(wrap_pyfunction!(connection_dir, m)?)?;
    m.add_function(wrap_pyfunction!(write_connection, m)?)?;
    m.add_function(wrap_pyfunction!(read_connection, m)?)?;
    m.add_function(wrap_pyfunction!(list_connections, m)?)?;
    Ok(())
}
