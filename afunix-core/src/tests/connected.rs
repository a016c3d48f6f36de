//! Connected sockets (`TCP_ESTABLISHED`): data, peek, waitall, shutdown, poll.

use alloc::vec;

use super::fixtures::*;
use crate::*;

const PEEK: RecvFlags = RecvFlags {
    peek: true,
    waitall: false,
    dontwait: true,
    overlapped: false,
    trunc: false,
    rights_room: 0,
};
const WAITALL: RecvFlags = RecvFlags {
    peek: false,
    waitall: true,
    dontwait: true,
    overlapped: false,
    trunc: false,
    rights_room: 0,
};

#[test]
fn bytes_arrive_in_order_across_sends() {
    let mut fx = Fx::new();
    let (_, c, s) = fx.connected();
    assert_eq!(fx.send(c, b"hello "), Ok(6));
    assert_eq!(fx.send(c, b"world"), Ok(5));
    assert_eq!(fx.e.fionread(s), Ok(11));
    assert_eq!(fx.recv(s, 3), Ok(b"hel".to_vec()));
    assert_eq!(fx.recv(s, 100), Ok(b"lo world".to_vec()));
    assert_eq!(fx.recv(s, 1), Err(Errno::EAGAIN));
}

#[test]
fn msg_peek_does_not_consume_and_zero_length_recv() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    assert_eq!(fx.recv(b, 0), Err(Errno::EAGAIN), "len 0, nothing queued");
    fx.send(a, b"abc").unwrap();
    assert_eq!(fx.recv_flags(b, 2, PEEK), Ok(b"ab".to_vec()));
    assert_eq!(fx.recv(b, 0), Ok(vec![]), "len 0 with data returns 0");
    assert_eq!(fx.recv(b, 3), Ok(b"abc".to_vec()));
    assert_eq!(fx.send(a, b""), Ok(0));
}

#[test]
fn nonblocking_waitall_returns_what_there_is() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"abc").unwrap();
    assert_eq!(fx.recv_flags(b, 10, WAITALL), Ok(b"abc".to_vec()));
    assert_eq!(fx.recv_flags(b, 10, WAITALL), Err(Errno::EAGAIN));
}

#[test]
fn unix_shutdown_wr_is_peer_eof_after_data_and_our_epipe() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"last").unwrap();
    fx.e.shutdown(a, Shutdown::Write).unwrap();
    assert_eq!(fx.send(a, b"x"), Err(Errno::EPIPE));
    let m = fx.e.poll(b).unwrap();
    assert!(m.contains(PollMask::IN | PollMask::RDHUP));
    assert!(!m.contains(PollMask::HUP), "only half closed");
    assert_eq!(fx.recv(b, 10), Ok(b"last".to_vec()));
    assert_eq!(fx.recv(b, 10), Ok(vec![]), "EOF");
    assert_eq!(
        fx.send(b, b"back"),
        Ok(4),
        "the other direction still works"
    );
    assert_eq!(fx.recv(a, 10), Ok(b"back".to_vec()));
}

#[test]
fn unix_shutdown_rd_is_mirrored_as_peer_send_shutdown() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"q").unwrap();
    fx.e.shutdown(b, Shutdown::Read).unwrap();
    assert_eq!(fx.send(a, b"x"), Err(Errno::EPIPE));
    assert_eq!(
        fx.recv(b, 10),
        Ok(b"q".to_vec()),
        "queued data still readable"
    );
    assert_eq!(fx.recv(b, 10), Ok(vec![]));
    fx.e.shutdown(b, Shutdown::Write).unwrap();
    assert!(fx.e.poll(b).unwrap().contains(PollMask::HUP));
    assert_eq!(Shutdown::from_how(3), Err(Errno::EINVAL));
}

#[test]
fn unix_writable_drops_pollout_past_a_quarter_of_sndbuf_and_eagain_when_full() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_nonblocking(a, true).unwrap();
    let sndbuf = fx.e.sndbuf(a).unwrap() as usize;
    fx.send(a, &vec![1u8; sndbuf / 4]).unwrap();
    assert!(fx.e.poll(a).unwrap().contains(PollMask::OUT));
    fx.send(a, &[1]).unwrap();
    assert!(!fx.e.poll(a).unwrap().contains(PollMask::OUT));
    let rest = sndbuf - sndbuf / 4 - 1;
    assert_eq!(
        fx.send(a, &vec![1u8; rest + 100]),
        Ok(rest),
        "partial, then full"
    );
    assert_eq!(fx.send(a, &[1]), Err(Errno::EAGAIN));
    assert_eq!(fx.e.fionread(b), Ok(sndbuf));
}

#[test]
fn getpeername_reports_unnamed_client_and_bound_later_name() {
    let mut fx = Fx::new();
    let (_, c, s) = fx.connected();
    assert_eq!(fx.e.getpeername(s).cloned(), Ok(UnixAddr::Unnamed));
    fx.e.bind(c, BindTarget::Abstract(b"late".to_vec()))
        .unwrap();
    assert_eq!(
        fx.e.getpeername(s).cloned(),
        Ok(UnixAddr::Abstract(b"late".to_vec()))
    );
}

#[test]
fn ring_wraps_without_losing_a_byte() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    let data: alloc::vec::Vec<u8> = (0..4097u32).map(|i| (i % 251) as u8).collect();
    fx.send(b, &data[..2069]).unwrap();
    let mut got = fx.recv(a, 1487).unwrap();
    fx.send(b, &data[2069..]).unwrap();
    got.extend(fx.recv(a, 1835).unwrap());
    got.extend(fx.recv(a, 776).unwrap());
    assert_eq!(got.len(), 4097);
    assert_eq!(got, data);
}
