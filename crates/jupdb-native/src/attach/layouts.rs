//! Every per-version CPython layout that attaching depends on, in one file.
//!
//! 3.10–3.13: the main interpreter's pending-call queue (`interp->ceval.pending`)
//! and where its eval breaker lives. 3.14+: PEP 768's `_Py_DebugOffsets` and
//! the thread state's `remote_debugger_support`. Offsets are for x86-64 / LP64
//! builds with the GIL, checked against the internal headers of CPython 3.10.13,
//! 3.11.7, 3.12.1, 3.13.0 and Debian's 3.11.2 (tests/test_attach.py compiles
//! `offsetof` against the headers and compares with [`offsets`]).
//!
//! Nothing here trusts a layout: every value read from the target is checked
//! (`interp->runtime == &_PyRuntime`, the 3.13 queue's capacity of 300, the
//! indices, the lock's state) before anything is written, and a target that
//! does not match is refused with the reason.

use super::{AttachError, Memory};

/// The interpreter's `_pending_calls` up to 3.12: a `PyThread_type_lock`
/// (a glibc `sem_t *`), `calls_to_do`, 32 `{func, arg}` entries, `first`, `last`.
pub const SEMAPHORE_QUEUE_CAPACITY: u64 = 32;
const SEMAPHORE_QUEUE_ENTRY: u64 = 16;
/// 3.13's `_pending_calls`: a `PyMutex`, `npending`, `max`, 300 `{func, arg, flags}`.
pub const MUTEX_QUEUE_CAPACITY: u64 = 300;
const MUTEX_QUEUE_ENTRY: u64 = 24;

#[derive(Debug)]
pub enum Queue {
    /// 3.10, 3.11 (`busy` is a static in `make_pending_calls`, not readable), 3.12.
    Semaphore {
        busy: Option<u64>,
        lock: u64,
        calls_to_do: u64,
        calls: u64,
        first: u64,
        last: u64,
    },
    /// 3.13.
    Mutex {
        handling_thread: u64,
        mutex: u64,
        npending: u64,
        max: u64,
        calls: u64,
        first: u64,
        next: u64,
    },
}

#[derive(Debug)]
pub enum Breaker {
    /// `interp->ceval.eval_breaker`, an int set to 1 (3.10–3.12).
    Interpreter { eval_breaker: u64 },
    /// 3.13: a `uintptr_t eval_breaker` per thread state; `_PY_CALLS_TO_DO_BIT` is
    /// set in each thread of the interpreter, as `_Py_set_eval_breaker_bit_all` does.
    Threads {
        threads_head: u64,
        tstate_next: u64,
        tstate_interp: u64,
        tstate_eval_breaker: u64,
        bit: u64,
    },
}

#[derive(Debug)]
pub struct Layout {
    pub minor: u32,
    /// `offsetof(_PyRuntimeState, interpreters.main)`.
    pub runtime_interpreters_main: u64,
    /// `offsetof(PyInterpreterState, runtime)`: checked to point back at `_PyRuntime`.
    pub interp_runtime: u64,
    /// `offsetof(PyInterpreterState, ceval.pending)`.
    pub interp_pending: u64,
    pub breaker: Breaker,
    pub queue: Queue,
    /// Up to 3.11 only the main thread runs the interpreter's pending calls.
    pub main_thread_only: bool,
    /// 3.13 starts `_PyRuntime` with `_Py_DebugOffsets`: its `threads_head` is
    /// cross-checked against ours.
    pub debug_offsets: bool,
}

const LEGACY_QUEUE: Queue = Queue::Semaphore {
    busy: None,
    lock: 0,
    calls_to_do: 8,
    calls: 16,
    first: 528,
    last: 532,
};

static V3_10: Layout = Layout {
    minor: 10,
    runtime_interpreters_main: 40,
    interp_runtime: 16,
    interp_pending: 80,
    breaker: Breaker::Interpreter { eval_breaker: 68 },
    queue: LEGACY_QUEUE,
    main_thread_only: true,
    debug_offsets: false,
};

static V3_11: Layout = Layout {
    minor: 11,
    runtime_interpreters_main: 48,
    interp_runtime: 40,
    interp_pending: 112,
    breaker: Breaker::Interpreter { eval_breaker: 100 },
    queue: LEGACY_QUEUE,
    main_thread_only: true,
    debug_offsets: false,
};

static V3_12: Layout = Layout {
    minor: 12,
    runtime_interpreters_main: 48,
    interp_runtime: 96,
    interp_pending: 400,
    breaker: Breaker::Interpreter { eval_breaker: 368 },
    queue: Queue::Semaphore {
        busy: Some(0),
        lock: 8,
        calls_to_do: 16,
        calls: 24,
        first: 536,
        last: 540,
    },
    main_thread_only: false,
    debug_offsets: false,
};

static V3_13: Layout = Layout {
    minor: 13,
    runtime_interpreters_main: 640,
    interp_runtime: 7376,
    interp_pending: 32,
    breaker: Breaker::Threads {
        threads_head: 7344,
        tstate_next: 8,
        tstate_interp: 16,
        tstate_eval_breaker: 24,
        bit: 1 << 2,
    },
    queue: Queue::Mutex {
        handling_thread: 0,
        mutex: 8,
        npending: 12,
        max: 16,
        calls: 24,
        first: 7224,
        next: 7228,
    },
    main_thread_only: false,
    debug_offsets: true,
};

