//! Feeds arbitrary frames to `decode`.
//!
//! With the flag set, the frames are given a valid signature first (as
//! `[<IDS|MSG>, signature, frames…]`, the first two frames being the header and
//! the content), so that the MessagePack parsing behind the signature check is
//! reached too. Checks that `decode` never panics, and that whatever it
//! accepts encodes again to frames it accepts and decodes to the same message.
//! `tests/properties.rs` checks the same on stable Rust.

#![no_main]

use jupdb_protocol::{decode, encode, Bytes, Direction, Signer, DELIMITER};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz key";

fuzz_target!(|input: (bool, Vec<Vec<u8>>)| {
    let (sign, frames) = input;
    let frames: Vec<Bytes> = frames.into_iter().map(Bytes::from).collect();
    let signer = Signer::new(KEY, Direction::ToDebuggee).expect("the key is not empty");
    let frames = if sign { signed(&signer, frames) } else { frames };
    if let Ok(message) = decode(frames, &signer) {
        let again = encode(&message, &signer);
        let decoded = decode(again.clone(), &signer).expect("an accepted message re-encodes");
        assert_eq!(encode(&decoded, &signer), again);
    }
});

fn signed(signer: &Signer, frames: Vec<Bytes>) -> Vec<Bytes> {
    let empty = Bytes::new();
    let header = frames.first().unwrap_or(&empty);
    let content = frames.get(1).unwrap_or(&empty);
    let buffers = frames.get(2..).unwrap_or(&[]);
    let signature = signer.sign(header, content, buffers);
    let mut signed = vec![Bytes::from_static(DELIMITER), Bytes::from(signature)];
    signed.extend(frames);
    signed
}
