//! The request decoder against everything a hostile or buggy caller can send.

use afunix_proto::decode::{
    DecodeError, Destination, MsgFlags, OptValue, RECVFROM_HEADER, Request, decode,
};
use afunix_proto::encode;
use afunix_proto::ioctl::*;
use afunix_proto::wire::*;
use proptest::prelude::*;
use zerocopy::IntoBytes;

const BIG: usize = 4096;

fn sockaddr_path(path: &[u8]) -> Vec<u8> {
    let mut a = 1u16.to_ne_bytes().to_vec();
    a.extend_from_slice(path);
    a
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

#[test]
fn fixed_requests_round_trip() {
    let cases: Vec<(u32, Vec<u8>, Request<'static>)> = vec![
        (
            IOCTL_AFUNIX_SOCKET,
            encode::socket(1, true).as_bytes().to_vec(),
            Request::Socket {
                sock_type: 1,
                nonblocking: true,
            },
        ),
        (
            IOCTL_AFUNIX_LISTEN,
            encode::listen(-3).as_bytes().to_vec(),
            Request::Listen { backlog: -3 },
        ),
        (
            IOCTL_AFUNIX_ACCEPT,
            encode::handle(0x1234).as_bytes().to_vec(),
            Request::Accept { handle: 0x1234 },
        ),
        (
            IOCTL_AFUNIX_SOCKETPAIR,
            encode::handle(8).as_bytes().to_vec(),
            Request::SocketPair { handle: 8 },
        ),
        (
            IOCTL_AFUNIX_SHUTDOWN,
            encode::shutdown(2).as_bytes().to_vec(),
            Request::Shutdown { how: 2 },
        ),
        (
            IOCTL_AFUNIX_GETSOCKNAME,
            encode::empty().as_bytes().to_vec(),
            Request::GetSockName,
        ),
        (
            IOCTL_AFUNIX_GETPEERNAME,
            encode::empty().as_bytes().to_vec(),
            Request::GetPeerName,
        ),
        (
            IOCTL_AFUNIX_GETSOCKOPT,
            encode::sockopt(1, 7, 0).as_bytes().to_vec(),
            Request::GetSockOpt { level: 1, name: 7 },
        ),
        (
            IOCTL_AFUNIX_SETSOCKOPT,
            encode::sockopt(1, 8, 4096).as_bytes().to_vec(),
            Request::SetSockOpt {
                level: 1,
                name: 8,
                value: OptValue::int(4096),
            },
        ),
        (
            IOCTL_AFUNIX_SETSOCKOPT,
            encode::sockopt_value(1, 13, OptValue::linger(1, -7))
                .as_bytes()
                .to_vec(),
            Request::SetSockOpt {
                level: 1,
                name: 13,
                value: OptValue { int: 1, linger: -7 },
            },
        ),
        (
            IOCTL_AFUNIX_FIONBIO,
            encode::fionbio(true).as_bytes().to_vec(),
            Request::Fionbio { nonblocking: true },
        ),
        (
            IOCTL_AFUNIX_FIONREAD,
            encode::empty().as_bytes().to_vec(),
            Request::Fionread,
        ),
        (
            IOCTL_AFUNIX_PEERCRED,
            encode::empty().as_bytes().to_vec(),
            Request::PeerCred,
        ),
        (
            IOCTL_AFUNIX_SEND,
            encode::data(MSG_DONTWAIT).as_bytes().to_vec(),
            Request::Send {
                flags: MsgFlags(MSG_DONTWAIT),
                to: None,
            },
        ),
        (
            IOCTL_AFUNIX_RECV,
            encode::data(MSG_PEEK | MSG_WAITALL).as_bytes().to_vec(),
            Request::Recv {
                flags: MsgFlags(MSG_PEEK | MSG_WAITALL),
                from: false,
            },
        ),
        (
            IOCTL_AFUNIX_RECVFROM,
            encode::data(MSG_PEEK).as_bytes().to_vec(),
            Request::Recv {
                flags: MsgFlags(MSG_PEEK),
                from: true,
            },
        ),
        (IOCTL_AFUNIX_STATS, vec![], Request::Stats),
    ];
    for (code, bytes, expected) in cases {
        assert_eq!(decode(code, &bytes, BIG), Ok(expected), "{code:#x}");
    }
}

#[test]
fn every_fixed_request_refuses_wrong_sizes_versions_and_reserved_bits() {
    let cases: Vec<(u32, Vec<u8>)> = vec![
        (
            IOCTL_AFUNIX_SOCKET,
            encode::socket(1, false).as_bytes().to_vec(),
        ),
        (IOCTL_AFUNIX_LISTEN, encode::listen(5).as_bytes().to_vec()),
        (IOCTL_AFUNIX_ACCEPT, encode::handle(4).as_bytes().to_vec()),
        (
            IOCTL_AFUNIX_SOCKETPAIR,
            encode::handle(4).as_bytes().to_vec(),
        ),
        (
            IOCTL_AFUNIX_SHUTDOWN,
            encode::shutdown(0).as_bytes().to_vec(),
        ),
        (
            IOCTL_AFUNIX_GETSOCKNAME,
            encode::empty().as_bytes().to_vec(),
        ),
        (
            IOCTL_AFUNIX_GETSOCKOPT,
            encode::sockopt(1, 7, 0).as_bytes().to_vec(),
        ),
        (
            IOCTL_AFUNIX_SETSOCKOPT,
            encode::sockopt(1, 7, 0).as_bytes().to_vec(),
        ),
        (
            IOCTL_AFUNIX_FIONBIO,
            encode::fionbio(false).as_bytes().to_vec(),
        ),
        (IOCTL_AFUNIX_FIONREAD, encode::empty().as_bytes().to_vec()),
        (IOCTL_AFUNIX_PEERCRED, encode::empty().as_bytes().to_vec()),
        (IOCTL_AFUNIX_SEND, encode::data(0).as_bytes().to_vec()),
        (IOCTL_AFUNIX_RECV, encode::data(0).as_bytes().to_vec()),
    ];
    for (code, good) in cases {
        for cut in 0..good.len() {
            assert_eq!(
                decode(code, &good[..cut], BIG),
                Err(DecodeError::Truncated),
                "{code:#x} cut {cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(
            decode(code, &longer, BIG),
            Err(DecodeError::Oversized),
            "{code:#x}"
        );
        // Version 1 (before AddressOut grew) and any later one are refused.
        for version in [1u16, 3] {
            let mut other = good.clone();
            other[..2].copy_from_slice(&version.to_ne_bytes());
            assert_eq!(
                decode(code, &other, BIG),
                Err(DecodeError::Version(version)),
                "{code:#x}"
            );
        }
        let mut reserved = good.clone();
        reserved[2] = 1;
        assert_eq!(
            decode(code, &reserved, BIG),
            Err(DecodeError::Reserved),
            "{code:#x}"
        );
        // Errors map to EINVAL, as every malformed request does.
        assert_eq!(DecodeError::Truncated.errno(), 22);
    }
    let mut handle = encode::handle(4);
    handle.reserved2 = 9;
    assert_eq!(
        decode(IOCTL_AFUNIX_ACCEPT, handle.as_bytes(), BIG),
        Err(DecodeError::Reserved)
    );
    let bad_flags = SocketIn {
        flags: 2,
        ..encode::socket(1, false)
    };
    assert_eq!(
        decode(IOCTL_AFUNIX_SOCKET, bad_flags.as_bytes(), BIG),
        Err(DecodeError::Reserved)
    );
}

#[test]
fn replies_need_room() {
    let empty = encode::empty();
    assert_eq!(
        decode(IOCTL_AFUNIX_GETSOCKNAME, empty.as_bytes(), 119),
        Err(DecodeError::OutputTooSmall)
    );
    // The address reply grew to 128 bytes in version 2: 120 is no longer room for it.
    for code in [IOCTL_AFUNIX_GETSOCKNAME, IOCTL_AFUNIX_GETPEERNAME] {
        assert_eq!(
            decode(code, empty.as_bytes(), 127),
            Err(DecodeError::OutputTooSmall)
        );
        assert!(decode(code, empty.as_bytes(), 128).is_ok());
    }
    assert_eq!(
        decode(IOCTL_AFUNIX_ACCEPT, encode::handle(1).as_bytes(), 127),
        Err(DecodeError::OutputTooSmall)
    );
    assert_eq!(
        decode(IOCTL_AFUNIX_PEERCRED, empty.as_bytes(), 75),
        Err(DecodeError::OutputTooSmall)
    );
    assert_eq!(
        decode(IOCTL_AFUNIX_FIONREAD, empty.as_bytes(), 7),
        Err(DecodeError::OutputTooSmall)
    );
    assert_eq!(
        decode(IOCTL_AFUNIX_ACCEPT, encode::handle(1).as_bytes(), 0),
        Err(DecodeError::OutputTooSmall)
    );
    assert_eq!(
        decode(IOCTL_AFUNIX_STATS, &[], 31),
        Err(DecodeError::OutputTooSmall)
    );
    // SEND and RECV data may be any length, zero included; RECVFROM's output holds at least
    // the sender's address.
    assert!(decode(IOCTL_AFUNIX_RECV, encode::data(0).as_bytes(), 0).is_ok());
    assert_eq!(
        decode(
            IOCTL_AFUNIX_RECVFROM,
            encode::data(0).as_bytes(),
            RECVFROM_HEADER - 1
        ),
        Err(DecodeError::OutputTooSmall)
    );
    assert!(
        decode(
            IOCTL_AFUNIX_RECVFROM,
            encode::data(0).as_bytes(),
            RECVFROM_HEADER
        )
        .is_ok()
    );
}

#[test]
fn sendto_carries_its_destination_and_an_empty_one_is_a_send() {
    let abstract_name = [1u8, 0, 0, b'x'];
    let bytes = encode::send_to(MSG_DONTWAIT, &abstract_name, &[]).unwrap();
    match decode(IOCTL_AFUNIX_SENDTO, &bytes, 0) {
        Ok(Request::Send {
            flags,
            to: Some(Destination::Address(to)),
        }) => {
            assert_eq!(flags, MsgFlags(MSG_DONTWAIT));
            assert_eq!(to.sockaddr, &abstract_name);
            assert_eq!(to.nt_path, None);
        }
        other => panic!("{other:?}"),
    }
    let path: Vec<u16> = "\\??\\C:\\s".encode_utf16().collect();
    let bytes = encode::send_to(0, b"\x01\x00/s", &path).unwrap();
    assert!(matches!(
        decode(IOCTL_AFUNIX_SENDTO, &bytes, 0),
        Ok(Request::Send { to: Some(Destination::Address(to)), .. }) if to.nt_path.is_some()
    ));
    let bytes = encode::send_to(0, &[], &[]).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_SENDTO, &bytes, 0),
        Ok(Request::Send {
            flags: MsgFlags(0),
            to: None
        })
    );
    // Longer than a sockaddr_un, within a sockaddr_storage: carried as its length.
    let bytes = encode::send_to(0, &[1u8; 111], &[]).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_SENDTO, &bytes, 0),
        Ok(Request::Send {
            flags: MsgFlags(0),
            to: Some(Destination::Oversize(111))
        })
    );
    assert!(encode::send_to(0, &[1u8; 129], &[]).is_err());
    // A pathname destination may come without its NT path (a stream never looks it up);
    // bytes after the destination are refused.
    let bytes = encode::send_to(0, b"\x01\x00/s", &[]).unwrap();
    assert!(matches!(
        decode(IOCTL_AFUNIX_SENDTO, &bytes, 0),
        Ok(Request::Send { to: Some(Destination::Address(to)), .. }) if to.nt_path.is_none()
    ));
    let mut bytes = encode::send_to(0, &abstract_name, &[]).unwrap();
    bytes.push(0);
    assert_eq!(
        decode(IOCTL_AFUNIX_SENDTO, &bytes, 0),
        Err(DecodeError::Oversized)
    );
}

