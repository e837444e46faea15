//! Replay and staleness checks for authentic requests: a request runs at most
//! once, and only while it is fresh.
//!
//! A signature proves who made a message, not when, nor that it was not sent
//! before. The debuggee therefore checks every request that passed the
//! signature check with a [`ReplayGuard`]:
//!
//! 1. **Date.** The header's `date` must be within [`DATE_WINDOW`] of the
//!    debuggee's clock, either way (clocks of two machines differ a little).
//! 2. **Sequence number.** Each client session (the header's `session`)
//!    numbers its requests (`seq`). Per session the guard keeps an anti-replay
//!    sliding window, as IPsec (RFC 4303, 3.4.3) and DTLS (RFC 6347, 4.1.2.6)
//!    do, organised as RFC 6479 describes: the highest number accepted and a
//!    bitmap of which of the [`REPLAY_WINDOW`] numbers below it were seen. A
//!    number seen before, or too far below the highest to tell, is refused;
//!    requests may arrive out of order within the window.
//! 3. **Expiry.** A session's state is forgotten only once every request it
//!    ever had accepted is older than the date window: a replay of any of them
//!    would then be refused by its date. So no amount of traffic, authentic
//!    or not, can push a request out of the guard's memory while it could
//!    still be accepted, unlike a cache of the last N message ids.
//!
//! State grows only with authentic requests (one entry of about 200 bytes per
//! client session active within the window).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::error::ProtocolError;
use crate::message::Header;
use crate::time::parse_rfc3339;

/// How far a request's `date` may be from the debuggee's clock, either way.
pub const DATE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// 64-bit words of a session's bitmap.
const WORDS: usize = 16;

/// How many sequence numbers below a session's highest are still accepted
/// (once each). One word of the bitmap is kept spare, so that moving the
/// window on clears whole words without losing numbers still in it (RFC 6479).
pub const REPLAY_WINDOW: u64 = ((WORDS - 1) * 64) as u64;

/// The sequence numbers one client session had accepted.
#[derive(Debug, Clone)]
struct Window {
    highest: u64,
    /// Bit `seq % 64` of word `(seq / 64) % WORDS` is set once `seq` is accepted.
    seen: [u64; WORDS],
    /// The latest `date` among the accepted requests: the state may go once
    /// that is stale.
    latest: SystemTime,
}

impl Window {
    fn new(seq: u64, date: SystemTime) -> Self {
        let mut window = Self {
            highest: seq,
            seen: [0; WORDS],
            latest: date,
        };
        window.mark(seq);
        window
    }

    fn slot(seq: u64) -> (usize, u64) {
        ((seq / 64) as usize % WORDS, 1 << (seq % 64))
    }

    fn mark(&mut self, seq: u64) {
        let (word, bit) = Self::slot(seq);
        self.seen[word] |= bit;
    }

    /// Whether `seq` may run: never seen, and not too far behind. Does not
    /// record it.
    fn allows(&self, seq: u64) -> bool {
        if seq > self.highest {
            return true;
        }
        if self.highest - seq >= REPLAY_WINDOW {
            return false;
        }
        let (word, bit) = Self::slot(seq);
        self.seen[word] & bit == 0
    }

    /// Records `seq`, which [`allows`](Self::allows) said may run.
    fn accept(&mut self, seq: u64, date: SystemTime) {
        if seq > self.highest {
            // Clear the words the window moves onto (at most all of them).
            let first = self.highest / 64 + 1;
            let last = seq / 64;
            for block in first..=last.min(first + WORDS as u64 - 1) {
                self.seen[block as usize % WORDS] = 0;
            }
            self.highest = seq;
        }
        self.mark(seq);
        self.latest = self.latest.max(date);
    }
}

/// The debuggee's memory of the requests it accepted (see the module docs).
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    sessions: HashMap<String, Window>,
    date_window: Duration,
    /// When expired sessions are next looked for.
    next_sweep: SystemTime,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::new(DATE_WINDOW)
    }
}

