//! Who receives the debuggee's events, and how much may wait for each.
//!
//! Events go only to clients that proved the key: a client subscribes with a
//! signed `subscribe_request` on its request connection, and events are sent
//! to its identity over the same ROUTER socket. Nothing is published where
//! anyone may listen.
//!
//! Each subscriber has a credit window: at most [`WINDOW`] bytes of events
//! sent and not yet acknowledged (the client's reader says how many events it
//! has received, in an `events_ack`, every [`ACK_EVERY`] bytes; so one event
//! may go beyond the window when less than that is unacknowledged). Beyond that,
//! events wait here, up to [`QUEUE_LIMIT`] bytes; beyond that they are
//! dropped, and where they were dropped the subscriber gets a `dropped`
//! event saying how many. So a slow or stopped client costs the debuggee a
//! bounded amount of memory, and never blocks the sockets: the transport's
//! own queue for the peer never holds more than the window.

use jupdb_protocol::Bytes;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// The most event bytes sent to one subscriber and not yet acknowledged.
pub const WINDOW: usize = 2 << 20;

/// How often (in bytes received) a client acknowledges events: well inside
/// the window, so the debuggee never waits for an acknowledgement while the
/// client keeps up.
pub const ACK_EVERY: usize = WINDOW / 4;

/// The most event bytes waiting here for one subscriber's window to open
/// (an output event holds up to a mebibyte of text).
pub const QUEUE_LIMIT: usize = 2 << 20;

/// The most subscribers at once. Each may hold `WINDOW + QUEUE_LIMIT`, but
/// they share the memory of the events they all hold.
pub const MAX_SUBSCRIBERS: usize = 64;

/// What a gap in the queue costs, so that gaps too are bounded by `QUEUE_LIMIT`.
const GAP_COST: usize = 256;

/// An event's size, as the window counts it: every frame but the identity.
pub fn size(frames: &[Bytes]) -> usize {
    frames.iter().map(Bytes::len).sum()
}

/// Events dropped for one subscriber, in a row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub events: u64,
    /// Their size, as the window counts it.
    pub bytes: u64,
    /// The text of the `output` events among them (UTF-8 bytes).
    pub output: u64,
}

enum Queued {
    /// The frames of an event (without the identity), and their size.
    Event(Vec<Bytes>, usize),
    /// An event for this subscriber alone (its frames and size): outside the
    /// queue's limit, never dropped (see `Subscribers::publish_to`).
    Own(Vec<Bytes>, usize),
    Gap(Dropped),
}

impl Queued {
    /// What it counts against the queue's limit.
    fn cost(&self) -> usize {
        match self {
            Queued::Event(_, size) => *size,
            Queued::Own(..) => 0,
            Queued::Gap(_) => GAP_COST,
        }
    }

    /// What it takes of the window once sent.
    fn size(&self) -> usize {
        match self {
            Queued::Own(_, size) => *size,
            other => other.cost(),
        }
    }
}

#[derive(Default)]
struct Subscriber {
    queue: VecDeque<Queued>,
    queued: usize,
    /// Sizes of the events sent and not yet acknowledged, oldest first.
    in_flight: VecDeque<usize>,
    in_flight_bytes: usize,
    /// Events sent so far (acknowledgements count the same way).
    sent: u64,
}

impl Subscriber {
    fn push(&mut self, frames: &[Bytes], size: usize, output: u64) {
        if self.queue.is_empty() || self.queued + size <= QUEUE_LIMIT {
            self.queue.push_back(Queued::Event(frames.to_vec(), size));
            self.queued += size;
            return;
        }
        if !matches!(self.queue.back(), Some(Queued::Gap(_))) {
            self.queue.push_back(Queued::Gap(Dropped::default()));
            self.queued += GAP_COST;
        }
        if let Some(Queued::Gap(gap)) = self.queue.back_mut() {
            gap.events += 1;
            gap.bytes += size as u64;
            gap.output += output;
        }
    }

    fn ack(&mut self, received: u64) {
        // `sent - in_flight.len()` events were acknowledged before.
        let acked_before = self.sent - self.in_flight.len() as u64;
        let newly = received.saturating_sub(acked_before).min(self.in_flight.len() as u64);
        for size in self.in_flight.drain(..newly as usize) {
            self.in_flight_bytes -= size;
        }
    }

