//! Interoperability: frames made by Python (`msgpack` and the PyPI `blake3`
//! package, as `docs/protocol.md` shows) decode here, and this crate encodes
//! the same message to the same bytes.
//!
//! The frames below were printed by this script (msgpack 1.2.4, blake3 1.0.11):
//!
//! ```python
//! import blake3
//! import msgpack
//!
//! CONTEXTS = {
//!     "to_debuggee": ("jupdb 2026-12-02 jupdb-blake3-v1 client to debuggee, head",
//!                     "jupdb 2026-12-02 jupdb-blake3-v1 client to debuggee, buffers"),
//!     "to_client": ("jupdb 2026-12-02 jupdb-blake3-v1 debuggee to client, head",
//!                   "jupdb 2026-12-02 jupdb-blake3-v1 debuggee to client, buffers"),
//! }
//!
//! def u64(n: int) -> bytes:
//!     return n.to_bytes(8, "big")
//!
//! def sign(key: bytes, direction: str, header: bytes, content: bytes, buffers: list[bytes]) -> bytes:
//!     head_key, buffers_key = (blake3.blake3(key, derive_key_context=context).digest()
//!                              for context in CONTEXTS[direction])
//!     head = blake3.blake3(key=head_key)
//!     for frame in (header, content):
//!         head.update(u64(len(frame)) + frame)
//!     head.update(u64(len(buffers)) + b"".join(u64(memoryview(b).nbytes) for b in buffers))
//!     head_tag = head.digest()
//!     tail = blake3.blake3(head_tag, key=buffers_key)
//!     for buffer in buffers:
//!         tail.update(buffer)
//!     return (head_tag.hex() + tail.hexdigest()).encode()
//!
//! key = bytes.fromhex("00" * 31 + "01")
//! header = {
//!     "msg_id": "6f1c0f5e-2f7a-4c3e-9a57-1d2b3c4d5e6f",
//!     "session": "client-1",
//!     "msg_type": "eval_request",
//!     "version": "4.0",
//!     "date": "2025-11-23T09:12:00.123456Z",
//!     "thread": 140234567890,
//!     "seq": 1,
//! }
//! content = {"code": "x + 1", "frame": 0, "raw": b"\x00\xff"}
//! buffers = [b"buffer-0", b""]
//! h = msgpack.packb(header)
//! c = msgpack.packb(content)
//! frames = [b"client-id", b"<IDS|MSG>", sign(key, "to_debuggee", h, c, buffers), h, c, *buffers]
//! for f in frames:
//!     print(f.hex())
//! ```

use jupdb_protocol::{
    decode_with_identities, encode_with_identities, Bytes, Direction, Header, Message, Signer, Value,
};

const PYTHON_FRAMES: &[&str] = &[
    "636c69656e742d6964",
    "3c4944537c4d53473e",
    "6635626464333438343139373330306134333234623838383064633863343737323361386138386162303236623233666639336163393831313431646466366235656438316639303466333433613439323835326663356630313535623930383131343837626337613531653166613335336164366231646239303334306630",
    "87a66d73675f6964d92436663163306635652d326637612d346333652d396135372d316432623363346435653666a773657373696f6ea8636c69656e742d31a86d73675f74797065ac6576616c5f72657175657374a776657273696f6ea3342e30a464617465bb323032352d31312d32335430393a31323a30302e3132333435365aa6746872656164cf00000020a6a1b0d2a373657101",
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
    Signer::new(&key, Direction::ToDebuggee).unwrap()
}

fn expected() -> Message {
    Message {
        header: Header {
            msg_id: "6f1c0f5e-2f7a-4c3e-9a57-1d2b3c4d5e6f".into(),
            session: "client-1".into(),
            msg_type: "eval_request".into(),
            version: "4.0".into(),
            date: "2025-11-23T09:12:00.123456Z".into(),
            parent: None,
            thread: Some(140_234_567_890),
            seq: Some(1),
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