impl ReplayGuard {
    /// A guard that accepts dates within `date_window` of the clock either way.
    pub fn new(date_window: Duration) -> Self {
        Self {
            sessions: HashMap::new(),
            date_window,
            next_sweep: SystemTime::UNIX_EPOCH,
        }
    }

    /// Checks an authentic request's header at `now` and, if it may run,
    /// records it: call this once per request, after its signature was
    /// verified and before it runs. An error means: drop it, run nothing.
    pub fn check(&mut self, header: &Header, now: SystemTime) -> Result<(), ProtocolError> {
        self.sweep(now);
        let stale = || ProtocolError::Stale {
            date: header.date.clone(),
            window_secs: self.date_window.as_secs(),
        };
        let date = parse_rfc3339(&header.date).ok_or_else(stale)?;
        if !self.is_fresh(date, now) {
            return Err(stale());
        }
        let seq = header.seq.ok_or(ProtocolError::MissingSequence)?;
        match self.sessions.get_mut(&header.session) {
            Some(window) if !window.allows(seq) => Err(ProtocolError::Replayed {
                session: header.session.clone(),
                seq,
            }),
            Some(window) => {
                window.accept(seq, date);
                Ok(())
            }
            None => {
                self.sessions.insert(header.session.clone(), Window::new(seq, date));
                Ok(())
            }
        }
    }

