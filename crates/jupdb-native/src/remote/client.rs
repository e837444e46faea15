//! The client's transport: one DEALER, for requests, their replies and events.
//!
//! Any number of Python threads may have requests in flight; replies are
//! matched to them by `parent` msg_id. Waiting happens with the GIL released,
//! and the waiting thread reads the socket itself (see `runtime`). Events
//! (messages without a parent) come only after the client subscribed with a
//! signed request, which [`Client::new`] does before it returns; they wait in
//! an [`Inbox`] until taken, and are acknowledged as they arrive so that the
//! debuggee sends more (its window per client is bounded: see the server's
//! `subscribers`).

use super::frame::{release_sent_buffers, sending_frame, Frame};
use super::runtime;
use super::subscribers::ACK_EVERY;
use super::values::{field, from_value, to_value};
use jupdb_protocol::{
    decode, encode, Bytes, Message, ProtocolError, Signers, Value, MAX_BUFFERS, MAX_CONTENT_LEN, MAX_REQUEST_LEN,
    SIGNATURE_SCHEME,
};
use pyo3::exceptions::{PyConnectionError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};
use zeromq::{DealerRecvHalf, DealerSendHalf, DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage};

struct Shared {
    /// Verify replies and events (debuggee to client); sign requests.
    signers: Signers,
    session: String,
    /// The `seq` of this session's next request (the debuggee refuses one it saw).
    next_seq: AtomicU64,
    /// Requests waiting for their reply, by msg_id.
    pending: Mutex<FxHashMap<String, oneshot::Sender<Message>>>,
    dropped: AtomicU64,
    /// The DEALER's sending half: the requesting thread sends itself.
    /// None once closed: with the reader's half gone too, the connection closes.
    dealer: tokio::sync::Mutex<Option<DealerSendHalf>>,
    /// Events received so far, and their bytes since the last acknowledgement.
    received: Mutex<(u64, usize)>,
}

impl Shared {
    /// The frames of a request of this session: numbered (the debuggee refuses
    /// a `seq` it has seen) and signed.
    fn frames(&self, message: &mut Message) -> Option<ZmqMessage> {
        message.header.seq = Some(self.next_seq.fetch_add(1, Ordering::Relaxed));
        ZmqMessage::try_from(encode(message, &self.signers.outgoing)).ok()
    }

    /// Sends `message`, then waits for its reply; None if the connection is closed.
    async fn exchange(&self, mut message: Message, reply: oneshot::Receiver<Message>) -> Option<Message> {
        let frames = self.frames(&mut message)?;
        self.dealer.lock().await.as_mut()?.send(frames).await.ok()?;
        reply.await.ok()
    }

    /// A reply goes to the request waiting for it; an event to `inbox`, or to
    /// `probes` for a probe's (see [`is_probe_event`]).
    async fn deliver(&self, frames: Vec<Bytes>, inbox: &Inbox, probes: &Inbox) {
        let size = frames.iter().map(Bytes::len).sum::<usize>();
        let Ok(message) = decode(frames, &self.signers.incoming) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(parent) = message.header.parent.clone() else {
            if is_probe_event(&message) {
                probes.push(message);
            } else {
                inbox.push(message);
            }
            self.acknowledge(size).await;
            return;
        };
        if let Some(waiter) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&parent) {
            let _ = waiter.send(message);
        }
    }

    /// Counts an event received, and tells the debuggee every `ack_every` bytes.
    async fn acknowledge(&self, size: usize) {
        let received = {
            let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
            received.0 += 1;
            received.1 += size;
            if received.1 < ACK_EVERY {
                return;
            }
            received.1 = 0;
            received.0
        };
        let content = Value::Map(vec![("received".into(), received.into())]);
        let mut ack = Message::new("events_ack", self.session.clone(), content);
        if let Some(frames) = self.frames(&mut ack) {
            if let Some(dealer) = self.dealer.lock().await.as_mut() {
                let _ = dealer.send(frames).await;
            }
        }
    }
}

/// Whether `event` is a probe's (`probe_hit`, `probe_removed`): those wait
/// in an inbox of their own, read by the client's probe reader, so that they
/// never stand between a `wait` and the `paused` event it waits for.
fn is_probe_event(event: &Message) -> bool {
    event.header.msg_type.starts_with("probe_")
}

