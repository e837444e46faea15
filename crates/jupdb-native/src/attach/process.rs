//! Another process seen from outside: its memory (`process_vm_readv` /
//! `process_vm_writev`), its mappings and the files they map (opened without
//! blocking, whatever the program put at their paths), and what `/proc` says about
//! it. Every failure says why, and a permission failure what to do about it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};

use super::{AttachError, Memory};

pub struct Process {
    pub pid: i32,
}

#[derive(Debug, Clone)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub writable: bool,
    pub offset: u64,
    /// The mapped file's device (major, minor) and inode, as the kernel shows them.
    pub device: (u32, u32),
    pub inode: u64,
    /// The file's path in the target's mount namespace, without the kernel's " (deleted)".
    pub path: Option<String>,
    /// The kernel marked the path " (deleted)": the file mapped is no longer at that
    /// path (deleted, or replaced by another, as an upgrade does).
    pub deleted: bool,
}

impl Mapping {
    /// The path as `/proc/PID/maps` shows it (a deleted file marked so).
    pub fn shown_path(&self) -> String {
        let path = self.path.as_deref().unwrap_or("");
        if self.deleted {
            format!("{path} (deleted)")
        } else {
            path.to_owned()
        }
    }
}

/// Why a mapped file was not opened.
#[derive(Debug, PartialEq)]
pub enum Unopened {
    /// Deleted or replaced since the program mapped it, and `/proc/PID/map_files`,
    /// which reaches the file mapped itself, is not readable here (not root).
    Replaced,
    /// Anything else (not a regular file, too large, gone): the reason.
    Other(String),
}

/// The largest file read for its symbols (libpython with debug information is
/// tens of megabytes): what a hostile program maps is not read without end.
const LARGEST_ELF: u64 = 1 << 30;

impl Process {
    pub fn proc(&self, name: &str) -> String {
        format!("/proc/{}/{name}", self.pid)
    }

    /// A file of the target's, by its path in the target's own mount namespace
    /// (a container's files are reached through `/proc/PID/root`).
    pub fn file(&self, path: &str) -> String {
        format!("/proc/{}/root{path}", self.pid)
    }

    pub fn read_proc(&self, name: &str) -> Result<Vec<u8>, AttachError> {
        std::fs::read(self.proc(name)).map_err(|e| self.error(&format!("read /proc/{}/{name} of", self.pid), e))
    }

    pub fn maps(&self) -> Result<Vec<Mapping>, AttachError> {
        let text = String::from_utf8_lossy(&self.read_proc("maps")?).into_owned();
        Ok(text.lines().filter_map(parse_maps_line).collect())
    }

    /// The file mapped at `m`, opened for reading without ever blocking on, or
    /// opening, anything else (a FIFO or a device a hostile program put at its path):
    /// through `/proc/PID/map_files`, which is the mapped file itself (deleted or
    /// not; root only), else by its path, looked at first (`O_PATH`, which opens
    /// nothing) and opened only when it is a regular file and the one mapped: the
    /// maps line's device and inode, or (a file system whose `stat` shows other
    /// numbers: btrfs subvolumes, overlayfs) the same bytes as the mapping's first page.
    pub fn open_mapped(&self, m: &Mapping) -> Result<File, Unopened> {
        let link = self.proc(&format!("map_files/{:x}-{:x}", m.start, m.end));
        if let Ok(found) = look_at(&link) {
            return open_regular(&found, &link);
        }
        let Some(path) = m.path.as_deref() else {
            return Err(Unopened::Other("an anonymous mapping".into()));
        };
        if m.deleted {
            return Err(Unopened::Replaced);
        }
        let at = self.file(path);
        let found = look_at(&at).map_err(|e| Unopened::Other(format!("cannot open {at}: {e}")))?;
        let meta = found
            .metadata()
            .map_err(|e| Unopened::Other(format!("cannot stat {at}: {e}")))?;
        let numbers = (libc::major(meta.dev()), libc::minor(meta.dev())) == m.device && meta.ino() == m.inode;
        let file = open_regular(&found, &at)?;
        if numbers || self.same_first_page(&file, m) {
            Ok(file)
        } else {
            Err(Unopened::Replaced)
        }
    }

    /// Whether `file` holds, at the mapping's offset, the bytes the program has at
    /// the mapping's start (read-only pages the loader never writes).
    fn same_first_page(&self, file: &File, m: &Mapping) -> bool {
        let len = 4096.min(m.end - m.start) as usize;
        let mut on_disk = vec![0; len];
        if file.read_exact_at(&mut on_disk, m.offset).is_err() {
            return false;
        }
        self.read_bytes(m.start, len).is_ok_and(|mapped| mapped == on_disk)
    }

