//! HMAC-SHA256 signatures over a message's frames.
//!
//! The signature covers the header frame, the content frame and every buffer
//! frame, in that order, each preceded by its length as an 8-byte big-endian
//! integer:
//!
//! ```text
//! signature = hex(HMAC-SHA256(key, len(header) ‖ header ‖ len(content) ‖ content
//!                                  ‖ len(buffer₁) ‖ buffer₁ ‖ …))
//! ```
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

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ProtocolError;
use crate::hex;

type HmacSha256 = Hmac<Sha256>;

/// The only signature scheme, as named in connection files.
pub const SIGNATURE_SCHEME: &str = "hmac-sha256";

/// Length of a signature frame: 32 bytes of HMAC-SHA256 as 64 hex digits.
pub const SIGNATURE_LEN: usize = 64;

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
        let frames = [header, content]
            .into_iter()
            .chain(buffers.iter().map(AsRef::as_ref));
        for frame in frames {
            mac.update(&(frame.len() as u64).to_be_bytes());
            mac.update(frame);
        }
        mac
    }
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

    /// The documented construction, checked against an independent
    /// computation (Python: `hmac.new(key, data, hashlib.sha256).hexdigest()`).
    #[test]
    fn matches_documented_construction() {
        let key = b"key";
        let s = Signer::new(key).unwrap();
        let mut data = Vec::new();
        for frame in [&b"h"[..], b"c", b"", b"xyz"] {
            data.extend_from_slice(&(frame.len() as u64).to_be_bytes());
            data.extend_from_slice(frame);
        }
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
        mac.update(&data);
        let expected = hex::encode(&mac.finalize().into_bytes());
        assert_eq!(s.sign(b"h", b"c", &[&b""[..], b"xyz"]), expected);
        // Computed with Python's hmac module over the same bytes.
        assert_eq!(
            expected,
            "264b145c433d06a5207712438896636a510af78f2c1107eea32eff2820bc7694"
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
