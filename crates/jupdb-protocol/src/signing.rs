//! Signatures: keyed BLAKE3, one key per direction, the head before the buffers.
//!
//! Scheme [`SIGNATURE_SCHEME`]. The session key (the connection file's `key`)
//! never signs anything itself. BLAKE3's key derivation mode
//! (`blake3::derive_key`) makes four keys of it, one for each direction and
//! part of a message, each under its own fixed context string
//! ([`Direction::contexts`]):
//!
//! ```text
//! head_key    = derive_key(context(direction, "head"), session key)
//! buffers_key = derive_key(context(direction, "buffers"), session key)
//! head_tag    = BLAKE3-keyed(head_key, u64be(len header) ‖ header ‖ u64be(len content) ‖ content
//!                                      ‖ u64be(n) ‖ u64be(len buffer₁) ‖ … ‖ u64be(len bufferₙ))
//! buffers_tag = BLAKE3-keyed(buffers_key, head_tag ‖ buffer₁ ‖ … ‖ bufferₙ)
//! signature   = hex(head_tag) ‖ hex(buffers_tag)                    (128 lower-case hex digits)
//! ```
//!
//! - **Direction.** A request (client → debuggee) and a reply or event
//!   (debuggee → client) are signed with different keys, so nothing the
//!   debuggee sent verifies when sent back to it, and the other way round.
//! - **Cheap rejection.** The head tag covers everything but the buffers'
//!   bytes: their number and lengths included. A receiver checks it first and
//!   reads no buffer byte for a message whose head is not authentic; only
//!   then does it hash the buffers, whose boundaries the head tag has fixed.
//! - **Why two keys per direction:** so that a head tag and a buffers tag are
//!   outputs of independent PRFs and never stand in for each other, without
//!   reasoning about the shapes of their inputs.
//! - **Why lengths:** raw buffers have no structure; without lengths bytes
//!   could move from one buffer to the next under the same tag.
//! - Keyed BLAKE3 is a PRF and so a MAC; it hashes with SIMD at several GB/s
//!   a core, where HMAC-SHA256 ran at 1.4 GB/s, and its tree spreads one input
//!   over several cores with the same result: buffers of [`PARALLEL_FROM`]
//!   bytes or more are hashed on all of them.
//!
//! Routing identities and the delimiter are not signed: ZeroMQ adds and
//! removes identities on the way. Tags are compared in constant time
//! (`blake3::Hash`'s `PartialEq`).

use std::fmt;

use crate::error::ProtocolError;
use crate::hex;
use crate::parallel;

/// The signature scheme, as named in connection files. A new construction
/// gets a new name; clients refuse names they do not know.
pub const SIGNATURE_SCHEME: &str = "jupdb-blake3-v1";

/// Length of one tag in bytes.
pub const TAG_LEN: usize = blake3::OUT_LEN;

/// Length of a signature frame: two 32-byte tags as 128 lower-case hex digits.
pub const SIGNATURE_LEN: usize = 4 * TAG_LEN;

/// Buffers of this many bytes in all, or more, are hashed on several cores
/// (see [`parallel`](crate::parallel)); below it, handing them over costs
/// more than it saves.
pub const PARALLEL_FROM: usize = 1 << 20;

/// Which way a message goes; each way has its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Requests, from a client to the debuggee.
    ToDebuggee,
    /// Replies and events, from the debuggee to a client.
    ToClient,
}

impl Direction {
    /// The BLAKE3 `derive_key` context strings of this direction's head key
    /// and buffers key. Fixed for [`SIGNATURE_SCHEME`]: changing one is a new
    /// scheme.
    pub const fn contexts(self) -> (&'static str, &'static str) {
        match self {
            Direction::ToDebuggee => (
                "jupdb 2026-12-02 jupdb-blake3-v1 client to debuggee, head",
                "jupdb 2026-12-02 jupdb-blake3-v1 client to debuggee, buffers",
            ),
            Direction::ToClient => (
                "jupdb 2026-12-02 jupdb-blake3-v1 debuggee to client, head",
                "jupdb 2026-12-02 jupdb-blake3-v1 debuggee to client, buffers",
            ),
        }
    }
}

