//! `jupdb._native`: the Rust core of jupdb.
//!
//! - `engine`: decides when probes fire (sys.monitoring on 3.12+, C hooks before).
//! - `frames`: reading and writing the variables of live frames.
//! - `compat`: every CPython version difference, in one place.
//! - `remote`: the remote debugger's server, client and I/O thread.
//! - `attach`: running a bootstrap in a Python program that never imported jupdb.

#[cfg(target_os = "linux")]
mod attach;
mod compat;
mod engine;
mod frames;
mod remote;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Probe>()?;
    m.add_class::<engine::CallInfo>()?;
    m.add_class::<engine::CallRecorder>()?;
    m.add_class::<engine::Actions>()?;
    m.add("CALL", engine::CALL)?;
    m.add("RETURN", engine::RETURN)?;
    m.add("LINE", engine::LINE)?;
    m.add_function(wrap_pyfunction!(engine::install, m)?)?;
    m.add_function(wrap_pyfunction!(engine::uninstall, m)?)?;
    m.add_function(wrap_pyfunction!(engine::active_probes, m)?)?;
    m.add_function(wrap_pyfunction!(engine::backend_name, m)?)?;
    m.add_function(wrap_pyfunction!(engine::watch_running_code, m)?)?;
    m.add_function(wrap_pyfunction!(engine::code_lines, m)?)?;
    m.add_function(wrap_pyfunction!(engine::restore_trace, m)?)?;
    m.add_function(wrap_pyfunction!(engine::hold_line_events, m)?)?;
    m.add_function(wrap_pyfunction!(engine::line_event_number, m)?)?;
    m.add_function(wrap_pyfunction!(frames::write_locals, m)?)?;
    m.add_function(wrap_pyfunction!(frames::first_argument, m)?)?;
    m.add_function(wrap_pyfunction!(frames::commit_locals, m)?)?;
    #[cfg(target_os = "linux")]
    attach::register(m)?;
    remote::register(m)
}
