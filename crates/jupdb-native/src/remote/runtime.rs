//! The runtime that drives every socket of the process, and which thread drives it.
//!
//! One current-thread Tokio runtime, created on first use (a server started
//! or a client connected), so that `import jupdb` starts no thread. Tokio lets
//! several threads call a current-thread runtime's `block_on`: one of them
//! holds the scheduler and drives the sockets and tasks, the others wait for
//! their own future and take the scheduler over when it is free.
//!
//! jupdb puts the I/O on the thread that waits for it. A paused thread
//! waiting for its next request, or a client waiting for its reply, calls
//! [`drive`]: it reads the socket itself, and the reply it sends is written by
//! the same thread. A round trip then wakes one thread on each side, which is
//! what a request costs on the wire anyway (the sockets' writers and readers
//! are Tokio tasks: without this, every message would also cross to an I/O
//! thread and back, two more wake-ups of tens of microseconds each on a VM).
//!
//! When no thread has driven for [`GRACE`], the `jupdb-io` thread drives, so
//! that `status_request` is answered and events go out while Python is busy
//! (and while the program runs, when nobody waits at all). Whoever calls
//! [`drive`] while it drives gets the scheduler handed over at once.
//!
//! A forked child gets a runtime of its own. The parent's did not survive the
//! fork whole: its I/O thread is gone, and its epoll instance and sockets are
//! shared with the parent, so polling them would take the parent's events and
//! writing to them would interleave with the parent's messages. Sockets made
//! before a fork therefore stay the parent's: [`Process`] tells which they are.

use pyo3::prelude::*;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, Once, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Notify;

/// How long the I/O thread leaves the sockets to the threads that drive them
/// after the last one stopped: long enough to span the Python code between a
/// paused thread's requests, short enough for a status request to be answered
/// promptly while a long evaluation runs.
const GRACE: Duration = Duration::from_millis(2);

struct Driver {
    runtime: Runtime,
    state: Mutex<State>,
    /// Wakes the I/O thread when it waits for `driving` to drop to zero.
    idle: Condvar,
    /// Asks the I/O thread to hand the scheduler over.
    wanted: Notify,
}

struct State {
    /// Threads in [`drive`] (driving, or waiting to).
    driving: usize,
    /// When the last one left.
    last_left: Instant,
    /// The I/O thread waits until `driving` is zero, and must be told.
    io_waits: bool,
}

/// This process's driver; null until first used, and again in a forked child.
static DRIVER: AtomicPtr<Driver> = AtomicPtr::new(ptr::null_mut());

/// Forks this process is down from since the extension was loaded (counted in each child).
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Runs in a forked child, before anything else: the parent's driver is left
/// as it is (dropping it would deregister the parent's sockets from the epoll
/// instance both share) and the child starts its own on first use.
extern "C" fn forget_driver_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    DRIVER.store(ptr::null_mut(), Ordering::Release);
}

fn driver() -> &'static Driver {
    let current = DRIVER.load(Ordering::Acquire);
    if current.is_null() {
        start_driver()
    } else {
        // SAFETY: a driver, once stored, is leaked: it lives as long as the process.
        unsafe { &*current }
    }
}

#[cold]
fn start_driver() -> &'static Driver {
    #[cfg(unix)]
    {
        static AT_FORK: Once = Once::new();
        // SAFETY: the handler only stores to atomics, which is safe in a forked child.
        AT_FORK.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forget_driver_in_child));
        });
    }
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("starting jupdb's I/O runtime");
    let new = Box::into_raw(Box::new(Driver {
        runtime,
        state: Mutex::new(State {
            driving: 0,
            last_left: Instant::now(),
            io_waits: false,
        }),
        idle: Condvar::new(),
        wanted: Notify::new(),
    }));
    match DRIVER.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            // SAFETY: stored above, never freed.
            let driver: &'static Driver = unsafe { &*new };
            std::thread::Builder::new()
                .name("jupdb-io".into())
                .spawn(move || driver.serve_idle())
                .expect("starting jupdb's I/O thread");
            driver
        }
        Err(first) => {
            // Another thread started one meanwhile: ours never ran anything.
            // SAFETY: `new` came from Box::into_raw above and was never shared.
            drop(unsafe { Box::from_raw(new) });
            // SAFETY: as in `driver`.
            unsafe { &*first }
        }
    }
}

