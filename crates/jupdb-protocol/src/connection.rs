//! Connection files: how a client finds a debuggee and gets its key.
//!
//! A debuggee writes one JSON file, `jupdb-<pid>-<session_id>.json`, into the
//! runtime directory, and rewrites it when its state changes. The key in it
//! runs code in the debuggee, so the directory and the files are this user's
//! alone, checked through file descriptors ([`PrivateDir`]): the directory is
//! a real directory (not a link) owned by the user with mode 0700 (no bits for
//! group or others); a file is created with `O_EXCL | O_NOFOLLOW` and mode
//! 0600, written, synced, then renamed over the old one; a client reads only
//! regular files, not links, owned by the user with mode 0600.
//!
//! # The runtime directory
//!
//! Beside Jupyter's, as the first of these that applies:
//!
//! 1. `$JUPDB_RUNTIME_DIR`, if set and not empty;
//! 2. `$XDG_RUNTIME_DIR/jupdb`, if `XDG_RUNTIME_DIR` is an absolute path;
//! 3. `$XDG_DATA_HOME/jupdb/runtime`, if `XDG_DATA_HOME` is an absolute path;
//! 4. `$HOME/.local/share/jupdb/runtime` (on macOS too).
//!
//! Files are written to the first ([`prepare_runtime_dir`]), created with mode
//! 0700 if missing. One that exists and is not the user's alone (shared like a
//! sticky 1777 directory, another user's, a link, mode 0755) is refused, never
//! used nor changed: the debuggee makes a private directory
//! `$TMPDIR/jupdb-<uid>-<random>` instead and says why.
//!
//! Unless `JUPDB_RUNTIME_DIR` is set, [`list_connection_files`] looks both in 2
//! (when it applies) and in 3 or 4, so that a client finds a debuggee started
//! from an environment without `XDG_RUNTIME_DIR` (cron, a container, `sudo`),
//! and the other way round; it always looks in the private fallback
//! directories too, and reports what it passed over and why.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ConnectionFileError, ProtocolError};
use crate::hex;
use crate::private_dir::{read_private_file, PrivateDir};
use crate::random::new_id;
use crate::signing::{Signers, SIGNATURE_SCHEME};
use crate::time::now_rfc3339;

/// Largest connection file that is read, in bytes.
pub const MAX_CONNECTION_FILE_LEN: u64 = 1024 * 1024;

/// The `state` of a debuggee that runs.
pub const STATE_RUNNING: &str = "running";
/// The `state` of a debuggee with at least one paused thread.
pub const STATE_PAUSED: &str = "paused";

const FILE_PREFIX: &str = "jupdb-";
const FILE_SUFFIX: &str = ".json";

/// How the sockets are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP: `tcp://<ip>:<port>`.
    Tcp,
    /// Unix domain sockets: `ipc://<ip>-<port>`, where `ip` is a path prefix
    /// (Jupyter's convention).
    Ipc,
}

/// Where a paused debuggee stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Source file path.
    pub file: String,
    /// Line number, from 1.
    pub line: u32,
    /// Function (code object) name.
    pub function: String,
}

