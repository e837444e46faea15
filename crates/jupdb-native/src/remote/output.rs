//! The debuggee's `sys.stdout` and `sys.stderr`, forwarded as `output` events.
//!
//! While a server runs, both streams are wrapped in an [`OutputTee`]: every
//! write goes to the original stream as before, and its text is also queued
//! in an [`OutputQueue`]. The server publishes the queue in batches, at most
//! every [`BATCH`], so a program that prints in a loop pays for one string
//! append per write, not for a signed message; and at once before any other
//! event, so a client sees what was printed before the pause that followed.
//! What waits is capped at [`QUEUE_LIMIT`] bytes: beyond that the text is
//! counted as dropped, so the program is neither slowed down nor grown by a
//! client that cannot keep up.

use super::runtime::Process;
use super::server::Server;
use jupdb_protocol::Value;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long written text may wait before it is published.
pub const BATCH: Duration = Duration::from_millis(10);

/// The most text (UTF-8 bytes) that waits to be published.
pub const QUEUE_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Default)]
struct Queued {
    /// Consecutive writes to the same stream, joined.
    runs: Vec<(Stream, String)>,
    bytes: usize,
    /// Bytes not queued because the queue was full.
    dropped: usize,
    closed: bool,
}

/// Text written and not yet published.
#[derive(Default)]
pub struct OutputQueue {
    queued: Mutex<Queued>,
    /// Signalled when text arrives in an empty queue.
    pub arrived: Notify,
}

impl OutputQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `text`, as much of it as fits.
    pub fn push(&self, stream: Stream, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut queued = self.lock();
        if queued.closed {
            return;
        }
        let was_empty = queued.runs.is_empty();
        let kept = &text[..floor_char_boundary(text, QUEUE_LIMIT - queued.bytes)];
        queued.dropped += text.len() - kept.len();
        if !kept.is_empty() {
            queued.bytes += kept.len();
            match queued.runs.last_mut() {
                Some((last, run)) if *last == stream => run.push_str(kept),
                _ => queued.runs.push((stream, kept.to_owned())),
            }
        }
        drop(queued);
        if was_empty {
            self.arrived.notify_one();
        }
    }

    /// The contents of the `output` events for everything queued, oldest
    /// first, emptying the queue. The last one says how much was dropped.
    pub fn take(&self) -> Vec<Value> {
        let mut queued = self.lock();
        let (runs, dropped) = (std::mem::take(&mut queued.runs), std::mem::take(&mut queued.dropped));
        queued.bytes = 0;
        drop(queued);
        let count = runs.len();
        runs.into_iter()
            .enumerate()
            .map(|(i, (stream, text))| {
                let mut content = vec![("name".into(), stream.name().into()), ("text".into(), text.into())];
                if i + 1 == count && dropped > 0 {
                    content.push(("dropped".into(), dropped.into()));
                }
                Value::Map(content)
            })
            .collect()
    }

    /// Stops queueing: later writes only go to the original streams.
    pub fn close(&self) {
        let mut queued = self.lock();
        *queued = Queued::default();
        queued.closed = true;
    }
}

/// The largest `n <= limit` that cuts `text` between two characters.
fn floor_char_boundary(text: &str, limit: usize) -> usize {
    if limit >= text.len() {
        return text.len();
    }
    (0..=limit).rev().find(|&n| text.is_char_boundary(n)).unwrap_or(0)
}

/// Stands in for `sys.stdout` or `sys.stderr`: writes go to the original
/// stream, and their text is queued to be published by `server`.
///
/// The rest of the stream's attributes (`encoding`, `fileno()`, …) are left
/// to a Python subclass's `__getattr__`: one defined here would run PyO3's
/// wrapper on every attribute lookup, `print`'s lookup of `write` included,
/// and double what a write costs.
#[pyclass(frozen, subclass, module = "jupdb._native")]
pub struct OutputTee {
    original: Py<PyAny>,
    /// `original.write`, looked up once.
    write: Py<PyAny>,
    stream: Stream,
    queue: Arc<OutputQueue>,
    /// The server's process: a forked child leaves the parent's queue alone
    /// (its lock may have been held by a thread that the fork left behind).
    process: Process,
}

