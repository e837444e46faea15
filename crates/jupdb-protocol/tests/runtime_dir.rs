//! The functions that find the runtime directory through the environment.
//!
//! This file is its own test process with a single test, so setting
//! `JUPDB_RUNTIME_DIR` and `TMPDIR` here races with nothing.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use jupdb_protocol::{
    list_connection_files, new_id, new_key, prepare_runtime_dir, read_connection_file, runtime_dir,
    write_connection_file, ConnectionFileError, ConnectionInfo,
};

#[test]
fn jupdb_runtime_dir_is_used_for_writing_and_listing() {
    let root = std::env::temp_dir().join(format!("jupdb-protocol-env-{}", new_id()));
    let dir = root.join("runtime");
    std::env::set_var("JUPDB_RUNTIME_DIR", &dir);
    assert_eq!(runtime_dir().unwrap(), dir);
    let temp = root.join("tmp");
    fs::create_dir_all(&temp).unwrap();
    std::env::set_var("TMPDIR", &temp);

    let info = ConnectionInfo::new(&new_key().unwrap(), 1234);
    let path = write_connection_file(&info).unwrap();
    assert_eq!(path.parent(), Some(dir.as_path()));
    assert_eq!(read_connection_file(&path).unwrap(), info);
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o700);

    let listed = list_connection_files().unwrap();
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.files[0].path, path);
    assert_eq!(listed.files[0].info, info);
    assert!(listed.skipped.is_empty(), "{:?}", listed.skipped);
    let prepared = prepare_runtime_dir().unwrap();
    assert_eq!(prepared.dir.path(), dir);
    assert!(prepared.refused.is_none());
    fs::remove_file(&path).unwrap();

    // A shared runtime directory (sticky, writable by all) is refused: the file
    // goes to a private directory in TMPDIR, where clients find it too.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let prepared = prepare_runtime_dir().unwrap();
    let refused = prepared.refused.expect("a shared directory is refused");
    assert!(matches!(refused, ConnectionFileError::Insecure { .. }), "{refused}");
    assert!(refused.to_string().contains("has mode 1777"), "{refused}");
    let fallback = prepared.dir.path().to_owned();
    assert_eq!(fallback.parent(), Some(temp.as_path()));
    assert_eq!(fs::metadata(&fallback).unwrap().permissions().mode() & 0o7777, 0o700);
    let moved = jupdb_protocol::write_connection_file_in(&fallback, &info).unwrap();
    let listed = list_connection_files().unwrap();
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.files[0].path, moved);
    assert!(listed.skipped.iter().any(|e| e.to_string().contains("has mode 1777")));
    assert!(
        fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing written to the shared directory"
    );

    // Nowhere to write at all: an error that says both reasons.
    std::env::set_var("TMPDIR", root.join("missing").join("tmp"));
    let err = prepare_runtime_dir().unwrap_err();
    assert!(matches!(err, ConnectionFileError::NoPrivateDir { .. }), "{err}");

    fs::remove_dir_all(&root).unwrap();
    std::env::set_var("TMPDIR", &temp);
    assert!(list_connection_files().unwrap().files.is_empty());
}