#[test]
fn unknown_ioctls_are_enotty() {
    let err = decode(0xAF05_3FFC, &[], BIG).unwrap_err();
    assert_eq!(err, DecodeError::UnknownIoctl(0xAF05_3FFC));
    assert_eq!(err.errno(), 25);
}

#[test]
fn pathname_addresses_carry_their_nt_path() {
    let sockaddr = sockaddr_path(b"/tmp/s\0");
    let path = utf16(r"\??\C:\tmp\s");
    let bytes = encode::address(&sockaddr, &path).unwrap();
    let Ok(Request::Bind(a)) = decode(IOCTL_AFUNIX_BIND, &bytes, 0) else {
        panic!("not a bind")
    };
    assert_eq!(a.sockaddr, &sockaddr[..]);
    assert_eq!(a.nt_path.unwrap().units().collect::<Vec<_>>(), path);
    let Ok(Request::Connect(c)) = decode(IOCTL_AFUNIX_CONNECT, &bytes, 0) else {
        panic!("not a connect")
    };
    assert_eq!(c, a);
}

#[test]
fn abstract_and_autobind_addresses_have_no_path() {
    let abstract_addr = sockaddr_path(b"\0name\0with nul");
    let bytes = encode::address(&abstract_addr, &[]).unwrap();
    let Ok(Request::Bind(a)) = decode(IOCTL_AFUNIX_BIND, &bytes, 0) else {
        panic!()
    };
    assert_eq!((a.sockaddr, a.nt_path), (&abstract_addr[..], None));
    let autobind = 1u16.to_ne_bytes();
    let bytes = encode::address(&autobind, &[]).unwrap();
    assert!(
        matches!(decode(IOCTL_AFUNIX_BIND, &bytes, 0), Ok(Request::Bind(a)) if a.sockaddr.len() == 2)
    );
    // An abstract name with a path attached is refused: nothing rides along unchecked.
    let bytes = encode::address(&abstract_addr, &utf16("x")).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::NtPath)
    );
}

