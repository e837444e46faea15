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

use std::future::Future;
use std::sync::{Condvar, Mutex, OnceLock};
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

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<&'static Driver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let runtime = Builder::new_current_thread().enable_all().build().expect("starting jupdb's I/O runtime");
        let driver: &'static Driver = Box::leak(Box::new(Driver {
            runtime,
            state: Mutex::new(State { driving: 0, last_left: Instant::now(), io_waits: false }),
            idle: Condvar::new(),
            wanted: Notify::new(),
        }));
        std::thread::Builder::new()
            .name("jupdb-io".into())
            .spawn(move || driver.serve_idle())
            .expect("starting jupdb's I/O thread");
        driver
    })
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
                if state.driving > 0 {
                    state.io_waits = true;
                    state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.io_waits = false;
                    continue;
                }
                let quiet = state.last_left.elapsed();
                if quiet >= GRACE {
                    break;
                }
                state = self.idle.wait_timeout(state, GRACE - quiet).unwrap_or_else(|e| e.into_inner()).0;
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

/// Like [`drive`], and then lets the runtime's tasks run once before
/// returning: the socket writers, so that what `future` sent is written by
/// this thread now, as far as the socket takes it (the rest of a large reply
/// is written by whichever thread drives next).
pub fn drive_and_flush<F: Future>(future: F) -> F::Output {
    drive(async {
        let output = future.await;
        tokio::task::yield_now().await;
        output
    })
}

/// Runs `future` to completion on the calling thread without driving the
/// sockets: for a thread that may wait for a long time while others need the
/// I/O (the debuggee's service thread waits as long as the program runs).
pub fn wait<F: Future>(future: F) -> F::Output {
    driver().runtime.handle().block_on(future)
}

/// `future`'s output, or None if `seconds` (None: no limit; negative: zero)
/// pass first.
pub async fn within<F: Future>(seconds: Option<f64>, future: F) -> Option<F::Output> {
    match seconds {
        None => Some(future.await),
        Some(secs) => tokio::time::timeout(Duration::from_secs_f64(secs.max(0.0)), future).await.ok(),
    }
}

/// Starts a task on the runtime (it runs on whichever thread drives).
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    driver().runtime.spawn(future);
}
