//! Messages: a [`Header`], a content map and raw buffers.
//!
//! The header and the content each travel as one MessagePack frame (see
//! [`framing`](crate::framing)). The header is a map with named fields, so any
//! language's MessagePack library can read it; the content is an arbitrary
//! MessagePack map, held here as an [`rmpv::Value`] so that a receiver can look
//! at a message before deciding what type it is. [`Message::parse_content`] and
//! [`to_content`] convert between content and Rust types with serde. Buffers
//! are [`Bytes`], so that large ones are shared rather than copied.

use bytes::Bytes;
use rmpv::Value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::random::new_id;
use crate::time::now_rfc3339;

/// The protocol version this crate speaks, `"MAJOR.MINOR"`.
///
/// Peers with the same major version understand each other: a minor version
/// only adds optional fields and new message types, which receivers ignore or
/// answer with an error reply. A request of another major version is answered
/// with an error reply (`ename` `"VersionMismatch"`) and not run.
pub const PROTOCOL_VERSION: &str = "4.2";

/// The header frame of every message.
///
/// Unknown fields are ignored when reading, so that later minor versions can
/// add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Unique id of this message (a UUID in text form, by convention).
    pub msg_id: String,
    /// Id of the sending session; a client keeps one for its lifetime.
    pub session: String,
    /// What the message is: `"eval_request"`, `"eval_reply"`, `"paused"`, ...
    pub msg_type: String,
    /// Protocol version of the sender, `"MAJOR.MINOR"`.
    pub version: String,
    /// When the message was made: RFC 3339 in UTC with microseconds,
    /// e.g. `"2025-11-23T09:12:00.123456Z"`.
    pub date: String,
    /// For a reply: the `msg_id` of the request it answers. For an event
    /// caused by a request (the `resumed` after a `continue`): that request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The debuggee thread a request is for (Python's `threading.get_ident()`),
    /// or the thread an event or reply is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<u64>,
    /// A request's number within its client session (`session`), increasing
    /// from message to message: the debuggee refuses a number it has seen
    /// (see [`replay`](crate::replay)). Required in requests; replies and
    /// events leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl Header {
    /// A header for a new message of `msg_type` from `session`, with a fresh
    /// `msg_id`, the current date and this crate's version.
    pub fn new(msg_type: impl Into<String>, session: impl Into<String>) -> Self {
        Self {
            msg_id: new_id(),
            session: session.into(),
            msg_type: msg_type.into(),
            version: PROTOCOL_VERSION.to_owned(),
            date: now_rfc3339(),
            parent: None,
            thread: None,
            seq: None,
        }
    }

    /// Checks that the sender speaks a compatible protocol: the same major
    /// version as [`PROTOCOL_VERSION`]. A version that cannot be read is
    /// incompatible.
    pub fn check_version(&self) -> Result<(), ProtocolError> {
        if major(&self.version).is_some() && major(&self.version) == major(PROTOCOL_VERSION) {
            Ok(())
        } else {
            Err(ProtocolError::IncompatibleVersion {
                ours: PROTOCOL_VERSION.to_owned(),
                theirs: self.version.clone(),
            })
        }
    }
}

/// The major number of a `"MAJOR.MINOR"` version.
fn major(version: &str) -> Option<u64> {
    let (major, minor) = version.split_once('.')?;
    minor.parse::<u64>().ok()?;
    major.parse().ok()
}

/// One message: header, content and zero or more raw buffers.
///
/// Routing identities are not part of a message; see
/// [`decode_with_identities`](crate::decode_with_identities).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The content: a MessagePack map. [`decode`](crate::decode) rejects
    /// anything else; [`encode`](crate::encode) sends what it is given.
    pub content: Value,
    /// Raw frames after the content, e.g. pickle protocol 5 out-of-band buffers.
    ///
    /// [`encode`](crate::encode) sends clones of these (sharing the memory) and
    /// [`decode`](crate::decode) moves the received frames here, so a buffer's
    /// data is never copied by this crate. Wrap memory owned elsewhere (a
    /// Python buffer) with [`Bytes::from_owner`]; a `Vec<u8>` converts with
    /// `.into()`.
    pub buffers: Vec<Bytes>,
}