#[test]
fn bad_paths_are_refused() {
    let sockaddr = sockaddr_path(b"/tmp/s");
    // No NT path for a pathname.
    let bytes = encode::address(&sockaddr, &[]).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::NtPath)
    );
    // A NUL inside, or an unpaired surrogate.
    for bad in [vec![0x41, 0, 0x42], vec![0xD800, 0x41]] {
        let bytes = encode::address(&sockaddr, &bad).unwrap();
        assert_eq!(
            decode(IOCTL_AFUNIX_BIND, &bytes, 0),
            Err(DecodeError::NtPath)
        );
    }
    // An odd number of path bytes.
    let mut bytes = encode::address(&sockaddr, &utf16("ab")).unwrap();
    bytes.pop();
    let len = (bytes.len() - 124) as u32;
    bytes[8..12].copy_from_slice(&len.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::NtPath)
    );
    // sun_path that is not UTF-8.
    let bytes = encode::address(&sockaddr_path(b"/tmp/\xff"), &utf16("p")).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::PathUtf8)
    );
    // path_len claims more than was sent, or less.
    let mut bytes = encode::address(&sockaddr, &utf16("abc")).unwrap();
    bytes[8..12].copy_from_slice(&8u32.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::Truncated)
    );
    bytes[8..12].copy_from_slice(&2u32.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::Oversized)
    );
    bytes[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::Length)
    );
    // addr_len beyond sockaddr_un, and bytes after addr_len that are not zero.
    let mut bytes = encode::address(&sockaddr, &utf16("p")).unwrap();
    bytes[4..8].copy_from_slice(&111u32.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::Length)
    );
    let mut bytes = encode::address(&sockaddr, &utf16("p")).unwrap();
    bytes[12 + 100] = 1;
    assert_eq!(
        decode(IOCTL_AFUNIX_BIND, &bytes, 0),
        Err(DecodeError::Reserved)
    );
    assert_eq!(
        encode::address(&[0; 111], &[]),
        Err(encode::EncodeError::AddressTooLong)
    );
}