    /// The next thing to send, if the window has room: an event's frames, or
    /// a gap to announce (`Err`).
    fn next(&mut self) -> Option<Result<Vec<Bytes>, Dropped>> {
        let size = self.queue.front()?.size();
        // Wait for an acknowledgement only once one is sure to come: the client
        // acknowledges every `ACK_EVERY` bytes, so below that it may never. An
        // event larger than what is left of the window then still goes.
        if self.in_flight_bytes >= ACK_EVERY && self.in_flight_bytes + size > WINDOW {
            return None;
        }
        let queued = self.queue.pop_front()?;
        self.queued -= queued.cost();
        Some(match queued {
            Queued::Event(frames, ..) | Queued::Own(frames, ..) => Ok(frames),
            Queued::Gap(dropped) => Err(dropped),
        })
    }

    /// Counts an event as sent (for a gap: its `dropped` notice).
    fn sent(&mut self, size: usize) {
        self.sent += 1;
        self.in_flight.push_back(size);
        self.in_flight_bytes += size;
    }
}

/// The subscribers, by identity. Used by one task only (the server's).
#[derive(Default)]
pub struct Subscribers {
    by_identity: FxHashMap<Bytes, Subscriber>,
}

/// Why a subscription was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooMany;

impl Subscribers {
    /// Adds `identity` (again: no change).
    pub fn subscribe(&mut self, identity: Bytes) -> Result<(), TooMany> {
        if !self.by_identity.contains_key(&identity) && self.by_identity.len() >= MAX_SUBSCRIBERS {
            return Err(TooMany);
        }
        self.by_identity.entry(identity).or_default();
        Ok(())
    }

    /// A subscriber that disconnected (or cannot be sent to): what waited for it goes.
    pub fn forget(&mut self, identity: &[u8]) {
        self.by_identity.remove(identity);
    }

    /// Queues an event (its frames without identity; `output`: its text's
    /// length, for an `output` event) for every subscriber.
    pub fn publish(&mut self, frames: &[Bytes], output: u64) {
        let size = size(frames);
        for subscriber in self.by_identity.values_mut() {
            subscriber.push(frames, size, output);
        }
    }

    /// Queues an event for the subscriber `identity` only (nothing if it is
    /// not subscribed). It is never dropped here, and does not count against
    /// the queue's limit: whoever publishes such events bounds them (a probe
    /// stops sending while its client has not acknowledged enough of its hits).
    pub fn publish_to(&mut self, identity: &[u8], frames: &[Bytes]) {
        if let Some(subscriber) = self.by_identity.get_mut(identity) {
            subscriber.queue.push_back(Queued::Own(frames.to_vec(), size(frames)));
        }
    }

    /// `identity` has received `received` events in all.
    pub fn ack(&mut self, identity: &[u8], received: u64) {
        if let Some(subscriber) = self.by_identity.get_mut(identity) {
            subscriber.ack(received);
        }
    }

    /// What may be sent now, within each subscriber's window: `(identity,
    /// frames)`, in order per subscriber. A gap becomes the frames `notice`
    /// makes of what was dropped there.
    pub fn ready(&mut self, mut notice: impl FnMut(Dropped) -> Vec<Bytes>) -> Vec<(Bytes, Vec<Bytes>)> {
        let mut out = Vec::new();
        for (identity, subscriber) in &mut self.by_identity {
            while let Some(next) = subscriber.next() {
                let frames = next.unwrap_or_else(&mut notice);
                subscriber.sent(size(&frames));
                out.push((identity.clone(), frames));
            }
        }
        out
    }