async fn read(
    shared: Arc<Shared>,
    mut recv_half: DealerRecvHalf,
    inboxes: (Arc<Inbox>, Arc<Inbox>),
    mut stop: oneshot::Receiver<()>,
) {
    let (inbox, probes) = inboxes;
    loop {
        tokio::select! {
            received = recv_half.recv() => match received {
                Ok(message) => shared.deliver(message.into_vec(), &inbox, &probes).await,
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            },
            _ = &mut stop => break,
        }
    }
}

/// How long a new client first waits for its subscription's reply before it
/// asks again on a new connection (see [`Client::new`]).
const SUBSCRIBE_PATIENCE: f64 = 0.25;

/// How often a request that waits for its reply asks whether the other side
/// still lives (the `alive` of [`Client::request`]).
const ALIVE_CHECK: Duration = Duration::from_millis(250);

/// The most `output` text (bytes) that waits to be taken: a client that
/// never reads events must not grow without bound while the program prints.
const OUTPUT_LIMIT: usize = 8 << 20;

/// Events received and not yet taken, oldest first. When more output waits
/// than [`OUTPUT_LIMIT`], the oldest output goes (and is counted); a paused,
/// resumed or exited event is never dropped.
#[derive(Default)]
struct Inbox {
    queue: Mutex<Queue>,
    arrived: Notify,
    output_dropped: AtomicU64,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Message>,
    output_bytes: usize,
}

/// The length of an `output` event's text; None for other events.
fn output_len(event: &Message) -> Option<usize> {
    if event.header.msg_type != "output" {
        return None;
    }
    Some(field(&event.content, "text")?.as_str().map_or(0, str::len))
}

/// Bytes an `output` event says the debuggee dropped before it (its `dropped`).
fn dropped_before(event: &Message) -> u64 {
    field(&event.content, "dropped").and_then(Value::as_u64).unwrap_or(0)
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: Message) {
        let mut queue = self.lock();
        if let Some(len) = output_len(&event) {
            queue.output_bytes += len;
            while queue.output_bytes > OUTPUT_LIMIT {
                let Some(oldest) = queue.events.iter().position(|e| output_len(e).is_some()) else {
                    break;
                };
                let Some(oldest) = queue.events.remove(oldest) else {
                    break;
                };
                let len = output_len(&oldest).unwrap_or(0);
                queue.output_bytes -= len;
                // What the debuggee dropped, and said so in this event, is lost here too:
                // counted with it, so every byte printed is accounted for.
                self.output_dropped
                    .fetch_add(len as u64 + dropped_before(&oldest), Ordering::Relaxed);
            }
        }
        queue.events.push_back(event);
        drop(queue);
        self.arrived.notify_one();
    }

    fn pop(&self) -> Option<Message> {
        let mut queue = self.lock();
        let event = queue.events.pop_front()?;
        queue.output_bytes -= output_len(&event).unwrap_or(0);
        Some(event)
    }

    /// The next event, waiting until `deadline` (None: for ever).
    async fn next(&self, deadline: Option<Instant>) -> Option<Message> {
        loop {
            if let Some(event) = self.pop() {
                return Some(event);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
            runtime::within(left, self.arrived.notified()).await?;
        }
    }
}

/// A connection to one debuggee's sockets.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Client {
    shared: Arc<Shared>,
    /// Where the sockets were made (see `runtime::Process`).
    process: runtime::Process,
    inbox: Arc<Inbox>,
    /// Probe events, apart (see [`is_probe_event`]).
    probes: Arc<Inbox>,
    stops: Mutex<Vec<oneshot::Sender<()>>>,
}

