//! Errors of this crate: one enum for the wire ([`ProtocolError`]) and one for
//! connection files ([`ConnectionFileError`]).
//!
//! Both are `#[non_exhaustive]` so that variants can be added in a minor release.
//! Wire errors carry their reasons as text rather than as the error types of
//! the MessagePack libraries, so that this crate's public API does not depend on
//! their versions.

use std::io;
use std::path::PathBuf;

/// Why a message could not be encoded, decoded, signed or verified.
///
/// A server drops a message that fails to decode (and counts it); it never runs
/// it. Only [`ProtocolError::IncompatibleVersion`] is answered, with an error
/// reply, because that message was authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// No `<IDS|MSG>` delimiter frame was found.
    #[error("no <IDS|MSG> delimiter frame in the message")]
    MissingDelimiter,

    /// Fewer than the three frames (signature, header, content) that must follow
    /// the delimiter.
    #[error("{found} frame(s) after the delimiter; signature, header and content are required")]
    MissingFrames {
        /// How many frames followed the delimiter.
        found: usize,
    },

    /// The header frame is larger than [`MAX_HEADER_LEN`](crate::MAX_HEADER_LEN).
    #[error("header frame is {len} bytes, more than the limit of {max}")]
    HeaderTooLarge {
        /// Size of the header frame.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The content frame is larger than [`MAX_CONTENT_LEN`](crate::MAX_CONTENT_LEN).
    #[error("content frame is {len} bytes, more than the limit of {max}")]
    ContentTooLarge {
        /// Size of the content frame.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// More buffer frames than [`MAX_BUFFERS`](crate::MAX_BUFFERS).
    #[error("{count} buffer frames, more than the limit of {max}")]
    TooManyBuffers {
        /// How many buffer frames the message has.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// The signature frame is empty: the message is unsigned.
    #[error("message is not signed")]
    MissingSignature,

    /// The signature frame is not 128 lower-case hexadecimal digits.
    #[error("signature frame is not 128 lower-case hexadecimal digits")]
    MalformedSignature,

    /// The signature does not match the frames: they were tampered with, or
    /// signed with another key.
    #[error("signature does not match the message")]
    BadSignature,

    /// The header frame is not a MessagePack map with the required fields.
    #[error("invalid header: {reason}")]
    InvalidHeader {
        /// What is wrong with it.
        reason: String,
    },

    /// The content frame is not a single well-formed MessagePack value.
    #[error("invalid content: {reason}")]
    InvalidContent {
        /// What is wrong with it.
        reason: String,
    },

    /// The content is well-formed MessagePack but not a map.
    #[error("content must be a MessagePack map, found {found}")]
    ContentNotMap {
        /// The kind of value found instead (`"array"`, `"string"`, ...).
        found: &'static str,
    },

    /// A message's content could not be converted to or from a Rust type.
    #[error("content does not match the expected type: {reason}")]
    ContentType {
        /// The serde error.
        reason: String,
    },

    /// The peer speaks another major version of the protocol.
    #[error("protocol version {theirs} is not compatible with {ours}")]
    IncompatibleVersion {
        /// This crate's [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
        ours: String,
        /// The version in the peer's header.
        theirs: String,
    },

    /// A signing key of zero bytes was given.
    #[error("the signing key is empty")]
    EmptyKey,

    /// A key given as hex text could not be decoded.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },

    /// The connection file names a signature scheme other than
    /// [`SIGNATURE_SCHEME`](crate::SIGNATURE_SCHEME).
    #[error(
        "unsupported signature scheme {0:?}: this jupdb speaks only {scheme:?}; \
         the debuggee runs another version of jupdb",
        scheme = crate::SIGNATURE_SCHEME
    )]
    UnsupportedScheme(String),

    /// An authentic request whose `date` is outside the accepted window
    /// ([`DATE_WINDOW`](crate::DATE_WINDOW)) or cannot be read.
    #[error("request dated {date:?} is outside the accepted window of {window_secs} s either way")]
    Stale {
        /// The header's `date`.
        date: String,
        /// The window, in seconds.
        window_secs: u64,
    },

    /// An authentic request without the `seq` number that replay detection needs.
    #[error("request has no seq number")]
    MissingSequence,

    /// An authentic request seen before (a replay), or too far behind its
    /// session's newest to tell.
    #[error("request {seq} of session {session:?} was seen already or is too old")]
    Replayed {
        /// The header's `session`.
        session: String,
        /// The header's `seq`.
        seq: u64,
    },

    /// The operating system's random number generator failed.
    #[error("no random numbers available: {reason}")]
    RandomUnavailable {
        /// The error from the OS.
        reason: String,
    },
}

/// Why a connection file or the runtime directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionFileError {
    /// Neither `JUPDB_RUNTIME_DIR`, `XDG_RUNTIME_DIR`, `XDG_DATA_HOME` nor `HOME`
    /// is set, so there is no runtime directory.
    #[error("no runtime directory: set JUPDB_RUNTIME_DIR or HOME")]
    NoRuntimeDir,

    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A runtime directory or connection file that is not this user's alone
    /// (a link, another user's, readable or writable by others): not used.
    #[error("{}: {reason}", path.display())]
    Insecure {
        /// The directory or file.
        path: PathBuf,
        /// Why it is not trusted.
        reason: String,
    },

    /// Neither the runtime directory nor a private one in the temporary
    /// directory could be used.
    #[error("{refused}; and no private directory instead: {fallback}")]
    NoPrivateDir {
        /// Why the runtime directory was not used.
        refused: Box<ConnectionFileError>,
        /// Why no private directory could be made.
        fallback: Box<ConnectionFileError>,
    },

    /// The file is not a valid connection file (bad JSON, missing fields, too large).
    #[error("{}: not a valid connection file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A random name or key could not be made.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl ConnectionFileError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
