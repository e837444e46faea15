//! The functions that find the runtime directory through the environment.
//!
//! This file is its own test process with a single test, so setting
//! `JUPDB_RUNTIME_DIR` here races with nothing.

use std::fs;

use jupdb_protocol::{
    list_connection_files, new_id, new_key, read_connection_file, runtime_dir,
    write_connection_file, ConnectionInfo,
};

#[test]
fn jupdb_runtime_dir_is_used_for_writing_and_listing() {
    let dir = std::env::temp_dir()
        .join(format!("jupdb-protocol-env-{}", new_id()))
        .join("runtime");
    std::env::set_var("JUPDB_RUNTIME_DIR", &dir);
    assert_eq!(runtime_dir().unwrap(), dir);

    let info = ConnectionInfo::new(&new_key().unwrap(), 1234);
    let path = write_connection_file(&info).unwrap();
    assert_eq!(path.parent(), Some(dir.as_path()));
    assert_eq!(read_connection_file(&path).unwrap(), info);

    let listed = list_connection_files().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].path, path);
    assert_eq!(listed[0].info, info);

    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    assert!(list_connection_files().unwrap().is_empty());
}