/// The content of a connection file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// `"tcp"` or `"ipc"`.
    pub transport: Transport,
    /// Address the sockets listen on (`"127.0.0.1"` by default), or the path
    /// prefix for `ipc`.
    pub ip: String,
    /// Port of the ROUTER socket that takes requests (and sends replies, and
    /// events to the clients that subscribed).
    pub request_port: u16,
    /// The session key as hex text; the signing keys are derived from the decoded bytes.
    pub key: String,
    /// [`SIGNATURE_SCHEME`]; clients refuse any other.
    pub signature_scheme: String,
    /// Process id of the debuggee.
    pub pid: u32,
    /// The debuggee's command line (Python's `sys.argv`).
    pub argv: Vec<String>,
    /// The debuggee's Python version, e.g. `"3.12.1"`.
    pub python_version: String,
    /// The debuggee's session id, as in its messages' headers.
    pub session_id: String,
    /// When the session started: RFC 3339 UTC with microseconds.
    pub created: String,
    /// [`STATE_RUNNING`], [`STATE_PAUSED`], or a state a later version adds.
    pub state: String,
    /// Where the debuggee is paused, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl ConnectionInfo {
    /// Connection information for this process: TCP on 127.0.0.1, a new
    /// session id, created now, running, with this process's id and
    /// command line. Set `argv` and `python_version` from Python.
    pub fn new(key: &[u8], request_port: u16) -> Self {
        Self {
            transport: Transport::Tcp,
            ip: "127.0.0.1".to_owned(),
            request_port,
            key: hex::encode(key),
            signature_scheme: SIGNATURE_SCHEME.to_owned(),
            pid: std::process::id(),
            argv: std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            python_version: String::new(),
            session_id: new_id(),
            created: now_rfc3339(),
            state: STATE_RUNNING.to_owned(),
            location: None,
        }
    }

    /// A client's signers for this session's key. Fails on another signature
    /// scheme or a key that is not hex.
    pub fn client_signers(&self) -> Result<Signers, ProtocolError> {
        if self.signature_scheme != SIGNATURE_SCHEME {
            return Err(ProtocolError::UnsupportedScheme(self.signature_scheme.clone()));
        }
        Signers::client_from_hex(&self.key)
    }

    /// The ZeroMQ endpoint of the request (ROUTER) socket.
    pub fn request_endpoint(&self) -> String {
        self.endpoint(self.request_port)
    }

    fn endpoint(&self, port: u16) -> String {
        match self.transport {
            Transport::Tcp if self.ip.contains(':') => format!("tcp://[{}]:{port}", self.ip),
            Transport::Tcp => format!("tcp://{}:{port}", self.ip),
            Transport::Ipc => format!("ipc://{}-{port}", self.ip),
        }
    }

    /// The file name: `jupdb-<pid>-<session_id>.json`, with characters other
    /// than ASCII letters, digits, `-` and `_` in the session id replaced by
    /// `_`, and the id cut to 64 characters.
    pub fn file_name(&self) -> String {
        let session: String = self
            .session_id
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{FILE_PREFIX}{}-{session}{FILE_SUFFIX}", self.pid)
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("transport", &self.transport)
            .field("ip", &self.ip)
            .field("request_port", &self.request_port)
            .field("key", &"<secret>")
            .field("signature_scheme", &self.signature_scheme)
            .field("pid", &self.pid)
            .field("argv", &self.argv)
            .field("python_version", &self.python_version)
            .field("session_id", &self.session_id)
            .field("created", &self.created)
            .field("state", &self.state)
            .field("location", &self.location)
            .finish()
    }
}

/// A connection file found by [`list_connection_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionFile {
    /// Where it is.
    pub path: PathBuf,
    /// What it says.
    pub info: ConnectionInfo,
}

/// The runtime directory where connection files are written (see the
/// [module documentation](self)). It is only a name: [`prepare_runtime_dir`]
/// checks it.
pub fn runtime_dir() -> Result<PathBuf, ConnectionFileError> {
    runtime_dirs_from(|name| std::env::var_os(name))
        .into_iter()
        .next()
        .ok_or(ConnectionFileError::NoRuntimeDir)
}

/// The directories to look in, the one to write to first.
fn runtime_dirs_from(var: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    let absolute = |name: &str| set(name).filter(|path| path.is_absolute());
    if let Some(dir) = set("JUPDB_RUNTIME_DIR") {
        return vec![dir];
    }
    let data_home = absolute("XDG_DATA_HOME").or_else(|| set("HOME").map(|home| home.join(".local").join("share")));
    absolute("XDG_RUNTIME_DIR")
        .map(|dir| dir.join("jupdb"))
        .into_iter()
        .chain(data_home.map(|dir| dir.join("jupdb").join("runtime")))
        .collect()
}

/// The prefix of a private fallback directory's name in the system's
/// temporary directory: `jupdb-<uid>-`, then random characters.
fn fallback_prefix() -> String {
    format!("jupdb-{}-", rustix::process::geteuid().as_raw())
}

/// The directory a debuggee writes its connection file to.
#[derive(Debug)]
pub struct RuntimeDir {
    /// The directory, checked to be this user's alone.
    pub dir: PrivateDir,
    /// Why the [`runtime_dir`] was not used, when this is a private fallback
    /// directory instead.
    pub refused: Option<ConnectionFileError>,
}

