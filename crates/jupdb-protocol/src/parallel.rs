//! The threads that hash large buffers: a Rayon pool of this crate's own, made
//! on first use and made again in a forked child.
//!
//! BLAKE3 hashes one input on several cores through Rayon
//! (`Hasher::update_rayon`). Rayon's global pool would do, but not across
//! `fork()`: the child inherits a pool whose threads are gone, and the first
//! job it hands them waits for ever. A debugged program may fork, so the pool
//! is tagged with the process that made it and a child makes its own.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, TryLockError};
use std::thread;

use rayon_core::{ThreadPool, ThreadPoolBuilder};

/// The pool and the process it belongs to.
static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

/// This process's pool; `None` on a single core, if the pool cannot be made,
/// or while another thread is fetching it (never block: the caller hashes on
/// its own thread instead, and a lock held across a fork cannot hang a child).
pub(crate) fn pool() -> Option<Arc<ThreadPool>> {
    let mut slot = match POOL.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let pid = std::process::id();
    if let Some((owner, pool)) = slot.as_ref() {
        if *owner == pid {
            return Some(pool.clone());
        }
    }
    let threads = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if threads < 2 {
        return None;
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("jupdb-hash-{i}"))
        .build()
        .ok()?;
    let pool = Arc::new(pool);
    // A parent's pool, inherited by a fork, has no threads here: leak it
    // rather than wait for them in its Drop.
    if let Some((_, inherited)) = slot.replace((pid, pool.clone())) {
        std::mem::forget(inherited);
    }
    Some(pool)
}
