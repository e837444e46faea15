//! Property tests of framing and signing.
//!
//! `decode_never_panics_*` check the same property as the `decode` fuzz target
//! in `fuzz/`, so that CI checks it on stable Rust.

use jupdb_protocol::{
    decode, decode_with_identities, encode, encode_with_identities, Bytes, Direction, Header, Message, ProtocolError,
    Signer, Signers, Value, DELIMITER,
};
use proptest::collection::vec;
use proptest::prelude::*;

const KEY: &[u8] = b"property test key, 32 bytes long";

fn signer() -> Signer {
    Signer::new(KEY, Direction::ToDebuggee).unwrap()
}

/// Any MessagePack value whose floats are not NaN (NaN != NaN would break
/// equality, not the protocol).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("NaN", |f| !f.is_nan()).prop_map(Value::F64),
        any::<f32>().prop_filter("NaN", |f| !f.is_nan()).prop_map(Value::F32),
        ".{0,20}".prop_map(Value::from),
        vec(any::<u8>(), 0..20).prop_map(Value::Binary),
        (any::<i8>(), vec(any::<u8>(), 0..20)).prop_map(|(ty, data)| Value::Ext(ty, data)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            vec((inner.clone(), inner), 0..8).prop_map(Value::Map),
        ]
    })
}

fn content() -> impl Strategy<Value = Value> {
    vec((".{0,12}".prop_map(Value::from), value()), 0..8).prop_map(Value::Map)
}

fn header() -> impl Strategy<Value = Header> {
    (
        ".{0,40}",
        ".{0,40}",
        ".{0,40}",
        ".{0,10}",
        ".{0,30}",
        proptest::option::of(".{0,40}"),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(msg_id, session, msg_type, version, date, parent, thread, seq)| Header {
                msg_id,
                session,
                msg_type,
                version,
                date,
                parent,
                thread,
                seq,
            },
        )
}

fn buffers() -> impl Strategy<Value = Vec<Bytes>> {
    vec(vec(any::<u8>(), 0..64).prop_map(Bytes::from), 0..4)
}

fn message() -> impl Strategy<Value = Message> {
    (header(), content(), buffers()).prop_map(|(header, content, buffers)| Message {
        header,
        content,
        buffers,
    })
}

fn identities() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..12), 0..3).prop_filter("an identity that is the delimiter", |ids| {
        ids.iter().all(|id| id != DELIMITER)
    })
}

/// Arbitrary frames, often with a delimiter among them.
fn frames() -> impl Strategy<Value = Vec<Bytes>> {
    let frame = prop_oneof![
        4 => vec(any::<u8>(), 0..80).prop_map(Bytes::from),
        1 => Just(Bytes::from_static(DELIMITER)),
    ];
    vec(frame, 0..8)
}

/// `[<IDS|MSG>, valid signature, frames…]`: arbitrary frames that pass the
/// signature check, so that parsing is exercised.
fn signed(frames: &[Bytes]) -> Vec<Bytes> {
    let empty = Bytes::new();
    let header = frames.first().unwrap_or(&empty);
    let content = frames.get(1).unwrap_or(&empty);
    let buffers = frames.get(2..).unwrap_or(&[]);
    let mut signed = vec![
        Bytes::from_static(DELIMITER),
        signer().sign(header, content, buffers).into(),
    ];
    signed.extend(frames.iter().cloned());
    signed
}

/// What the fuzz target checks: `decode` returns (does not panic), and a
/// message it accepts encodes to frames that decode to the same message.
fn check_decode(frames: Vec<Bytes>) -> Result<(), TestCaseError> {
    if let Ok(message) = decode(frames, &signer()) {
        let again = encode(&message, &signer());
        let decoded = decode(again.clone(), &signer());
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        prop_assert_eq!(encode(&decoded.unwrap(), &signer()), again);
    }
    Ok(())
}

fn msgpack(value: &Value) -> Bytes {
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value).unwrap();
    bytes.into()
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(message in message(), ids in identities()) {
        let frames = encode_with_identities(&ids, &message, &signer());
        let (got_ids, got) = decode_with_identities(frames, &signer()).unwrap();
        prop_assert_eq!(got_ids, ids);
        prop_assert_eq!(got, message);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_frames(frames in frames()) {
        check_decode(frames)?;
    }

    #[test]
    fn decode_never_panics_on_signed_arbitrary_frames(frames in frames()) {
        check_decode(signed(&frames))?;
    }

    #[test]
    fn decode_never_panics_on_signed_arbitrary_msgpack(
        header in prop_oneof![
            value().prop_map(|v| msgpack(&v)),
            header().prop_map(|h| rmp_serde::to_vec_named(&h).unwrap().into()),
        ],
        content in value(),
        buffers in buffers(),
    ) {
        let mut frames = vec![header, msgpack(&content)];
        frames.extend(buffers);
        check_decode(signed(&frames))?;
    }

    #[test]
    fn any_changed_byte_is_detected(
        message in message(),
        frame_pick in any::<prop::sample::Index>(),
        byte_pick in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let mut frames = encode(&message, &signer());
        // Any non-empty frame after the delimiter.
        let candidates: Vec<usize> = (1..frames.len()).filter(|&i| !frames[i].is_empty()).collect();
        let index = candidates[frame_pick.index(candidates.len())];
        let byte = byte_pick.index(frames[index].len());
        let mut changed = frames[index].to_vec();
        changed[byte] ^= flip;
        frames[index] = changed.into();
        let result = decode(frames, &signer());
        if index == 1 {
            // The signature frame itself: no longer hex, or a different tag.
            prop_assert!(matches!(
                result,
                Err(ProtocolError::BadSignature | ProtocolError::MalformedSignature)
            ), "{:?}", result);
        } else {
            prop_assert_eq!(result, Err(ProtocolError::BadSignature));
        }
    }

    #[test]
    fn other_keys_are_rejected(message in message(), key in vec(any::<u8>(), 1..64)) {
        prop_assume!(key != KEY);
        let frames = encode(&message, &signer());
        prop_assert_eq!(
            decode(frames, &Signer::new(&key, Direction::ToDebuggee).unwrap()),
            Err(ProtocolError::BadSignature)
        );
    }

    /// Reflection: whatever one side signs, the same side refuses, for any
    /// message and any key.
    #[test]
    fn a_side_refuses_what_it_signed(message in message(), key in vec(any::<u8>(), 1..64)) {
        for side in [Signers::debuggee(&key).unwrap(), Signers::client(&key).unwrap()] {
            let frames = encode(&message, &side.outgoing);
            prop_assert_eq!(decode(frames, &side.incoming), Err(ProtocolError::BadSignature));
        }
    }
}
