//! The debuggee's server: its sockets are driven by whichever thread waits (see
//! `runtime`), and serving them never needs the GIL.
//!
//! Requests arrive on a ROUTER socket. Each is checked (signature, version),
//! then either answered here (`status_request`, which must work while Python
//! is busy) or handed to the paused thread it names, whose command loop runs
//! it in its own frame and replies through [`Request::reply`]. Events go out
//! on the same socket, only to clients that subscribed with a signed request
//! (see `subscribers`). A message that fails the check is dropped and
//! counted: it gets no reply and nothing runs.

use super::frame::{release_sent_buffers, sending_frame, Frame};
use super::interrupt;
use super::output::{OutputQueue, BATCH};
use super::runtime;
use super::subscribers::{Dropped, Subscribers, TooMany, ACK_EVERY, MAX_SUBSCRIBERS, WINDOW};
use super::values::{field, from_value, to_value};
use futures::StreamExt;
use jupdb_protocol::{
    decode_with_identities, encode, encode_with_identities, error_content, Bytes, Message, ReplayGuard, Signers, Value,
    MAX_BUFFERS,
};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};
use zeromq::{
    PeerGuard, PeerLimits, RouterRecvHalf, RouterSendHalf, RouterSocket, Socket, SocketEvent, SocketOptions,
    SocketRecv, SocketSend, ZmqMessage,
};

/// A request on its way to a paused thread, with the identities to reply to.
struct Incoming {
    identities: Vec<Bytes>,
    message: Message,
    /// Set by whoever replies first: the server answers some requests itself
    /// when Python cannot (see `GIL_WAIT`), and the late reply is then dropped.
    answered: Arc<AtomicBool>,
}

/// A paused thread running a request: since when, and which.
struct Busy {
    request: String,
    since: SystemTime,
    started: Instant,
}

impl Busy {
    fn value(&self) -> Value {
        Value::Map(vec![
            ("request".into(), self.request.as_str().into()),
            ("since".into(), jupdb_protocol::time::format_rfc3339(self.since).into()),
            ("seconds".into(), Value::F64(self.started.elapsed().as_secs_f64())),
        ])
    }
}

struct PausedThread {
    /// Which pause this is: a thread that pauses again gets a new one.
    token: u64,
    id: u64,
    name: String,
    location: Value,
    /// The thread's `where_reply` content as it last recorded it: answered
    /// from here while the thread is busy (its Python may not run for long).
    stack: Value,
    busy: Option<Busy>,
    inbox: mpsc::UnboundedSender<Incoming>,
}

impl PausedThread {
    fn info(&self) -> Vec<(Value, Value)> {
        let mut info = vec![
            ("id".into(), self.id.into()),
            ("name".into(), self.name.as_str().into()),
            ("location".into(), self.location.clone()),
        ];
        if let Some(busy) = &self.busy {
            info.push(("busy".into(), busy.value()));
        }
        info
    }
}

/// How long a `threads_request` waits for the service thread before the
/// server answers it from what it knows, if a paused thread is busy: a call
/// into C that holds the GIL (`sum(range(10**11))`) keeps every Python
/// thread, the service thread too, from running.
const GIL_WAIT: Duration = Duration::from_millis(250);

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Requests about the whole process, served by the service thread even while
/// no thread is paused (or while a paused thread is busy running a request).
const SERVICE_REQUESTS: [&str; 14] = [
    "threads_request",
    "pause_request",
    "interrupt_request",
    "break_request",
    "breakpoints_request",
    "clear_request",
    "watch_request",
    "unwatch_request",
    "probe_request",
    "probe_action_request",
    "probes_request",
    "unprobe_request",
    "probe_ack_request",
    "probe_fetch_request",
];

/// The notice the service thread gets when a client's connection closes (it
/// removes that client's probes): no client can send it, since only
/// `SERVICE_REQUESTS` reach the service thread from the socket.
const PEER_GONE: &str = "peer_gone";