/// The [`runtime_dir`], created (mode 0700) if missing, if it is this
/// user's alone (see [`PrivateDir`]) and writable; otherwise a new private directory
/// `jupdb-<uid>-<random>` in the system's temporary directory (`$TMPDIR`),
/// where clients look too, with the reason the runtime directory was refused.
pub fn prepare_runtime_dir() -> Result<RuntimeDir, ConnectionFileError> {
    let usable = |dir: PathBuf| {
        let private = PrivateDir::create(&dir)?;
        private.check_writable()?;
        Ok(private)
    };
    let refused = match runtime_dir().and_then(usable) {
        Ok(dir) => return Ok(RuntimeDir { dir, refused: None }),
        Err(err) => err,
    };
    match PrivateDir::create_new_in(&std::env::temp_dir(), &fallback_prefix()) {
        Ok(dir) => Ok(RuntimeDir {
            dir,
            refused: Some(refused),
        }),
        Err(fallback) => Err(ConnectionFileError::NoPrivateDir {
            refused: Box::new(refused),
            fallback: Box::new(fallback),
        }),
    }
}

/// Writes `info` to its file in the [`runtime_dir`], which must be this
/// user's alone (it is created if missing); returns the file's path.
pub fn write_connection_file(info: &ConnectionInfo) -> Result<PathBuf, ConnectionFileError> {
    write_connection_file_in(&runtime_dir()?, info)
}

/// Writes `info` to its file in `dir`, creating `dir` (mode 0700) if needed;
/// `dir` must be this user's alone (see [`PrivateDir`]). Returns the file's
/// path. The file is replaced atomically: a reader sees the old content or the
/// new, never a part.
pub fn write_connection_file_in(dir: &Path, info: &ConnectionInfo) -> Result<PathBuf, ConnectionFileError> {
    let mut json = serde_json::to_vec_pretty(info).expect("a ConnectionInfo always serializes");
    json.push(b'\n');
    PrivateDir::create(dir)?.write(&info.file_name(), &json)
}

/// Reads one connection file. The file (links in its path are followed)
/// must be a regular file owned by this user with mode 0600.
pub fn read_connection_file(path: &Path) -> Result<ConnectionInfo, ConnectionFileError> {
    parse(path, read_private_file(path, MAX_CONNECTION_FILE_LEN)?)
}

fn parse(path: &Path, bytes: Vec<u8>) -> Result<ConnectionInfo, ConnectionFileError> {
    if bytes.len() as u64 > MAX_CONNECTION_FILE_LEN {
        return Err(ConnectionFileError::Malformed {
            path: path.to_owned(),
            reason: format!("larger than {MAX_CONNECTION_FILE_LEN} bytes"),
        });
    }
    serde_json::from_slice(&bytes).map_err(|err| ConnectionFileError::Malformed {
        path: path.to_owned(),
        reason: err.to_string(),
    })
}

/// What [`list_connection_files`] found, and what it did not trust.
#[derive(Debug, Default)]
pub struct Listing {
    /// The connection files of live debuggees, newest first.
    pub files: Vec<ConnectionFile>,
    /// Directories and files passed over, with why (another user's, a link,
    /// a mode that lets others in, not a connection file).
    pub skipped: Vec<ConnectionFileError>,
    /// The directories looked in.
    pub searched: Vec<PathBuf>,
}

/// The connection files of live debuggees, newest first, from every runtime
/// directory (see the [module documentation](self)) and every private
/// fallback directory of this user's in the temporary directory; only from
/// directories and files that are this user's alone ([`PrivateDir`]).
///
/// Files of processes that no longer exist are deleted; directories that do
/// not exist are passed over in silence, everything else not used is in
/// [`Listing::skipped`].
pub fn list_connection_files() -> Result<Listing, ConnectionFileError> {
    let mut dirs = runtime_dirs_from(|name| std::env::var_os(name));
    if dirs.is_empty() {
        return Err(ConnectionFileError::NoRuntimeDir);
    }
    dirs.extend(fallback_dirs(&std::env::temp_dir()));
    let mut listing = Listing::default();
    for dir in dirs {
        match list_connection_files_in(&dir) {
            Ok(found) => {
                listing.files.extend(found.files);
                listing.skipped.extend(found.skipped);
            }
            Err(err) => listing.skipped.push(err),
        }
        listing.searched.push(dir);
    }
    sort_newest_first(&mut listing.files);
    Ok(listing)
}

