//! jupdb patch: what a listening socket grants peers that have not proven who
//! they are.
//!
//! ZMTP's NULL mechanism lets anyone who reaches the port connect; the
//! application (jupdb) authenticates messages itself. Until it has, a peer
//! gets a place among a bounded number of connections (the oldest unproven
//! one gives its place to a newcomer, so a flood cannot lock a real client
//! out), and a small allowance of buffered bytes plus a share of one budget
//! common to all unproven peers. The application calls [`PeerGuard::prove`]
//! for a peer whose message it accepted; from then on only the socket's frame
//! and message limits apply to it.

use crate::util::PeerIdentity;

use futures::task::AtomicWaker;
use parking_lot::Mutex;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Context;

/// The limits a [`PeerGuard`] keeps.
#[derive(Debug, Clone, Copy)]
pub struct PeerLimits {
    /// Connections at once, handshaking and proven ones included.
    pub max_connections: usize,
    /// Bytes of an incomplete message each unproven peer may hold on its own.
    pub free_per_peer: usize,
    /// Bytes beyond that, summed over all unproven peers.
    pub shared_budget: usize,
}

#[derive(Default)]
struct Slot {
    proven: AtomicBool,
    evicted: AtomicBool,
    waker: AtomicWaker,
    /// What this peer holds of the shared budget.
    charged: AtomicUsize,
}

#[derive(Default)]
struct Slots {
    /// In order of arrival.
    order: Vec<Arc<Slot>>,
    by_identity: HashMap<PeerIdentity, Arc<Slot>>,
}

/// Admits connections and accounts what unproven peers buffer. Share one
/// between a socket's options ([`crate::SocketOptions::peer_guard`]) and the
/// code that authenticates its messages.
pub struct PeerGuard {
    limits: PeerLimits,
    charged: AtomicUsize,
    slots: Mutex<Slots>,
}

impl PeerGuard {
    pub fn new(limits: PeerLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            charged: AtomicUsize::new(0),
            slots: Mutex::default(),
        })
    }

    /// Marks the peer with this identity as proven (its messages are
    /// authentic): it keeps its connection and is no longer charged.
    pub fn prove(&self, identity: &[u8]) {
        let Ok(identity) = PeerIdentity::try_from(identity) else {
            return;
        };
        let slots = self.slots.lock();
        if let Some(slot) = slots.by_identity.get(&identity) {
            slot.proven.store(true, Ordering::Release);
            self.charged.fetch_sub(slot.charged.swap(0, Ordering::AcqRel), Ordering::AcqRel);
        }
    }

    /// Connections held now.
    pub fn connections(&self) -> usize {
        self.slots.lock().order.len()
    }

    /// A place for a new connection, or None when every place is held by a
    /// proven peer. Takes the place of the oldest unproven peer when full.
    pub(crate) fn admit(self: &Arc<Self>) -> Option<Permit> {
        let mut slots = self.slots.lock();
        if slots.order.len() >= self.limits.max_connections {
            let oldest = slots
                .order
                .iter()
                .position(|slot| !slot.proven.load(Ordering::Acquire))?;
            let slot = slots.order.remove(oldest);
            slot.evicted.store(true, Ordering::Release);
            slot.waker.wake();
        }
        let slot = Arc::new(Slot::default());
        slots.order.push(slot.clone());
        Some(Permit {
            guard: self.clone(),
            slot,
            identity: None,
        })
    }
}

/// One connection's place. Dropping it (the connection closes) frees the
/// place and what the peer was charged.
pub(crate) struct Permit {
    guard: Arc<PeerGuard>,
    slot: Arc<Slot>,
    identity: Option<PeerIdentity>,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit").field("identity", &self.identity).finish()
    }
}

impl Permit {
    /// Names the connection after its handshake; a second connection that
    /// claims an identity already held is refused.
    pub(crate) fn identify(&mut self, identity: &PeerIdentity) -> bool {
        let mut slots = self.guard.slots.lock();
        if slots.by_identity.contains_key(identity) {
            return false;
        }
        slots.by_identity.insert(identity.clone(), self.slot.clone());
        self.identity = Some(identity.clone());
        true
    }

    /// False once the connection has lost its place; wakes `cx` when it does.
    pub(crate) fn poll_keep(&self, cx: &mut Context<'_>) -> bool {
        self.slot.waker.register(cx.waker());
        !self.slot.evicted.load(Ordering::Acquire)
    }

    /// Accounts `held` bytes of an incomplete message; false when an
    /// unproven peer would go over its allowance and the shared budget.
    pub(crate) fn hold(&self, held: usize) -> bool {
        if self.slot.proven.load(Ordering::Acquire) {
            return true;
        }
        let limits = &self.guard.limits;
        let wanted = held.saturating_sub(limits.free_per_peer);
        let before = self.slot.charged.swap(wanted, Ordering::AcqRel);
        if wanted <= before {
            self.guard.charged.fetch_sub(before - wanted, Ordering::AcqRel);
            return true;
        }
        let more = wanted - before;
        let total = self.guard.charged.fetch_add(more, Ordering::AcqRel) + more;
        if total > limits.shared_budget {
            self.guard.charged.fetch_sub(more, Ordering::AcqRel);
            self.slot.charged.store(before, Ordering::Release);
            return false;
        }
        true
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut slots = self.guard.slots.lock();
        slots.order.retain(|slot| !Arc::ptr_eq(slot, &self.slot));
        if let Some(identity) = &self.identity {
            slots.by_identity.remove(identity);
        }
        self.guard
            .charged
            .fetch_sub(self.slot.charged.swap(0, Ordering::AcqRel), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max_connections: usize) -> Arc<PeerGuard> {
        PeerGuard::new(PeerLimits {
            max_connections,
            free_per_peer: 10,
            shared_budget: 100,
        })
    }

    #[test]
    fn a_full_guard_gives_the_oldest_unproven_place_to_a_newcomer() {
        let guard = guard(2);
        let mut first = guard.admit().unwrap();
        let second = guard.admit().unwrap();
        assert!(first.identify(&PeerIdentity::try_from(&b"first"[..]).unwrap()));
        guard.prove(b"first");
        let _third = guard.admit().unwrap();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(!second.poll_keep(&mut cx), "the oldest unproven peer gave its place");
        assert!(first.poll_keep(&mut cx), "a proven peer keeps its place");
        assert_eq!(guard.connections(), 2);
    }

    #[test]
    fn proven_peers_are_not_evicted() {
        let guard = guard(1);
        let mut only = guard.admit().unwrap();
        assert!(only.identify(&PeerIdentity::try_from(&b"only"[..]).unwrap()));
        guard.prove(b"only");
        assert!(guard.admit().is_none());
        drop(only);
        assert!(guard.admit().is_some());
    }

    #[test]
    fn unproven_peers_share_one_budget_beyond_their_allowance() {
        let guard = guard(10);
        let a = guard.admit().unwrap();
        let b = guard.admit().unwrap();
        assert!(a.hold(10 + 60));
        assert!(!b.hold(10 + 41));
        assert!(b.hold(10 + 40));
        assert!(a.hold(0));
        assert!(b.hold(10 + 100));
        drop(b);
        assert_eq!(guard.charged.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_identity_is_held_by_one_connection() {
        let guard = guard(10);
        let id = PeerIdentity::try_from(&b"same"[..]).unwrap();
        let mut a = guard.admit().unwrap();
        let mut b = guard.admit().unwrap();
        assert!(a.identify(&id));
        assert!(!b.identify(&id));
        drop(a);
        assert!(b.identify(&id));
    }
}
