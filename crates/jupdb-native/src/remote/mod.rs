//! The remote debugger's transport: the debuggee's server, the client, and
//! the runtime they share. Messages follow `jupdb-protocol` (docs/protocol.md).

mod client;
mod connection;
mod digest;
mod frame;
mod interrupt;
mod output;
mod runtime;
mod server;
mod subscribers;
mod values;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<server::Server>()?;
    m.add_class::<server::PauseHandle>()?;
    m.add_class::<server::Request>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<frame::Frame>()?;
    m.add_class::<output::OutputTee>()?;
    m.add_function(wrap_pyfunction!(digest::digest, m)?)?;
    m.add_function(wrap_pyfunction!(interrupt::run_interruptibly, m)?)?;
    m.add_function(wrap_pyfunction!(interrupt::raise_interrupts, m)?)?;
    connection::register(m)
}