#[test]
fn poll_requests() {
    let bytes = encode::poll(&[(4, 1), (8, 4)], 250).unwrap();
    let Ok(Request::Poll(p)) = decode(IOCTL_AFUNIX_POLL, &bytes, bytes.len()) else {
        panic!()
    };
    assert_eq!(p.timeout_ms, 250);
    let entries: Vec<_> = p.entries().map(|e| (e.handle, e.events)).collect();
    assert_eq!(entries, vec![(4, 1), (8, 4)]);
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &bytes, bytes.len() - 1),
        Err(DecodeError::OutputTooSmall)
    );
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &bytes[..bytes.len() - 1], BIG),
        Err(DecodeError::Truncated)
    );
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[0; 16]);
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &extra, BIG),
        Err(DecodeError::Oversized)
    );
    let mut revents = bytes.clone();
    revents[16 + 12] = 1;
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &revents, BIG),
        Err(DecodeError::Reserved)
    );
    let mut zero = bytes.clone();
    zero[4..8].copy_from_slice(&0u32.to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &zero[..16], BIG),
        Err(DecodeError::Length)
    );
    let mut huge = bytes;
    huge[4..8].copy_from_slice(&(POLL_MAX_ENTRIES as u32 + 1).to_ne_bytes());
    assert_eq!(
        decode(IOCTL_AFUNIX_POLL, &huge, BIG),
        Err(DecodeError::Length)
    );
    assert_eq!(
        encode::poll(&[], 0),
        Err(encode::EncodeError::TooManyEntries)
    );
}