impl Message {
    /// A new message of `msg_type` from `session` with `content` and no buffers.
    pub fn new(msg_type: impl Into<String>, session: impl Into<String>, content: Value) -> Self {
        Self {
            header: Header::new(msg_type, session),
            content,
            buffers: Vec::new(),
        }
    }

    /// The same message for `thread`.
    #[must_use]
    pub fn for_thread(mut self, thread: u64) -> Self {
        self.header.thread = Some(thread);
        self
    }

    /// A reply to this request, from `session`: its type is the request's with
    /// `_request` replaced by `_reply` (`"eval_request"` → `"eval_reply"`;
    /// `"_reply"` is appended to a type without that suffix), its `parent` is
    /// the request's `msg_id` and its `thread` the request's.
    pub fn reply(&self, session: impl Into<String>, content: Value) -> Self {
        let mut header = Header::new(reply_type(&self.header.msg_type), session);
        header.parent = Some(self.header.msg_id.clone());
        header.thread = self.header.thread;
        Self {
            header,
            content,
            buffers: Vec::new(),
        }
    }

    /// An error reply to this request (see [`error_content`]).
    pub fn error_reply(&self, session: impl Into<String>, ename: &str, evalue: &str, traceback: &str) -> Self {
        self.reply(session, error_content(ename, evalue, traceback))
    }

    /// The content converted to a Rust type with serde. Fields are matched by
    /// name; unknown ones are ignored unless the type forbids them.
    pub fn parse_content<T: DeserializeOwned>(&self) -> Result<T, ProtocolError> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &self.content).expect("writing MessagePack to a Vec cannot fail");
        rmp_serde::from_slice(&bytes).map_err(|err| ProtocolError::ContentType {
            reason: err.to_string(),
        })
    }
}

/// The type of the reply to a request of type `request`.
pub fn reply_type(request: &str) -> String {
    let stem = request.strip_suffix("_request").unwrap_or(request);
    format!("{stem}_reply")
}

/// Content for a Rust value: structs become maps with named fields. Fails if
/// the value does not serialize to a map.
///
/// As with any serde format, a `Vec<u8>` field becomes an array of integers;
/// mark it `#[serde(with = "serde_bytes")]` to send MessagePack `bin`.
pub fn to_content<T: Serialize + ?Sized>(value: &T) -> Result<Value, ProtocolError> {
    let bytes = rmp_serde::to_vec_named(value).map_err(|err| ProtocolError::ContentType {
        reason: err.to_string(),
    })?;
    let content = rmpv::decode::read_value(&mut bytes.as_slice()).map_err(|err| ProtocolError::ContentType {
        reason: err.to_string(),
    })?;
    ensure_map(&content)?;
    Ok(content)
}

/// The content of an error reply: `{"status": "error", "ename": ..., "evalue":
/// ..., "traceback": ...}`, where `traceback` is the formatted text.
pub fn error_content(ename: &str, evalue: &str, traceback: &str) -> Value {
    Value::Map(vec![
        ("status".into(), "error".into()),
        ("ename".into(), ename.into()),
        ("evalue".into(), evalue.into()),
        ("traceback".into(), traceback.into()),
    ])
}

