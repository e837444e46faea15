//! A directory that only this user can use, and the files in it (Unix).
//!
//! Connection files hold a key that runs code in the debuggee, so they are
//! written and read only in a directory that is this user's alone: a real
//! directory (not a symbolic link), owned by the effective user, with no
//! permission for group or others. A file in it is trusted only if it is a
//! regular file (not a link), owned by the user, with mode 0600.
//!
//! Every check is made with `fstat` on a descriptor already open, and every
//! file is reached relative to the directory's descriptor with `O_NOFOLLOW`,
//! so nothing swapped in between a check and its use (a link, another user's
//! directory) is ever used. This goes beyond jupyter_client's `secure_write`,
//! which checks a file's mode after writing it but trusts the directory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as fs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::ConnectionFileError;
use crate::random::new_id;

/// The only mode a trusted file may have.
const FILE_MODE: u32 = 0o600;

/// A directory checked to be this user's alone, held open: everything done
/// in it goes through this descriptor.
#[derive(Debug)]
pub struct PrivateDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl PrivateDir {
    /// Opens `path`, which must be a directory of this user's alone (see the
    /// [module documentation](self)); [`ConnectionFileError::Insecure`] says
    /// why not, and [`ConnectionFileError::Io`] reports a missing one.
    pub fn open(path: &Path) -> Result<Self, ConnectionFileError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = fs::open(path, flags, Mode::empty()).map_err(|errno| match errno {
            // O_NOFOLLOW refuses a link (ELOOP); O_DIRECTORY anything else (ENOTDIR).
            Errno::LOOP | Errno::NOTDIR => insecure(path, describe_non_directory(path)),
            errno => ConnectionFileError::io(path, errno.into()),
        })?;
        let stat = fs::fstat(&fd).map_err(|errno| ConnectionFileError::io(path, errno.into()))?;
        check_owner_and_mode(&stat, |mode| mode & 0o077 == 0, "0700").map_err(|reason| insecure(path, reason))?;
        Ok(Self {
            fd,
            path: path.to_owned(),
        })
    }

    /// Creates `path` with mode 0700 (and its missing parents, also 0700)
    /// if it does not exist, then [opens](Self::open) it: an existing
    /// directory is used only if it passes the same checks.
    pub fn create(path: &Path) -> Result<Self, ConnectionFileError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            dir_builder()
                .recursive(true)
                .create(parent)
                .map_err(|err| ConnectionFileError::io(parent, err))?;
        }
        match dir_builder().create(path) {
            Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(ConnectionFileError::io(path, err)),
            _ => Self::open(path),
        }
    }

    /// Makes a new directory `<parent>/<prefix><random>` with mode 0700: it is
    /// this process's own (`mkdir` fails rather than reuse anything there).
    pub fn create_new_in(parent: &Path, prefix: &str) -> Result<Self, ConnectionFileError> {
        loop {
            let path = parent.join(format!("{prefix}{}", &new_id()[..12]));
            match dir_builder().create(&path) {
                Ok(()) => return Self::open(&path),
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(ConnectionFileError::io(&path, err)),
            }
        }
    }

    /// Fails unless this process may create files in the directory (a mode
    /// such as 0500 passes [`open`](Self::open) but takes no file).
    pub fn check_writable(&self) -> Result<(), ConnectionFileError> {
        let wanted = fs::Access::WRITE_OK | fs::Access::EXEC_OK;
        fs::accessat(&self.fd, ".", wanted, AtFlags::EACCESS)
            .map_err(|errno| ConnectionFileError::io(&self.path, errno.into()))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` atomically: into a new file (`O_EXCL`,
    /// `O_NOFOLLOW`, mode 0600 whatever the umask), synced, then renamed over
    /// `name`. A reader sees the old content or the new, never a part.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ConnectionFileError> {
        let path = self.path.join(name);
        let temp = format!(".{name}.{}.tmp", &new_id()[..8]);
        let written = self
            .write_new(&temp, bytes)
            .and_then(|()| fs::renameat(&self.fd, temp.as_str(), &self.fd, name).map_err(io::Error::from));
        if let Err(err) = written {
            let _ = fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
            return Err(ConnectionFileError::io(&path, err));
        }
        Ok(path)
    }

    fn write_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = fs::openat(&self.fd, name, flags, Mode::from_raw_mode(FILE_MODE))?;
        // The umask may have removed bits; make the mode exactly 0600.
        fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        file.sync_all()
    }

    /// The content of `name`, at most `limit` + 1 bytes, if it is a trusted
    /// file (see the [module documentation](self)).
    pub fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, ConnectionFileError> {
        let path = self.path.join(name);
        // NONBLOCK: a FIFO planted here must not hang the reader.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = fs::openat(&self.fd, name, flags, Mode::empty()).map_err(|errno| match errno {
            Errno::LOOP => insecure(&path, "is a symbolic link".to_owned()),
            errno => ConnectionFileError::io(&path, errno.into()),
        })?;
        read_trusted(fd, &path, limit)
    }

    /// The names of the entries in the directory.
    pub fn names(&self) -> Result<Vec<String>, ConnectionFileError> {
        let dir = fs::Dir::read_from(&self.fd).map_err(|errno| ConnectionFileError::io(&self.path, errno.into()))?;
        Ok(dir
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str().ok().map(str::to_owned))
            .filter(|name| name != "." && name != "..")
            .collect())
    }

    /// Removes the file `name`.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(io::Error::from)
    }
}

/// The content of the file at `path` (links in the path are followed: the
/// user named it), at most `limit` + 1 bytes, if the file itself is trusted:
/// a regular file owned by this user with mode 0600.
pub fn read_private_file(path: &Path, limit: u64) -> Result<Vec<u8>, ConnectionFileError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = fs::open(path, flags, Mode::empty()).map_err(|errno| ConnectionFileError::io(path, errno.into()))?;
    read_trusted(fd, path, limit)
}

fn read_trusted(fd: OwnedFd, path: &Path, limit: u64) -> Result<Vec<u8>, ConnectionFileError> {
    let stat = fs::fstat(&fd).map_err(|errno| ConnectionFileError::io(path, errno.into()))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(insecure(path, "is not a regular file".to_owned()));
    }
    check_owner_and_mode(&stat, |mode| mode == FILE_MODE, "0600").map_err(|reason| insecure(path, reason))?;
    let mut bytes = Vec::new();
    File::from(fd)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| ConnectionFileError::io(path, err))?;
    Ok(bytes)
}

/// Why `stat` is not this user's alone, if it is not.
fn check_owner_and_mode(stat: &Stat, mode_ok: impl Fn(u32) -> bool, wanted: &str) -> Result<(), String> {
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(format!("is owned by uid {}, not by you (uid {me})", stat.st_uid));
    }
    let mode = stat.st_mode & 0o7777;
    if !mode_ok(mode) {
        return Err(format!(
            "has mode {mode:04o}: others may use it (jupdb needs mode {wanted})"
        ));
    }
    Ok(())
}

fn describe_non_directory(path: &Path) -> String {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => "is a symbolic link".to_owned(),
        _ => "is not a directory".to_owned(),
    }
}

fn insecure(path: &Path, reason: String) -> ConnectionFileError {
    ConnectionFileError::Insecure {
        path: path.to_owned(),
        reason,
    }
}

/// Makes directories with mode 0700.
fn dir_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    const AS_NOBODY: &str = "JUPDB_TEST_AS_NOBODY";

    /// A directory of the user's own that takes no file (mode 0500) passes the
    /// checks but not `check_writable`. Root may write anywhere, so as root the
    /// test runs itself again as uid 65534 (where `setpriv` is installed).
    #[test]
    fn a_read_only_directory_of_ones_own_is_not_writable() {
        if rustix::process::geteuid().is_root() && std::env::var_os(AS_NOBODY).is_none() {
            let status = Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "private_dir::tests::a_read_only_directory_of_ones_own_is_not_writable",
                ])
                .env(AS_NOBODY, "1")
                .status();
            match status {
                Ok(status) => assert!(status.success(), "as uid 65534: {status}"),
                Err(_) => eprintln!("no setpriv: skipped"),
            }
            return;
        }
        let path = std::env::temp_dir().join(format!("jupdb-protocol-ro-{}", new_id()));
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o500)).unwrap();
        let dir = PrivateDir::open(&path).unwrap();
        let err = dir.check_writable().unwrap_err();
        assert!(err.to_string().contains("ermission denied"), "{err}");
        assert!(dir.write("jupdb-1-x.json", b"{}").is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir.check_writable().unwrap();
        std::fs::remove_dir(&path).unwrap();
    }
}