/// A buffer as the signer sees it: its length (covered by the head tag) apart
/// from its bytes (read only once the head is authentic).
pub trait Buffer {
    /// The number of bytes.
    fn buffer_len(&self) -> usize;
    /// The bytes.
    fn buffer_bytes(&self) -> &[u8];
}

impl<T: AsRef<[u8]>> Buffer for T {
    fn buffer_len(&self) -> usize {
        self.as_ref().len()
    }
    fn buffer_bytes(&self) -> &[u8] {
        self.as_ref()
    }
}

/// Signs and verifies the messages of one direction of one session.
///
/// Cheap to clone; holds derived keys, so treat it as secret. Its `Debug`
/// output shows the direction only.
#[derive(Clone)]
pub struct Signer {
    direction: Direction,
    head: blake3::Hasher,
    buffers: blake3::Hasher,
}

impl Signer {
    /// The signer of `direction` for the session key `key` (the raw key
    /// bytes; 32 random bytes from [`new_key`](crate::new_key) in practice).
    /// An empty key is refused: jupdb has no unsigned mode.
    pub fn new(key: &[u8], direction: Direction) -> Result<Self, ProtocolError> {
        if key.is_empty() {
            return Err(ProtocolError::EmptyKey);
        }
        let (head, buffers) = direction.contexts();
        let keyed = |context| blake3::Hasher::new_keyed(&blake3::derive_key(context, key));
        Ok(Self {
            direction,
            head: keyed(head),
            buffers: keyed(buffers),
        })
    }

    /// The signer of `direction` for a key written as hex text, as in a
    /// connection file's `key`. The key is the decoded bytes, not the text.
    pub fn from_hex(key: &str, direction: Direction) -> Result<Self, ProtocolError> {
        Self::new(&decode_key(key)?, direction)
    }

    /// The direction this signer's keys are for.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The signature of a message's frames, as the 128 lower-case hex digits
    /// of its signature frame.
    pub fn sign<B: Buffer + Sync>(&self, header: &[u8], content: &[u8], buffers: &[B]) -> String {
        let head = self.head_tag(header, content, buffers);
        let tail = self.buffers_tag(&head, buffers);
        let mut signature = hex::encode(head.as_bytes());
        signature.push_str(&hex::encode(tail.as_bytes()));
        signature
    }

    /// Checks a signature frame against the other frames: the head tag first,
    /// and only if it is right the buffers tag, so that no buffer byte of an
    /// unauthentic message is read. Comparisons are in constant time.
    ///
    /// The frame must be exactly 128 lower-case hex digits, as
    /// [`sign`](Self::sign) writes them.
    pub fn verify<B: Buffer + Sync>(
        &self,
        signature: &[u8],
        header: &[u8],
        content: &[u8],
        buffers: &[B],
    ) -> Result<(), ProtocolError> {
        let (head, tail) = parse_signature(signature)?;
        let expected = self.head_tag(header, content, buffers);
        if expected != head {
            return Err(ProtocolError::BadSignature);
        }
        if self.buffers_tag(&expected, buffers) != tail {
            return Err(ProtocolError::BadSignature);
        }
        Ok(())
    }

    fn head_tag<B: Buffer>(&self, header: &[u8], content: &[u8], buffers: &[B]) -> blake3::Hash {
        let mut hasher = self.head.clone();
        for frame in [header, content] {
            hasher.update(&(frame.len() as u64).to_be_bytes());
            hasher.update(frame);
        }
        hasher.update(&(buffers.len() as u64).to_be_bytes());
        for buffer in buffers {
            hasher.update(&(buffer.buffer_len() as u64).to_be_bytes());
        }
        hasher.finalize()
    }

    fn buffers_tag<B: Buffer + Sync>(&self, head: &blake3::Hash, buffers: &[B]) -> blake3::Hash {
        let mut hasher = self.buffers.clone();
        hasher.update(head.as_bytes());
        let total: usize = buffers.iter().map(Buffer::buffer_len).sum();
        // The pool is made on first use: a process that never hashes 1 MiB has none.
        let pool = (total >= PARALLEL_FROM).then(parallel::pool).flatten();
        match pool {
            Some(pool) => pool.install(|| {
                for buffer in buffers {
                    hasher.update_rayon(buffer.buffer_bytes());
                }
            }),
            None => {
                for buffer in buffers {
                    hasher.update(buffer.buffer_bytes());
                }
            }
        }
        hasher.finalize()
    }
}