/// The pending-call layout of CPython 3.`minor`, if it has one (3.10–3.13).
pub fn layout(minor: u32) -> Option<&'static Layout> {
    match minor {
        10 => Some(&V3_10),
        11 => Some(&V3_11),
        12 => Some(&V3_12),
        13 => Some(&V3_13),
        _ => None,
    }
}

/// The offsets by the names tests/test_attach.py prints with `offsetof`.
pub fn offsets(layout: &Layout) -> Vec<(&'static str, u64)> {
    let mut out = vec![
        ("runtime_interpreters_main", layout.runtime_interpreters_main),
        ("interp_runtime", layout.interp_runtime),
        ("interp_pending", layout.interp_pending),
    ];
    match layout.breaker {
        Breaker::Interpreter { eval_breaker } => out.push(("interp_eval_breaker", eval_breaker)),
        Breaker::Threads {
            threads_head,
            tstate_next,
            tstate_interp,
            tstate_eval_breaker,
            bit,
        } => out.extend([
            ("interp_threads_head", threads_head),
            ("tstate_next", tstate_next),
            ("tstate_interp", tstate_interp),
            ("tstate_eval_breaker", tstate_eval_breaker),
            ("calls_to_do_bit", bit),
        ]),
    }
    match layout.queue {
        Queue::Semaphore {
            busy,
            lock,
            calls_to_do,
            calls,
            first,
            last,
        } => {
            out.extend([
                ("pending_lock", lock),
                ("pending_calls_to_do", calls_to_do),
                ("pending_calls", calls),
                ("pending_call_size", SEMAPHORE_QUEUE_ENTRY),
                ("pending_capacity", SEMAPHORE_QUEUE_CAPACITY),
                ("pending_first", first),
                ("pending_last", last),
            ]);
            if let Some(busy) = busy {
                out.push(("pending_busy", busy));
            }
        }
        Queue::Mutex {
            handling_thread,
            mutex,
            npending,
            max,
            calls,
            first,
            next,
        } => out.extend([
            ("pending_handling_thread", handling_thread),
            ("pending_mutex", mutex),
            ("pending_npending", npending),
            ("pending_max", max),
            ("pending_calls", calls),
            ("pending_call_size", MUTEX_QUEUE_ENTRY),
            ("pending_call_flags", 16),
            ("pending_capacity", MUTEX_QUEUE_CAPACITY),
            ("pending_first", first),
            ("pending_last", next),
        ]),
    }
    out
}

fn refuse(why: String) -> AttachError {
    AttachError::Refused(format!(
        "the target does not match jupdb's layout of its Python, so nothing was written: {why}"
    ))
}

/// The main interpreter, validated: `interp->runtime` must point back at `_PyRuntime`,
/// and on 3.13 the runtime's own debug offsets must agree with ours.
pub fn main_interpreter(mem: &impl Memory, layout: &Layout, runtime: u64) -> Result<u64, AttachError> {
    if layout.debug_offsets {
        let cookie = mem.read_bytes(runtime, 8)?;
        if cookie != pep768::COOKIE {
            return Err(refuse(format!("no _Py_DebugOffsets at _PyRuntime (cookie {cookie:?})")));
        }
        let version = mem.read_u64(runtime + 8)?;
        if (version >> 16) & 0xffff != 0x0300 | layout.minor as u64 {
            return Err(refuse(format!(
                "_Py_DebugOffsets says version {version:#x}, not 3.{}",
                layout.minor
            )));
        }
        if mem.read_u64(runtime + 16)? != 0 {
            return Err(refuse(
                "a free-threaded build (only builds with the GIL are supported)".into(),
            ));
        }
        if let Breaker::Threads { threads_head, .. } = layout.breaker {
            let theirs = mem.read_u64(runtime + 72)?; // interpreter_state.threads_head
            if theirs != threads_head {
                return Err(refuse(format!(
                    "threads.head is at {theirs}, jupdb expects {threads_head}"
                )));
            }
        }
    }
    let interp = mem.read_u64(runtime + layout.runtime_interpreters_main)?;
    if interp == 0 || interp % 8 != 0 {
        return Err(refuse(format!(
            "_PyRuntime.interpreters.main is {interp:#x} (not started, or finalizing?)"
        )));
    }
    let back = mem.read_u64(interp + layout.interp_runtime)?;
    if back != runtime {
        return Err(refuse(format!(
            "interp->runtime is {back:#x}, not &_PyRuntime ({runtime:#x})"
        )));
    }
    Ok(interp)
}