struct Shared {
    /// Verify requests (client to debuggee); sign replies and events.
    signers: Signers,
    session: String,
    /// Where the sockets were made: in a forked child, this server is the
    /// parent's, and the child leaves its sockets alone.
    process: runtime::Process,
    /// Fixed facts for `status_reply` (python_version, argv).
    details: Vec<(Value, Value)>,
    dropped: AtomicU64,
    /// Refuses stale and replayed requests: one is dropped like a forged one.
    replay: Mutex<ReplayGuard>,
    /// Paused threads, in the order they paused (the last is the default target).
    paused: Mutex<Vec<PausedThread>>,
    /// The service thread's inbox, for requests that need no paused thread.
    service: Mutex<Option<mpsc::UnboundedSender<Incoming>>>,
    /// The ROUTER's sending half: paused threads send their replies themselves.
    router: tokio::sync::Mutex<Option<RouterSendHalf>>,
    /// Signed events (without identity), the length of their output text and,
    /// for an event meant for one client only, its identity: for the server
    /// task to send to each subscriber (or that one).
    events: mpsc::UnboundedSender<(Vec<Bytes>, u64, Option<Bytes>)>,
    /// What the program printed, waiting to be published.
    output: Arc<OutputQueue>,
    /// Held while publishing: queued output goes out before the event that follows it.
    publishing: Mutex<()>,
    /// The request socket's peers: told which ones sent an authentic request.
    peers: Arc<PeerGuard>,
}

impl Shared {
    fn frames(&self, identities: &[Bytes], message: &Message) -> Vec<Bytes> {
        encode_with_identities(identities, message, &self.signers.outgoing)
    }

    /// Sends `frames` (identity first); false if the peer is gone. It never
    /// waits for a slow peer: the transport queues up to 100,000 messages for
    /// each, and events are held back well before that (see `subscribers`).
    async fn send(&self, frames: Vec<Bytes>) -> bool {
        let Ok(message) = ZmqMessage::try_from(frames) else {
            return false;
        };
        match self.router.lock().await.as_mut() {
            // A client that left before its reply: nothing to do.
            Some(router) => router.send(message).await.is_ok(),
            None => false,
        }
    }

    /// An error reply to `incoming`, unless it was answered already.
    fn error_frames(&self, incoming: &Incoming, ename: &str, evalue: &str) -> Option<Vec<Bytes>> {
        self.answer(incoming, error_content(ename, evalue, ""))
    }

    /// Publishes the queued output, then (if given) one more event.
    fn publish(&self, event: Option<(&str, Value, Option<u64>)>) {
        let _order = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        let output = self.output.take().into_iter().map(|content| ("output", content, None));
        for (msg_type, content, thread) in output.chain(event) {
            let mut message = Message::new(msg_type, self.session.clone(), content);
            message.header.thread = thread;
            let text = field(&message.content, "text").and_then(Value::as_str);
            let output = if msg_type == "output" {
                text.map_or(0, |t| t.len() as u64)
            } else {
                0
            };
            let _ = self
                .events
                .send((encode(&message, &self.signers.outgoing), output, None));
        }
    }

    /// Sends an event to the subscriber `peer` only; its size as the window
    /// counts it. Unlike broadcast events, such events are never dropped on
    /// the way (see `Subscribers::publish_to`): their publisher bounds them.
    fn publish_to(&self, peer: Bytes, msg_type: &str, content: Value) -> usize {
        let message = Message::new(msg_type, self.session.clone(), content);
        let frames = encode(&message, &self.signers.outgoing);
        let size = super::subscribers::size(&frames);
        let _ = self.events.send((frames, 0, Some(peer)));
        size
    }

