//! Random keys and identifiers, from the operating system's generator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ProtocolError;

/// Length in bytes of a key made by [`new_key`]: 256 bits.
pub const KEY_LEN: usize = 32;

/// A new random 256-bit signing key.
///
/// Fails only if the operating system cannot supply random numbers; never
/// falls back to a weaker source.
pub fn new_key() -> Result<[u8; KEY_LEN], ProtocolError> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|err| ProtocolError::RandomUnavailable {
        reason: err.to_string(),
    })?;
    Ok(key)
}

/// A new random identifier in UUID version 4 text form
/// (`"3f2b1c9e-8d7a-4e6f-9b5c-0a1d2e3f4a5b"`), for `msg_id` and `session`.
///
/// Identifiers need to be unique, not secret: if the OS generator fails, the
/// time, the process id and a counter stand in for it.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
        bytes[8..12].copy_from_slice(&std::process::id().to_be_bytes());
        bytes[12..].copy_from_slice(&(count as u32).to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = crate::hex::encode(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; KEY_LEN]);
    }

    #[test]
    fn ids_look_like_uuid4_and_differ() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        let dashes: Vec<usize> = id.match_indices('-').map(|(i, _)| i).collect();
        assert_eq!(dashes, [8, 13, 18, 23]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, new_id());
    }
}