#[pymethods]
impl OutputTee {
    /// `stream` is "stdout" or "stderr", `original` the stream written to.
    #[new]
    fn new(server: &Bound<'_, Server>, stream: &str, original: Bound<'_, PyAny>) -> PyResult<Self> {
        let stream = match stream {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            other => return Err(PyValueError::new_err(format!("no stream {other:?} (stdout or stderr)"))),
        };
        let write = original.getattr(pyo3::intern!(original.py(), "write"))?.unbind();
        let server = server.get();
        Ok(OutputTee {
            original: original.unbind(),
            write,
            stream,
            queue: server.output_queue(),
            process: server.process(),
        })
    }

    /// Writes to the original stream (whose errors are the program's own, and
    /// raise as before), then queues the text.
    fn write<'py>(&self, py: Python<'py>, text: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let written = self.write.bind(py).call1((text,))?;
        if !self.process.is_current() {
            return Ok(written);
        }
        if let Ok(text) = text.downcast::<PyString>() {
            self.queue.push(self.stream, &text.to_string_lossy());
        }
        Ok(written)
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.write(py, &line?)?;
        }
        Ok(())
    }

    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.original.bind(py).call_method0(pyo3::intern!(py, "flush"))?;
        Ok(())
    }

    /// The stream this one stands in for.
    #[getter]
    fn original(&self, py: Python<'_>) -> Py<PyAny> {
        self.original.clone_ref(py)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(contents: &[Value]) -> Vec<(String, String, Option<u64>)> {
        contents
            .iter()
            .map(|c| {
                let field = |key: &str| {
                    c.as_map()
                        .unwrap()
                        .iter()
                        .find(|(k, _)| k.as_str() == Some(key))
                        .map(|(_, v)| v.clone())
                };
                (
                    field("name").unwrap().as_str().unwrap().to_owned(),
                    field("text").unwrap().as_str().unwrap().to_owned(),
                    field("dropped").and_then(|v| v.as_u64()),
                )
            })
            .collect()
    }

    #[test]
    fn writes_to_one_stream_are_joined_and_streams_keep_their_order() {
        let queue = OutputQueue::default();
        queue.push(Stream::Stdout, "a");
        queue.push(Stream::Stdout, "b\n");
        queue.push(Stream::Stderr, "oops\n");
        queue.push(Stream::Stdout, "c");
        assert_eq!(
            texts(&queue.take()),
            [
                ("stdout".into(), "ab\n".into(), None),
                ("stderr".into(), "oops\n".into(), None),
                ("stdout".into(), "c".into(), None)
            ]
        );
        assert!(queue.take().is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_splits_a_character() {
        let queue = OutputQueue::default();
        queue.push(Stream::Stdout, &"x".repeat(QUEUE_LIMIT - 1));
        queue.push(Stream::Stdout, "é and more"); // 'é' is two bytes: none of it fits
        queue.push(Stream::Stdout, "yz"); // 'y' fits
        queue.push(Stream::Stderr, "lost");
        let taken = texts(&queue.take());
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.len(), QUEUE_LIMIT);
        assert!(taken[0].1.ends_with("xy"));
        assert_eq!(taken[0].2, Some(("é and more".len() + 1 + 4) as u64));
        // Emptied, it takes text again.
        queue.push(Stream::Stderr, "back");
        assert_eq!(texts(&queue.take()), [("stderr".into(), "back".into(), None)]);
    }

    #[test]
    fn a_closed_queue_takes_nothing() {
        let queue = OutputQueue::default();
        queue.push(Stream::Stdout, "before");
        queue.close();
        queue.push(Stream::Stdout, "after");
        assert!(queue.take().is_empty());
        queue.push(Stream::Stdout, "after a take");
        assert!(queue.take().is_empty());
    }
}