/// What an attempt to queue a call found.
#[derive(Debug, PartialEq, Eq)]
pub enum Enqueue {
    /// Queued at this index.
    Queued(u64),
    /// The queue is in use (not empty, its lock held, its calls being run): try again.
    Busy(&'static str),
}

/// Queues `func(arg)` as `_PyEval_AddPendingCall` would, but only into an empty,
/// unlocked, idle queue (the target's threads are stopped meanwhile, so nothing
/// can change under us; a lock a stopped thread holds stays held and is waited out).
/// Every field is validated first: any impossible value refuses the target.
pub fn enqueue(mem: &impl Memory, layout: &Layout, interp: u64, func: u64, arg: u64) -> Result<Enqueue, AttachError> {
    let q = interp + layout.interp_pending;
    let slot = match layout.queue {
        Queue::Semaphore {
            busy,
            lock,
            calls_to_do,
            calls,
            first,
            last,
        } => {
            let (head, tail) = (mem.read_i32(q + first)?, mem.read_i32(q + last)?);
            let cap = SEMAPHORE_QUEUE_CAPACITY as i32;
            if !(0..cap).contains(&head) || !(0..cap).contains(&tail) {
                return Err(refuse(format!(
                    "pending calls first={head} last={tail}, outside 0..{cap}"
                )));
            }
            let to_do = mem.read_i32(q + calls_to_do)?;
            if !(0..=1).contains(&to_do) {
                return Err(refuse(format!("pending calls_to_do is {to_do}")));
            }
            let lock_ptr = mem.read_u64(q + lock)?;
            if lock_ptr == 0 {
                return Err(refuse("the pending-call lock is NULL".into()));
            }
            // glibc's sem_t: the value in the low 32 bits, the number of waiters above.
            let value = mem.read_u64(lock_ptr)? & 0xffff_ffff;
            if value > 1 {
                return Err(refuse(format!(
                    "the pending-call lock holds {value}, not a lock's 0 or 1"
                )));
            }
            if let Some(busy) = busy {
                let busy = mem.read_i32(q + busy)?;
                if !(0..=1).contains(&busy) {
                    return Err(refuse(format!("pending busy is {busy}")));
                }
                if busy == 1 {
                    return Ok(Enqueue::Busy("a thread is running pending calls"));
                }
            }
            if value == 0 {
                return Ok(Enqueue::Busy("the pending-call lock is held"));
            }
            if head != tail {
                return Ok(Enqueue::Busy("the pending-call queue is not empty"));
            }
            let slot = tail as u64;
            let entry = q + calls + slot * SEMAPHORE_QUEUE_ENTRY;
            mem.write(entry, &[func.to_ne_bytes(), arg.to_ne_bytes()].concat())?;
            mem.write(q + last, &((tail + 1) % cap).to_ne_bytes())?;
            mem.write(q + calls_to_do, &1i32.to_ne_bytes())?;
            slot
        }
        Queue::Mutex {
            handling_thread,
            mutex,
            npending,
            max,
            calls,
            first,
            next,
        } => {
            let capacity = mem.read_i32(q + max)?;
            if capacity as u64 != MUTEX_QUEUE_CAPACITY {
                return Err(refuse(format!(
                    "the pending-call queue holds {capacity}, not {MUTEX_QUEUE_CAPACITY}"
                )));
            }
            let (head, tail, count) = (
                mem.read_i32(q + first)?,
                mem.read_i32(q + next)?,
                mem.read_i32(q + npending)?,
            );
            let cap = MUTEX_QUEUE_CAPACITY as i32;
            if !(0..cap).contains(&head) || !(0..cap).contains(&tail) || !(0..=cap).contains(&count) {
                return Err(refuse(format!(
                    "pending calls first={head} next={tail} npending={count}"
                )));
            }
            let bits = mem.read_bytes(q + mutex, 1)?[0];
            if bits > 3 {
                return Err(refuse(format!("the pending-call PyMutex is {bits:#x}")));
            }
            if mem.read_u64(q + handling_thread)? != 0 {
                return Ok(Enqueue::Busy("a thread is running pending calls"));
            }
            if bits != 0 {
                return Ok(Enqueue::Busy("the pending-call lock is held"));
            }
            if count != 0 || head != tail {
                return Ok(Enqueue::Busy("the pending-call queue is not empty"));
            }
            let slot = tail as u64;
            let entry = q + calls + slot * MUTEX_QUEUE_ENTRY;
            if mem.read_u64(entry)? != 0 {
                return Err(refuse("the free pending-call entry is not empty".into()));
            }
            let flags = 0u64; // neither main-thread-only nor raw-free: any thread may run it
            mem.write(
                entry,
                &[func.to_ne_bytes(), arg.to_ne_bytes(), flags.to_ne_bytes()].concat(),
            )?;
            mem.write(q + next, &((tail + 1) % cap).to_ne_bytes())?;
            mem.write(q + npending, &1i32.to_ne_bytes())?;
            slot
        }
    };
    signal(mem, layout, interp)?;
    Ok(Enqueue::Queued(slot))
}

/// Sets the eval breaker that makes a thread look at the pending calls. Done again
/// while a call waits: a thread that recomputes its breaker from state it read just
/// before (3.10/3.11: a thread other than the main one; 3.13: one that was stopped
/// between reading and storing its breaker) may have cleared it.
pub fn signal(mem: &impl Memory, layout: &Layout, interp: u64) -> Result<(), AttachError> {
    match layout.breaker {
        Breaker::Interpreter { eval_breaker } => mem.write(interp + eval_breaker, &1i32.to_ne_bytes())?,
        Breaker::Threads {
            threads_head,
            tstate_next,
            tstate_interp,
            tstate_eval_breaker,
            bit,
        } => {
            let mut tstate = mem.read_u64(interp + threads_head)?;
            let mut seen = 0;
            while tstate != 0 && seen < 100_000 {
                if mem.read_u64(tstate + tstate_interp)? != interp {
                    return Err(refuse(format!(
                        "thread state {tstate:#x} is not the main interpreter's"
                    )));
                }
                let breaker = mem.read_u64(tstate + tstate_eval_breaker)?;
                mem.write(tstate + tstate_eval_breaker, &(breaker | bit).to_ne_bytes())?;
                tstate = mem.read_u64(tstate + tstate_next)?;
                seen += 1;
            }
        }
    }
    Ok(())
}

/// Whether the call queued at `slot` has been taken off the queue (and so is running
/// or ran): `slot` is no longer between `first` and the tail.
pub fn taken(mem: &impl Memory, layout: &Layout, interp: u64, slot: u64) -> Result<bool, AttachError> {
    let q = interp + layout.interp_pending;
    let (first, tail, cap) = match layout.queue {
        Queue::Semaphore { first, last, .. } => (first, last, SEMAPHORE_QUEUE_CAPACITY),
        Queue::Mutex { first, next, .. } => (first, next, MUTEX_QUEUE_CAPACITY),
    };
    let head = mem.read_i32(q + first)? as u64 % cap;
    let tail = mem.read_i32(q + tail)? as u64 % cap;
    let queued = (tail + cap - head) % cap;
    let position = (slot + cap - head) % cap;
    Ok(position >= queued)
}

/// Takes the call at `slot` back off the queue if it is still the last one there,
/// as if it had never been queued; false if other calls came after it (the caller
/// then makes it harmless instead). The target's threads must be stopped.
pub fn withdraw(mem: &impl Memory, layout: &Layout, interp: u64, slot: u64) -> Result<bool, AttachError> {
    let q = interp + layout.interp_pending;
    match layout.queue {
        Queue::Semaphore { calls, last, .. } => {
            let tail = mem.read_i32(q + last)? as u64;
            if (slot + 1) % SEMAPHORE_QUEUE_CAPACITY != tail {
                return Ok(false);
            }
            mem.write(
                q + calls + slot * SEMAPHORE_QUEUE_ENTRY,
                &[0u8; SEMAPHORE_QUEUE_ENTRY as usize],
            )?;
            mem.write(q + last, &(slot as i32).to_ne_bytes())?;
        }
        Queue::Mutex {
            npending, calls, next, ..
        } => {
            let tail = mem.read_i32(q + next)? as u64;
            let count = mem.read_i32(q + npending)?;
            if (slot + 1) % MUTEX_QUEUE_CAPACITY != tail || count < 1 {
                return Ok(false);
            }
            mem.write(q + calls + slot * MUTEX_QUEUE_ENTRY, &[0u8; MUTEX_QUEUE_ENTRY as usize])?;
            mem.write(q + next, &(slot as i32).to_ne_bytes())?;
            mem.write(q + npending, &(count - 1).to_ne_bytes())?;
        }
    }
    Ok(true)
}

/// PEP 768 (CPython 3.14+): the runtime describes itself in `_Py_DebugOffsets` at
/// the start of `_PyRuntime` (its `.PyRuntime` section), and each thread state has
/// a `_PyRemoteDebuggerSupport { int32 debugger_pending_call; char
/// debugger_script_path[512]; }`. A debugger writes a script's path there, sets the
/// flag and `_PY_EVAL_PLEASE_STOP_BIT` in that thread's eval breaker; the thread
/// runs the file at its next safe point, if `PyConfig.remote_debug` (which
/// `PYTHON_DISABLE_REMOTE_DEBUG` and `-X disable-remote-debug` clear) is on.
/// Layout of CPython 3.14's `Include/internal/pycore_debug_offsets.h`; untested
/// against a live 3.14 (none can be installed here), unit-tested below.
pub mod pep768 {
    use super::{refuse, AttachError, Memory};

