//! The one I/O thread: a Tokio runtime that drives every socket of the process.
//!
//! Created on first use (a server started or a client connected), so that
//! `import jupdb` starts no thread.

use std::sync::OnceLock;
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime's handle, starting its thread on first use.
pub fn handle() -> Handle {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("jupdb-io")
                .enable_all()
                .build()
                .expect("starting jupdb's I/O thread")
        })
        .handle()
        .clone()
}
