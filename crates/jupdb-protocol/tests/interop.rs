//! Interoperability: frames made by Python (`msgpack`, `hmac` and the
//! `cryptography` package's Poly1305, as `docs/protocol.md` shows) decode
//! here, and this crate encodes the same message to the same bytes.
//!
//! The frames below were printed by this script (msgpack 1.2, cryptography 50):
//!
//! ```python
//! import hashlib, hmac, msgpack
//! from cryptography.hazmat.primitives.poly1305 import Poly1305
//!
//! key = bytes.fromhex("00" * 31 + "01")
//! CHUNK = 1 << 20
//!
//! def sign(header, content, buffers):
//!     prefix = b"".join(len(frame).to_bytes(8, "big") + frame for frame in (header, content))
//!     seed = hmac.digest(key, b"jupdb chunk keys" + prefix, "sha256")
//!     mac = hmac.new(key, prefix, hashlib.sha256)
//!     j = 0
//!     for buffer in map(memoryview, buffers):
//!         mac.update(len(buffer).to_bytes(8, "big"))
//!         for at in range(0, len(buffer), CHUNK):
//!             chunk_key = hmac.digest(seed, j.to_bytes(8, "big"), "sha256")
//!             mac.update(Poly1305.generate_tag(chunk_key, buffer[at:at + CHUNK]))
//!             j += 1
//!     return mac.hexdigest().encode()
//!
//! header = {
//!     "msg_id": "6f1c0f5e-2f7a-4c3e-9a57-1d2b3c4d5e6f",
//!     "session": "client-1",
//!     "msg_type": "eval_request",
//!     "version": "3.0",
//!     "date": "2025-11-23T09:12:00.123456Z",
//!     "thread": 140234567890,
//! }
//! content = {"code": "x + 1", "frame": 0, "raw": b"\x00\xff"}
//! buffers = [b"buffer-0", b""]
//! h = msgpack.packb(header)
//! c = msgpack.packb(content)
//! frames = [b"client-id", b"<IDS|MSG>", sign(h, c, buffers), h, c, *buffers]
//! for f in frames:
//!     print(f.hex())
//! ```

use jupdb_protocol::{
    decode_with_identities, encode_with_identities, Bytes, Header, Message, Signer, Value,
};

const PYTHON_FRAMES: &[&str] = &[
    "636c69656e742d6964",
    "3c4944537c4d53473e",
    "61346466376662643962376137393131653839313061633032323631643135666463353164613765396233653931363564633832356331303338646466356332",
    "86a66d73675f6964d92436663163306635652d326637612d346333652d396135372d316432623363346435653666a773657373696f6ea8636c69656e742d31a86d73675f74797065ac6576616c5f72657175657374a776657273696f6ea3332e30a464617465bb323032352d31312d32335430393a31323a30302e3132333435365aa6746872656164cf00000020a6a1b0d2",
    "83a4636f6465a578202b2031a56672616d6500a3726177c40200ff",
    "6275666665722d30",
    "",
];

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn signer() -> Signer {
    let mut key = [0u8; 32];
    key[31] = 1;
    Signer::new(&key).unwrap()
}

fn expected() -> Message {
    Message {
        header: Header {
            msg_id: "6f1c0f5e-2f7a-4c3e-9a57-1d2b3c4d5e6f".into(),
            session: "client-1".into(),
            msg_type: "eval_request".into(),
            version: "3.0".into(),
            date: "2025-11-23T09:12:00.123456Z".into(),
            parent: None,
            thread: Some(140_234_567_890),
        },
        content: Value::Map(vec![
            ("code".into(), "x + 1".into()),
            ("frame".into(), 0.into()),
            ("raw".into(), Value::Binary(vec![0x00, 0xff])),
        ]),
        buffers: vec![Bytes::from_static(b"buffer-0"), Bytes::new()],
    }
}

#[test]
fn python_frames_decode() {
    let frames: Vec<Bytes> = PYTHON_FRAMES.iter().map(|f| from_hex(f).into()).collect();
    let (identities, message) = decode_with_identities(frames, &signer()).unwrap();
    assert_eq!(identities, [b"client-id".to_vec()]);
    assert_eq!(message, expected());
}

#[test]
fn encoding_matches_python_byte_for_byte() {
    let frames = encode_with_identities(&[b"client-id"], &expected(), &signer());
    let python: Vec<Vec<u8>> = PYTHON_FRAMES.iter().map(|f| from_hex(f)).collect();
    assert_eq!(frames, python);
}