    pub const COOKIE: &[u8] = b"xdebugpy";
    /// `_PY_EVAL_PLEASE_STOP_BIT`.
    pub const PLEASE_STOP_BIT: u64 = 1 << 5;
    pub const SCRIPT_PATH_SIZE: u64 = 512;

    // Byte offsets inside `_Py_DebugOffsets` (3.14: every field a uint64_t after the
    // 8-byte cookie; the sub-structs' field counts in order: runtime_state 3,
    // interpreter_state 16, thread_state 9, interpreter_frame 8, code_object 11,
    // pyobject 2, type_object 4, tuple 3, list 3, set 4, dict 3, float 2, long 3,
    // bytes 3, unicode 4, gc 2, gen 4, llist_node 2, then debugger_support 6).
    const VERSION: u64 = 8;
    const FREE_THREADED: u64 = 16;
    const INTERPRETERS_HEAD: u64 = 24 + 2 * 8;
    const INTERP: u64 = 48;
    const INTERP_SIZE: u64 = INTERP;
    const THREADS_MAIN: u64 = INTERP + 4 * 8;
    const TSTATE: u64 = INTERP + 16 * 8;
    const TSTATE_SIZE: u64 = TSTATE;
    const DEBUGGER_SUPPORT: u64 = TSTATE + (9 + 8 + 11 + 2 + 4 + 3 + 3 + 4 + 3 + 2 + 3 + 3 + 4 + 2 + 4 + 2) * 8;
    pub const SIZE: u64 = DEBUGGER_SUPPORT + 6 * 8;

