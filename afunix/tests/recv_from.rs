//! `recv_from` through the library's raw API: bytes and the sender's name, also when the
//! request has to wait for them.

use std::thread;
use std::time::Duration;

use afunix::Net;

#[test]
fn a_recv_from_that_waits_gets_its_bytes_and_the_senders_name() {
    let net = Net::in_process();
    let a = net.socket().unwrap();
    let b = net.socket().unwrap();
    a.pair_with(&b).unwrap();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        assert_eq!(b.send(b"hello", 0).unwrap(), 5);
        b
    });
    let mut buf = [0u8; 16];
    // Blocking, with nothing queued: the request waits in the device.
    let (n, from_len, _) = a.recv_from(&mut buf, 0).unwrap();
    let _b = writer.join().unwrap();
    assert_eq!(&buf[..n], b"hello");
    // A socketpair's peer has no name: length 0, as Linux reports it.
    assert_eq!(from_len, 0);
}

#[test]
fn sendto_on_a_stream_is_refused_whatever_the_address() {
    let net = Net::in_process();
    let a = net.socket().unwrap();
    let b = net.socket().unwrap();
    // Unconnected: EOPNOTSUPP; connected: EISCONN, even for a path that could not exist.
    let path = b"\x01\x00/no/such/dir/\xff";
    assert_eq!(a.send_to(b"x", 0, path), Err(afunix::Errno::EOPNOTSUPP));
    a.pair_with(&b).unwrap();
    assert_eq!(a.send_to(b"x", 0, path), Err(afunix::Errno::EISCONN));
    assert_eq!(
        a.send_to(b"x", 0, b"\x01\x00\x00abstract"),
        Err(afunix::Errno::EISCONN)
    );
}

#[test]
fn msg_trunc_returns_a_datagrams_whole_length_and_recv_msg_says_it_was_cut() {
    use afunix::net::{SOCK_DGRAM, SOCK_SEQPACKET};
    const MSG_TRUNC: u32 = 0x20;
    const MSG_PEEK: u32 = 0x2;
    for ty in [SOCK_DGRAM, SOCK_SEQPACKET] {
        let net = Net::in_process();
        let a = net.socket_typed(ty).unwrap();
        let b = net.socket_typed(ty).unwrap();
        a.pair_with(&b).unwrap();
        assert_eq!(a.send(b"0123456789", 0).unwrap(), 10);
        assert_eq!(a.send(b"next", 0).unwrap(), 4);
        let mut buf = [0u8; 4];
        // Peeked with MSG_TRUNC: the whole length, the message left queued.
        assert_eq!(b.recv(&mut buf, MSG_TRUNC | MSG_PEEK).unwrap(), 10);
        let m = b.recv_msg(&mut buf, 0).unwrap();
        assert_eq!((m.copied, m.len, m.ret, m.msg_flags), (4, 10, 4, MSG_TRUNC));
        assert_eq!(&buf, b"0123");
        // The rest of the cut message is gone: the next receive is the next message.
        let m = b.recv_msg(&mut buf, MSG_TRUNC).unwrap();
        assert_eq!((m.copied, m.len, m.ret, m.msg_flags), (4, 4, 4, 0));
        assert_eq!(&buf, b"next");
    }
}
