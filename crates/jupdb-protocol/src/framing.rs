//! Framing: a [`Message`] to and from the frames of one ZeroMQ multipart message.
//!
//! ```text
//! [identity…]  routing identities (ROUTER); zero or more
//! <IDS|MSG>    delimiter, always present
//! signature    two hex keyed-BLAKE3 tags, see `signing`
//! header       MessagePack map
//! content      MessagePack map
//! [buffer…]    raw bytes; zero or more
//! ```
//!
//! Frames are [`Bytes`], the type ZeroMQ libraries such as `zeromq` hand over,
//! so that buffers cross without copies: [`encode`] puts clones of the
//! message's buffers into the frames (a reference count goes up, no data is
//! copied), and [`decode`] moves the buffer frames into the message. A buffer
//! may wrap memory owned by someone else, e.g. a Python object, with
//! [`Bytes::from_owner`]. Only the small frames are allocated: the signature,
//! the header, the content, and copies of the identities (the delimiter is
//! static).
//!
//! [`decode`] never panics. It checks, in this order, cheapest first: the
//! delimiter, the frame count (at most [`MAX_BUFFERS`] buffers), the sizes of
//! the header and content frames, the signature's head tag (header, content and
//! the buffers' count and lengths), the buffers tag (the only step that reads
//! buffer bytes), and only then parses MessagePack, so that nothing from an
//! unauthenticated sender is ever parsed, and a forged message costs no more
//! than hashing its small frames.

use bytes::Bytes;
use rmpv::Value;
use serde::Deserialize;

use crate::error::ProtocolError;
use crate::message::{ensure_map, Header, Message};
use crate::signing::Signer;

/// The frame that separates routing identities from the message.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Largest accepted header frame, in bytes.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// Largest accepted content frame, in bytes. Bulk data belongs in buffers,
/// whose size has no limit here (the transport bounds frames and messages).
pub const MAX_CONTENT_LEN: usize = 64 * 1024 * 1024;

/// Largest request a debuggee accepts, all frames together (its transport
/// also refuses any frame over [`MAX_CONTENT_LEN`]: a client splits bigger buffers).
pub const MAX_REQUEST_LEN: usize = 1 << 30;

/// Most buffer frames a message may have. A pickle of many arrays has one
/// buffer each; far more is a flood, refused before anything is hashed.
pub const MAX_BUFFERS: usize = 65_536;

/// Content nested this many levels deep (maps and arrays within each other)
/// is accepted; content nested much deeper is rejected.
pub const MAX_CONTENT_NESTING: usize = 100;

/// The frames of `message`, starting with the delimiter (no identities).
///
/// The buffer frames are clones of the message's buffers: they share its
/// memory, no data is copied.
pub fn encode(message: &Message, signer: &Signer) -> Vec<Bytes> {
    encode_with_identities::<&[u8]>(&[], message, signer)
}

/// The frames of `message`, preceded by routing `identities` (for a ROUTER
/// socket: the identities that came with the request).
///
/// The identities are copied into new frames; the buffer frames are clones of
/// the message's buffers, which share its memory (no data is copied).
pub fn encode_with_identities<I: AsRef<[u8]>>(identities: &[I], message: &Message, signer: &Signer) -> Vec<Bytes> {
    let header = rmp_serde::to_vec_named(&message.header).expect("a header of strings and integers always serializes");
    let mut content = Vec::new();
    rmpv::encode::write_value(&mut content, &message.content).expect("writing MessagePack to a Vec cannot fail");
    let signature = signer.sign(&header, &content, &message.buffers);

    let mut frames = Vec::with_capacity(identities.len() + 4 + message.buffers.len());
    frames.extend(identities.iter().map(|id| Bytes::copy_from_slice(id.as_ref())));
    frames.push(Bytes::from_static(DELIMITER));
    frames.push(Bytes::from(signature));
    frames.push(Bytes::from(header));
    frames.push(Bytes::from(content));
    frames.extend(message.buffers.iter().cloned());
    frames
}

/// The message in `frames`, checked against `signer`; routing identities
/// before the delimiter are dropped. Buffers are moved out of `frames`, not
/// copied.
pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Message, ProtocolError> {
    decode_with_identities(frames, signer).map(|(_, message)| message)
}

/// The routing identities (the frames before the delimiter) and the message in
/// `frames`, checked against `signer`. Buffers are moved out of `frames`, not
/// copied.
pub fn decode_with_identities(frames: Vec<Bytes>, signer: &Signer) -> Result<(Vec<Bytes>, Message), ProtocolError> {
    decode_with_limits(frames, signer, &Limits::DEFAULT)
}

