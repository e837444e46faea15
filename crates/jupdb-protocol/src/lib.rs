//! The jupdb wire protocol: messages, signing, framing and connection files.
//!
//! A debuggee and its clients exchange ZeroMQ multipart messages:
//!
//! ```text
//! [identity…] <IDS|MSG> signature header content [buffer…]
//! ```
//!
//! - [`message`]: a [`Message`] is a [`Header`], a MessagePack content map and
//!   raw buffers; [`PROTOCOL_VERSION`] and the version rule.
//! - [`signing`]: [`Signer`], keyed BLAKE3 with a key per direction: the
//!   header, content and buffer lengths first, the buffers' bytes last.
//! - [`replay`]: [`ReplayGuard`], the debuggee's refusal of stale and replayed
//!   requests.
//! - [`framing`]: [`encode`] and [`decode`] between messages and frames.
//! - [`connection`]: [`ConnectionInfo`] and the connection files through
//!   which clients find debuggees.
//!
//! Frames and buffers are [`Bytes`] (re-exported from the `bytes` crate), so
//! that large buffers go from a message to the socket and back without being
//! copied.
//!
//! This crate does no network I/O and knows nothing of Python; the full
//! specification is `docs/protocol.md`.
//!
//! ```
//! use jupdb_protocol::{decode, encode, new_key, Message, Signers};
//! use jupdb_protocol::Value;
//!
//! let key = new_key()?;
//! let (client, debuggee) = (Signers::client(&key)?, Signers::debuggee(&key)?);
//! let request = Message::new(
//!     "eval_request",
//!     "client-session",
//!     Value::Map(vec![("code".into(), "x + 1".into())]),
//! );
//! let frames = encode(&request, &client.outgoing);
//! assert_eq!(decode(frames, &debuggee.incoming)?, request);
//! # Ok::<(), jupdb_protocol::ProtocolError>(())
//! ```

#![warn(missing_docs)]

pub mod connection;
pub mod error;
pub mod framing;
mod hex;
pub mod message;
mod parallel;
pub mod private_dir;
pub mod random;
pub mod replay;
pub mod signing;
pub mod time;

pub use bytes::Bytes;
pub use connection::{
    list_connection_files, list_connection_files_in, prepare_runtime_dir, process_alive, read_connection_file,
    runtime_dir, write_connection_file, write_connection_file_in, ConnectionFile, ConnectionInfo, Listing, Location,
    RuntimeDir, Transport,
};
pub use error::{ConnectionFileError, ProtocolError};
pub use framing::{
    decode, decode_with_identities, encode, encode_with_identities, DELIMITER, MAX_BUFFERS, MAX_CONTENT_LEN,
    MAX_CONTENT_NESTING, MAX_HEADER_LEN, MAX_REQUEST_LEN,
};
pub use message::{error_content, reply_type, to_content, Header, Message, PROTOCOL_VERSION};
pub use private_dir::PrivateDir;
pub use random::{new_id, new_key, KEY_LEN};
pub use replay::{ReplayGuard, DATE_WINDOW, REPLAY_WINDOW};
pub use rmpv::Value;
pub use signing::{Direction, Signer, Signers, SIGNATURE_SCHEME};
pub use time::{now_rfc3339, parse_rfc3339};