    /// A field of `/proc/PID/status` ("Uid", "TracerPid"…), as text.
    pub fn status_field(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.proc("status")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(|v| v.trim().to_owned()))
    }

    /// The error for a failed system call on the target: gone, not allowed (and
    /// what to do), or the OS's own words.
    pub fn error(&self, doing: &str, err: io::Error) -> AttachError {
        match err.raw_os_error() {
            Some(libc::ESRCH) | Some(libc::ENOENT) => {
                AttachError::Gone(format!("no process {} (it ended, or never was)", self.pid))
            }
            Some(libc::EPERM) | Some(libc::EACCES) => AttachError::Permission(self.permission_message(doing)),
            _ => AttachError::Os(format!("cannot {doing} process {}: {err}", self.pid)),
        }
    }

    fn permission_message(&self, doing: &str) -> String {
        let pid = self.pid;
        let me = unsafe { libc::geteuid() };
        let owner = self
            .status_field("Uid")
            .and_then(|u| u.split_whitespace().nth(1)?.parse::<u32>().ok());
        let tracer = self.status_field("TracerPid").filter(|t| t != "0");
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        // What to do depends on why: another tracer, another user, or the same user under Yama.
        let (why, what) = if let Some(t) = tracer {
            (
                format!("it is being traced by process {t} (a debugger or strace) already"),
                "detach that tracer first".to_owned(),
            )
        } else if owner == Some(0) && me != 0 {
            (
                format!("it runs as root, and you are user {me}"),
                "attach as root: sudo jupdb attach PID".replace("PID", &pid.to_string()),
            )
        } else if owner.is_some_and(|o| o != me) {
            (
                format!("it runs as user {}, and you are user {me}", owner.unwrap_or_default()),
                "attach as that user (jupdb attaches only to its user's programs)".to_owned(),
            )
        } else {
            (
                format!("tracing your own programs needs /proc/sys/kernel/yama/ptrace_scope 0 (it is {scope} here) or CAP_SYS_PTRACE"),
                "allow it with `echo 0 | sudo tee /proc/sys/kernel/yama/ptrace_scope`, or in a container \
                 start it with --cap-add SYS_PTRACE"
                    .to_owned(),
            )
        };
        format!(
            "cannot {doing} process {pid}: permission denied: {why}; attaching needs the permission to trace \
             it, as a debugger does: {what} (or call jupdb.listen() / set_trace() in the program, or start it \
             with `jupdb run`)"
        )
    }
}

impl Memory for Process {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), AttachError> {
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            return Err(self.error("read the memory of", io::Error::last_os_error()));
        }
        if n as usize != buf.len() {
            return Err(AttachError::Os(format!(
                "read {n} of {} bytes at {addr:#x} of process {}",
                buf.len(),
                self.pid
            )));
        }
        Ok(())
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), AttachError> {
        let local = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: data.len(),
        };
        let n = unsafe { libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            return Err(self.error("write the memory of", io::Error::last_os_error()));
        }
        if n as usize != data.len() {
            return Err(AttachError::Os(format!(
                "wrote {n} of {} bytes at {addr:#x} of process {}",
                data.len(),
                self.pid
            )));
        }
        Ok(())
    }
}

/// One line of `/proc/PID/maps`: `start-end perms offset major:minor inode [path]`.
fn parse_maps_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let (range, perms, offset, device, inode) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let shown = fields.next().map(str::trim_start).filter(|p| p.starts_with('/'));
    let (start, end) = range.split_once('-')?;
    let (major, minor) = device.split_once(':')?;
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let (path, deleted) = match shown {
        Some(p) => match p.strip_suffix(" (deleted)") {
            Some(p) => (Some(p.to_owned()), true),
            None => (Some(p.to_owned()), false),
        },
        None => (None, false),
    };
    Some(Mapping {
        start: hex(start)?,
        end: hex(end)?,
        writable: perms.as_bytes().get(1) == Some(&b'w'),
        offset: hex(offset)?,
        device: (
            u32::from_str_radix(major, 16).ok()?,
            u32::from_str_radix(minor, 16).ok()?,
        ),
        inode: inode.parse().ok()?,
        path,
        deleted,
    })
}

/// `path` looked up, not opened (`O_PATH`: no FIFO, device or file system's open runs).
fn look_at(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(path)
}