    /// Tells the service thread that `peer`'s connection closed (see `PEER_GONE`).
    fn peer_gone(&self, peer: Bytes) {
        let content = Value::Map(vec![("peer".into(), Value::Binary(peer.to_vec()))]);
        let incoming = Incoming {
            identities: Vec::new(),
            message: Message::new(PEER_GONE, self.session.clone(), content),
            // Nobody to reply to: whatever the service thread replies is dropped.
            answered: Arc::new(AtomicBool::new(true)),
        };
        if let Some(inbox) = self.service.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = inbox.send(incoming);
        }
    }

    /// Replies to `incoming` with `content` unless it was answered already.
    fn answer(&self, incoming: &Incoming, content: Value) -> Option<Vec<Bytes>> {
        if incoming.answered.swap(true, Ordering::AcqRel) {
            return None;
        }
        let reply = incoming.message.reply(self.session.clone(), content);
        Some(self.frames(&incoming.identities, &reply))
    }

    /// Hands a process-wide request to the service thread; an error reply if there is none.
    fn to_service(&self, incoming: Incoming) -> Option<Vec<Bytes>> {
        let service = self.service.lock().unwrap_or_else(|e| e.into_inner());
        let refused = match service.as_ref() {
            Some(inbox) => inbox.send(incoming).err().map(|e| e.0),
            None => Some(incoming),
        };
        drop(service);
        refused.and_then(|incoming| self.error_frames(&incoming, "Unavailable", "the debuggee is shutting down"))
    }

    fn any_busy(&self) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|t| t.busy.is_some())
    }

    /// A `threads_reply` from what the server knows: the paused threads (the
    /// running ones are known only to Python, which cannot run now).
    fn threads_without_python(&self) -> Value {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let threads = paused
            .iter()
            .map(|t| {
                let mut info = t.info();
                info.push(("paused".into(), true.into()));
                Value::Map(info)
            })
            .collect();
        Value::Map(vec![
            ("status".into(), "ok".into()),
            ("threads".into(), Value::Array(threads)),
            ("partial".into(), true.into()),
            (
                "note".into(),
                "Python did not answer while a paused thread is busy (a call into C may hold the GIL): only the paused threads are listed".into(),
            ),
        ])
    }

    fn status(&self) -> Value {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let threads: Vec<Value> = paused.iter().map(|t| Value::Map(t.info())).collect();
        let mut status = vec![
            ("status".into(), "ok".into()),
            ("pid".into(), std::process::id().into()),
            (
                "state".into(),
                if threads.is_empty() { "running" } else { "paused" }.into(),
            ),
            ("paused_threads".into(), Value::Array(threads)),
            ("dropped".into(), self.dropped.load(Ordering::Relaxed).into()),
            ("protocol_version".into(), jupdb_protocol::PROTOCOL_VERSION.into()),
        ];
        status.extend(self.details.iter().cloned());
        Value::Map(status)
    }

    /// Routes one received multipart message; returns a reply to send at once,
    /// if it is answered at once. Runs on the thread that drives the sockets.
    fn on_message(self: &Arc<Self>, frames: Vec<Bytes>, subscribers: &mut Subscribers) -> Option<Vec<Bytes>> {
        let Ok((identities, message)) = decode_with_identities(frames, &self.signers.incoming) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let now = std::time::SystemTime::now();
        if self
            .replay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&message.header, now)
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // This peer has the key: the limits for unauthenticated peers no longer apply.
        if let Some(peer) = identities.first() {
            self.peers.prove(peer);
        }
        let incoming = Incoming {
            identities,
            message,
            answered: Arc::default(),
        };
        if let Err(err) = incoming.message.header.check_version() {
            return self.error_frames(&incoming, "VersionMismatch", &err.to_string());
        }
        let msg_type = incoming.message.header.msg_type.as_str();
        let identity = incoming.identities.first().cloned().unwrap_or_default();
        if msg_type == "subscribe_request" {
            let content = match subscribers.subscribe(identity) {
                Ok(()) => Value::Map(vec![
                    ("status".into(), "ok".into()),
                    ("window".into(), (WINDOW as u64).into()),
                    ("ack_every".into(), (ACK_EVERY as u64).into()),
                ]),
                Err(TooMany) => {
                    let why = format!("{MAX_SUBSCRIBERS} clients are subscribed already");
                    error_content("TooManySubscribers", &why, "")
                }
            };
            return self.answer(&incoming, content);
        }
        if msg_type == "events_ack" {
            // A notice, not a request: no reply.
            if let Some(received) = field(&incoming.message.content, "received").and_then(Value::as_u64) {
                subscribers.ack(&identity, received);
            }
            return None;
        }
        if msg_type == "status_request" {
            return self.answer(&incoming, self.status());
        }
        if msg_type == "interrupt_request" {
            // Answered here, at once: raising needs the GIL, which the code to
            // interrupt may hold for long (a call into C). The service thread
            // raises it when it gets the GIL; its reply is dropped.
            let content = match field(&incoming.message.content, "thread") {
                None | Some(Value::Nil) => Some(None),
                Some(thread) => thread.as_u64().map(|t| Some(t).filter(|&t| t != 0)),
            }
            .map_or_else(
                || error_content("InvalidRequest", "thread must be a thread id", ""),
                |thread| {
                    let interrupted = interrupt::want(thread);
                    Value::Map(vec![
                        ("status".into(), "ok".into()),
                        (
                            "interrupted".into(),
                            Value::Array(interrupted.into_iter().map(Value::from).collect()),
                        ),
                    ])
                },
            );
            let reply = self.answer(&incoming, content);
            return self.to_service(incoming).or(reply);
        }
        if msg_type == "threads_request" {
            self.answer_if_python_stalls(&incoming);
        }
        if SERVICE_REQUESTS.contains(&msg_type) {
            return self.to_service(incoming);
        }
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let target = match incoming.message.header.thread {
            Some(id) => paused.iter().find(|t| t.id == id),
            None => paused.last(),
        };
        match target {
            // Busy (perhaps in a long call into C): where it is, as it recorded it.
            Some(thread) if msg_type == "where_request" && thread.busy.is_some() && thread.stack.as_map().is_some() => {
                let mut content = vec![("status".into(), "ok".into())];
                content.extend(thread.stack.as_map().into_iter().flatten().cloned());
                content.extend(thread.busy.as_ref().map(|busy| ("busy".into(), busy.value())));
                self.answer(&incoming, Value::Map(content))
            }
            Some(thread) => match thread.inbox.send(incoming) {
                Ok(()) => None,
                Err(mpsc::error::SendError(incoming)) => {
                    self.error_frames(&incoming, "NotPaused", "that thread has just resumed")
                }
            },
            None => {
                let evalue = match incoming.message.header.thread {
                    Some(id) => format!("thread {id} is not paused"),
                    None => "no thread is paused: the program is running".to_owned(),
                };
                self.error_frames(&incoming, "NotPaused", &evalue)
            }
        }
    }

    /// Answers `incoming` (a `threads_request`) from what the server knows if
    /// the service thread has not within `GIL_WAIT` while a paused thread is busy.
    fn answer_if_python_stalls(self: &Arc<Self>, incoming: &Incoming) {
        let shared = self.clone();
        let stalled = Incoming {
            identities: incoming.identities.clone(),
            message: incoming.message.clone(),
            answered: incoming.answered.clone(),
        };
        runtime::spawn(async move {
            // Until answered; a program busy for a minute without a busy paused thread has other troubles.
            for _ in 0..240 {
                tokio::time::sleep(GIL_WAIT).await;
                if stalled.answered.load(Ordering::Acquire) {
                    return;
                }
                if shared.any_busy() {
                    if let Some(frames) = shared.answer(&stalled, shared.threads_without_python()) {
                        shared.send(frames).await;
                    }
                    return;
                }
            }
        });
    }
}