/// Size limits, separate so that tests can use small ones.
pub(crate) struct Limits {
    pub(crate) header: usize,
    pub(crate) content: usize,
    pub(crate) buffers: usize,
}

impl Limits {
    pub(crate) const DEFAULT: Self = Self {
        header: MAX_HEADER_LEN,
        content: MAX_CONTENT_LEN,
        buffers: MAX_BUFFERS,
    };
}

pub(crate) fn decode_with_limits(
    mut frames: Vec<Bytes>,
    signer: &Signer,
    limits: &Limits,
) -> Result<(Vec<Bytes>, Message), ProtocolError> {
    let delimiter = frames
        .iter()
        .position(|frame| frame == DELIMITER)
        .ok_or(ProtocolError::MissingDelimiter)?;
    let rest = frames.split_off(delimiter);
    let identities = frames;

    let found = rest.len() - 1;
    let mut rest = rest.into_iter().skip(1);
    let (Some(signature), Some(header), Some(content)) = (rest.next(), rest.next(), rest.next()) else {
        return Err(ProtocolError::MissingFrames { found });
    };
    if found - 3 > limits.buffers {
        return Err(ProtocolError::TooManyBuffers {
            count: found - 3,
            max: limits.buffers,
        });
    }
    let buffers: Vec<Bytes> = rest.collect();

    if header.len() > limits.header {
        return Err(ProtocolError::HeaderTooLarge {
            len: header.len(),
            max: limits.header,
        });
    }
    if content.len() > limits.content {
        return Err(ProtocolError::ContentTooLarge {
            len: content.len(),
            max: limits.content,
        });
    }
    signer.verify(&signature, &header, &content, &buffers)?;

    let header = parse_header(&header)?;
    let content = parse_content(&content)?;
    Ok((
        identities,
        Message {
            header,
            content,
            buffers,
        },
    ))
}

fn parse_header(bytes: &[u8]) -> Result<Header, ProtocolError> {
    let invalid = |reason: String| ProtocolError::InvalidHeader { reason };
    let mut deserializer = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
    let header = Header::deserialize(&mut deserializer).map_err(|err| invalid(err.to_string()))?;
    let used = deserializer.position();
    if used != bytes.len() as u64 {
        return Err(invalid(format!("{} bytes after the header", bytes.len() as u64 - used)));
    }
    Ok(header)
}