/// `Ok` if `content` is a map, else [`ProtocolError::ContentNotMap`].
pub(crate) fn ensure_map(content: &Value) -> Result<(), ProtocolError> {
    let found = match content {
        Value::Map(_) => return Ok(()),
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) => "integer",
        Value::F32(_) | Value::F64(_) => "float",
        Value::String(_) => "string",
        Value::Binary(_) => "binary",
        Value::Array(_) => "array",
        Value::Ext(..) => "extension",
    };
    Err(ProtocolError::ContentNotMap { found })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_header_is_filled_in() {
        let h = Header::new("eval_request", "s1");
        assert_eq!(h.msg_type, "eval_request");
        assert_eq!(h.session, "s1");
        assert_eq!(h.version, PROTOCOL_VERSION);
        assert_eq!(h.msg_id.len(), 36);
        assert_eq!(h.date.len(), 27);
        assert_eq!((h.parent, h.thread, h.seq), (None, None, None));
        assert_ne!(Header::new("x", "s").msg_id, Header::new("x", "s").msg_id);
    }

    #[test]
    fn version_rule() {
        let mut h = Header::new("status_request", "s");
        for ok in ["4.0", "4.9", "4.12"] {
            h.version = ok.to_owned();
            assert_eq!(h.check_version(), Ok(()), "{ok}");
        }
        for bad in ["3.0", "5.0", "4", "", "four.zero", "4.x", "4.0.0"] {
            h.version = bad.to_owned();
            assert_eq!(
                h.check_version(),
                Err(ProtocolError::IncompatibleVersion {
                    ours: PROTOCOL_VERSION.to_owned(),
                    theirs: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn replies_point_at_their_request() {
        let request = Message::new("eval_request", "client", Value::Map(vec![])).for_thread(7);
        let reply = request.reply("server", Value::Map(vec![]));
        assert_eq!(reply.header.msg_type, "eval_reply");
        assert_eq!(reply.header.parent.as_deref(), Some(request.header.msg_id.as_str()));
        assert_eq!(reply.header.thread, Some(7));
        assert_eq!(reply.header.session, "server");
        assert_ne!(reply.header.msg_id, request.header.msg_id);
        assert_eq!(reply_type("ping"), "ping_reply");
    }

    #[test]
    fn error_replies() {
        let request = Message::new("eval_request", "client", Value::Map(vec![]));
        let reply = request.error_reply("server", "NameError", "name 'x' is not defined", "Traceback ...");
        assert_eq!(reply.header.msg_type, "eval_reply");
        #[derive(Deserialize)]
        struct Error {
            status: String,
            ename: String,
            evalue: String,
            traceback: String,
        }
        let e: Error = reply.parse_content().unwrap();
        assert_eq!(e.status, "error");
        assert_eq!(e.ename, "NameError");
        assert_eq!(e.evalue, "name 'x' is not defined");
        assert_eq!(e.traceback, "Traceback ...");
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Eval {
        code: String,
        frame: Option<u32>,
    }

    #[test]
    fn typed_content_round_trip() {
        let eval = Eval {
            code: "x + 1".into(),
            frame: Some(2),
        };
        let content = to_content(&eval).unwrap();
        // Named fields: a map keyed by field name, readable from any language.
        let Value::Map(entries) = &content else {
            panic!("not a map: {content}")
        };
        assert_eq!(entries[0].0.as_str(), Some("code"));
        let msg = Message::new("eval_request", "s", content);
        assert_eq!(msg.parse_content::<Eval>().unwrap(), eval);
    }

    #[test]
    fn typed_content_errors() {
        assert_eq!(
            to_content(&[1, 2, 3]),
            Err(ProtocolError::ContentNotMap { found: "array" })
        );
        let msg = Message::new("eval_request", "s", Value::Map(vec![("frame".into(), 1.into())]));
        assert!(matches!(
            msg.parse_content::<Eval>(),
            Err(ProtocolError::ContentType { .. })
        ));
    }

    #[test]
    fn ensure_map_names_what_it_found() {
        assert_eq!(ensure_map(&Value::Map(vec![])), Ok(()));
        for (value, name) in [
            (Value::Nil, "nil"),
            (Value::Boolean(true), "boolean"),
            (Value::from(1), "integer"),
            (Value::F32(1.0), "float"),
            (Value::F64(1.0), "float"),
            (Value::from("s"), "string"),
            (Value::Binary(vec![1]), "binary"),
            (Value::Array(vec![]), "array"),
            (Value::Ext(1, vec![]), "extension"),
        ] {
            assert_eq!(ensure_map(&value), Err(ProtocolError::ContentNotMap { found: name }));
        }
    }
}