/// The process a socket was made in. A forked child must neither read nor
/// write its parent's sockets: it shares them with the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process(u64);

impl Process {
    /// This process.
    pub fn current() -> Self {
        Process(FORKS.load(Ordering::Relaxed))
    }

    /// Whether this is still the process it was (and not a child forked since).
    pub fn is_current(self) -> bool {
        self == Process::current()
    }
}

impl Driver {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The I/O thread: drives the runtime whenever no other thread has for `GRACE`.
    fn serve_idle(&self) {
        loop {
            let mut state = self.lock();
            loop {
                let quiet = state.last_left.elapsed();
                if quiet >= GRACE {
                    if state.driving == 0 {
                        break;
                    }
                    // A thread has driven for a while (a paused thread waiting for
                    // its next request): nothing to do until it leaves.
                    state.io_waits = true;
                    state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.io_waits = false;
                    continue;
                }
                // Threads come and go (a client's requests, a paused thread's
                // replies): look again when they may have stopped, instead of being
                // woken each time one leaves. Woken, this thread would often run on
                // the core where the peer process spins for its reply, and cost it a
                // context switch a request (about 30 µs on a VM: the round trip doubles).
                state = self
                    .idle
                    .wait_timeout(state, GRACE - quiet)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            drop(state);
            // Returns as soon as a thread calls `drive`, which then takes over.
            self.runtime.block_on(self.wanted.notified());
        }
    }
}

/// Runs `future` to completion on the calling thread, driving jupdb's sockets
/// meanwhile (or, while another thread drives them, waiting for it). Call it
/// with the GIL released: the future must not need Python.
pub fn drive<F: Future>(future: F) -> F::Output {
    let driver = driver();
    driver.lock().driving += 1;
    driver.wanted.notify_one();
    let output = driver.runtime.block_on(future);
    let mut state = driver.lock();
    state.driving -= 1;
    state.last_left = Instant::now();
    if state.driving == 0 && state.io_waits {
        driver.idle.notify_one();
    }
    output
}

/// Like [`drive`], and then returns only once the socket writers that
/// `future` woke have had their turn, so that what it sent is in the
/// kernel's hands before the caller goes on, as far as the socket takes it
/// (the rest of a large reply is written by whichever thread drives next).
/// A paused thread replies and then resumes: the program may end at once
/// (`os._exit`), and a reply still queued in the runtime would be lost.
///
/// Tasks run in the order they were woken, so a task spawned after `future`
/// has run when they have, whichever thread holds the scheduler: this one,
/// or the I/O thread, which may hold it still when `future` is done (a
/// `yield_now` is no turn for them then).
pub fn drive_and_flush<F: Future>(future: F) -> F::Output {
    drive(async {
        let output = future.await;
        let _ = driver().runtime.spawn(async {}).await;
        output
    })
}

/// Runs `future` to completion on the calling thread without driving the
/// sockets: for a thread that may wait for a long time while others need the
/// I/O (the debuggee's service thread waits as long as the program runs).
pub fn wait<F: Future>(future: F) -> F::Output {
    driver().runtime.handle().block_on(future)
}

/// How long [`spin`] polls, unless `JUPDB_SPIN_US` says otherwise (0 turns
/// spinning off): about one eval round trip on a slow VM, so that a reply or
/// the next request of a client in a loop is caught while spinning, and a
/// slow one costs at most this much CPU.
const SPIN: Duration = Duration::from_micros(200);

/// `future`'s output if it is ready within [`SPIN`], polled in a busy loop;
/// else None, the future left to be awaited. For a message expected within
/// microseconds (a reply; a paused thread's next request). Between polls the
/// runtime checks the sockets without sleeping, so a message that arrives
/// meanwhile is read at once; waking a sleeping thread instead costs tens of
/// microseconds on a VM, as much as the rest of a round trip (see
/// docs/performance.md). Spins only with a second core for the peer to run
/// on, and only while no other thread waits in [`drive`]: a spinner would
/// take the CPU from the thread that drives the sockets for it.
pub async fn spin<F: Future>(mut future: Pin<&mut F>) -> Option<F::Output> {
    let spin = if driver().lock().driving > 1 {
        Duration::ZERO
    } else {
        spin_time()
    };
    let start = Instant::now();
    loop {
        if let Poll::Ready(output) = poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await {
            return Some(output);
        }
        if start.elapsed() >= spin {
            return None;
        }
        // In `drive`, the runtime then polls its I/O without blocking and
        // runs its tasks (the socket readers) before it polls us again.
        tokio::task::yield_now().await;
    }
}

fn spin_time() -> Duration {
    static SPIN_TIME: OnceLock<Duration> = OnceLock::new();
    *SPIN_TIME.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let configured = std::env::var("JUPDB_SPIN_US")
            .ok()
            .and_then(|us| us.trim().parse().ok())
            .map(Duration::from_micros);
        if cores > 1 {
            configured.unwrap_or(SPIN)
        } else {
            Duration::ZERO
        }
    })
}