/// The `jupdb-<uid>-*` directories in `temp`, whoever made them (each is
/// checked when it is listed).
fn fallback_dirs(temp: &Path) -> Vec<PathBuf> {
    let prefix = fallback_prefix();
    let Ok(entries) = fs::read_dir(temp) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| entry.file_name().to_str().is_some_and(|name| name.starts_with(&prefix)))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    dirs
}

/// The connection files of live debuggees in `dir`, newest first, as
/// [`list_connection_files`]. A directory that does not exist has none; one
/// that is not this user's alone is an error.
pub fn list_connection_files_in(dir: &Path) -> Result<Listing, ConnectionFileError> {
    let private = match PrivateDir::open(dir) {
        Ok(private) => private,
        Err(ConnectionFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(Listing::default())
        }
        Err(err) => return Err(err),
    };
    let mut listing = Listing::default();
    for name in private.names()? {
        if !(name.starts_with(FILE_PREFIX) && name.ends_with(FILE_SUFFIX)) {
            continue;
        }
        let path = dir.join(&name);
        let info = match private
            .read(&name, MAX_CONNECTION_FILE_LEN)
            .and_then(|bytes| parse(&path, bytes))
        {
            Ok(info) => info,
            Err(err) => {
                listing.skipped.push(err);
                continue;
            }
        };
        if process_alive(info.pid) {
            listing.files.push(ConnectionFile { path, info });
        } else {
            let _ = private.remove(&name);
        }
    }
    sort_newest_first(&mut listing.files);
    listing.searched.push(dir.to_owned());
    Ok(listing)
}

fn sort_newest_first(files: &mut [ConnectionFile]) {
    files.sort_by(|a, b| (&b.info.created, &b.path).cmp(&(&a.info.created, &a.path)));
}

/// Whether a process with id `pid` exists (a zombie counts). A process of
/// another user counts too.
#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    // 0 and negative ids name process groups, not processes.
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists
    // and that we may signal it.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a process with id `pid` exists. Without a check on this platform,