/// What `found` (an `O_PATH` look) names, opened for reading if it is a regular file
/// of a sane size: through `/proc/self/fd`, so that it is that file, whatever is at
/// its path by now.
fn open_regular(found: &File, name: &str) -> Result<File, Unopened> {
    let meta = found
        .metadata()
        .map_err(|e| Unopened::Other(format!("cannot stat {name}: {e}")))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(Unopened::Other(format!("{name} is {what}: not opened")));
    }
    if meta.len() > LARGEST_ELF {
        return Err(Unopened::Other(format!("{name} is over 1 GiB: not read")));
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", found.as_raw_fd()))
        .map_err(|e| Unopened::Other(format!("cannot open {name}: {e}")))
}

/// Why the program said it does not want to be attached to, if it did (PEP 768's
/// opt-outs, respected on every version as CPython 3.14 reads them): `-X
/// disable-remote-debug` (any value) among its interpreter options, or
/// `PYTHON_DISABLE_REMOTE_DEBUG` in its environment (set, even empty), unless `-E` or
/// `-I` made it ignore its environment.
pub fn opted_out(environ: &[u8], cmdline: &[u8]) -> Option<String> {
    let args: Vec<&[u8]> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(cmdline)
        .split(|b| *b == 0)
        .collect();
    let options = InterpreterOptions::parse(&args);
    // _Py_get_xoption: the name before any "=".
    let named = |x: &&[u8]| x.split(|b| *b == b'=').next() == Some(b"disable-remote-debug".as_slice());
    if options.xoptions.iter().any(named) {
        return Some("it was started with -X disable-remote-debug".into());
    }
    if !options.ignore_environment
        && environ
            .split(|b| *b == 0)
            .any(|var| var.starts_with(b"PYTHON_DISABLE_REMOTE_DEBUG="))
    {
        return Some("its environment sets PYTHON_DISABLE_REMOTE_DEBUG".into());
    }
    None
}

/// What CPython 3.10–3.14 makes of the options before the script (`Python/getopt.c`'s
/// `_PyOS_GetOpt`, as `initconfig.c` calls it): short options combined (`-uBq`), an
/// argument attached or in the next word (`-Xdev`, `-X dev`, also after others:
/// `-uXdev`), `-c`/`-m` ending the options with their argument, `--` and `-` ending
/// them, `--check-hash-based-pycs` taking the next word. Where CPython would have
/// stopped with usage or help (an unknown option, `--help`), the parse stops too:
/// such a command line runs no program.
#[derive(Debug, Default, PartialEq)]
struct InterpreterOptions<'a> {
    xoptions: Vec<&'a [u8]>,
    /// `-E` or `-I`.
    ignore_environment: bool,
}

/// `_PyOS_GetOpt`'s short options, those taking an argument followed by ':'
/// (3.11+: 3.10 lacks -P, a command line no 3.10 runs).
const SHORT_OPTIONS: &[u8] = b"bBc:dEhiIJm:OPqRsStuvVW:xX:?";
/// Its long options, and whether each takes an argument.
const LONG_OPTIONS: [(&[u8], bool); 4] = [
    (b"check-hash-based-pycs", true),
    (b"help-all", false),
    (b"help-env", false),
    (b"help-xoptions", false),
];

