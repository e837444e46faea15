//! HMAC-SHA256 signatures over a message's frames.
//!
//! The signature covers the header frame, the content frame and every buffer
//! frame, in that order, each preceded by its length as an 8-byte big-endian
//! integer. A buffer enters through the Poly1305 tags of its consecutive
//! [`CHUNK_LEN`]-byte chunks (the last one may be shorter; an empty buffer has
//! none), each under a one-time key derived from the session key and the
//! message:
//!
//! ```text
//! prefix    = len(header) ‖ header ‖ len(content) ‖ content
//! seed      = HMAC-SHA256(key, "jupdb chunk keys" ‖ prefix)
//! tag(j)    = Poly1305(HMAC-SHA256(seed, u64be(j)), chunk j)    j = 0, 1, … across all buffers
//! signature = hex(HMAC-SHA256(key, prefix ‖ len(buffer₁) ‖ tag(0) ‖ tag(1) ‖ … ‖ len(buffer₂) ‖ …))
//! ```
//!
//! Why not the HMAC over the bytes themselves: an HMAC reads its input in
//! sequence, on one core (SHA-256 with SHA-NI: about 1.4 GB/s here), once to
//! sign and once to verify. Poly1305 runs at about 4 GB/s a core (AVX2), and
//! chunks do not depend on each other, so a large buffer is tagged on every
//! core ([`Signer::sign`] and [`Signer::verify`] do that from
//! [`PARALLEL_FROM`] bytes on).
//!
//! Why that is as safe: the tags never leave the process, only the HMAC over
//! them does. Poly1305 under a secret random key is a universal hash: two
//! different chunks of at most 1 MiB have the same tag with probability under
//! 2⁻⁸⁰, whatever bytes an attacker picks. So a change to any byte of a buffer
//! still breaks the signature. The keys come from HMAC-SHA256 (a PRF) over the
//! message's own header, with its unique `msg_id`, so no two messages share
//! them; and a seed is never a signature anyone has seen
//! (`CHUNK_KEYS_CONTEXT` says why).
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
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::Poly1305;
use sha2::Sha256;

use crate::error::ProtocolError;
use crate::hex;

type HmacSha256 = Hmac<Sha256>;

/// The only signature scheme, as named in connection files.
pub const SIGNATURE_SCHEME: &str = "hmac-sha256";

/// Length of a signature frame: 32 bytes of HMAC-SHA256 as 64 hex digits.
pub const SIGNATURE_LEN: usize = 64;

/// Buffers enter the signature as the Poly1305 tags of chunks of this many
/// bytes (1 MiB).
pub const CHUNK_LEN: usize = 1 << 20;

/// Buffers of this many bytes in all, or more, are tagged on several threads.
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
        add_prefix(&mut mac, header, content);
        let tags = self.chunk_tags(header, content, buffers);
        let mut tags = tags.iter();
        for buffer in buffers {
            let len = buffer.as_ref().len();
            mac.update(&(len as u64).to_be_bytes());
            for tag in tags.by_ref().take(len.div_ceil(CHUNK_LEN)) {
                mac.update(tag);
            }
        }
        mac
    }

    /// The tag of every chunk of every buffer, in order; on several threads
    /// when the buffers are large.
    fn chunk_tags<B: AsRef<[u8]>>(&self, header: &[u8], content: &[u8], buffers: &[B]) -> Vec<Tag> {
        let chunks: Vec<&[u8]> = buffers
            .iter()
            .flat_map(|buffer| buffer.as_ref().chunks(CHUNK_LEN))
            .collect();
        if chunks.is_empty() {
            return Vec::new();
        }
        let keys = self.chunk_keys(header, content);
        let tag_all = |first: usize, tags: &mut [Tag], chunks: &[&[u8]]| {
            for (j, (tag, chunk)) in (first..).zip(tags.iter_mut().zip(chunks)) {
                let key = keys
                    .clone()
                    .chain_update((j as u64).to_be_bytes())
                    .finalize();
                *tag = poly1305_tag(&key.into_bytes(), chunk);
            }
        };
        let total: usize = chunks.iter().map(|chunk| chunk.len()).sum();
        let threads = if total < PARALLEL_FROM {
            1
        } else {
            cores().min(chunks.len())
        };
        let per_thread = chunks.len().div_ceil(threads);
        let mut tags = vec![Tag::default(); chunks.len()];
        thread::scope(|scope| {
            let tag_all = &tag_all;
            let mut parts = tags.chunks_mut(per_thread).zip(chunks.chunks(per_thread));
            // The calling thread takes the first share instead of waiting idle.
            let (mine, my_chunks) = parts.next().expect("at least one chunk");
            for (n, (tags, chunks)) in (1..).zip(parts) {
                scope.spawn(move || tag_all(n * per_thread, tags, chunks));
            }
            tag_all(0, mine, my_chunks);
        });
        tags
    }

    /// The HMAC whose output for `u64be(j)` is the one-time key of chunk `j`,
    /// keyed with the message's seed: no two messages share chunk keys.
    fn chunk_keys(&self, header: &[u8], content: &[u8]) -> HmacSha256 {
        let mut seed = self.mac.clone();
        seed.update(CHUNK_KEYS_CONTEXT);
        add_prefix(&mut seed, header, content);
        <HmacSha256 as Mac>::new_from_slice(&seed.finalize().into_bytes())
            .expect("an HMAC takes a key of any length")
    }
}

