//! Another process seen from outside: its memory (`process_vm_readv` /
//! `process_vm_writev`), its mappings, and what `/proc` says about it. Every
//! failure says why, and a permission failure what to do about it.

use std::io;

use super::{AttachError, Memory};

pub struct Process {
    pub pid: i32,
}

#[derive(Debug)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub writable: bool,
    pub offset: u64,
    pub path: Option<String>,
}

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
        let mut out = Vec::new();
        for line in text.lines() {
            // start-end perms offset dev inode [path]
            let mut fields = line.splitn(6, ' ');
            let (Some(range), Some(perms), Some(offset)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            let (dev, inode) = (fields.next(), fields.next());
            let path = fields
                .next()
                .map(str::trim)
                .filter(|p| p.starts_with('/'))
                .map(str::to_owned);
            let _ = (dev, inode);
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end), Ok(offset)) = (
                u64::from_str_radix(start, 16),
                u64::from_str_radix(end, 16),
                u64::from_str_radix(offset, 16),
            ) else {
                continue;
            };
            out.push(Mapping {
                start,
                end,
                writable: perms.as_bytes().get(1) == Some(&b'w'),
                offset,
                path,
            });
        }
        Ok(out)
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
            .and_then(|u| u.split_whitespace().nth(1).map(str::to_owned));
        let whose = match owner {
            Some(uid) if uid != me.to_string() => format!(" it runs as user {uid}, and you are user {me};"),
            _ => String::new(),
        };
        let tracer = self.status_field("TracerPid").filter(|t| t != "0");
        let traced = match tracer {
            Some(t) => format!(" it is being traced by process {t} (a debugger or strace) already;"),
            None => String::new(),
        };
        let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .map(|s| format!(" (it is {} here)", s.trim()))
            .unwrap_or_default();
        format!(
            "cannot {doing} process {pid}: permission denied;{whose}{traced} attaching needs the permission \
             to trace it, as a debugger does: the same user with /proc/sys/kernel/yama/ptrace_scope 0{scope}, \
             or root / CAP_SYS_PTRACE. Run it with sudo, or start the container with --cap-add SYS_PTRACE \
             (or set_trace() / `jupdb run` in the program instead)"
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

/// Why the program said it does not want to be attached to, if it did:
/// `PYTHON_DISABLE_REMOTE_DEBUG` in its environment or `-X disable-remote-debug`
/// among its interpreter options (PEP 768's opt-outs, respected on every version).
pub fn opted_out(environ: &[u8], cmdline: &[u8]) -> Option<String> {
    for var in environ.split(|b| *b == 0) {
        if let Some(value) = var.strip_prefix(b"PYTHON_DISABLE_REMOTE_DEBUG=") {
            if !value.is_empty() {
                return Some("its environment sets PYTHON_DISABLE_REMOTE_DEBUG".into());
            }
        }
    }
    // The interpreter's options come before the script, `-c` or `-m`.
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        if arg == b"-X" {
            if args.get(i + 1).is_some_and(|o| o.starts_with(b"disable-remote-debug")) {
                return Some("it was started with -X disable-remote-debug".into());
            }
            i += 2;
            continue;
        }
        if arg.starts_with(b"-Xdisable-remote-debug") {
            return Some("it was started with -X disable-remote-debug".into());
        }
        if !arg.starts_with(b"-") || arg == b"-" || arg.starts_with(b"-c") || arg.starts_with(b"-m") {
            break;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::opted_out;

    #[test]
    fn finds_the_opt_outs() {
        assert!(opted_out(b"A=1\0PYTHON_DISABLE_REMOTE_DEBUG=1\0", b"python\0x.py\0").is_some());
        assert!(
            opted_out(b"PYTHON_DISABLE_REMOTE_DEBUG=\0", b"python\0x.py\0").is_none(),
            "empty: not set"
        );
        assert!(opted_out(b"", b"python3\0-u\0-X\0disable-remote-debug\0x.py\0").is_some());
        assert!(opted_out(b"", b"python3\0-Xdisable-remote-debug\0-m\0mod\0").is_some());
        // The program's own arguments are not the interpreter's options.
        assert!(opted_out(b"", b"python3\0x.py\0-X\0disable-remote-debug\0").is_none());
        assert!(opted_out(b"", b"python3\0-c\0pass\0-Xdisable-remote-debug\0").is_none());
        assert!(opted_out(b"", b"python3\0-X\0dev\0x.py\0").is_none());
    }
}