/// The `dropped` event that tells one subscriber what it missed there.
fn dropped_notice(shared: &Shared, dropped: Dropped) -> Vec<Bytes> {
    let content = Value::Map(vec![
        ("events".into(), dropped.events.into()),
        ("bytes".into(), dropped.bytes.into()),
        ("output".into(), dropped.output.into()),
    ]);
    encode(
        &Message::new("dropped", shared.session.clone(), content),
        &shared.signers.outgoing,
    )
}

/// Sends each subscriber what its window lets through. A subscriber that
/// cannot be sent to has gone: it is forgotten.
async fn send_events(shared: &Shared, subscribers: &mut Subscribers) {
    for (identity, frames) in subscribers.ready(|dropped| dropped_notice(shared, dropped)) {
        let mut routed = Vec::with_capacity(frames.len() + 1);
        routed.push(identity.clone());
        routed.extend(frames);
        if !shared.send(routed).await {
            subscribers.forget(&identity);
        }
    }
}

async fn serve(
    shared: Arc<Shared>,
    mut recv_half: RouterRecvHalf,
    mut monitor: futures::channel::mpsc::Receiver<SocketEvent>,
    mut events: mpsc::UnboundedReceiver<(Vec<Bytes>, u64, Option<Bytes>)>,
    mut stop: oneshot::Receiver<()>,
) {
    // Only this task touches them: no lock.
    let mut subscribers = Subscribers::default();
    loop {
        tokio::select! {
            // Events first: one published before a subscription arrived goes to
            // the subscribers there were, not to the new one.
            biased;
            Some((frames, output, to)) = events.recv() => match to {
                Some(peer) => subscribers.publish_to(&peer, &frames),
                None => subscribers.publish(&frames, output),
            },
            received = recv_half.recv() => match received {
                Ok(message) => {
                    if let Some(reply) = shared.on_message(message.into_vec(), &mut subscribers) {
                        shared.send(reply).await;
                    }
                }
                // A peer that broke the ZMTP handshake or vanished; keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            },
            Some(event) = monitor.next() => {
                if let SocketEvent::Disconnected(peer) = event {
                    let peer = Bytes::from(peer);
                    subscribers.forget(&peer);
                    shared.peer_gone(peer);
                }
            }
            _ = &mut stop => break,
        }
        // After a subscription (its reply is out first), an acknowledgement or an event.
        send_events(&shared, &mut subscribers).await;
    }
    // Events already queued (the final "exited") still go out, as far as windows let them.
    while let Ok((frames, output, to)) = events.try_recv() {
        match to {
            Some(peer) => subscribers.publish_to(&peer, &frames),
            None => subscribers.publish(&frames, output),
        }
    }
    send_events(&shared, &mut subscribers).await;
}

/// Publishes what the program prints, a batch at a time.
async fn forward_output(shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = shared.output.arrived.notified() => {}
            _ = &mut stop => break,
        }
        // Let the batch fill, so that a loop of prints costs a few events a second.
        tokio::time::sleep(BATCH).await;
        shared.publish(None);
    }
}

