//! HMAC-SHA256 signatures over a message's frames.
//!
//! The signature covers the header frame, the content frame and every buffer
//! frame, in that order, each preceded by its length as an 8-byte big-endian
//! integer. A buffer enters through the SHA-256 digests of its consecutive
//! [`CHUNK_LEN`]-byte chunks (the last one may be shorter; an empty buffer has
//! none):
//!
//! ```text
//! signature = hex(HMAC-SHA256(key, len(header) ‖ header ‖ len(content) ‖ content
//!                                  ‖ len(buffer₁) ‖ SHA-256(chunk₁₁) ‖ SHA-256(chunk₁₂) ‖ …
//!                                  ‖ len(buffer₂) ‖ …))
//! ```
//!
//! An HMAC runs over its input in sequence, on one core (1–2 GB/s with
//! SHA-NI); the chunk digests are independent of each other, so a large buffer
//! is hashed on every core ([`Signer::sign`] and [`Signer::verify`] do that from
//! [`PARALLEL_FROM`] bytes on). SHA-256 is collision resistant, so a digest
//! stands for its chunk: changing any byte still breaks the signature.
//!
//! Jupyter feeds its frames to the HMAC back to back, without lengths. That
//! is safe for its JSON frames, but raw buffers have no internal structure:
//! without lengths, bytes could be moved from one buffer to the next, or an
//! empty buffer added, without changing the signature. With lengths, any
//! change to any signed frame, or to the number of frames, is detected.
//!
//! Routing identities and the delimiter are not signed: ZeroMQ adds and
//! removes identities on the way.
//!
//! Verification compares in constant time (`hmac`'s `verify_slice`).

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::OnceLock;
use std::thread;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::ProtocolError;
use crate::hex;

type HmacSha256 = Hmac<Sha256>;

/// The only signature scheme, as named in connection files.
pub const SIGNATURE_SCHEME: &str = "hmac-sha256";

/// Length of a signature frame: 32 bytes of HMAC-SHA256 as 64 hex digits.
pub const SIGNATURE_LEN: usize = 64;

/// Buffers enter the signature as the SHA-256 digests of chunks of this many
/// bytes (1 MiB).
pub const CHUNK_LEN: usize = 1 << 20;

/// Buffers of this many bytes in all, or more, are hashed on several threads.
/// Below it, starting the threads would cost more than it saves.
pub const PARALLEL_FROM: usize = 4 * CHUNK_LEN;

/// Signs and verifies messages with one session key.
///
/// Cheap to clone; holds the keyed HMAC state, so treat it as secret.
/// Its `Debug` output does not show the key.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

impl Signer {
    /// A signer for `key` (the raw key bytes; 32 random bytes from
    /// [`new_key`](crate::new_key) in practice). An empty key is refused:
    /// jupdb has no unsigned mode.
    pub fn new(key: &[u8]) -> Result<Self, ProtocolError> {
        if key.is_empty() {
            return Err(ProtocolError::EmptyKey);
        }
        let mac =
            <HmacSha256 as Mac>::new_from_slice(key).map_err(|err| ProtocolError::InvalidKey {
                reason: err.to_string(),
            })?;
        Ok(Self { mac })
    }

    /// A signer for a key written as hex text, as in a connection file's `key`.
    /// The HMAC key is the decoded bytes, not the text.
    pub fn from_hex(key: &str) -> Result<Self, ProtocolError> {
        let bytes = hex::decode(key.as_bytes()).ok_or_else(|| ProtocolError::InvalidKey {
            reason: "not an even number of hexadecimal digits".to_owned(),
        })?;
        Self::new(&bytes)
    }

    /// The signature of a message's frames, as the 64 lower-case hex digits of
    /// its signature frame.
    pub fn sign<B: AsRef<[u8]>>(&self, header: &[u8], content: &[u8], buffers: &[B]) -> String {
        hex::encode(
            &self
                .mac_over(header, content, buffers)
                .finalize()
                .into_bytes(),
        )
    }

    /// Checks a signature frame against the other frames, in constant time.
    ///
    /// The frame must be exactly 64 lower-case hex digits, as [`sign`](Self::sign)
    /// writes them.
    pub fn verify<B: AsRef<[u8]>>(
        &self,
        signature: &[u8],
        header: &[u8],
        content: &[u8],
        buffers: &[B],
    ) -> Result<(), ProtocolError> {
        if signature.is_empty() {
            return Err(ProtocolError::MissingSignature);
        }
        // Lower case only: one tag has exactly one signature frame, so a
        // replay check that compares signature frames cannot be dodged by
        // changing the case of a digit.
        let lower_hex = |c: &u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
        if signature.len() != SIGNATURE_LEN || !signature.iter().all(lower_hex) {
            return Err(ProtocolError::MalformedSignature);
        }
        let tag = hex::decode(signature).ok_or(ProtocolError::MalformedSignature)?;
        self.mac_over(header, content, buffers)
            .verify_slice(&tag)
            .map_err(|_| ProtocolError::BadSignature)
    }

    fn mac_over<B: AsRef<[u8]>>(&self, header: &[u8], content: &[u8], buffers: &[B]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        for frame in [header, content] {
            mac.update(&(frame.len() as u64).to_be_bytes());
            mac.update(frame);
        }
        let digests = chunk_digests(buffers);
        let mut digests = digests.iter();
        for buffer in buffers {
            let len = buffer.as_ref().len();
            mac.update(&(len as u64).to_be_bytes());
            for digest in digests.by_ref().take(len.div_ceil(CHUNK_LEN)) {
                mac.update(digest);
            }
        }
        mac
    }
}