/// What the seed's HMAC input begins with. Read as the first 8 bytes of a
/// signature input it would be the header's length, 7.7e18: far over the
/// header's limit, so a seed is never the signature of any message.
const CHUNK_KEYS_CONTEXT: &[u8; 16] = b"jupdb chunk keys";

type Tag = [u8; 16];

/// `len(header) ‖ header ‖ len(content) ‖ content`: the start of every
/// signature input and of every seed's.
fn add_prefix(mac: &mut HmacSha256, header: &[u8], content: &[u8]) {
    for frame in [header, content] {
        mac.update(&(frame.len() as u64).to_be_bytes());
        mac.update(frame);
    }
}

/// The Poly1305 tag of `data` (RFC 8439) under a 32-byte one-time key. The
/// whole 16-byte blocks go in one call: `compute_unpadded` alone feeds the
/// blocks one at a time, which misses the AVX2 path's four at once and runs at
/// half the speed.
fn poly1305_tag(key: &poly1305::Key, data: &[u8]) -> Tag {
    let mut poly = Poly1305::new(key);
    let whole = data.len() - data.len() % poly1305::BLOCK_SIZE;
    poly.update_padded(&data[..whole]);
    poly.compute_unpadded(&data[whole..]).into()
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

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> Signer {
        Signer::new(KEY).unwrap()
    }

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
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
    /// `docs/protocol.md` describes them (no threads, no shortcuts: each tag
    /// by the `poly1305` crate's own one-call API).
    fn documented_input(key: &[u8], header: &[u8], content: &[u8], buffers: &[&[u8]]) -> Vec<u8> {
        let mut prefix = Vec::new();
        for frame in [header, content] {
            prefix.extend_from_slice(&(frame.len() as u64).to_be_bytes());
            prefix.extend_from_slice(frame);
        }
        let seed = hmac(key, &[b"jupdb chunk keys".as_slice(), &prefix].concat());
        let mut data = prefix;
        let mut j = 0u64;
        for buffer in buffers {
            data.extend_from_slice(&(buffer.len() as u64).to_be_bytes());
            for chunk in buffer.chunks(CHUNK_LEN) {
                let chunk_key = hmac(&seed, &j.to_be_bytes());
                data.extend_from_slice(&Poly1305::new(&chunk_key.into()).compute_unpadded(chunk));
                j += 1;
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
        let buffers: [&[u8]; 3] = [b"", b"xyz", &long];
        let expected = hex::encode(&hmac(key, &documented_input(key, b"h", b"c", &buffers)));
        let s = Signer::new(key).unwrap();
        assert_eq!(s.sign(b"h", b"c", &buffers), expected);
        // Computed with Python's hmac and the cryptography package's
        // Poly1305, as docs/protocol.md shows it.
        assert_eq!(
            expected,
            "f061fd1f3a92296573de6e29a8683323a3441b721b7f27781675bf55f95c9507"
        );
    }

    /// RFC 8439, section 2.5.2: the tag function is standard Poly1305.
    #[test]
    fn poly1305_tag_is_rfc_8439() {
        let key = hex::decode(b"85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
            .unwrap();
        let tag = poly1305_tag(key.as_slice().into(), b"Cryptographic Forum Research Group");
        assert_eq!(hex::encode(&tag), "a8061dc1305136c6c22b8baf0c0127a9");
    }

    proptest::proptest! {
        /// Whole blocks in one call and the tail apart give the tag that the
        /// crate's one-call API gives, at every length around the block size.
        #[test]
        fn poly1305_tag_matches_one_call(key: [u8; 32], data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let key = poly1305::Key::from(key);
            proptest::prop_assert_eq!(poly1305_tag(&key, &data), <Tag>::from(Poly1305::new(&key).compute_unpadded(&data)));
        }
    }

    /// Large buffers are tagged on several threads: the signature is the same
    /// as tagging them one chunk after another, and a byte changed in any
    /// chunk, first or last, is still caught.
    #[test]
    fn large_buffers_sign_as_documented() {
        let s = signer();
        let big: Vec<u8> = (0..PARALLEL_FROM * 2 + 12345)
            .map(|i| (i % 251) as u8)
            .collect();
        let small = b"tail".to_vec();
        let sig = s.sign(b"h", b"c", &[&big, &small]);

        assert_eq!(
            sig,
            hex::encode(&hmac(KEY, &documented_input(KEY, b"h", b"c", &[&big, &small])))
        );
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