/// What peers that have not yet sent an authentic request may hold of the
/// request socket: a few connections' worth of descriptors (the oldest gives
/// its place to a newcomer, so a real client still gets in during a flood)
/// and a few MiB of memory, whatever they send.
const UNPROVEN_PEERS: PeerLimits = PeerLimits {
    max_connections: 128,
    free_per_peer: 64 * 1024,
    shared_budget: 64 * 1024 * 1024,
};

/// Most frames in a request: delimiter, signature, header, content and as
/// many buffers as the protocol allows (a DEALER sends no identity).
const MAX_REQUEST_FRAMES: usize = MAX_BUFFERS + 4;

/// Socket options for what anyone who can reach the port may talk to: no
/// frame may announce more than a message can carry, no message more than a
/// request can, and the handshake must end in time, so that an
/// unauthenticated peer can neither make the program reserve (and abort on)
/// a huge allocation nor hold a connection for ever; `peers`, if given,
/// bounds the connections and what unproven peers buffer.
fn guarded_options(peers: Option<&Arc<PeerGuard>>) -> SocketOptions {
    let mut options = SocketOptions::default();
    options.max_frame_size(jupdb_protocol::MAX_CONTENT_LEN);
    options.max_message_size(jupdb_protocol::MAX_REQUEST_LEN, MAX_REQUEST_FRAMES);
    options.handshake_timeout(Duration::from_secs(5));
    if let Some(peers) = peers {
        options.peer_guard(peers.clone());
    }
    options
}

fn port_of(endpoint: &zeromq::Endpoint) -> PyResult<u16> {
    match endpoint {
        zeromq::Endpoint::Tcp(_, port) => Ok(*port),
        other => Err(PyOSError::new_err(format!("unexpected endpoint {other}"))),
    }
}

/// The server of a debuggee: binds the ROUTER socket that takes requests and
/// sends replies and events, and serves it on jupdb's runtime.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Server {
    shared: Arc<Shared>,
    ip: String,
    request_port: u16,
    key: Vec<u8>,
    stops: Mutex<Vec<oneshot::Sender<()>>>,
}

#[pymethods]
impl Server {
    /// Binds the socket on `ip` (port 0: a free one) and starts serving.
    #[new]
    #[pyo3(signature = (key, session, *, ip="127.0.0.1", request_port=0, details=None))]
    fn new(
        py: Python<'_>,
        key: Vec<u8>,
        session: String,
        ip: &str,
        request_port: u16,
        details: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let details = match details {
            Some(d) => match to_value(d.as_any())? {
                Value::Map(pairs) => pairs,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let signers = Signers::debuggee(&key).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        };
        let peers = PeerGuard::new(UNPROVEN_PEERS);
        let bound = py.allow_threads(|| {
            runtime::drive(async {
                let mut router = RouterSocket::with_options(guarded_options(Some(&peers)));
                let request = router.bind(&format!("tcp://{host}:{request_port}")).await?;
                Ok::<_, zeromq::ZmqError>((router, request))
            })
        });
        let (mut router, request) =
            bound.map_err(|e| PyOSError::new_err(format!("jupdb server cannot listen on {ip}: {e}")))?;
        let monitor = router.monitor();
        let (send_half, recv_half) = router.split();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (stop_serving, stop_serving_rx) = oneshot::channel();
        let (stop_output, stop_output_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            signers,
            session,
            process: runtime::Process::current(),
            details,
            dropped: AtomicU64::new(0),
            replay: Mutex::new(ReplayGuard::default()),
            paused: Mutex::new(Vec::new()),
            service: Mutex::new(None),
            router: tokio::sync::Mutex::new(Some(send_half)),
            events: events_tx,
            output: Arc::default(),
            publishing: Mutex::new(()),
            peers,
        });
        runtime::spawn(serve(shared.clone(), recv_half, monitor, events_rx, stop_serving_rx));
        runtime::spawn(forward_output(shared.clone(), stop_output_rx));
        Ok(Server {
            shared,
            ip: ip.to_owned(),
            request_port: port_of(&request)?,
            key,
            stops: Mutex::new(vec![stop_serving, stop_output]),
        })
    }