/// `(msg_type, content, buffers, thread)`; the buffers are handed over to
/// Python (writable, see `Frame::owned`).
fn message_tuple(py: Python<'_>, mut message: Message) -> PyResult<Bound<'_, PyTuple>> {
    let buffers: PyResult<Vec<Bound<'_, Frame>>> = std::mem::take(&mut message.buffers)
        .into_iter()
        .map(|b| Bound::new(py, Frame::owned(b)))
        .collect();
    PyTuple::new(
        py,
        [
            message.header.msg_type.as_str().into_pyobject(py)?.into_any(),
            from_value(py, &message.content)?,
            PyList::new(py, buffers?)?.into_any(),
            message.header.thread.into_pyobject(py)?.into_any(),
        ],
    )
}

/// Socket options for talking to a debuggee: a fetch reply may carry arrays
/// of any size, but no message larger than this machine's memory, so that an
/// endpoint that is not a real debuggee cannot make the client (a notebook
/// kernel) reserve an absurd amount and abort; memory for a frame that can
/// be held is taken as its data arrives (see vendor/zeromq/JUPDB-PATCH.md).
fn client_options() -> SocketOptions {
    // Frames in a reply: its own four and a buffer each for a fetched value's arrays.
    const MAX_REPLY_FRAMES: usize = 1 << 20;
    let limit = physical_memory();
    let mut options = SocketOptions::default();
    options.max_frame_size(limit);
    options.max_message_size(limit, MAX_REPLY_FRAMES);
    options
}

/// This machine's memory in bytes (no more than the address space can hold).
fn physical_memory() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let (pages, page_size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    match (usize::try_from(pages), usize::try_from(page_size)) {
        (Ok(pages), Ok(page_size)) if pages > 0 => pages.saturating_mul(page_size).min(isize::MAX as usize / 2),
        _ => isize::MAX as usize / 2,
    }
}

/// A DEALER connected to `endpoint`. While strangers flood the debuggee with
/// connections, its guard may close this one before its handshake is done
/// (it makes room by closing the oldest peer that has not proven the key):
/// then it tries again, until the caller's deadline.
async fn connect(endpoint: &str) -> Result<DealerSocket, zeromq::ZmqError> {
    loop {
        let mut dealer = DealerSocket::with_options(client_options());
        match dealer.connect(endpoint).await {
            Ok(_) => return Ok(dealer),
            Err(zeromq::ZmqError::Codec(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => return Err(e),
        }
    }
}

#[pymethods]
impl Client {
    /// Connects to `request_endpoint` (e.g. "tcp://127.0.0.1:5555") and
    /// subscribes to events: returns once the debuggee has confirmed it, so
    /// that no event after this call is missed. `signature_scheme` is the
    /// connection file's: ValueError if this jupdb does not speak it.
    #[new]
    #[pyo3(signature = (request_endpoint, key, session, timeout=10.0, *, signature_scheme))]
    fn new(
        py: Python<'_>,
        request_endpoint: String,
        key: Vec<u8>,
        session: String,
        timeout: f64,
        signature_scheme: &str,
    ) -> PyResult<Self> {
        if signature_scheme != SIGNATURE_SCHEME {
            return Err(PyValueError::new_err(
                ProtocolError::UnsupportedScheme(signature_scheme.to_owned()).to_string(),
            ));
        }
        let signers = Signers::client(&key).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let deadline = Instant::now() + Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX / 2);
        let left = || deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        // A subscription whose connection the debuggee's guard closed before
        // reading it (see `connect`) is never answered: after a while, ask again
        // on a new connection, waiting twice as long each time.
        let mut patience = SUBSCRIBE_PATIENCE;
        let mut first_seq = 1;
        loop {
            let connected =
                py.allow_threads(|| runtime::drive(runtime::within(Some(left()), connect(&request_endpoint))));
            let dealer = match connected {
                Some(Ok(dealer)) => dealer,
                Some(Err(e)) => {
                    return Err(PyConnectionError::new_err(format!(
                        "cannot connect to {request_endpoint}: {e}"
                    )))
                }
                None => {
                    return Err(PyTimeoutError::new_err(format!(
                        "no answer from {request_endpoint} within {timeout} s"
                    )))
                }
            };
            let client = Client::open(dealer, signers.clone(), session.clone(), first_seq);
            match client.subscribe(py, patience.min(left())) {
                Ok(true) => return Ok(client),
                Ok(false) if left() > 0.0 => {
                    // The same session goes on: its numbers too, or the debuggee would refuse them as replays.
                    first_seq = client.shared.next_seq.load(Ordering::Relaxed);
                    patience *= 2.0;
                }
                Ok(false) => {
                    let why = "the debuggee answers only requests signed with its key";
                    return Err(PyTimeoutError::new_err(format!(
                        "no answer from {request_endpoint} within {timeout} s ({why})"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends a request and waits (GIL released) for its reply:
    /// `(msg_type, content, buffers, thread)`. TimeoutError after `timeout` s;
    /// ConnectionError as soon as `alive` (called every [`ALIVE_CHECK`] while
    /// waiting) returns false: a dead program's reply never comes.
    #[pyo3(signature = (msg_type, content, *, buffers=Vec::new(), thread=None, timeout=10.0, alive=None))]
    #[allow(clippy::too_many_arguments)]
    fn request<'py>(
        &self,
        py: Python<'py>,
        msg_type: &str,
        content: &Bound<'py, PyDict>,
        buffers: Vec<Bound<'py, PyAny>>,
        thread: Option<u64>,
        timeout: f64,
        alive: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.check_process()?;
        let mut message = Message::new(msg_type, self.shared.session.clone(), to_value(content.as_any())?);
        message.header.thread = thread;
        if buffers.len() > MAX_BUFFERS {
            return Err(PyValueError::new_err(format!(
                "{} buffers, more than the protocol's {MAX_BUFFERS}",
                buffers.len()
            )));
        }
        release_sent_buffers(py); // those of earlier requests, sent by now
                                  // Sent from the objects' own memory, as the debuggee sends a fetch's
                                  // buffers: a large value assigned crosses without a copy here.
        message.buffers = buffers.iter().map(sending_frame).collect::<PyResult<_>>()?;
        // The debuggee's transport would close the connection on it: say so here instead.
        if let Some((i, big)) = message
            .buffers
            .iter()
            .enumerate()
            .find(|(_, b)| b.len() > MAX_CONTENT_LEN)
        {
            return Err(PyValueError::new_err(format!(
                "buffer {i} is {} bytes, more than the {MAX_CONTENT_LEN} a frame may hold: split it",
                big.len()
            )));
        }
        let total = message.buffers.iter().map(Bytes::len).sum::<usize>();
        if total > MAX_REQUEST_LEN {
            return Err(PyValueError::new_err(format!(
                "{total} bytes of buffers, more than the {MAX_REQUEST_LEN} a request may hold"
            )));
        }
        let id = message.header.msg_id.clone();
        let reply = self.expect_reply(&id);
        // The reply, or None if the connection is closed.
        let exchange = self.shared.exchange(message, reply);
        let mut checked = Instant::now();
        let check_alive = |_: Python<'_>| -> PyResult<()> {
            let Some(alive) = &alive else { return Ok(()) };
            if checked.elapsed() < ALIVE_CHECK {
                return Ok(());
            }
            checked = Instant::now();
            if alive.call0()?.is_truthy()? {
                Ok(())
            } else {
                Err(PyConnectionError::new_err(format!(
                    "the other side ended before it replied to {msg_type}"
                )))
            }
        };
        // Ctrl-C while waiting raises KeyboardInterrupt here; the late reply is dropped.
        let failed = match runtime::wait_interruptibly(py, Some(timeout), true, exchange, check_alive) {
            Ok(Some(Some(message))) => {
                release_sent_buffers(py); // the debuggee has them all
                return message_tuple(py, message);
            }
            failed => failed,
        };
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        match failed? {
            None => Err(PyTimeoutError::new_err(format!(
                "no reply to {msg_type} within {timeout} s"
            ))),
            Some(_) => Err(PyConnectionError::new_err("this connection is closed")),
        }
    }

    /// The next event `(msg_type, content, buffers, thread)`, waiting up to
    /// `timeout` seconds (None: for ever) with the GIL released; None if none came.
    #[pyo3(signature = (timeout=None))]
    fn next_event<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.check_process()?;
        // A timeout too long to represent waits for ever.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::try_from_secs_f64(t.max(0.0)).ok()?));
        let event = match self.inbox.pop() {
            Some(event) => Some(event), // no need to release the GIL
            None => runtime::wait_interruptibly(py, None, false, self.inbox.next(deadline), |_| Ok(()))?.flatten(),
        };
        event.map(|e| message_tuple(py, e)).transpose()
    }

    /// The next probe event (`probe_hit`, `probe_removed`), as
    /// [`next_event`](Client::next_event) returns the others.
    #[pyo3(signature = (timeout=None))]
    fn next_probe_event<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.check_process()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::try_from_secs_f64(t.max(0.0)).ok()?));
        let event = match self.probes.pop() {
            Some(event) => Some(event),
            None => runtime::wait_interruptibly(py, None, false, self.probes.next(deadline), |_| Ok(()))?.flatten(),
        };
        event.map(|e| message_tuple(py, e)).transpose()
    }

    /// Bytes of `output` dropped because more waited than the client keeps.
    #[getter]
    fn output_dropped(&self) -> u64 {
        self.inbox.output_dropped.load(Ordering::Relaxed)
    }

    /// Replies and events dropped because their signature was wrong.
    #[getter]
    fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Closes the socket.
    fn close(&self) {
        if !self.process.is_current() {
            return; // a forked child: they are the parent's
        }
        for stop in self.stops.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = stop.send(());
        }
        // The reader lets go of its half as it stops; once this one goes too,
        // the connection closes, and the debuggee knows this client has left
        // (its probes go with it).
        match self.shared.dealer.try_lock() {
            Ok(mut dealer) => drop(dealer.take()),
            Err(_) => {
                let shared = self.shared.clone();
                runtime::spawn(async move { drop(shared.dealer.lock().await.take()) });
            }
        }
    }
}

impl Client {
    /// Where the reply to request `id` will arrive.
    fn expect_reply(&self, id: &str) -> oneshot::Receiver<Message> {
        let (waiter, reply) = oneshot::channel();
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), waiter);
        reply
    }

    /// A client on `dealer`, reading it; not subscribed yet.
    fn open(dealer: DealerSocket, signers: Signers, session: String, first_seq: u64) -> Client {
        let (send_half, recv_half) = dealer.split();
        let shared = Arc::new(Shared {
            signers,
            session,
            next_seq: AtomicU64::new(first_seq),
            pending: Mutex::new(FxHashMap::default()),
            dropped: AtomicU64::new(0),
            dealer: tokio::sync::Mutex::new(Some(send_half)),
            received: Mutex::new((0, 0)),
        });
        let inbox = Arc::new(Inbox::default());
        let probes = Arc::new(Inbox::default());
        let (stop_reading, stop_reading_rx) = oneshot::channel();
        runtime::spawn(read(
            shared.clone(),
            recv_half,
            (inbox.clone(), probes.clone()),
            stop_reading_rx,
        ));
        Client {
            shared,
            process: runtime::Process::current(),
            inbox,
            probes,
            stops: Mutex::new(vec![stop_reading]),
        }
    }

    /// Subscribes to events, waiting up to `timeout` s (as a request does) for
    /// the debuggee to confirm; false if it did not. Events sent from then on
    /// come after its reply.
    fn subscribe(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let message = Message::new("subscribe_request", self.shared.session.clone(), Value::Map(Vec::new()));
        let reply = self.expect_reply(&message.header.msg_id);
        let exchange = self.shared.exchange(message, reply);
        let reply = match runtime::wait_interruptibly(py, Some(timeout), true, exchange, |_| Ok(()))? {
            Some(Some(reply)) => reply,
            Some(None) => return Err(PyConnectionError::new_err("this connection is closed")),
            None => return Ok(false),
        };
        let text = |name: &str| field(&reply.content, name).and_then(Value::as_str).unwrap_or_default();
        if text("status") != "ok" {
            return Err(PyConnectionError::new_err(format!(
                "the debuggee refused to send events: {}: {}",
                text("ename"),
                text("evalue")
            )));
        }
        Ok(true)
    }

    /// A forked child shares its parent's sockets: using them would mix the
    /// two processes' messages.
    fn check_process(&self) -> PyResult<()> {
        if self.process.is_current() {
            Ok(())
        } else {
            Err(PyConnectionError::new_err(
                "this connection was opened before this process was forked and belongs to the parent; connect again here",
            ))
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jupdb_protocol::Value;

    fn event(msg_type: &str, text: &str) -> Message {
        Message::new(
            msg_type,
            "s",
            Value::Map(vec![("name".into(), "stdout".into()), ("text".into(), text.into())]),
        )
    }

    #[test]
    fn output_the_debuggee_dropped_is_still_counted_when_its_event_is_dropped_here() {
        let inbox = Inbox::default();
        let mut first = event("output", &"x".repeat(OUTPUT_LIMIT));
        if let Value::Map(fields) = &mut first.content {
            fields.push(("dropped".into(), 1000.into()));
        }
        inbox.push(first);
        inbox.push(event("output", "y"));
        assert_eq!(inbox.output_dropped.load(Ordering::Relaxed), OUTPUT_LIMIT as u64 + 1000);
    }

    #[test]
    fn a_full_inbox_drops_the_oldest_output_and_keeps_every_other_event() {
        let inbox = Inbox::default();
        let chunk = "x".repeat(OUTPUT_LIMIT / 4);
        inbox.push(event("output", &chunk));
        inbox.push(event("paused", ""));
        for _ in 0..4 {
            inbox.push(event("output", &chunk));
        }
        inbox.push(event("output", "newest"));
        // The first two chunks went: four and "newest" would not fit with them.
        assert_eq!(inbox.output_dropped.load(Ordering::Relaxed), 2 * chunk.len() as u64);
        let kinds: Vec<(String, usize)> = std::iter::from_fn(|| inbox.pop())
            .map(|e| (e.header.msg_type.clone(), output_len(&e).unwrap_or(0)))
            .collect();
        let chunks = vec![("output".to_owned(), chunk.len()); 3];
        assert_eq!(
            kinds,
            [vec![("paused".to_owned(), 0)], chunks, vec![("output".to_owned(), 6)]].concat()
        );
        assert_eq!(inbox.lock().output_bytes, 0);
    }
}