fn parse_content(bytes: &[u8]) -> Result<Value, ProtocolError> {
    let invalid = |reason: String| ProtocolError::InvalidContent { reason };
    let mut rest = bytes;
    // rmpv spends two units of depth per level of nesting and up to three on a
    // leaf.
    let content = rmpv::decode::read_value_with_max_depth(&mut rest, 2 * MAX_CONTENT_NESTING + 3)
        .map_err(|err| invalid(err.to_string()))?;
    if !rest.is_empty() {
        return Err(invalid(format!("{} bytes after the content", rest.len())));
    }
    ensure_map(&content)?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Direction;

    fn signer() -> Signer {
        Signer::new(b"a test key of thirty-two bytes!!", Direction::ToDebuggee).unwrap()
    }

    fn message() -> Message {
        let content = Value::Map(vec![("code".into(), "x + 1".into()), ("frame".into(), 0.into())]);
        let mut message = Message::new("eval_request", "session-1", content).for_thread(42);
        message.header.parent = Some("parent-id".into());
        message.header.seq = Some(7);
        message
    }

    /// Frames `[<IDS|MSG>, signature, header, content, buffers…]` signed with
    /// `signer()` for arbitrary header and content bytes.
    fn signed(header: &[u8], content: &[u8], buffers: &[&[u8]]) -> Vec<Bytes> {
        let mut frames = vec![
            Bytes::from_static(DELIMITER),
            signer().sign(header, content, buffers).into(),
            Bytes::copy_from_slice(header),
            Bytes::copy_from_slice(content),
        ];
        frames.extend(buffers.iter().map(|b| Bytes::copy_from_slice(b)));
        frames
    }

    /// Changes a frame's bytes (`Bytes` is immutable: this makes a new one).
    fn edit(frame: &mut Bytes, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = frame.to_vec();
        change(&mut bytes);
        *frame = bytes.into();
    }

    fn msgpack(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).unwrap();
        bytes
    }

    fn header_bytes() -> Vec<u8> {
        rmp_serde::to_vec_named(&message().header).unwrap()
    }

    #[test]
    fn round_trip() {
        let message = message();
        let frames = encode(&message, &signer());
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], DELIMITER);
        assert_eq!(decode(frames, &signer()).unwrap(), message);
    }

    #[test]
    fn round_trip_with_buffers_and_identities() {
        let mut message = message();
        message.buffers = vec![Bytes::new(), vec![0; 1000].into(), Bytes::from_static(b"\xff\x00raw")];
        let identities: [&[u8]; 2] = [b"\x00\x80\x00\x00\x29", b"client"];
        let frames = encode_with_identities(&identities, &message, &signer());
        assert_eq!(frames.len(), 2 + 4 + 3);
        assert_eq!(frames[..2], identities.map(<[u8]>::to_vec));
        assert_eq!(frames[2], DELIMITER);
        let (ids, decoded) = decode_with_identities(frames.clone(), &signer()).unwrap();
        assert_eq!(ids, identities.map(<[u8]>::to_vec));
        assert_eq!(decoded, message);
        // Plain decode drops the identities.
        assert_eq!(decode(frames, &signer()).unwrap(), message);
    }

    #[test]
    fn header_is_a_named_map_and_optional_fields_are_left_out() {
        let mut message = message();
        let frames = encode(&message, &signer());
        let Value::Map(entries) = rmpv::decode::read_value(&mut &frames[2][..]).unwrap() else {
            panic!("header is not a map")
        };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(
            keys,
            ["msg_id", "session", "msg_type", "version", "date", "parent", "thread", "seq"]
        );

        message.header.parent = None;
        message.header.thread = None;
        message.header.seq = None;
        let frames = encode(&message, &signer());
        let Value::Map(entries) = rmpv::decode::read_value(&mut &frames[2][..]).unwrap() else {
            panic!("header is not a map")
        };
        assert_eq!(entries.len(), 5);
        assert_eq!(decode(frames, &signer()).unwrap(), message);
    }

    #[test]
    fn header_with_unknown_and_nil_fields_is_read() {
        let h = message().header;
        let header = Value::Map(vec![
            ("msg_id".into(), h.msg_id.as_str().into()),
            ("session".into(), h.session.as_str().into()),
            ("msg_type".into(), h.msg_type.as_str().into()),
            ("version".into(), "4.1".into()),
            ("date".into(), h.date.as_str().into()),
            ("parent".into(), Value::Nil),
            ("added_in_4_1".into(), Value::Array(vec![1.into()])),
        ]);
        let content = msgpack(&Value::Map(vec![]));
        let decoded = decode(signed(&msgpack(&header), &content, &[]), &signer()).unwrap();
        assert_eq!(decoded.header.version, "4.1");
        assert_eq!(decoded.header.parent, None);
        assert_eq!(decoded.header.thread, None);
        decoded.header.check_version().unwrap();
    }

    #[test]
    fn missing_delimiter() {
        let mut frames = encode(&message(), &signer());
        frames.remove(0);
        assert_eq!(decode(frames, &signer()), Err(ProtocolError::MissingDelimiter));
        assert_eq!(decode(vec![], &signer()), Err(ProtocolError::MissingDelimiter));
    }

    #[test]
    fn missing_frames() {
        let frames = encode(&message(), &signer());
        for keep in 1..4 {
            assert_eq!(
                decode(frames[..keep].to_vec(), &signer()),
                Err(ProtocolError::MissingFrames { found: keep - 1 })
            );
        }
        let with_ids = vec![
            Bytes::from_static(b"id"),
            Bytes::from_static(DELIMITER),
            Bytes::from_static(b"sig"),
        ];
        assert_eq!(
            decode(with_ids, &signer()),
            Err(ProtocolError::MissingFrames { found: 1 })
        );
    }

    #[test]
    fn oversized_header() {
        let header = vec![0xc0; MAX_HEADER_LEN + 1];
        assert_eq!(
            decode(signed(&header, b"\x80", &[]), &signer()),
            Err(ProtocolError::HeaderTooLarge {
                len: MAX_HEADER_LEN + 1,
                max: MAX_HEADER_LEN
            })
        );
    }

    #[test]
    fn size_limits_apply_before_the_signature() {
        let limits = Limits {
            header: 16,
            content: 8,
            buffers: 2,
        };
        let mut frames = signed(&[0; 4], &[0; 4], &[b"", b"", b""]);
        frames[1] = Bytes::from_static(b"bogus");
        assert_eq!(
            decode_with_limits(frames, &signer(), &limits).map(|_| ()),
            Err(ProtocolError::TooManyBuffers { count: 3, max: 2 })
        );
        let mut frames = signed(&[0; 17], &[0; 4], &[]);
        frames[1] = Bytes::from_static(b"bogus");
        assert_eq!(
            decode_with_limits(frames, &signer(), &limits).map(|_| ()),
            Err(ProtocolError::HeaderTooLarge { len: 17, max: 16 })
        );
        let frames = signed(&[0; 16], &[0; 9], &[]);
        assert_eq!(
            decode_with_limits(frames, &signer(), &limits).map(|_| ()),
            Err(ProtocolError::ContentTooLarge { len: 9, max: 8 })
        );
        // At the limits the frames get as far as parsing.
        let frames = signed(&[0xc0; 16], &[0; 8], &[]);
        assert!(matches!(
            decode_with_limits(frames, &signer(), &limits),
            Err(ProtocolError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn unsigned_message_is_rejected() {
        let mut frames = encode(&message(), &signer());
        frames[1].clear();
        assert_eq!(decode(frames, &signer()), Err(ProtocolError::MissingSignature));
    }

    #[test]
    fn malformed_signature_is_rejected() {
        let mut frames = encode(&message(), &signer());
        edit(&mut frames[1], |sig| sig[0] = b'x');
        assert_eq!(
            decode(frames.clone(), &signer()),
            Err(ProtocolError::MalformedSignature)
        );
        edit(&mut frames[1], |sig| {
            sig.pop();
        });
        assert_eq!(decode(frames, &signer()), Err(ProtocolError::MalformedSignature));
    }

    #[test]
    fn tampering_is_detected() {
        let mut message = message();
        message.buffers = vec![Bytes::from_static(b"buffer one"), Bytes::from_static(b"buffer two")];
        let frames = encode(&message, &signer());

        let tamper = |frames: &mut Vec<Bytes>| decode(frames.clone(), &signer());
        for index in 1..frames.len() {
            let mut changed = frames.clone();
            edit(&mut changed[index], |frame| {
                let last = frame.len() - 1;
                frame[last] ^= if index == 1 { 0x01 } else { 0x20 };
                if index == 1 && !frame[last].is_ascii_hexdigit() {
                    frame[last] = if frame[last] == b'0' { b'1' } else { b'0' };
                }
            });
            assert_eq!(tamper(&mut changed), Err(ProtocolError::BadSignature), "frame {index}");
        }

        let mut extra_buffer = frames.clone();
        extra_buffer.push(Bytes::from_static(b"more"));
        assert_eq!(tamper(&mut extra_buffer), Err(ProtocolError::BadSignature));

        let mut dropped_buffer = frames.clone();
        dropped_buffer.pop();
        assert_eq!(tamper(&mut dropped_buffer), Err(ProtocolError::BadSignature));

        let mut moved_bytes = frames.clone();
        let mut byte = 0;
        edit(&mut moved_bytes[4], |frame| byte = frame.pop().unwrap());
        edit(&mut moved_bytes[5], |frame| frame.insert(0, byte));
        assert_eq!(tamper(&mut moved_bytes), Err(ProtocolError::BadSignature));

        let mut swapped = frames.clone();
        swapped.swap(4, 5);
        assert_eq!(tamper(&mut swapped), Err(ProtocolError::BadSignature));

        // Identities are not signed: changing them is allowed.
        let mut routed = frames.clone();
        routed.insert(0, Bytes::from_static(b"new route"));
        assert_eq!(decode(routed, &signer()).unwrap(), message);
    }

    #[test]
    fn wrong_key_is_rejected() {
        let frames = encode(&message(), &signer());
        let other = Signer::new(b"another key", Direction::ToDebuggee).unwrap();
        assert_eq!(decode(frames, &other), Err(ProtocolError::BadSignature));
    }

    #[test]
    fn invalid_header() {
        let content = msgpack(&Value::Map(vec![]));
        let not_msgpack = b"\xc1";
        let not_a_map = msgpack(&Value::from("header"));
        let missing_field = msgpack(&Value::Map(vec![("msg_id".into(), "x".into())]));
        let wrong_type = msgpack(&Value::Map(vec![
            ("msg_id".into(), 1.into()),
            ("session".into(), "s".into()),
            ("msg_type".into(), "t".into()),
            ("version".into(), "2.0".into()),
            ("date".into(), "d".into()),
        ]));
        let mut trailing = header_bytes();
        trailing.push(0xc0);
        let truncated = &header_bytes()[..10];
        for (name, header) in [
            ("not msgpack", &not_msgpack[..]),
            ("empty", b""),
            ("not a map", &not_a_map),
            ("missing field", &missing_field),
            ("wrong type", &wrong_type),
            ("trailing", &trailing),
            ("truncated", truncated),
        ] {
            let result = decode(signed(header, &content, &[]), &signer());
            assert!(
                matches!(result, Err(ProtocolError::InvalidHeader { .. })),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn invalid_content() {
        let header = header_bytes();
        let mut trailing = msgpack(&Value::Map(vec![]));
        trailing.push(0x01);
        let truncated = &msgpack(&Value::Map(vec![("k".into(), "value".into())]))[..4];
        for (name, content) in [
            ("cut-off string", &b"\xd9"[..]),
            ("empty", b""),
            ("trailing", &trailing),
            ("truncated", truncated),
            ("huge length, no data", b"\xdf\xff\xff\xff\xff"),
        ] {
            let result = decode(signed(&header, content, &[]), &signer());
            assert!(
                matches!(result, Err(ProtocolError::InvalidContent { .. })),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn content_must_be_a_map() {
        let header = header_bytes();
        let array = msgpack(&Value::Array(vec![1.into()]));
        assert_eq!(
            decode(signed(&header, &array, &[]), &signer()),
            Err(ProtocolError::ContentNotMap { found: "array" })
        );
        let nil = msgpack(&Value::Nil);
        assert_eq!(
            decode(signed(&header, &nil, &[]), &signer()),
            Err(ProtocolError::ContentNotMap { found: "nil" })
        );
    }

    /// A map nested `levels` deep: `{"k": {"k": … {"k": "leaf"}}}`.
    fn nested(levels: usize) -> Value {
        let mut value = Value::from("leaf");
        for _ in 0..levels {
            value = Value::Map(vec![("k".into(), value)]);
        }
        value
    }

    #[test]
    fn nesting_limit() {
        let header = header_bytes();
        let ok = msgpack(&nested(MAX_CONTENT_NESTING));
        assert!(decode(signed(&header, &ok, &[]), &signer()).is_ok());
        let too_deep = msgpack(&nested(MAX_CONTENT_NESTING + 2));
        assert!(matches!(
            decode(signed(&header, &too_deep, &[]), &signer()),
            Err(ProtocolError::InvalidContent { .. })
        ));
        // Far too deep for the stack if it were parsed recursively without a limit.
        let mut bomb = vec![0x91; 1_000_000]; // fixarray of one, a million times
        bomb.insert(0, 0x81); // a map of one …
        bomb.insert(1, 0xa1); // … whose key is "k"
        bomb.insert(2, b'k');
        assert!(matches!(
            decode(signed(&header, &bomb, &[]), &signer()),
            Err(ProtocolError::InvalidContent { .. })
        ));
    }

    #[test]
    fn delimiter_is_found_after_any_number_of_identities() {
        let message = message();
        let ids: Vec<Vec<u8>> = (0..10).map(|i| vec![i; i as usize]).collect();
        let frames = encode_with_identities(&ids, &message, &signer());
        let (got, decoded) = decode_with_identities(frames, &signer()).unwrap();
        assert_eq!(got, ids);
        assert_eq!(decoded, message);
    }

    /// Buffers are shared, not copied: the buffer frame that `encode` makes
    /// points at the message's memory, and so does the buffer that `decode`
    /// makes of that frame.
    #[test]
    fn buffers_are_not_copied() {
        let mut message = message();
        // Memory with an owner, as the server wraps a Python buffer.
        let buffer = Bytes::from_owner(vec![0x5a_u8; 1024 * 1024]);
        let data = buffer.as_ptr();
        message.buffers = vec![buffer];

        let frames = encode_with_identities(&[b"client"], &message, &signer());
        assert_eq!(frames.len(), 1 + 4 + 1);
        assert_eq!(frames[5].as_ptr(), data);
        assert_eq!(frames[5].len(), 1024 * 1024);

        let (_, decoded) = decode_with_identities(frames, &signer()).unwrap();
        assert_eq!(decoded.buffers.len(), 1);
        assert_eq!(decoded.buffers[0].as_ptr(), data);
        assert_eq!(decoded, message);

        // The same through plain `encode` and `decode`.
        let decoded = decode(encode(&message, &signer()), &signer()).unwrap();
        assert_eq!(decoded.buffers[0].as_ptr(), data);
    }
}