/// The SHA-256 digest of every chunk of every buffer, in order; on several
/// threads when the buffers are large.
fn chunk_digests<B: AsRef<[u8]>>(buffers: &[B]) -> Vec<[u8; 32]> {
    let chunks: Vec<&[u8]> = buffers
        .iter()
        .flat_map(|buffer| buffer.as_ref().chunks(CHUNK_LEN))
        .collect();
    let total: usize = chunks.iter().map(|chunk| chunk.len()).sum();
    let mut digests = vec![[0u8; 32]; chunks.len()];
    let hash_all = |digests: &mut [[u8; 32]], chunks: &[&[u8]]| {
        for (digest, chunk) in digests.iter_mut().zip(chunks) {
            *digest = Sha256::digest(chunk).into();
        }
    };
    let threads = if total < PARALLEL_FROM {
        1
    } else {
        cores().min(chunks.len())
    };
    if threads <= 1 {
        hash_all(&mut digests, &chunks);
        return digests;
    }
    let per_thread = chunks.len().div_ceil(threads);
    thread::scope(|scope| {
        let mut parts = digests
            .chunks_mut(per_thread)
            .zip(chunks.chunks(per_thread));
        // The calling thread takes the first share instead of waiting idle.
        let (mine, my_chunks) = parts.next().expect("at least one chunk");
        for (digests, chunks) in parts {
            scope.spawn(move || hash_all(digests, chunks));
        }
        hash_all(mine, my_chunks);
    });
    digests
}

/// The number of cores this process may use, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_BUFFERS: &[&[u8]] = &[];

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn sign_then_verify() {
        let s = signer();
        let sig = s.sign(b"header", b"content", &[b"buf".as_slice()]);
        assert_eq!(sig.len(), SIGNATURE_LEN);
        assert!(sig
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
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

    /// The bytes the HMAC runs over, built one step at a time as
    /// `docs/protocol.md` describes them (no threads, no shortcuts).
    fn documented_input(header: &[u8], content: &[u8], buffers: &[&[u8]]) -> Vec<u8> {
        let mut data = Vec::new();
        for frame in [header, content] {
            data.extend_from_slice(&(frame.len() as u64).to_be_bytes());
            data.extend_from_slice(frame);
        }
        for buffer in buffers {
            data.extend_from_slice(&(buffer.len() as u64).to_be_bytes());
            for chunk in buffer.chunks(CHUNK_LEN) {
                data.extend_from_slice(&Sha256::digest(chunk));
            }
        }
        data
    }

    /// The documented construction, checked against an independent
    /// computation (Python, as `docs/protocol.md` shows it).
    #[test]
    fn matches_documented_construction() {
        let key = b"key";
        let long = vec![b'a'; CHUNK_LEN + 1];
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
        mac.update(&documented_input(b"h", b"c", &[b"", b"xyz", &long]));
        let expected = hex::encode(&mac.finalize().into_bytes());
        let s = Signer::new(key).unwrap();
        assert_eq!(s.sign(b"h", b"c", &[&b""[..], b"xyz", &long]), expected);
        // Computed with Python's hmac and hashlib over the same construction.
        assert_eq!(
            expected,
            "1a52708e4cdb4b29443e1f2b518eec2dd4a28a13d590223f45f1ce2ac7573c7c"
        );
    }

    /// Large buffers are hashed on several threads: the signature is the same
    /// as hashing them one chunk after another, and a byte changed in any
    /// chunk, first or last, is still caught.
    #[test]
    fn large_buffers_sign_as_documented() {
        let s = signer();
        let big: Vec<u8> = (0..PARALLEL_FROM * 2 + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        let small = b"tail".to_vec();
        let sig = s.sign(b"h", b"c", &[&big, &small]);

        let mut sequential = s.mac.clone();
        sequential.update(&documented_input(b"h", b"c", &[&big, &small]));
        assert_eq!(sig, hex::encode(&sequential.finalize().into_bytes()));
        s.verify(sig.as_bytes(), b"h", b"c", &[&big, &small])
            .unwrap();

        for at in [0, CHUNK_LEN, big.len() - 1] {
            let mut changed = big.clone();
            changed[at] ^= 1;
            assert_eq!(
                s.verify(sig.as_bytes(), b"h", b"c", &[&changed, &small]),
                Err(ProtocolError::BadSignature),
                "a change at byte {at} went unnoticed"
            );
        }
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
        let other = Signer::new(b"another key").unwrap();
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
        let zeros = "0".repeat(SIGNATURE_LEN);
        assert_eq!(
            s.verify(zeros.as_bytes(), b"h", b"c", NO_BUFFERS),
            Err(ProtocolError::BadSignature)
        );
    }

    #[test]
    fn keys() {
        assert_eq!(Signer::new(b"").unwrap_err(), ProtocolError::EmptyKey);
        assert_eq!(Signer::from_hex("").unwrap_err(), ProtocolError::EmptyKey);
        assert!(matches!(
            Signer::from_hex("abc"),
            Err(ProtocolError::InvalidKey { .. })
        ));
        assert!(matches!(
            Signer::from_hex("zz"),
            Err(ProtocolError::InvalidKey { .. })
        ));
        let from_hex = Signer::from_hex("6b6579").unwrap(); // "key"
        let sig = Signer::new(b"key").unwrap().sign(b"h", b"c", NO_BUFFERS);
        from_hex
            .verify(sig.as_bytes(), b"h", b"c", NO_BUFFERS)
            .unwrap();
    }

    #[test]
    fn debug_hides_key() {
        assert_eq!(format!("{:?}", signer()), "Signer { .. }");
    }
}