/// The two tags of a signature frame; the frame must be 128 lower-case hex
/// digits, so that each pair of tags has one spelling only.
fn parse_signature(signature: &[u8]) -> Result<(blake3::Hash, blake3::Hash), ProtocolError> {
    if signature.is_empty() {
        return Err(ProtocolError::MissingSignature);
    }
    let lower_hex = |c: &u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
    if signature.len() != SIGNATURE_LEN || !signature.iter().all(lower_hex) {
        return Err(ProtocolError::MalformedSignature);
    }
    let bytes = hex::decode(signature).ok_or(ProtocolError::MalformedSignature)?;
    let tag = |part: &[u8]| {
        let bytes: [u8; TAG_LEN] = part.try_into().expect("two tags of TAG_LEN bytes");
        blake3::Hash::from_bytes(bytes)
    };
    Ok((tag(&bytes[..TAG_LEN]), tag(&bytes[TAG_LEN..])))
}

fn decode_key(key: &str) -> Result<Vec<u8>, ProtocolError> {
    hex::decode(key.as_bytes()).ok_or_else(|| ProtocolError::InvalidKey {
        reason: "not an even number of hexadecimal digits".to_owned(),
    })
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("direction", &self.direction)
            .finish_non_exhaustive()
    }
}

/// One side's pair of signers: what it verifies (`incoming`) and what it
/// signs (`outgoing`).
#[derive(Clone, Debug)]
pub struct Signers {
    /// Verifies what this side receives.
    pub incoming: Signer,
    /// Signs what this side sends.
    pub outgoing: Signer,
}

impl Signers {
    /// The debuggee's: verifies requests, signs replies and events.
    pub fn debuggee(key: &[u8]) -> Result<Self, ProtocolError> {
        Ok(Self {
            incoming: Signer::new(key, Direction::ToDebuggee)?,
            outgoing: Signer::new(key, Direction::ToClient)?,
        })
    }

    /// A client's: verifies replies and events, signs requests.
    pub fn client(key: &[u8]) -> Result<Self, ProtocolError> {
        let debuggee = Self::debuggee(key)?;
        Ok(Self {
            incoming: debuggee.outgoing,
            outgoing: debuggee.incoming,
        })
    }