    #[derive(Debug, PartialEq, Eq)]
    pub struct DebugOffsets {
        pub version: u64,
        pub interpreters_head: u64,
        pub threads_main: u64,
        pub eval_breaker: u64,
        pub remote_debugger_support: u64,
        pub remote_debugging_enabled: u64,
        pub debugger_pending_call: u64,
        pub debugger_script_path: u64,
    }

    fn word(bytes: &[u8], at: u64) -> u64 {
        let at = at as usize;
        u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    /// Parses and checks the runtime's `_Py_DebugOffsets` (`bytes`: its first [`SIZE`] bytes).
    pub fn parse(bytes: &[u8], minor: u32) -> Result<DebugOffsets, AttachError> {
        if bytes.len() < SIZE as usize || &bytes[..8] != COOKIE {
            return Err(refuse("no _Py_DebugOffsets cookie at the start of _PyRuntime".into()));
        }
        let version = word(bytes, VERSION);
        if (version >> 16) & 0xffff != 0x0300 | minor as u64 {
            return Err(refuse(format!(
                "_Py_DebugOffsets says version {version:#x}, not 3.{minor}"
            )));
        }
        if word(bytes, FREE_THREADED) != 0 {
            return Err(refuse(
                "a free-threaded build (only builds with the GIL are supported)".into(),
            ));
        }
        let d = DEBUGGER_SUPPORT;
        let offsets = DebugOffsets {
            version,
            interpreters_head: word(bytes, INTERPRETERS_HEAD),
            threads_main: word(bytes, THREADS_MAIN),
            eval_breaker: word(bytes, d),
            remote_debugger_support: word(bytes, d + 8),
            remote_debugging_enabled: word(bytes, d + 16),
            debugger_pending_call: word(bytes, d + 24),
            debugger_script_path: word(bytes, d + 32),
        };
        let (interp_size, tstate_size) = (word(bytes, INTERP_SIZE), word(bytes, TSTATE_SIZE));
        let path_size = word(bytes, d + 40);
        // _PyRemoteDebuggerSupport is {int32_t debugger_pending_call; char debugger_script_path[512];}.
        let sane = path_size == SCRIPT_PATH_SIZE
            && offsets.debugger_pending_call == 0
            && offsets.debugger_script_path == 4
            && offsets.remote_debugger_support + 4 + SCRIPT_PATH_SIZE <= tstate_size
            && offsets.eval_breaker + 8 <= tstate_size
            && offsets.threads_main + 8 <= interp_size
            && offsets.remote_debugging_enabled + 4 <= interp_size
            && tstate_size < 1 << 20
            && interp_size < 1 << 24;
        if !sane {
            return Err(refuse(format!(
                "its _Py_DebugOffsets are not 3.{minor}'s layout ({offsets:?})"
            )));
        }
        Ok(offsets)
    }

    /// The main interpreter and its main thread state, once remote debugging is
    /// known to be allowed there.
    pub fn main_thread(mem: &impl Memory, runtime: u64, offsets: &DebugOffsets) -> Result<(u64, u64), AttachError> {
        let interp = mem.read_u64(runtime + offsets.interpreters_head)?;
        if interp == 0 {
            return Err(refuse("no interpreter (not started, or finalizing?)".into()));
        }
        if mem.read_i32(interp + offsets.remote_debugging_enabled)? != 1 {
            return Err(AttachError::Refused(
                "the program opted out of remote debugging (PYTHON_DISABLE_REMOTE_DEBUG, -X disable-remote-debug, \
                 or a build without it), so jupdb does not attach"
                    .into(),
            ));
        }
        let tstate = mem.read_u64(interp + offsets.threads_main)?;
        if tstate == 0 {
            return Err(refuse("the interpreter has no main thread state".into()));
        }
        Ok((interp, tstate))
    }

    /// Asks thread `tstate` to run the script at `path`; false if a request is pending there already.
    pub fn request(mem: &impl Memory, tstate: u64, offsets: &DebugOffsets, path: &[u8]) -> Result<bool, AttachError> {
        if path.len() as u64 >= SCRIPT_PATH_SIZE || path.contains(&0) {
            return Err(AttachError::Refused(format!(
                "the bootstrap's path is {} bytes: PEP 768 takes at most {}",
                path.len(),
                SCRIPT_PATH_SIZE - 1
            )));
        }
        let support = tstate + offsets.remote_debugger_support;
        if mem.read_i32(support + offsets.debugger_pending_call)? != 0 {
            return Ok(false);
        }
        let mut buffer = path.to_vec();
        buffer.push(0);
        mem.write(support + offsets.debugger_script_path, &buffer)?;
        mem.write(support + offsets.debugger_pending_call, &1i32.to_ne_bytes())?;
        let breaker = mem.read_u64(tstate + offsets.eval_breaker)?;
        mem.write(
            tstate + offsets.eval_breaker,
            &(breaker | PLEASE_STOP_BIT).to_ne_bytes(),
        )?;
        Ok(true)
    }

    /// Whether the thread has taken the request (it clears the flag before running the script).
    pub fn taken(mem: &impl Memory, tstate: u64, offsets: &DebugOffsets) -> Result<bool, AttachError> {
        Ok(mem.read_i32(tstate + offsets.remote_debugger_support + offsets.debugger_pending_call)? == 0)
    }

    /// Clears a request not taken yet (the target's threads stopped).
    pub fn withdraw(mem: &impl Memory, tstate: u64, offsets: &DebugOffsets) -> Result<(), AttachError> {
        mem.write(
            tstate + offsets.remote_debugger_support + offsets.debugger_pending_call,
            &0i32.to_ne_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A sparse fake address space: unwritten bytes read as zero.
    #[derive(Default)]
    struct Fake(RefCell<BTreeMap<u64, u8>>);

    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), AttachError> {
            let map = self.0.borrow();
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *map.get(&(addr + i as u64)).unwrap_or(&0);
            }
            Ok(())
        }
        fn write(&self, addr: u64, data: &[u8]) -> Result<(), AttachError> {
            let mut map = self.0.borrow_mut();
            for (i, b) in data.iter().enumerate() {
                map.insert(addr + i as u64, *b);
            }
            Ok(())
        }
    }

