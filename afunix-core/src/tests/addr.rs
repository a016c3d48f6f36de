//! sockaddr_un parsing and reporting (`unix_bind`, `unix_validate_addr`, `unix_mkname_bsd`,
//! `unix_getname`).

use alloc::vec;
use alloc::vec::Vec;

use crate::*;

fn raw(path: &[u8]) -> Vec<u8> {
    let mut v = AF_UNIX.to_ne_bytes().to_vec();
    v.extend_from_slice(path);
    v
}

#[test]
fn unix_bind_family_only_is_autobind() {
    assert_eq!(parse_bind_addr(&raw(b"")), Ok(BindRequest::Autobind));
}

#[test]
fn unix_validate_addr_rejects_short_long_and_foreign() {
    assert_eq!(parse_bind_addr(&[1]), Err(Errno::EINVAL));
    assert_eq!(parse_bind_addr(&[]), Err(Errno::EINVAL));
    assert_eq!(
        parse_connect_addr(&raw(b"")),
        Err(Errno::EINVAL),
        "connect has no autobind"
    );
    let mut long = raw(&[b'a'; 109]);
    assert_eq!(parse_bind_addr(&long), Err(Errno::EINVAL));
    long.truncate(SOCKADDR_UN_LEN);
    assert!(parse_bind_addr(&long).is_ok(), "108 bytes without NUL fit");
    let mut foreign = 2u16.to_ne_bytes().to_vec();
    foreign.extend_from_slice(b"/x");
    assert_eq!(parse_bind_addr(&foreign), Err(Errno::EINVAL));
}

#[test]
fn unix_mkname_bsd_stops_at_the_first_nul() {
    assert_eq!(
        parse_bind_addr(&raw(b"/tmp/s\0junk")),
        Ok(BindRequest::Pathname(b"/tmp/s".to_vec()))
    );
    assert_eq!(
        parse_connect_addr(&raw(b"/tmp/s\0")),
        Ok(ConnectRequest::Pathname(b"/tmp/s".to_vec()))
    );
}

#[test]
fn abstract_names_keep_every_byte_including_nuls() {
    assert_eq!(
        parse_bind_addr(&raw(b"\0a\0b\0")),
        Ok(BindRequest::Abstract(b"a\0b\0".to_vec()))
    );
    assert_eq!(
        parse_bind_addr(&raw(b"\0")),
        Ok(BindRequest::Abstract(vec![]))
    );
}

#[test]
fn unix_getname_lengths_match_linux() {
    assert_eq!(UnixAddr::Unnamed.reported_len(), 2);
    assert_eq!(UnixAddr::Pathname(b"/a".to_vec()).reported_len(), 5);
    assert_eq!(UnixAddr::Abstract(b"xyz".to_vec()).reported_len(), 6);
    // A 108-byte path reports 111: the NUL Linux writes past sun_path counts.
    assert_eq!(UnixAddr::Pathname(vec![b'p'; 108]).reported_len(), 111);
    assert_eq!(
        UnixAddr::Pathname(b"/a".to_vec()).to_sockaddr().unwrap(),
        raw(b"/a\0")
    );
    assert_eq!(
        UnixAddr::Abstract(b"q".to_vec()).to_sockaddr().unwrap(),
        raw(b"\0q")
    );
}