    #[getter]
    fn ip(&self) -> &str {
        &self.ip
    }

    #[getter]
    fn request_port(&self) -> u16 {
        self.request_port
    }

    #[getter]
    fn session(&self) -> &str {
        &self.shared.session
    }

    /// The signing key (keep it secret: it lets a client run code here).
    #[getter]
    fn key(&self) -> Vec<u8> {
        self.key.clone()
    }

    /// Messages dropped because their signature or framing was wrong, or
    /// because they were stale or replayed.
    #[getter]
    fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Registers the calling thread as paused at `location`; requests for it
    /// arrive through the returned handle until it is closed. `stack` (a
    /// `where_reply`'s content) answers `where_request` while the thread is busy.
    #[pyo3(signature = (thread, name, location, stack=None))]
    fn pause(
        &self,
        thread: u64,
        name: String,
        location: &Bound<'_, PyAny>,
        stack: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PauseHandle> {
        let (inbox, requests) = mpsc::unbounded_channel();
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let stack = stack.map(to_value).transpose()?.unwrap_or(Value::Nil);
        let entry = PausedThread {
            token,
            id: thread,
            name,
            location: to_value(location)?,
            stack,
            busy: None,
            inbox,
        };
        let mut paused = self.shared.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused.retain(|t| t.id != thread);
        paused.push(entry);
        Ok(PauseHandle {
            shared: self.shared.clone(),
            token: Some(token),
            requests: Mutex::new(Some(requests)),
            closed: Mutex::new(false),
        })
    }

    /// The inbox of the service thread (requests in `SERVICE_REQUESTS`).
    fn serve_service(&self) -> PauseHandle {
        let (inbox, requests) = mpsc::unbounded_channel();
        *self.shared.service.lock().unwrap_or_else(|e| e.into_inner()) = Some(inbox);
        PauseHandle {
            shared: self.shared.clone(),
            token: None,
            requests: Mutex::new(Some(requests)),
            closed: Mutex::new(false),
        }
    }

    /// What paused `thread` is busy with (`request`, `since`, `seconds`), if it runs a request.
    fn busy<'py>(&self, py: Python<'py>, thread: u64) -> PyResult<Option<Bound<'py, PyAny>>> {
        let paused = self.shared.paused.lock().unwrap_or_else(|e| e.into_inner());
        let busy = paused
            .iter()
            .rev()
            .find(|t| t.id == thread)
            .and_then(|t| t.busy.as_ref().map(Busy::value));
        drop(paused);
        busy.map(|value| from_value(py, &value)).transpose()
    }

    /// Sends an event (`paused`, `resumed`, `exited`) to every subscriber,
    /// after the output printed before it.
    #[pyo3(signature = (msg_type, content, thread=None))]
    fn publish(&self, py: Python<'_>, msg_type: &str, content: &Bound<'_, PyAny>, thread: Option<u64>) -> PyResult<()> {
        if !self.shared.process.is_current() {
            return Ok(()); // a forked child: nobody listens to it here
        }
        let content = to_value(content)?;
        // Signing up to a megabyte of queued output: let the program's other threads run.
        py.allow_threads(|| self.shared.publish(Some((msg_type, content, thread))));
        Ok(())
    }

    /// Sends an event to the client whose identity is `peer` (a request's
    /// `peer`) only, if it is subscribed; the event's size in bytes. It is
    /// queued however slow the client is: the caller bounds what it sends
    /// (a probe counts what its client has not acknowledged).
    fn publish_to(&self, py: Python<'_>, peer: &[u8], msg_type: &str, content: &Bound<'_, PyAny>) -> PyResult<usize> {
        if !self.shared.process.is_current() {
            return Ok(0);
        }
        let content = to_value(content)?;
        let peer = Bytes::copy_from_slice(peer);
        Ok(py.allow_threads(|| self.shared.publish_to(peer, msg_type, content)))
    }

    /// Stops serving (events already published still go out, output written
    /// from now on is no longer forwarded) and closes the sockets.
    fn close(&self) {
        if !self.shared.process.is_current() {
            return; // a forked child: the sockets go on serving the parent
        }
        self.shared.output.close();
        for stop in self.stops.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = stop.send(());
        }
    }
}

impl Server {
    /// Where the program's output waits to be published (see [`OutputTee`](super::output::OutputTee)).
    pub fn output_queue(&self) -> Arc<OutputQueue> {
        self.shared.output.clone()
    }