impl<'a> InterpreterOptions<'a> {
    /// `args`: the whole command line, the program's name first.
    fn parse(args: &[&'a [u8]]) -> InterpreterOptions<'a> {
        let mut found = InterpreterOptions::default();
        let mut next = 1; // the next word (_PyOS_optind)
        let mut rest: &[u8] = b""; // what is left of the current word's options (opt_ptr)
        loop {
            if rest.is_empty() {
                let Some(&word) = args.get(next) else {
                    return found;
                };
                if word.len() < 2 || word[0] != b'-' || word == b"--" || word == b"--help" || word == b"--version" {
                    return found; // the script, "-" (stdin), the end of the options, or an exit
                }
                rest = &word[1..];
                next += 1;
            }
            let option = rest[0];
            rest = &rest[1..];
            if option == b'-' {
                // A long option: the rest of the word is its name ("-u-check-hash-based-pycs" too).
                let Some(&(_, takes_argument)) = LONG_OPTIONS.iter().find(|(name, _)| *name == rest) else {
                    return found; // "-u-" ends the options; an unknown name exits
                };
                if !takes_argument || next >= args.len() {
                    return found; // --help-*: prints help and exits
                }
                (rest, next) = (b"", next + 1);
                continue;
            }
            let Some(at) = SHORT_OPTIONS.iter().position(|c| *c == option && *c != b':') else {
                return found; // unknown: usage, exit
            };
            let argument = if SHORT_OPTIONS.get(at + 1) == Some(&b':') {
                if !rest.is_empty() {
                    std::mem::take(&mut rest)
                } else if let Some(&word) = args.get(next) {
                    next += 1;
                    word
                } else {
                    return found; // "Argument expected": exits
                }
            } else {
                b""
            };
            match option {
                b'c' | b'm' | b'h' | b'?' | b'J' => return found, // the command or module; or an exit
                b'E' | b'I' => found.ignore_environment = true,
                b'X' => found.xoptions.push(argument),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::{opted_out, parse_maps_line, Mapping, Process, Unopened};

    /// `args` as /proc/PID/cmdline has them (NUL-terminated), the program name first.
    fn cmdline(args: &[&str]) -> Vec<u8> {
        let mut line = b"python3\0".to_vec();
        for arg in args {
            line.extend_from_slice(arg.as_bytes());
            line.push(0);
        }
        line
    }

    fn option(args: &[&str]) -> bool {
        opted_out(b"", &cmdline(args)).is_some()
    }

    #[test]
    fn finds_disable_remote_debug_wherever_cpython_records_it() {
        for args in [
            &["-X", "disable-remote-debug", "t.py"][..],
            &["-Xdisable-remote-debug", "-m", "mod"],
            &["-u", "-X", "disable-remote-debug", "t.py"],
            &["-W", "ignore", "-X", "disable-remote-debug", "t.py"],
            &["-Wignore", "-X", "disable-remote-debug", "t.py"],
            &["-uX", "disable-remote-debug", "t.py"],
            &["-uXdisable-remote-debug", "t.py"],
            &["-uBq", "-sSX", "disable-remote-debug", "t.py"],
            &[
                "--check-hash-based-pycs",
                "default",
                "-X",
                "disable-remote-debug",
                "t.py",
            ],
            &["-u-check-hash-based-pycs", "never", "-Xdisable-remote-debug", "t.py"],
            &["-X", "dev", "-X", "disable-remote-debug=0", "t.py"], // any value: the name counts
            &["-X", "disable-remote-debug=", "t.py"],
            &["-W", "-X", "-X", "disable-remote-debug", "t.py"], // -W's argument is "-X"
            &["-E", "-X", "disable-remote-debug", "-c", "pass"],
            &["-X", "disable-remote-debug"], // the interactive prompt
            &["-X", "disable-remote-debug", "-"],
            &["-X", "disable-remote-debug", "--", "t.py"],
        ] {
            assert!(option(args), "{args:?}");
        }
    }

    #[test]
    fn near_misses_are_not_the_option() {
        for args in [
            &["-X", "disable-remote-debugger", "t.py"][..],
            &["-X", "disable-remote-debu", "t.py"],
            &["-X", "disable_remote_debug", "t.py"],
            &["-X", " disable-remote-debug", "t.py"], // a shebang's "-X disable-remote-debug" is one word
            &["-W", "disable-remote-debug", "t.py"],
            &[
                "-c",
                "import sys # -X disable-remote-debug",
                "-X",
                "disable-remote-debug",
            ],
            &["-uc", "pass", "-Xdisable-remote-debug"],
            &["-cpass", "-Xdisable-remote-debug"],
            &["-m", "mod", "-X", "disable-remote-debug"],
            &["-mmod", "-X", "disable-remote-debug"],
            // The script's own arguments (and what follows "-", "--", "-u-").
            &["t.py", "-X", "disable-remote-debug"],
            &["-u", "t.py", "-Xdisable-remote-debug"],
            &["-", "-X", "disable-remote-debug"],
            &["--", "-X", "disable-remote-debug"],
            &["-u-", "-X", "disable-remote-debug", "t.py"],
            // Command lines CPython refuses (it exits): nothing ran to attach to.
            &["--check-hash-based-pycs", "-Xdisable-remote-debug", "t.py"], // not one of its values
            &["--check-hash-based-pycs=default", "-X", "disable-remote-debug", "t.py"],
            &["-Z", "-X", "disable-remote-debug", "t.py"],
            &["--help", "-X", "disable-remote-debug"],
            &["-X", "dev", "t.py"],
            &[],
        ] {
            assert!(!option(args), "{args:?}");
        }
    }

    #[test]
    fn the_environment_counts_unless_ignored() {
        let env = b"A=1\0PYTHON_DISABLE_REMOTE_DEBUG=1\0B=2\0";
        assert!(opted_out(env, &cmdline(&["t.py"])).is_some());
        assert!(opted_out(env, &cmdline(&["-u", "t.py"])).is_some());
        // CPython 3.14 reads it with Py_GETENV: set counts, even empty.
        assert!(opted_out(b"PYTHON_DISABLE_REMOTE_DEBUG=\0", &cmdline(&["t.py"])).is_some());
        assert!(opted_out(b"XPYTHON_DISABLE_REMOTE_DEBUG=1\0", &cmdline(&["t.py"])).is_none());
        assert!(opted_out(b"PYTHON_DISABLE_REMOTE_DEBUGGER=1\0", &cmdline(&["t.py"])).is_none());
        // -E and -I (isolated) ignore the environment, the variable with it.
        for args in [
            &["-E", "t.py"][..],
            &["-I", "t.py"],
            &["-uE", "t.py"],
            &["-sI", "-c", "pass"],
        ] {
            assert!(opted_out(env, &cmdline(args)).is_none(), "{args:?}");
        }
        // ...but only as interpreter options.
        assert!(opted_out(env, &cmdline(&["t.py", "-E"])).is_some());
        assert!(opted_out(env, &cmdline(&["-W", "-E", "t.py"])).is_some());
    }

    #[test]
    fn reads_maps_lines_with_device_inode_and_deleted_files() {
        let m = parse_maps_line(
            "7f82d7200000-7f82d7306000 r--p 00000000 fe:01 10028467                   /tmp/a b/libpython3.12.so.1.0",
        )
        .unwrap();
        assert_eq!(
            (m.start, m.end, m.offset, m.writable),
            (0x7f82d7200000, 0x7f82d7306000, 0, false)
        );
        assert_eq!((m.device, m.inode), ((0xfe, 0x01), 10028467));
        assert_eq!(
            (m.path.as_deref(), m.deleted),
            (Some("/tmp/a b/libpython3.12.so.1.0"), false)
        );
        let m = parse_maps_line("55d0c000-55d0d000 rw-p 00001000 103:02 42 /usr/bin/python3.11 (deleted)").unwrap();
        assert_eq!(
            (m.device, m.inode, m.offset, m.writable),
            ((0x103, 0x02), 42, 0x1000, true)
        );
        assert_eq!((m.path.as_deref(), m.deleted), (Some("/usr/bin/python3.11"), true));
        assert_eq!(m.shown_path(), "/usr/bin/python3.11 (deleted)");
        let m = parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]").unwrap();
        assert_eq!((m.path, m.deleted), (None, false));
        assert!(parse_maps_line("garbage").is_none());
    }

    /// A mapping of `path` as if this process had mapped it at an address it has
    /// not mapped (so that `/proc/PID/map_files` has no such entry, and the path counts).
    fn mapping_of(path: &std::path::Path, deleted: bool) -> Mapping {
        let meta = std::fs::metadata(path).unwrap();
        Mapping {
            start: 0x1000,
            end: 0x2000,
            writable: false,
            offset: 0,
            device: (libc::major(meta.dev()), libc::minor(meta.dev())),
            inode: meta.ino(),
            path: Some(path.to_str().unwrap().to_owned()),
            deleted,
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("jupdb-open-mapped-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn opens_only_the_regular_file_mapped() {
        let dir = scratch("regular");
        let me = Process {
            pid: std::process::id() as i32,
        };
        let file = dir.join("lib.so");
        std::fs::write(&file, b"\x7fELF and so on").unwrap();
        let m = mapping_of(&file, false);
        assert!(me.open_mapped(&m).is_ok());
        // Marked deleted: its path is not the file mapped, whatever is there now.
        assert_eq!(
            me.open_mapped(&mapping_of(&file, true)).unwrap_err(),
            Unopened::Replaced
        );
        // Replaced by another file (another inode, as an upgrade renames one over it),
        // with other bytes than those mapped.
        std::fs::write(dir.join("lib.so.new"), b"\x7fELF of another build").unwrap();
        std::fs::rename(dir.join("lib.so.new"), &file).unwrap();
        assert_eq!(me.open_mapped(&m).unwrap_err(), Unopened::Replaced);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn never_opens_a_fifo_or_a_device_at_the_path() {
        let dir = scratch("fifo");
        let me = Process {
            pid: std::process::id() as i32,
        };
        let fifo = dir.join("libpython3.12.so.1.0");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Its own device and inode, as a hostile program could show them: still not opened
        // (opening a FIFO for reading would block until a writer came).
        match me.open_mapped(&mapping_of(&fifo, false)) {
            Err(Unopened::Other(why)) => assert!(why.contains("a FIFO: not opened"), "{why}"),
            other => panic!("{other:?}"),
        }
        let tty = std::path::Path::new("/dev/null");
        match me.open_mapped(&mapping_of(tty, false)) {
            Err(Unopened::Other(why)) => assert!(why.contains("a device: not opened"), "{why}"),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