#[test]
fn socket_names_every_type_and_the_device_decides() {
    // The decoder carries the type as given: SOCK_RAW's mapping and ESOCKTNOSUPPORT for the
    // rest are the device's, one place for every front end.
    for ty in [
        SOCK_STREAM,
        SOCK_DGRAM,
        SOCK_RAW,
        SOCK_SEQPACKET,
        4,
        10,
        u32::MAX,
    ] {
        assert_eq!(
            decode(IOCTL_AFUNIX_SOCKET, encode::socket(ty, false).as_bytes(), 0),
            Ok(Request::Socket {
                sock_type: ty,
                nonblocking: false
            })
        );
    }
    assert_eq!(
        (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET),
        (1, 2, 3, 5)
    );
}

#[test]
fn msg_trunc_is_linux_bit_and_reaches_the_receive() {
    assert_eq!(MSG_TRUNC, 0x20);
    for code in [IOCTL_AFUNIX_RECV, IOCTL_AFUNIX_RECVFROM] {
        let Ok(Request::Recv { flags, .. }) =
            decode(code, encode::data(MSG_TRUNC | MSG_PEEK).as_bytes(), BIG)
        else {
            panic!("{code:#x} did not decode");
        };
        assert!(flags.trunc() && flags.peek());
        let Ok(Request::Recv { flags, .. }) = decode(code, encode::data(MSG_PEEK).as_bytes(), BIG)
        else {
            panic!("{code:#x} did not decode");
        };
        assert!(!flags.trunc());
    }
}

#[test]
fn address_reply_carries_msg_flags_and_msg_len_at_fixed_offsets() {
    // The layout user mode reads: addr_len, msg_flags, 112 bytes of sockaddr, msg_len.
    assert_eq!(RECVFROM_HEADER, 128);
    assert_eq!(std::mem::size_of::<AddressOut>(), 128);
    let mut out = AddressOut::new(&sockaddr_path(b"/s"), 5);
    assert_eq!((out.msg_flags, out.msg_len, out.truncated()), (0, 0, false));
    out.msg_flags = MSG_TRUNC;
    out.msg_len = 0x0102_0304_0506_0708;
    let bytes = out.as_bytes();
    assert_eq!(bytes[0..4], 5u32.to_ne_bytes());
    assert_eq!(bytes[4..8], MSG_TRUNC.to_ne_bytes());
    assert_eq!(bytes[8..10], 1u16.to_ne_bytes());
    assert_eq!(&bytes[10..12], b"/s");
    assert_eq!(bytes[120..128], 0x0102_0304_0506_0708u64.to_ne_bytes());
    let back = <AddressOut as zerocopy::FromBytes>::read_from_bytes(bytes).unwrap();
    assert_eq!(back, out);
    assert!(back.truncated());
    let none = AddressOut::none();
    assert_eq!((none.addr_len, none.sockaddr()), (0, &[][..]));
    assert!(none.as_bytes().iter().all(|&b| b == 0));
}

#[test]
fn replies_round_trip() {
    let out = AddressOut::new(&sockaddr_path(b"/tmp/s\0"), 9);
    assert_eq!(out.sockaddr(), &sockaddr_path(b"/tmp/s\0")[..]);
    // Linux reports 111 for a 108-byte path; the reply keeps all of it.
    let long = sockaddr_path(&[b'a'; 108]);
    let mut with_nul = long.clone();
    with_nul.push(0);
    let out = AddressOut::new(&with_nul, 111);
    assert_eq!(out.addr_len, 111);
    assert_eq!(out.sockaddr(), &with_nul[..]);
    let cred = PeerCredOut::new(
        42,
        &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
        0x1000,
        PEERCRED_APP_CONTAINER,
    )
    .unwrap();
    assert_eq!(
        (cred.pid, cred.sid(), cred.integrity, cred.flags),
        (
            42,
            &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0][..],
            0x1000,
            PEERCRED_APP_CONTAINER
        )
    );
    assert!(PeerCredOut::new(1, &[0; 69], 0x2000, 0).is_none());
}