    impl Fake {
        fn put_u64(&self, addr: u64, v: u64) {
            self.write(addr, &v.to_ne_bytes()).unwrap()
        }
        fn put_i32(&self, addr: u64, v: i32) {
            self.write(addr, &v.to_ne_bytes()).unwrap()
        }
    }

    const RUNTIME: u64 = 0x10_0000;
    const INTERP: u64 = 0x20_0000;
    const LOCK: u64 = 0x30_0000;
    const TSTATES: [u64; 2] = [0x40_0000, 0x50_0000];

    /// A live-looking main interpreter of `layout`, with an empty, unlocked queue.
    fn target(layout: &Layout) -> Fake {
        let mem = Fake::default();
        mem.put_u64(RUNTIME + layout.runtime_interpreters_main, INTERP);
        mem.put_u64(INTERP + layout.interp_runtime, RUNTIME);
        let q = INTERP + layout.interp_pending;
        match layout.queue {
            Queue::Semaphore { lock, first, last, .. } => {
                mem.put_u64(q + lock, LOCK);
                mem.put_u64(LOCK, 1); // a free semaphore
                mem.put_i32(q + first, 7);
                mem.put_i32(q + last, 7);
            }
            Queue::Mutex { max, first, next, .. } => {
                mem.put_i32(q + max, 300);
                mem.put_i32(q + first, 299);
                mem.put_i32(q + next, 299);
            }
        }
        if let Breaker::Threads {
            threads_head,
            tstate_next,
            tstate_interp,
            tstate_eval_breaker,
            ..
        } = layout.breaker
        {
            mem.write(RUNTIME, pep768::COOKIE).unwrap();
            mem.put_u64(RUNTIME + 8, 0x030d00f0);
            mem.put_u64(RUNTIME + 72, threads_head);
            mem.put_u64(INTERP + threads_head, TSTATES[0]);
            mem.put_u64(TSTATES[0] + tstate_next, TSTATES[1]);
            for t in TSTATES {
                mem.put_u64(t + tstate_interp, INTERP);
                mem.put_u64(t + tstate_eval_breaker, 0x1200); // an instrumentation version above the bits
            }
        }
        mem
    }