/// every process is taken to be alive, so no file is deleted.
#[cfg(not(unix))]
pub fn process_alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("jupdb-protocol-test-{}", new_id()));
            fs::create_dir(&path).unwrap();
            #[cfg(unix)]
            set_mode(&path, 0o700);
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn info() -> ConnectionInfo {
        let mut info = ConnectionInfo::new(&[0xab; 32], 5555);
        info.argv = vec!["app.py".into(), "--fast".into()];
        info.python_version = "3.12.1".into();
        info
    }

    /// The pid of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_info_describes_this_process() {
        let info = ConnectionInfo::new(&[1, 2, 255], 1);
        assert_eq!(info.key, "0102ff");
        assert_eq!(info.pid, std::process::id());
        assert_eq!(info.transport, Transport::Tcp);
        assert_eq!(info.ip, "127.0.0.1");
        assert_eq!(info.signature_scheme, SIGNATURE_SCHEME);
        assert_eq!(info.state, STATE_RUNNING);
        assert!(!info.argv.is_empty());
    }

    #[test]
    fn json_field_names() {
        let mut info = info();
        info.location = Some(Location {
            file: "app.py".into(),
            line: 12,
            function: "main".into(),
        });
        let json: serde_json::Value = serde_json::to_value(&info).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "argv",
                "created",
                "ip",
                "key",
                "location",
                "pid",
                "python_version",
                "request_port",
                "session_id",
                "signature_scheme",
                "state",
                "transport"
            ]
        );
        assert_eq!(json["transport"], "tcp");
        assert_eq!(json["location"]["line"], 12);
        // No location: the field is left out, and reading it back gives None.
        info.location = None;
        let text = serde_json::to_string(&info).unwrap();
        assert!(!text.contains("location"));
        assert_eq!(serde_json::from_str::<ConnectionInfo>(&text).unwrap(), info);
    }

    #[test]
    fn debug_hides_key() {
        let text = format!("{:?}", info());
        assert!(!text.contains("abab"), "{text}");
        assert!(text.contains("<secret>"));
    }

    #[test]
    fn signer_from_info() {
        let mut info = info();
        let client = info.client_signers().unwrap();
        let sig = Signers::debuggee(&[0xab; 32])
            .unwrap()
            .outgoing
            .sign::<&[u8]>(b"h", b"c", &[]);
        client
            .incoming
            .verify::<&[u8]>(sig.as_bytes(), b"h", b"c", &[])
            .unwrap();

        info.key = "not hex".into();
        assert!(matches!(info.client_signers(), Err(ProtocolError::InvalidKey { .. })));
        // The scheme of protocol 3 and earlier is refused by name.
        info.signature_scheme = "hmac-sha256".into();
        let err = info.client_signers().unwrap_err();
        assert_eq!(err, ProtocolError::UnsupportedScheme("hmac-sha256".into()));
        assert!(err.to_string().contains(SIGNATURE_SCHEME), "{err}");
    }

    #[test]
    fn endpoints() {
        let mut info = info();
        assert_eq!(info.request_endpoint(), "tcp://127.0.0.1:5555");
        info.ip = "::1".into();
        assert_eq!(info.request_endpoint(), "tcp://[::1]:5555");
        info.transport = Transport::Ipc;
        info.ip = "/run/user/1000/jupdb/s1".into();
        assert_eq!(info.request_endpoint(), "ipc:///run/user/1000/jupdb/s1-5555");
    }

    #[test]
    fn file_names_are_safe() {
        let mut info = info();
        info.pid = 42;
        info.session_id = "abc-DEF_1".into();
        assert_eq!(info.file_name(), "jupdb-42-abc-DEF_1.json");
        info.session_id = "../../etc/passwd".into();
        assert_eq!(info.file_name(), "jupdb-42-______etc_passwd.json");
        info.session_id = "x".repeat(100);
        assert_eq!(info.file_name().len(), "jupdb-42-".len() + 64 + ".json".len());
    }

    #[test]
    fn runtime_dir_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        let dirs = |pairs| runtime_dirs_from(env(pairs));
        let all = &[
            ("JUPDB_RUNTIME_DIR", "/custom"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_DATA_HOME", "/data"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(dirs(all), [PathBuf::from("/custom")]);
        assert_eq!(
            dirs(&all[1..]),
            [
                PathBuf::from("/run/user/1000/jupdb"),
                PathBuf::from("/data/jupdb/runtime")
            ]
        );
        assert_eq!(
            dirs(&[("XDG_RUNTIME_DIR", "/run/user/1000"), ("HOME", "/home/u")]),
            [
                PathBuf::from("/run/user/1000/jupdb"),
                PathBuf::from("/home/u/.local/share/jupdb/runtime")
            ]
        );
        assert_eq!(
            dirs(&[("HOME", "/home/u")]),
            [PathBuf::from("/home/u/.local/share/jupdb/runtime")]
        );
        // Empty values count as unset; relative XDG paths are ignored (XDG spec).
        assert_eq!(
            dirs(&[
                ("JUPDB_RUNTIME_DIR", ""),
                ("XDG_RUNTIME_DIR", "relative"),
                ("XDG_DATA_HOME", ""),
                ("HOME", "/home/u")
            ]),
            [PathBuf::from("/home/u/.local/share/jupdb/runtime")]
        );
        assert!(dirs(&[]).is_empty());
    }

    #[test]
    fn write_then_read() {
        let tmp = TempDir::new();
        let info = info();
        let path = write_connection_file_in(&tmp.0, &info).unwrap();
        assert_eq!(path, tmp.0.join(info.file_name()));
        assert_eq!(read_connection_file(&path).unwrap(), info);
    }

    #[test]
    fn rewrite_replaces_and_leaves_no_temporary_file() {
        let tmp = TempDir::new();
        let mut info = info();
        let first = write_connection_file_in(&tmp.0, &info).unwrap();
        info.state = STATE_PAUSED.into();
        info.location = Some(Location {
            file: "app.py".into(),
            line: 3,
            function: "<module>".into(),
        });
        let second = write_connection_file_in(&tmp.0, &info).unwrap();
        assert_eq!(first, second);
        assert_eq!(read_connection_file(&second).unwrap(), info);
        let names: Vec<_> = fs::read_dir(&tmp.0).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [OsString::from(info.file_name())]);
    }

    #[cfg(unix)]
    #[test]
    fn modes_are_private() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("a").join("runtime");
        let path = write_connection_file_in(&dir, &info()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.0.join("a")), 0o700);
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn insecure_reason(err: ConnectionFileError) -> String {
        match err {
            ConnectionFileError::Insecure { reason, .. } => reason,
            other => panic!("not refused as insecure: {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_may_use_is_refused_and_left_alone() {
        let tmp = TempDir::new();
        for (mode, shown) in [(0o755, "0755"), (0o1777, "1777"), (0o770, "0770")] {
            set_mode(&tmp.0, mode);
            let reason = insecure_reason(write_connection_file_in(&tmp.0, &info()).unwrap_err());
            assert!(reason.contains(&format!("has mode {shown}")), "{reason}");
            assert_eq!(mode_with_sticky(&tmp.0), mode);
            assert_eq!(fs::read_dir(&tmp.0).unwrap().count(), 0);
            let err = list_connection_files_in(&tmp.0).unwrap_err();
            assert!(insecure_reason(err).contains("has mode"));
        }
    }

    #[cfg(unix)]
    fn mode_with_sticky(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_directory_is_refused() {
        let tmp = TempDir::new();
        let real = tmp.0.join("real");
        fs::create_dir(&real).unwrap();
        set_mode(&real, 0o700);
        let link = tmp.0.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let reason = insecure_reason(write_connection_file_in(&link, &info()).unwrap_err());
        assert_eq!(reason, "is a symbolic link");
        assert_eq!(fs::read_dir(&real).unwrap().count(), 0);
        let file = tmp.0.join("file");
        fs::write(&file, b"").unwrap();
        assert_eq!(
            insecure_reason(PrivateDir::open(&file).unwrap_err()),
            "is not a directory"
        );
    }

    /// Root can give files away; other users cannot, and skip this test.
    #[cfg(unix)]
    fn give_to_nobody(path: &Path) -> bool {
        std::os::unix::fs::lchown(path, Some(65534), Some(65534)).is_ok()
    }

    #[cfg(unix)]
    #[test]
    fn another_users_directory_is_refused() {
        let tmp = TempDir::new();
        let dir = tmp.0.join("theirs");
        fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o700);
        if !give_to_nobody(&dir) {
            return;
        }
        let reason = insecure_reason(write_connection_file_in(&dir, &info()).unwrap_err());
        assert!(reason.starts_with("is owned by uid 65534, not by you"), "{reason}");
    }

    #[cfg(unix)]
    #[test]
    fn only_the_users_own_private_files_are_read() {
        let tmp = TempDir::new();
        set_mode(&tmp.0, 0o700);
        let good = write_connection_file_in(&tmp.0, &info()).unwrap();
        let json = fs::read(&good).unwrap();
        let plant = |name: &str, mode: u32| {
            let path = tmp.0.join(name);
            fs::write(&path, &json).unwrap();
            set_mode(&path, mode);
            path
        };
        let readable = plant("jupdb-1-readable.json", 0o644);
        let foreign = plant("jupdb-1-foreign.json", 0o600);
        let foreign_given = give_to_nobody(&foreign);
        let link = tmp.0.join("jupdb-1-link.json");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let fifo = tmp.0.join("jupdb-1-fifo.json");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();

        let listing = list_connection_files_in(&tmp.0).unwrap();
        assert_eq!(listing.files.len(), 1);
        assert_eq!(listing.files[0].path, good);
        let reasons: Vec<String> = listing.skipped.iter().map(|e| e.to_string()).collect();
        let reason_for = |path: &Path| {
            reasons
                .iter()
                .find(|r| r.starts_with(&path.display().to_string()))
                .cloned()
                .unwrap_or_else(|| panic!("{} not reported in {reasons:?}", path.display()))
        };
        assert!(reason_for(&readable).ends_with("has mode 0644: others may use it (jupdb needs mode 0600)"));
        assert!(reason_for(&link).ends_with("is a symbolic link"));
        assert!(reason_for(&fifo).ends_with("is not a regular file"));
        if foreign_given {
            assert!(reason_for(&foreign).contains("is owned by uid 65534"));
            assert!(read_connection_file(&foreign).is_err());
        }
        assert!(insecure_reason(read_connection_file(&readable).unwrap_err()).contains("0644"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_0600_whatever_the_umask() {
        let tmp = TempDir::new();
        set_mode(&tmp.0, 0o700);
        // SAFETY: umask only swaps the process's mask; restored below.
        let old = unsafe { libc::umask(0) };
        let path = write_connection_file_in(&tmp.0, &info());
        unsafe { libc::umask(old) };
        assert_eq!(mode(&path.unwrap()), 0o600);
    }

    #[test]
    fn write_fails_where_a_file_blocks_the_directory() {
        let tmp = TempDir::new();
        let blocker = tmp.0.join("file");
        fs::write(&blocker, b"").unwrap();
        let err = write_connection_file_in(&blocker.join("dir"), &info()).unwrap_err();
        assert!(matches!(err, ConnectionFileError::Io { .. }), "{err}");
    }

    #[test]
    fn read_errors() {
        let tmp = TempDir::new();
        let missing = tmp.0.join("jupdb-1-x.json");
        match read_connection_file(&missing) {
            Err(ConnectionFileError::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }

        let garbled = tmp.0.join("garbled.json");
        fs::write(&garbled, b"{\"transport\": \"tcp\",").unwrap();
        #[cfg(unix)]
        set_mode(&garbled, 0o600);
        assert!(matches!(
            read_connection_file(&garbled),
            Err(ConnectionFileError::Malformed { .. })
        ));

        let huge = tmp.0.join("huge.json");
        fs::write(&huge, vec![b' '; MAX_CONNECTION_FILE_LEN as usize + 1]).unwrap();
        #[cfg(unix)]
        set_mode(&huge, 0o600);
        let err = read_connection_file(&huge).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn list_finds_live_sessions_newest_first() {
        let tmp = TempDir::new();
        let mut old = info();
        old.created = "2020-01-01T00:00:00.000000Z".into();
        let new = info();
        write_connection_file_in(&tmp.0, &old).unwrap();
        write_connection_file_in(&tmp.0, &new).unwrap();
        let listed = list_connection_files_in(&tmp.0).unwrap().files;
        let infos: Vec<_> = listed.iter().map(|f| &f.info).collect();
        assert_eq!(infos, [&new, &old]);
        assert_eq!(listed[0].path, tmp.0.join(new.file_name()));
    }

    #[test]
    fn list_skips_garbled_and_foreign_files() {
        let tmp = TempDir::new();
        write_connection_file_in(&tmp.0, &info()).unwrap();
        let garbled = tmp.0.join("jupdb-1-garbled.json");
        fs::write(&garbled, b"not json").unwrap();
        #[cfg(unix)]
        set_mode(&garbled, 0o600);
        let foreign = tmp.0.join("kernel-1.json");
        fs::write(&foreign, serde_json::to_vec(&info()).unwrap()).unwrap();
        let temporary = tmp.0.join(".jupdb-1-x.json.1234.tmp");
        fs::write(&temporary, b"").unwrap();
        fs::create_dir(tmp.0.join("jupdb-dir.json")).unwrap();

        let listing = list_connection_files_in(&tmp.0).unwrap();
        assert_eq!(listing.files.len(), 1);
        assert_eq!(listing.skipped.len(), 2, "{:?}", listing.skipped); // garbled, and the directory
                                                                       // Skipped files are left alone.
        assert!(garbled.exists() && foreign.exists() && temporary.exists());
    }

    #[cfg(unix)]
    #[test]
    fn list_removes_files_of_dead_processes() {
        let tmp = TempDir::new();
        let live = write_connection_file_in(&tmp.0, &info()).unwrap();
        let mut dead = info();
        dead.pid = dead_pid();
        let dead_path = write_connection_file_in(&tmp.0, &dead).unwrap();
        assert!(dead_path.exists());

        let listed = list_connection_files_in(&tmp.0).unwrap().files;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, live);
        assert!(!dead_path.exists());
        assert!(live.exists());
    }

    #[test]
    fn list_of_missing_directory_is_empty() {
        let tmp = TempDir::new();
        assert!(list_connection_files_in(&tmp.0.join("nope")).unwrap().files.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn liveness() {
        assert!(process_alive(std::process::id()));
        assert!(process_alive(1)); // init: alive, possibly another user's (EPERM)
        assert!(!process_alive(dead_pid()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