proptest! {
    /// Any bytes for any IOCTL, any output length: an answer, never a panic.
    #[test]
    fn arbitrary_input_never_panics(code_index in 0..ALL_IOCTLS.len(), junk in any::<u32>(),
                                     bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                     output_len in 0usize..200) {
        let code = if junk % 7 == 0 { junk } else { ALL_IOCTLS[code_index] };
        let _ = decode(code, &bytes, output_len);
    }

    /// SENDTO with any destination a program could pass (up to a sockaddr_storage and past
    /// it), with or without an NT path, and any flips of its bytes: an answer, never a
    /// panic; an untouched one decodes to what was encoded.
    #[test]
    fn sendto_destinations_decode_or_are_refused(
        sockaddr in proptest::collection::vec(any::<u8>(), 0..140),
        path in proptest::collection::vec(1u16..0xD7FF, 0..8),
        flip in any::<(usize, u8)>(),
    ) {
        let Ok(mut bytes) = encode::send_to(0, &sockaddr, &path) else {
            prop_assert!(sockaddr.len() > 128);
            return Ok(());
        };
        match decode(IOCTL_AFUNIX_SENDTO, &bytes, 0) {
            Ok(Request::Send { to: None, .. }) => prop_assert!(sockaddr.is_empty()),
            Ok(Request::Send { to: Some(Destination::Address(a)), .. }) => {
                prop_assert_eq!(a.sockaddr, &sockaddr[..]);
            }
            Ok(Request::Send { to: Some(Destination::Oversize(n)), .. }) => {
                prop_assert_eq!(n, sockaddr.len());
            }
            Ok(other) => prop_assert!(false, "{other:?}"),
            Err(_) => {}
        }
        let at = flip.0 % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b ^= flip.1;
        }
        let _ = decode(IOCTL_AFUNIX_SENDTO, &bytes, 0);
    }

    /// Mostly-valid addresses with random paths and bytes: accepted ones decode to exactly
    /// what was encoded.
    #[test]
    fn addresses_round_trip(sun_path in proptest::collection::vec(any::<u8>(), 0..108),
                            path in proptest::collection::vec(1u16..0xD7FF, 0..64)) {
        let sockaddr = sockaddr_path(&sun_path);
        let bytes = encode::address(&sockaddr, &path).unwrap();
        if let Ok(Request::Bind(a)) = decode(IOCTL_AFUNIX_BIND, &bytes, 0) {
            prop_assert_eq!(a.sockaddr, &sockaddr[..]);
            let units: Vec<u16> = a.nt_path.map(|p| p.units().collect()).unwrap_or_default();
            prop_assert_eq!(units, path);
        }
    }
}

#[test]
fn pathname_is_sun_path_up_to_the_first_nul() {
    use afunix_proto::encode::pathname;
    let mut addr = 1u16.to_ne_bytes().to_vec();
    addr.extend_from_slice(b"C:\\sock\0junk");
    assert_eq!(pathname(&addr), Some(&b"C:\\sock"[..]));
    let mut abstract_name = 1u16.to_ne_bytes().to_vec();
    abstract_name.extend_from_slice(b"\0name");
    assert_eq!(pathname(&abstract_name), None, "abstract");
    assert_eq!(pathname(&1u16.to_ne_bytes()), None, "unnamed");
    assert_eq!(pathname(&[1]), None, "too short");
}

#[test]
fn connect_with_af_unspec_needs_no_path() {
    // connect(AF_UNSPEC) dissolves a datagram socket's association: nothing is looked up,
    // whatever bytes follow the family.
    for sockaddr in [&[0u8, 0][..], &[0, 0, b'/', b'x'][..]] {
        let input = encode::address(sockaddr, &[]).unwrap();
        assert_eq!(
            decode(IOCTL_AFUNIX_CONNECT, &input, 0),
            Ok(Request::Connect(afunix_proto::decode::Address {
                sockaddr,
                nt_path: None
            }))
        );
    }
    // The same bytes as an AF_UNIX pathname still need their NT path.
    let input = encode::address(&sockaddr_path(b"/x"), &[]).unwrap();
    assert_eq!(
        decode(IOCTL_AFUNIX_CONNECT, &input, 0),
        Err(DecodeError::NtPath)
    );
}