    /// A client's, for a key written as hex text.
    pub fn client_from_hex(key: &str) -> Result<Self, ProtocolError> {
        Self::client(&decode_key(key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_BUFFERS: &[&[u8]] = &[];

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> Signer {
        Signer::new(KEY, Direction::ToDebuggee).unwrap()
    }

    #[test]
    fn sign_then_verify() {
        let s = signer();
        let sig = s.sign(b"header", b"content", &[b"buf".as_slice()]);
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(sig.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        s.verify(sig.as_bytes(), b"header", b"content", &[b"buf".as_slice()])
            .unwrap();
        // Upper-case digits are refused: a signature has one spelling only.
        assert_eq!(
            s.verify(
                sig.to_uppercase().as_bytes(),
                b"header",
                b"content",
                &[b"buf".as_slice()]
            ),
            Err(ProtocolError::MalformedSignature)
        );
    }

    /// The construction as `docs/protocol.md` writes it, step by step with
    /// the `blake3` crate's one-call functions.
    fn documented(key: &[u8], direction: Direction, h: &[u8], c: &[u8], buffers: &[&[u8]]) -> String {
        let (head_context, buffers_context) = direction.contexts();
        let mut head_input = Vec::new();
        for frame in [h, c] {
            head_input.extend_from_slice(&(frame.len() as u64).to_be_bytes());
            head_input.extend_from_slice(frame);
        }
        head_input.extend_from_slice(&(buffers.len() as u64).to_be_bytes());
        for buffer in buffers {
            head_input.extend_from_slice(&(buffer.len() as u64).to_be_bytes());
        }
        let head = blake3::keyed_hash(&blake3::derive_key(head_context, key), &head_input);
        let tail_input = [head.as_bytes().as_slice(), &buffers.concat()].concat();
        let tail = blake3::keyed_hash(&blake3::derive_key(buffers_context, key), &tail_input);
        format!("{}{}", head.to_hex(), tail.to_hex())
    }

    #[test]
    fn matches_documented_construction() {
        let key = b"key";
        let long = vec![b'a'; 1 << 20];
        let buffers: [&[u8]; 3] = [b"", b"xyz", &long];
        for direction in [Direction::ToDebuggee, Direction::ToClient] {
            let s = Signer::new(key, direction).unwrap();
            assert_eq!(
                s.sign(b"h", b"c", &buffers),
                documented(key, direction, b"h", b"c", &buffers)
            );
        }
        // Computed with the PyPI `blake3` package by docs/protocol.md's sign().
        assert_eq!(
            Signer::new(key, Direction::ToDebuggee)
                .unwrap()
                .sign(b"h", b"c", &buffers[..2]),
            PYTHON_SIGNATURE
        );
    }

    /// `sign(b"key", "to_debuggee", b"h", b"c", [b"", b"xyz"])` by the Python
    /// of docs/protocol.md.
    const PYTHON_SIGNATURE: &str = "589c0a627c39cb489ac6431cc0fa13a638245de8b62b88fb77d9a700db5083d38d630f4d7a60c4994a46d2dedc8ac5d9b3fc0749bfb0d783c376bbd8c13bb78a";

    #[test]
    fn directions_do_not_verify_each_other() {
        let to_debuggee = Signer::new(KEY, Direction::ToDebuggee).unwrap();
        let to_client = Signer::new(KEY, Direction::ToClient).unwrap();
        let sig = to_client.sign(b"h", b"c", &[b"buf".as_slice()]);
        assert_eq!(
            to_debuggee.verify(sig.as_bytes(), b"h", b"c", &[b"buf".as_slice()]),
            Err(ProtocolError::BadSignature)
        );
        let sig = to_debuggee.sign(b"h", b"c", NO_BUFFERS);
        assert_eq!(
            to_client.verify(sig.as_bytes(), b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::BadSignature)
        );
        let debuggee = Signers::debuggee(KEY).unwrap();
        let client = Signers::client(KEY).unwrap();
        let request = client.outgoing.sign(b"h", b"c", NO_BUFFERS);
        debuggee
            .incoming
            .verify(request.as_bytes(), b"h", b"c", NO_BUFFERS)
            .unwrap();
        let reply = debuggee.outgoing.sign(b"h", b"c", NO_BUFFERS);
        client
            .incoming
            .verify(reply.as_bytes(), b"h", b"c", NO_BUFFERS)
            .unwrap();
        assert_eq!(
            debuggee.incoming.verify(reply.as_bytes(), b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::BadSignature)
        );
    }

    /// A buffer whose bytes must not be read: its length is known, reading
    /// it panics.
    struct Untouchable(usize);

    impl Buffer for Untouchable {
        fn buffer_len(&self) -> usize {
            self.0
        }
        fn buffer_bytes(&self) -> &[u8] {
            panic!("a buffer was read before the head was authentic")
        }
    }

    /// Rejecting is cheap: a wrong head tag (or a wrong count or length of
    /// buffers, which the head tag covers) is refused without reading any
    /// buffer byte.
    #[test]
    fn a_bad_head_is_refused_before_any_buffer_is_read() {
        let s = signer();
        let buffers: Vec<Untouchable> = (0..100_000).map(|_| Untouchable(1 << 30)).collect();
        let zeros = "0".repeat(SIGNATURE_LEN);
        assert_eq!(
            s.verify(zeros.as_bytes(), b"h", b"c", &buffers),
            Err(ProtocolError::BadSignature)
        );
        // A right head for other lengths: still refused before the buffers.
        let real: Vec<Vec<u8>> = vec![vec![1; 10]; 3];
        let sig = s.sign(b"h", b"c", &real);
        let fewer = [Untouchable(10), Untouchable(10)];
        let longer = [Untouchable(10), Untouchable(10), Untouchable(11)];
        for buffers in [&fewer[..], &longer[..]] {
            assert_eq!(
                s.verify(sig.as_bytes(), b"h", b"c", buffers),
                Err(ProtocolError::BadSignature)
            );
        }
    }

    #[test]
    fn a_change_to_any_buffer_byte_is_caught() {
        let s = signer();
        let big: Vec<u8> = (0..3 * (1 << 20) + 12345).map(|i| (i % 251) as u8).collect();
        let small = b"tail".to_vec();
        let sig = s.sign(b"h", b"c", &[&big, &small]);
        s.verify(sig.as_bytes(), b"h", b"c", &[&big, &small]).unwrap();
        for at in [0, 1 << 20, big.len() - 1] {
            let mut changed = big.clone();
            changed[at] ^= 1;
            assert_eq!(
                s.verify(sig.as_bytes(), b"h", b"c", &[&changed, &small]),
                Err(ProtocolError::BadSignature),
                "a change at byte {at} went unnoticed"
            );
        }
        // The buffers tag is bound to the head: another message's head with
        // these buffers does not verify.
        let other = s.sign(b"h2", b"c", &[&big, &small]);
        let spliced = format!("{}{}", &other[..64], &sig[64..]);
        assert_eq!(
            s.verify(spliced.as_bytes(), b"h2", b"c", &[&big, &small]),
            Err(ProtocolError::BadSignature)
        );
    }

    #[test]
    fn frame_boundaries_are_signed() {
        let s = signer();
        let sig = s.sign(b"ab", b"c", NO_BUFFERS);
        assert_eq!(
            s.verify(sig.as_bytes(), b"a", b"bc", NO_BUFFERS),
            Err(ProtocolError::BadSignature)
        );
        let sig = s.sign(b"h", b"c", &[&b"ab"[..], b"c"]);
        assert_eq!(
            s.verify(sig.as_bytes(), b"h", b"c", &[&b"a"[..], b"bc"]),
            Err(ProtocolError::BadSignature)
        );
        assert_eq!(
            s.verify(sig.as_bytes(), b"h", b"c", &[&b"ab"[..], b"c", b""]),
            Err(ProtocolError::BadSignature)
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        let sig = signer().sign(b"h", b"c", NO_BUFFERS);
        let other = Signer::new(b"another key", Direction::ToDebuggee).unwrap();
        assert_eq!(
            other.verify(sig.as_bytes(), b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::BadSignature)
        );
    }

    #[test]
    fn malformed_and_missing_signatures() {
        let s = signer();
        assert_eq!(
            s.verify(b"", b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::MissingSignature)
        );
        assert_eq!(
            s.verify(b"abcd", b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::MalformedSignature)
        );
        let not_hex = "g".repeat(SIGNATURE_LEN);
        assert_eq!(
            s.verify(not_hex.as_bytes(), b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::MalformedSignature)
        );
        // One tag alone (the length of the old single-tag frame) is not a signature.
        let sig = s.sign(b"h", b"c", NO_BUFFERS);
        assert_eq!(
            s.verify(&sig.as_bytes()[..64], b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::MalformedSignature)
        );
    }

    #[test]
    fn keys() {
        let d = Direction::ToDebuggee;
        assert_eq!(Signer::new(b"", d).unwrap_err(), ProtocolError::EmptyKey);
        assert_eq!(Signer::from_hex("", d).unwrap_err(), ProtocolError::EmptyKey);
        assert!(matches!(
            Signer::from_hex("abc", d),
            Err(ProtocolError::InvalidKey { .. })
        ));
        assert!(matches!(
            Signer::from_hex("zz", d),
            Err(ProtocolError::InvalidKey { .. })
        ));
        let from_hex = Signer::from_hex("6b6579", d).unwrap(); // "key"
        let sig = Signer::new(b"key", d).unwrap().sign(b"h", b"c", NO_BUFFERS);
        from_hex.verify(sig.as_bytes(), b"h", b"c", NO_BUFFERS).unwrap();
        let client = Signers::client_from_hex("6b6579").unwrap();
        client.outgoing.verify(sig.as_bytes(), b"h", b"c", NO_BUFFERS).unwrap();
    }

    #[test]
    fn debug_hides_keys() {
        assert_eq!(format!("{:?}", signer()), "Signer { direction: ToDebuggee, .. }");
    }
}