    /// How many client sessions the guard remembers.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn is_fresh(&self, date: SystemTime, now: SystemTime) -> bool {
        let distance = match now.duration_since(date) {
            Ok(age) => age,
            Err(ahead) => ahead.duration(),
        };
        distance <= self.date_window
    }

    /// Forgets the sessions all of whose accepted requests are stale now (a
    /// replay of any would be refused by its date), at most once a second.
    fn sweep(&mut self, now: SystemTime) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + Duration::from_secs(1);
        let window = self.date_window;
        self.sessions
            .retain(|_, w| now.duration_since(w.latest).map_or(true, |age| age <= window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_rfc3339;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn request(session: &str, seq: u64, date: SystemTime) -> Header {
        let mut header = Header::new("eval_request", session);
        header.seq = Some(seq);
        header.date = format_rfc3339(date);
        header
    }

    #[test]
    fn a_request_runs_once() {
        let mut guard = ReplayGuard::default();
        let first = request("a", 1, at(0));
        guard.check(&first, at(0)).unwrap();
        assert_eq!(
            guard.check(&first, at(1)),
            Err(ProtocolError::Replayed {
                session: "a".into(),
                seq: 1
            })
        );
        // Another session may use the same numbers.
        guard.check(&request("b", 1, at(0)), at(1)).unwrap();
    }

    #[test]
    fn stale_and_future_dates_are_refused() {
        let mut guard = ReplayGuard::default();
        let now = at(3600);
        let ten_minutes_ago = request("a", 1, now - Duration::from_secs(600));
        assert!(matches!(
            guard.check(&ten_minutes_ago, now),
            Err(ProtocolError::Stale { .. })
        ));
        let ten_minutes_ahead = request("a", 2, now + Duration::from_secs(600));
        assert!(matches!(
            guard.check(&ten_minutes_ahead, now),
            Err(ProtocolError::Stale { .. })
        ));
        // At the edges of the window, either way: accepted.
        guard.check(&request("a", 3, now - DATE_WINDOW), now).unwrap();
        guard.check(&request("a", 4, now + DATE_WINDOW), now).unwrap();
        let mut unreadable = request("a", 5, now);
        unreadable.date = "yesterday".into();
        assert!(matches!(
            guard.check(&unreadable, now),
            Err(ProtocolError::Stale { .. })
        ));
    }

    #[test]
    fn a_request_without_seq_is_refused() {
        let mut header = request("a", 1, at(0));
        header.seq = None;
        assert_eq!(
            ReplayGuard::default().check(&header, at(0)),
            Err(ProtocolError::MissingSequence)
        );
    }

    /// The attack on a cache of the last N ids: flood it with other authentic
    /// messages, then replay. Here nothing can push a fresh request out.
    #[test]
    fn no_flood_of_authentic_requests_lets_a_replay_through() {
        let mut guard = ReplayGuard::default();
        let captured = request("victim", 1, at(0));
        guard.check(&captured, at(0)).unwrap();
        for seq in 2..100_002 {
            guard.check(&request("victim", seq, at(0)), at(0)).unwrap();
        }
        for n in 0..100_000 {
            guard.check(&request(&format!("other-{n}"), 1, at(0)), at(0)).unwrap();
        }
        assert!(guard.check(&captured, at(1)).is_err());
        // Still refused when it has been forgotten: by then it is stale.
        let later = at(0) + DATE_WINDOW + Duration::from_secs(2);
        guard.check(&request("fresh", 1, later), later).unwrap();
        assert_eq!(guard.sessions(), 1, "the stale sessions were forgotten");
        assert!(matches!(
            guard.check(&captured, later),
            Err(ProtocolError::Stale { .. })
        ));
    }

    #[test]
    fn a_session_is_kept_while_its_latest_request_is_fresh() {
        let mut guard = ReplayGuard::default();
        // Its first request is dated ahead (a clock a little fast): the
        // session must outlive the window counted from its arrival.
        let ahead = request("a", 1, at(0) + DATE_WINDOW);
        guard.check(&ahead, at(0)).unwrap();
        let later = at(0) + DATE_WINDOW + Duration::from_secs(60);
        guard.check(&request("b", 1, later), later).unwrap();
        assert_eq!(guard.sessions(), 2);
        assert!(matches!(
            guard.check(&ahead, later),
            Err(ProtocolError::Replayed { .. })
        ));
    }

    #[test]
    fn out_of_order_within_the_window_is_accepted_once() {
        let mut guard = ReplayGuard::default();
        for seq in [10, 5, 7, 2000, 2000 - REPLAY_WINDOW + 1, 1999] {
            guard.check(&request("a", seq, at(0)), at(0)).unwrap();
        }
        for seq in [10, 5, 7, 2000, 2000 - REPLAY_WINDOW + 1, 2000 - REPLAY_WINDOW, 1999] {
            assert!(guard.check(&request("a", seq, at(0)), at(0)).is_err(), "{seq}");
        }
    }

    /// The window against its definition: a number is accepted iff it was
    /// never accepted and is less than `REPLAY_WINDOW` below the highest
    /// accepted so far.
    fn model_accepts(seen: &BTreeSet<u64>, seq: u64) -> bool {
        match seen.last() {
            None => true,
            Some(&highest) => !seen.contains(&seq) && (seq > highest || highest - seq < REPLAY_WINDOW),
        }
    }

    proptest! {
        #[test]
        fn window_matches_its_definition(
            start in prop_oneof![Just(0u64), any::<u64>().prop_map(|n| n / 2), Just(u64::MAX - 5000)],
            steps in proptest::collection::vec(
                prop_oneof![
                    (0u64..70).prop_map(|d| d as i64),
                    (0u64..3000).prop_map(|d| -(d as i64)),
                    (900u64..1100).prop_map(|d| d as i64),
                    (0u64..1100).prop_map(|d| -(d as i64)),
                ],
                1..300,
            ),
        ) {
            let mut guard = ReplayGuard::default();
            let mut seen = BTreeSet::new();
            let mut seq = start;
            for step in steps {
                seq = seq.saturating_add_signed(step);
                let expected = model_accepts(&seen, seq);
                let got = guard.check(&request("s", seq, at(0)), at(0)).is_ok();
                prop_assert_eq!(got, expected, "seq {}", seq);
                if got {
                    seen.insert(seq);
                }
            }
        }
    }
}