    #[test]
    fn queues_a_call_on_every_version_and_sees_it_taken() {
        for minor in 10..=13 {
            let layout = layout(minor).unwrap();
            let mem = target(layout);
            let interp = main_interpreter(&mem, layout, RUNTIME).unwrap();
            assert_eq!(interp, INTERP);
            let slot = match enqueue(&mem, layout, interp, 0xf00, 0xa00).unwrap() {
                Enqueue::Queued(slot) => slot,
                busy => panic!("3.{minor}: {busy:?}"),
            };
            let q = INTERP + layout.interp_pending;
            let (calls, entry, tail_field, cap) = match layout.queue {
                Queue::Semaphore { calls, last, .. } => (calls, SEMAPHORE_QUEUE_ENTRY, last, SEMAPHORE_QUEUE_CAPACITY),
                Queue::Mutex { calls, next, .. } => (calls, MUTEX_QUEUE_ENTRY, next, MUTEX_QUEUE_CAPACITY),
            };
            assert_eq!(mem.read_u64(q + calls + slot * entry).unwrap(), 0xf00);
            assert_eq!(mem.read_u64(q + calls + slot * entry + 8).unwrap(), 0xa00);
            assert_eq!(
                mem.read_i32(q + tail_field).unwrap() as u64,
                (slot + 1) % cap,
                "3.{minor}: wraps"
            );
            match layout.breaker {
                Breaker::Interpreter { eval_breaker } => assert_eq!(mem.read_i32(INTERP + eval_breaker).unwrap(), 1),
                Breaker::Threads {
                    tstate_eval_breaker,
                    bit,
                    ..
                } => {
                    for t in TSTATES {
                        assert_eq!(mem.read_u64(t + tstate_eval_breaker).unwrap(), 0x1200 | bit);
                    }
                    assert_eq!(bit, 4, "_PY_CALLS_TO_DO_BIT");
                }
            }
            assert!(!taken(&mem, layout, interp, slot).unwrap());
            // A second call now finds the queue busy, never overwrites the first.
            assert_eq!(
                enqueue(&mem, layout, interp, 1, 2).unwrap(),
                Enqueue::Busy("the pending-call queue is not empty")
            );
            // The interpreter pops it: first moves past it.
            let first = match layout.queue {
                Queue::Semaphore { first, .. } | Queue::Mutex { first, .. } => first,
            };
            mem.put_i32(q + first, ((slot + 1) % cap) as i32);
            assert!(taken(&mem, layout, interp, slot).unwrap(), "3.{minor}");
        }
    }

    #[test]
    fn waits_while_the_lock_is_held_or_calls_are_running() {
        let l12 = layout(12).unwrap();
        let mem = target(l12);
        mem.put_u64(LOCK, 0); // sem value 0: held
        assert_eq!(
            enqueue(&mem, l12, INTERP, 1, 2).unwrap(),
            Enqueue::Busy("the pending-call lock is held")
        );
        mem.put_u64(LOCK, 1);
        mem.put_i32(INTERP + l12.interp_pending, 1); // busy
        assert_eq!(
            enqueue(&mem, l12, INTERP, 1, 2).unwrap(),
            Enqueue::Busy("a thread is running pending calls")
        );

        let l13 = layout(13).unwrap();
        let mem = target(l13);
        let q = INTERP + l13.interp_pending;
        mem.write(q + 8, &[1]).unwrap(); // PyMutex locked
        assert_eq!(
            enqueue(&mem, l13, INTERP, 1, 2).unwrap(),
            Enqueue::Busy("the pending-call lock is held")
        );
        mem.write(q + 8, &[0]).unwrap();
        mem.put_u64(q, TSTATES[0]); // handling_thread
        assert_eq!(
            enqueue(&mem, l13, INTERP, 1, 2).unwrap(),
            Enqueue::Busy("a thread is running pending calls")
        );
    }