    /// The process whose sockets these are.
    pub fn process(&self) -> runtime::Process {
        self.shared.process
    }
}

/// A paused thread's line to the server: where its requests arrive.
#[pyclass(frozen, module = "jupdb._native")]
pub struct PauseHandle {
    shared: Arc<Shared>,
    /// The pause this handle serves; None for the service thread's handle.
    token: Option<u64>,
    requests: Mutex<Option<mpsc::UnboundedReceiver<Incoming>>>,
    closed: Mutex<bool>,
}

#[pymethods]
impl PauseHandle {
    /// The next request for this thread, waiting with the GIL released; None after
    /// `timeout` seconds (None: wait for ever), once closed, or in a child
    /// forked since the pause (requests go to the parent, so the child runs on).
    /// A paused thread runs Python's signal handlers while it waits: Ctrl-C
    /// raises KeyboardInterrupt here.
    #[pyo3(signature = (timeout=None))]
    fn next_request(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Request>> {
        if !self.shared.process.is_current() {
            return Ok(None);
        }
        release_sent_buffers(py);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::try_from_secs_f64(t.max(0.0)).ok()?));
        self.set_busy(None);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
            let Some(incoming) = self.receive(py, left.or(timeout))? else {
                return Ok(None);
            };
            match from_value(py, &incoming.message.content) {
                Ok(content) => {
                    let content = content.unbind();
                    self.set_busy(Some(&incoming.message.header.msg_type));
                    return Ok(Some(Request {
                        shared: self.shared.clone(),
                        incoming,
                        content,
                        replied: Mutex::new(false),
                    }));
                }
                // Content Python cannot hold (a list as a map key): an error
                // reply, and the thread goes on waiting for its next request.
                Err(err) => {
                    let why = format!("cannot read the request's content: {err}");
                    if let Some(frames) = self.shared.error_frames(&incoming, "BadRequest", &why) {
                        py.allow_threads(|| runtime::drive_and_flush(self.shared.send(frames)));
                    }
                }
            }
        }
    }

    /// Updates where the thread is paused (shown by `status_request`) and,
    /// if given, its stack (see `Server.pause`).
    #[pyo3(signature = (location, stack=None))]
    fn set_location(&self, location: &Bound<'_, PyAny>, stack: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let location = to_value(location)?;
        let stack = stack.map(to_value).transpose()?;
        let mut paused = self.shared.paused.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = paused.iter_mut().find(|t| Some(t.token) == self.token) {
            entry.location = location;
            if let Some(stack) = stack {
                entry.stack = stack;
            }
        }
        Ok(())
    }

    /// The thread resumes: later requests for it get a `NotPaused` error, and
    /// so do those routed to it that it had not read yet.
    fn close(&self, py: Python<'_>) {
        self.unregister(); // first: no request is routed here after it (routing holds the same lock)
        *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(requests) = requests {
            self.refuse_unread(py, requests);
        }
    }
}

impl PauseHandle {
    /// Records that the thread runs `request` from now (None: it waits for one).
    fn set_busy(&self, request: Option<&str>) {
        let Some(token) = self.token else { return };
        let mut paused = self.shared.paused.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = paused.iter_mut().find(|t| t.token == token) {
            entry.busy = request.map(|request| Busy {
                request: request.to_owned(),
                since: SystemTime::now(),
                started: Instant::now(),
            });
        }
    }

    /// The next message for this handle, waiting up to `timeout` s (None: for ever).
    fn receive(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Incoming>> {
        // Taken out while waiting (a Receiver cannot be shared), put back after.
        let Some(mut requests) = self.requests.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(None);
        };
        let incoming = if self.token.is_some() {
            // A paused thread reads the socket itself while it waits.
            runtime::wait_interruptibly(py, timeout, true, requests.recv(), |_| Ok(())).map(Option::flatten)
        } else {
            // The service thread, which waits as long as the program runs, leaves that to others.
            Ok(py
                .allow_threads(|| runtime::wait(runtime::within(timeout, requests.recv())))
                .flatten())
        };
        let mut slot = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if !*self.closed.lock().unwrap_or_else(|e| e.into_inner()) {
            *slot = Some(requests);
        } else {
            drop(slot);
            self.refuse_unread(py, requests);
        }
        incoming
    }