/// `future`'s output, or None if `seconds` (None: no limit; negative: zero)
/// pass first.
pub async fn within<F: Future>(seconds: Option<f64>, future: F) -> Option<F::Output> {
    match seconds {
        None => Some(future.await),
        Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), future)
            .await
            .ok(),
    }
}

/// How often a thread waiting in [`wait_interruptibly`] comes back to run
/// Python's signal handlers: the delay of a Ctrl-C there.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// `future`'s output, waited for as [`drive`] does (after a [`spin`] if
/// `spin_first`), with the GIL released; None if `seconds` (None: no limit)
/// pass first. Every [`SIGNAL_CHECK`] the thread takes the GIL to run
/// Python's signal handlers, so that Ctrl-C raises KeyboardInterrupt out of
/// this wait as it does out of `time.sleep` (on the main thread; on another
/// one it is a no-op), and a handler's exception is this call's; then
/// `between`, whose error, likewise, ends the wait.
pub fn wait_interruptibly<F>(
    py: Python<'_>,
    seconds: Option<f64>,
    spin_first: bool,
    future: F,
    mut between: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    let deadline = seconds.and_then(|s| Instant::now().checked_add(Duration::try_from_secs_f64(s.max(0.0)).ok()?));
    let mut future = pin!(future);
    // What comes while spinning needs no timer: most replies and requests.
    if spin_first {
        if let Some(output) = py.allow_threads(|| drive(spin(future.as_mut()))) {
            return Ok(Some(output));
        }
    }
    loop {
        let slice = deadline.map_or(SIGNAL_CHECK, |d| {
            d.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK)
        });
        // The timer is made in the runtime, which must be running (hence async).
        let output = py.allow_threads(|| drive(async { tokio::time::timeout(slice, future.as_mut()).await.ok() }));
        if output.is_some() {
            return Ok(output);
        }
        py.check_signals()?;
        between(py)?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// Starts a task on the runtime (it runs on whichever thread drives).
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    driver().runtime.spawn(future);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Pending on its first `n` polls, without ever waking its waker.
    struct ReadyOnPoll {
        polls: AtomicUsize,
        n: usize,
    }

    impl Future for &ReadyOnPoll {
        type Output = usize;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<usize> {
            let polls = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
            if polls > self.n {
                Poll::Ready(polls)
            } else {
                Poll::Pending
            }
        }
    }

    /// The tests drive one at a time: a thread spins only while no other drives.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    #[test]
    fn spinning_polls_again_without_being_woken() {
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        assert!(
            spin_time() > Duration::ZERO,
            "this test needs two cores and JUPDB_SPIN_US unset or > 0"
        );
        let future = ReadyOnPoll {
            polls: AtomicUsize::new(0),
            n: 3,
        };
        // Nothing ever wakes it: only the spin polls it a second time.
        let polls = drive(spin(pin!(&future)));
        assert_eq!(polls, Some(4));
    }

    #[test]
    fn a_future_not_ready_within_the_spin_is_left_to_be_awaited() {
        let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let slept = Duration::from_millis(20);
        assert!(slept > spin_time() * 10);
        let start = Instant::now();
        let spun = drive(async {
            let mut sleep = pin!(tokio::time::sleep(slept));
            let spun = spin(sleep.as_mut()).await;
            sleep.await;
            spun
        });
        assert!(spun.is_none());
        assert!(start.elapsed() >= slept);
    }
}
