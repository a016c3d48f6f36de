//! Socket files through the library and its in-process transport, held to the Linux kernel's
//! own AF_UNIX on the same paths: path errors, deleted socket files, files made later.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use afunix::Net;

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("afunix-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The errno of a result, or 0 for success.
fn errno<T>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().expect("an errno"),
    }
}

/// A directory with a regular file, a directory and a symlink loop in it.
fn tree(name: &str) -> PathBuf {
    let dir = tempdir(name);
    std::fs::write(dir.join("reg"), b"").unwrap();
    std::fs::create_dir(dir.join("d")).unwrap();
    std::os::unix::fs::symlink("loop2", dir.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", dir.join("loop2")).unwrap();
    dir
}

const PATHS: [&str; 10] = [
    "reg/x",
    "d",
    "d/",
    "new/",
    "reg",
    "reg/",
    "loop1",
    "loop1/x",
    "missing/x",
    "d/x/",
];

/// Runs `f` on every path of a fresh tree, for Linux and for the library, and returns the
/// differences.
fn compare(what: &str, linux: impl Fn(&Path) -> i32, ours: impl Fn(&Path) -> i32) -> Vec<String> {
    let linux_dir = tree(&format!("{what}-linux"));
    let our_dir = tree(&format!("{what}-ours"));
    let mut differences = Vec::new();
    for p in PATHS {
        let want = linux(&linux_dir.join(p));
        let got = ours(&our_dir.join(p));
        if want != got {
            differences.push(format!(
                "{what} {p}: Linux errno {want}, afunix errno {got}"
            ));
        }
    }
    differences
}

#[test]
fn bind_and_connect_path_errors_are_linuxs() {
    let net = Net::in_process();
    let mut differences = compare(
        "bind",
        |p| errno(std::os::unix::net::UnixListener::bind(p)),
        |p| errno(net.bind(p)),
    );
    differences.extend(compare(
        "connect",
        |p| errno(std::os::unix::net::UnixStream::connect(p)),
        |p| errno(net.connect(p)),
    ));
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn a_file_made_where_a_socket_file_was_deleted_refuses_connections() {
    let net = Net::in_process();
    let dir = tempdir("deleted");
    let path = dir.join("s");
    let listener = net.bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    // A plain file at the same path (on ext4, often with the same inode number).
    std::fs::write(&path, b"").unwrap();
    let err = net.connect(&path).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(111), "{err}");
    // Nor does a copy of another socket file's content reach its listener.
    let other = dir.join("other");
    let _bound = net.bind(&other).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::copy(&other, &path).unwrap();
    assert_eq!(net.connect(&path).unwrap_err().raw_os_error(), Some(111));
    drop(listener);
}

#[test]
fn binding_again_after_a_delete_serves_the_new_listener() {
    let net = Net::in_process();
    let dir = tempdir("rebind");
    let path = dir.join("s");
    let old = net.bind(&path).unwrap();
    old.set_nonblocking(true).unwrap();
    std::fs::remove_file(&path).unwrap();
    let new = net.bind(&path).unwrap();
    let mut client = net.connect(&path).unwrap();
    client.write_all(b"to the new one").unwrap();
    let (mut served, _) = new.accept().unwrap();
    let mut got = [0u8; 14];
    served.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to the new one");
    let err = old.accept().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
}
