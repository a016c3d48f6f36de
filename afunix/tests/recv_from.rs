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