    /// Answers the requests left in a closed handle's queue, which its thread
    /// will never read: without an answer their clients would wait until their timeout.
    fn refuse_unread(&self, py: Python<'_>, mut requests: mpsc::UnboundedReceiver<Incoming>) {
        let mut refusals = Vec::new();
        while let Ok(incoming) = requests.try_recv() {
            refusals.extend(
                self.shared
                    .error_frames(&incoming, "NotPaused", "that thread has just resumed"),
            );
        }
        if refusals.is_empty() {
            return;
        }
        py.allow_threads(|| {
            runtime::drive_and_flush(async {
                for frames in refusals {
                    self.shared.send(frames).await;
                }
            })
        });
    }

    fn unregister(&self) {
        if !self.shared.process.is_current() {
            return; // a forked child: the list is the parent's (and its lock may be held)
        }
        match self.token {
            Some(token) => self
                .shared
                .paused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|t| t.token != token),
            None => drop(self.shared.service.lock().unwrap_or_else(|e| e.into_inner()).take()),
        }
    }
}

impl Drop for PauseHandle {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// One request received by a paused thread. Reply exactly once.
#[pyclass(frozen, module = "jupdb._native")]
pub struct Request {
    shared: Arc<Shared>,
    incoming: Incoming,
    content: Py<PyAny>,
    replied: Mutex<bool>,
}

impl Request {
    fn send(&self, py: Python<'_>, content: Value, buffers: Vec<Bytes>) -> PyResult<()> {
        let mut replied = self.replied.lock().unwrap_or_else(|e| e.into_inner());
        if *replied {
            return Err(PyValueError::new_err("this request has been answered already"));
        }
        *replied = true;
        if self.incoming.answered.swap(true, Ordering::AcqRel) {
            return Ok(()); // the server answered it while Python could not run
        }
        if !self.shared.process.is_current() {
            return Ok(()); // forked while running the request: the parent replies
        }
        // A reply the client would refuse unread: say why instead.
        let (content, buffers) = if buffers.len() > MAX_BUFFERS {
            let evalue = format!(
                "the reply has {} buffers, more than the protocol's {MAX_BUFFERS}",
                buffers.len()
            );
            (error_content("TooManyBuffers", &evalue, ""), Vec::new())
        } else {
            (content, buffers)
        };
        let mut reply = self.incoming.message.reply(self.shared.session.clone(), content);
        reply.buffers = buffers;
        // Signing a large buffer takes a while: let the program's other threads run.
        py.allow_threads(|| {
            let frames = self.shared.frames(&self.incoming.identities, &reply);
            runtime::drive_and_flush(self.shared.send(frames));
        });
        Ok(())
    }
}

#[pymethods]
impl Request {
    /// The request's type, e.g. "eval_request".
    #[getter]
    fn msg_type(&self) -> &str {
        &self.incoming.message.header.msg_type
    }

    /// The identity of the connection the request came on (None for the
    /// server's own notices): events for that client go to it (`Server.publish_to`).
    #[getter]
    fn peer(&self) -> Option<&[u8]> {
        self.incoming.identities.first().map(|b| b.as_ref())
    }

    /// The `session` the client named in the request's header.
    #[getter]
    fn client_session(&self) -> &str {
        &self.incoming.message.header.session
    }

    /// The request's content (a dict).
    #[getter]
    fn content(&self, py: Python<'_>) -> Py<PyAny> {
        self.content.clone_ref(py)
    }

    /// The raw buffers that came with the request.
    #[getter]
    fn buffers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let frames: PyResult<Vec<Bound<'py, Frame>>> = self
            .incoming
            .message
            .buffers
            .iter()
            .map(|b| Bound::new(py, Frame::shared(b.clone())))
            .collect();
        PyList::new(py, frames?)
    }

    /// Sends the reply: `content` (a dict) and raw `buffers` (bytes-like objects).
    ///
    /// The buffers are sent from their own memory, without a copy (the objects
    /// are kept alive until sent): change them only after the client has them.
    #[pyo3(signature = (content, buffers=Vec::new()))]
    fn reply(&self, py: Python<'_>, content: &Bound<'_, PyDict>, buffers: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let content = to_value(content.as_any())?;
        let frames = buffers.iter().map(sending_frame).collect::<PyResult<Vec<_>>>()?;
        self.send(py, content, frames)
    }

    /// Sends an error reply.
    #[pyo3(signature = (ename, evalue, traceback=""))]
    fn error(&self, py: Python<'_>, ename: &str, evalue: &str, traceback: &str) -> PyResult<()> {
        self.send(py, error_content(ename, evalue, traceback), Vec::new())
    }
}