    /// Bytes held for `identity` (in flight and queued), for tests.
    #[cfg(test)]
    fn held(&self, identity: &[u8]) -> usize {
        self.by_identity
            .get(identity)
            .map_or(0, |s| s.in_flight_bytes + s.queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(len: usize) -> Vec<Bytes> {
        vec![Bytes::from(vec![b'x'; len])]
    }

    fn notice(dropped: Dropped) -> Vec<Bytes> {
        vec![Bytes::from(format!(
            "dropped {} {} {}",
            dropped.events, dropped.bytes, dropped.output
        ))]
    }

    #[test]
    fn a_subscriber_that_never_acknowledges_holds_a_bounded_amount_and_learns_what_was_dropped() {
        let mut subs = Subscribers::default();
        subs.subscribe(Bytes::from_static(b"a")).unwrap();
        let chunk = 64 << 10;
        let mut sent = Vec::new();
        for _ in 0..1000 {
            subs.publish(&event(chunk), 10);
            sent.extend(subs.ready(notice));
        }
        assert_eq!(sent.len(), WINDOW / chunk);
        assert!(subs.held(b"a") <= WINDOW + QUEUE_LIMIT + GAP_COST);
        // Acknowledged: the queued events go, then the notice of the rest.
        let mut received = sent.len() as u64;
        let mut notices = Vec::new();
        loop {
            subs.ack(b"a", received);
            let now = subs.ready(notice);
            if now.is_empty() {
                break;
            }
            received += now.len() as u64;
            notices.extend(now.into_iter().filter(|(_, f)| f[0].starts_with(b"dropped")));
        }
        let queued = QUEUE_LIMIT / chunk;
        let dropped = 1000 - WINDOW / chunk - queued;
        assert_eq!(notices.len(), 1);
        assert_eq!(
            notices[0].1[0],
            format!("dropped {dropped} {} {}", dropped * chunk, dropped * 10)
        );
        assert_eq!(subs.held(b"a"), 0);
    }

    #[test]
    fn a_slow_subscriber_does_not_hold_back_another() {
        let mut subs = Subscribers::default();
        subs.subscribe(Bytes::from_static(b"slow")).unwrap();
        subs.subscribe(Bytes::from_static(b"fast")).unwrap();
        let mut fast = 0;
        for _ in 0..1000 {
            subs.publish(&event(1000), 0);
            for (identity, _) in subs.ready(notice) {
                if identity.as_ref() == b"fast" {
                    fast += 1;
                    subs.ack(b"fast", fast);
                }
            }
        }
        assert_eq!(fast, 1000);
    }

    #[test]
    fn an_event_larger_than_what_is_left_goes_while_no_acknowledgement_is_due() {
        // The client has not received enough to acknowledge: waiting for it would never end.
        let mut subs = Subscribers::default();
        subs.subscribe(Bytes::from_static(b"a")).unwrap();
        subs.publish(&event(ACK_EVERY - 1), 0);
        assert_eq!(subs.ready(notice).len(), 1);
        subs.publish(&event(WINDOW - 1), 0);
        assert_eq!(subs.ready(notice), vec![(Bytes::from_static(b"a"), event(WINDOW - 1))]);
        // Once an acknowledgement is due, the window holds.
        subs.publish(&event(1), 0);
        assert!(subs.ready(notice).is_empty());
        subs.ack(b"a", 2);
        assert_eq!(subs.ready(notice).len(), 1);
    }

    #[test]
    fn an_event_larger_than_the_window_still_goes_alone() {
        let mut subs = Subscribers::default();
        subs.subscribe(Bytes::from_static(b"a")).unwrap();
        subs.publish(&event(WINDOW + 1), 0);
        subs.publish(&event(1), 0);
        assert_eq!(subs.ready(notice).len(), 1);
        subs.ack(b"a", 1);
        assert_eq!(subs.ready(notice).len(), 1);
    }

    #[test]
    fn events_for_one_subscriber_go_to_it_alone_and_are_never_dropped() {
        let mut subs = Subscribers::default();
        subs.subscribe(Bytes::from_static(b"a")).unwrap();
        subs.subscribe(Bytes::from_static(b"b")).unwrap();
        let chunk = 64 << 10;
        let mut own = std::collections::HashMap::<Bytes, usize>::new();
        // Broadcast events fill both queues while nobody acknowledges; events
        // for "a" alone (one byte longer) wait past the queue's limit.
        for _ in 0..200 {
            subs.publish(&event(chunk), 0);
            subs.publish_to(b"a", &event(chunk + 1));
        }
        subs.publish_to(b"nobody", &event(1));
        let mut received = 0;
        loop {
            let now = subs.ready(notice);
            if now.is_empty() {
                break;
            }
            for (identity, frames) in now {
                if identity.as_ref() == b"a" {
                    received += 1;
                }
                if frames[0].len() == chunk + 1 {
                    *own.entry(identity).or_default() += 1;
                }
            }
            subs.ack(b"a", received);
        }
        assert_eq!(own.get(&Bytes::from_static(b"a")), Some(&200));
        assert_eq!(own.get(&Bytes::from_static(b"b")), None);
        assert_eq!(subs.held(b"a"), 0);
    }

    #[test]
    fn subscribers_are_bounded_and_forgotten() {
        let mut subs = Subscribers::default();
        for i in 0..MAX_SUBSCRIBERS {
            subs.subscribe(Bytes::from(format!("{i}"))).unwrap();
        }
        assert_eq!(subs.subscribe(Bytes::from_static(b"one more")), Err(TooMany));
        subs.subscribe(Bytes::from_static(b"0")).unwrap(); // again: still one
        subs.forget(b"0");
        subs.subscribe(Bytes::from_static(b"one more")).unwrap();
    }
}