    fn refused(result: Result<impl std::fmt::Debug, AttachError>) -> String {
        match result {
            Err(AttachError::Refused(why)) => why,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn refuses_targets_that_do_not_match_before_writing() {
        for minor in 10..=13 {
            let layout = layout(minor).unwrap();
            let mem = target(layout);
            mem.put_u64(INTERP + layout.interp_runtime, RUNTIME + 8);
            assert!(refused(main_interpreter(&mem, layout, RUNTIME)).contains("not &_PyRuntime"));
            let mem = target(layout);
            mem.put_u64(RUNTIME + layout.runtime_interpreters_main, 0);
            assert!(refused(main_interpreter(&mem, layout, RUNTIME)).contains("interpreters.main"));
        }
        let l13 = layout(13).unwrap();
        let q = INTERP + l13.interp_pending;
        let mem = target(l13);
        mem.put_i32(q + 16, 301);
        let before = mem.0.borrow().clone();
        assert!(refused(enqueue(&mem, l13, INTERP, 1, 2)).contains("not 300"));
        assert_eq!(*mem.0.borrow(), before, "nothing written");
        let mem = target(l13);
        mem.put_u64(RUNTIME + 16, 1);
        assert!(refused(main_interpreter(&mem, l13, RUNTIME)).contains("free-threaded"));
        let mem = target(l13);
        mem.put_u64(RUNTIME + 8, 0x030c01f0);
        assert!(refused(main_interpreter(&mem, l13, RUNTIME)).contains("not 3.13"));

        let l10 = layout(10).unwrap();
        let mem = target(l10);
        mem.put_u64(LOCK, 5);
        assert!(refused(enqueue(&mem, l10, INTERP, 1, 2)).contains("lock"));
        let mem = target(l10);
        mem.put_i32(INTERP + l10.interp_pending + 528, 40);
        assert!(refused(enqueue(&mem, l10, INTERP, 1, 2)).contains("first=40"));
    }

    #[test]
    fn withdraws_the_last_call_only() {
        for minor in [11, 13] {
            let layout = layout(minor).unwrap();
            let mem = target(layout);
            let Enqueue::Queued(slot) = enqueue(&mem, layout, INTERP, 0xf00, 0xa00).unwrap() else {
                panic!()
            };
            let after = mem.0.borrow().clone();
            assert!(withdraw(&mem, layout, INTERP, slot).unwrap());
            assert!(taken(&mem, layout, INTERP, slot).unwrap(), "gone from the queue");
            // Queued again, then another call after it: no longer withdrawable.
            let fresh = target(layout);
            *fresh.0.borrow_mut() = after;
            let (tail, cap) = match layout.queue {
                Queue::Semaphore { last, .. } => (last, SEMAPHORE_QUEUE_CAPACITY),
                Queue::Mutex { next, .. } => (next, MUTEX_QUEUE_CAPACITY),
            };
            fresh.put_i32(INTERP + layout.interp_pending + tail, ((slot + 2) % cap) as i32);
            assert!(!withdraw(&fresh, layout, INTERP, slot).unwrap());
        }
    }

    /// `_Py_DebugOffsets` as CPython 3.14 lays it out, with made-up offsets.
    fn debug_offsets(enabled_at: u64) -> Vec<u8> {
        let mut words = vec![0u64; (pep768::SIZE as usize - 8) / 8];
        let mut set = |byte: u64, v: u64| words[(byte as usize - 8) / 8] = v;
        set(8, 0x030e02f0); // 3.14.2
        set(24 + 16, 0x40); // runtime_state.interpreters_head
        set(48, 0x3000); // interpreter_state.size
        set(48 + 32, 0x98); // interpreter_state.threads_main
        set(176, 0x1000); // thread_state.size
        let d = pep768::SIZE - 48;
        set(d, 0x18); // eval_breaker
        set(d + 8, 0x800); // remote_debugger_support
        set(d + 16, enabled_at); // remote_debugging_enabled (config.remote_debug)
        set(d + 24, 0); // debugger_pending_call
        set(d + 32, 4); // debugger_script_path
        set(d + 40, 512); // debugger_script_path_size
        let mut bytes = pep768::COOKIE.to_vec();
        bytes.extend(words.iter().flat_map(|w| w.to_ne_bytes()));
        bytes
    }

    #[test]
    fn pep768_layout_is_the_documented_one() {
        // 8-byte cookie + 93 uint64_t: the sub-structs of 3.14's pycore_debug_offsets.h.
        assert_eq!(
            pep768::SIZE,
            8 + 8 * (2 + 3 + 16 + 9 + 8 + 11 + 2 + 4 + 3 + 3 + 4 + 3 + 2 + 3 + 3 + 4 + 2 + 4 + 2 + 6)
        );
        let bytes = debug_offsets(0x2000);
        let offsets = pep768::parse(&bytes, 14).unwrap();
        assert_eq!(offsets.interpreters_head, 0x40);
        assert_eq!(offsets.threads_main, 0x98);
        assert_eq!(offsets.remote_debugger_support, 0x800);
        assert_eq!(offsets.remote_debugging_enabled, 0x2000);

        assert!(refused(pep768::parse(&bytes, 15)).contains("not 3.15"));
        let mut wrong = bytes.clone();
        wrong[0] = b'y';
        assert!(refused(pep768::parse(&wrong, 14)).contains("cookie"));
        let mut shifted = bytes.clone(); // a layout with one more field before debugger_support
        shifted.splice(pep768::SIZE as usize - 48..pep768::SIZE as usize - 48, [0u8; 8]);
        assert!(refused(pep768::parse(&shifted, 14)).contains("layout"));
    }

    #[test]
    fn pep768_request_writes_path_flag_and_breaker() {
        let offsets = pep768::parse(&debug_offsets(0x2000), 14).unwrap();
        let mem = Fake::default();
        mem.write(RUNTIME, &debug_offsets(0x2000)).unwrap();
        mem.put_u64(RUNTIME + 0x40, INTERP);
        mem.put_u64(INTERP + 0x98, TSTATES[0]);
        mem.put_u64(TSTATES[0] + 0x18, 0x300);
        // Opted out: config.remote_debug is 0.
        assert!(refused(pep768::main_thread(&mem, RUNTIME, &offsets)).contains("opted out"));
        mem.put_i32(INTERP + 0x2000, 1);
        let (interp, tstate) = pep768::main_thread(&mem, RUNTIME, &offsets).unwrap();
        assert_eq!((interp, tstate), (INTERP, TSTATES[0]));

        assert!(pep768::request(&mem, tstate, &offsets, b"/tmp/x/boot.py").unwrap());
        assert_eq!(mem.read_bytes(tstate + 0x800 + 4, 15).unwrap(), b"/tmp/x/boot.py\0");
        assert_eq!(mem.read_i32(tstate + 0x800).unwrap(), 1);
        assert_eq!(mem.read_u64(tstate + 0x18).unwrap(), 0x300 | 32);
        assert!(!pep768::taken(&mem, tstate, &offsets).unwrap());
        assert!(
            !pep768::request(&mem, tstate, &offsets, b"/other").unwrap(),
            "one request at a time"
        );
        pep768::withdraw(&mem, tstate, &offsets).unwrap();
        assert!(pep768::taken(&mem, tstate, &offsets).unwrap());
        let long = vec![b'a'; 512];
        assert!(refused(pep768::request(&mem, tstate, &offsets, &long)).contains("at most 511"));
    }
}
