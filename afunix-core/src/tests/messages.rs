//! Datagram and seqpacket sockets.

use alloc::vec;
use alloc::vec::Vec;

use super::fixtures::{Fx, cred, ready};
use crate::*;

const NOW: SendFlags = SendFlags {
    dontwait: true,
    overlapped: false,
};
const WAIT: SendFlags = SendFlags {
    dontwait: false,
    overlapped: false,
};
const RECV_NOW: RecvFlags = RecvFlags {
    peek: false,
    waitall: false,
    dontwait: true,
    overlapped: false,
    trunc: false,
    rights_room: 0,
};

fn abs(name: &[u8]) -> ConnectTarget {
    ConnectTarget::Abstract(name.to_vec())
}

impl Fx {
    fn dgram(&mut self) -> SocketId {
        self.e.socket_typed(&[], SockType::Dgram).unwrap()
    }

    fn bound_dgram(&mut self, name: &[u8]) -> SocketId {
        let s = self.dgram();
        self.e.bind(s, BindTarget::Abstract(name.to_vec())).unwrap();
        s
    }

    #[track_caller]
    fn send_to(&mut self, s: SocketId, to: &[u8], data: &[u8]) -> Result<usize, Errno> {
        let t = self.token();
        ready(self.e.send_to(s, &abs(to), data, NOW, t))
    }

    #[track_caller]
    fn recv_msg(
        &mut self,
        s: SocketId,
        len: usize,
        flags: RecvFlags,
    ) -> Result<(Received, Vec<u8>), Errno> {
        let t = self.token();
        ready(self.e.recv_from(s, len, flags, t))
    }
}

#[test]
fn datagrams_keep_their_boundaries_and_a_short_buffer_drops_the_rest() {
    let mut fx = Fx::new();
    let (a, b) = fx.e.socketpair_typed(SockType::Dgram, &cred(1)).unwrap();
    assert_eq!(fx.e.socket_type(a), Ok(SockType::Dgram));
    assert_eq!(fx.send(a, b"hello"), Ok(5));
    assert_eq!(fx.send(a, b""), Ok(0));
    assert_eq!(fx.send(a, b"world!"), Ok(6));
    assert_eq!(
        fx.e.fionread(b),
        Ok(5),
        "FIONREAD: the next datagram's size"
    );

    let peek = RecvFlags {
        peek: true,
        ..RECV_NOW
    };
    let (r, data) = fx.recv_msg(b, 64, peek).unwrap();
    assert_eq!((r.copied, r.len, data.as_slice()), (5, 5, &b"hello"[..]));
    let (r, data) = fx.recv_msg(b, 3, RECV_NOW).unwrap();
    assert_eq!((r.copied, r.len, data.as_slice()), (3, 5, &b"hel"[..]));
    assert!(r.truncated());
    // The rest of "hello" is gone: next comes the empty datagram, then "world!".
    let (r, _) = fx.recv_msg(b, 64, RECV_NOW).unwrap();
    assert_eq!((r.copied, r.len), (0, 0));
    let trunc = RecvFlags {
        trunc: true,
        ..RECV_NOW
    };
    let t = fx.token();
    let mut buf = [0u8; 2];
    assert_eq!(
        ready(fx.e.recv(b, &mut buf, trunc, t)),
        Ok(6),
        "MSG_TRUNC: the real length"
    );
    assert_eq!(&buf, b"wo");
    assert_eq!(fx.recv(b, 64), Err(Errno::EAGAIN));
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn recvfrom_names_the_sender_or_none_when_unbound() {
    let mut fx = Fx::new();
    let srv = fx.bound_dgram(b"srv");
    let named = fx.bound_dgram(b"cli");
    let anon = fx.dgram();
    assert_eq!(fx.send_to(named, b"srv", b"1"), Ok(1));
    assert_eq!(fx.send_to(anon, b"srv", b"2"), Ok(1));
    let (r, _) = fx.recv_msg(srv, 8, RECV_NOW).unwrap();
    assert_eq!(r.from, Some(UnixAddr::Abstract(b"cli".to_vec())));
    let (r, _) = fx.recv_msg(srv, 8, RECV_NOW).unwrap();
    assert_eq!(r.from, None);
    // Sending to a name nobody holds.
    assert_eq!(fx.send_to(anon, b"nobody", b"x"), Err(Errno::ECONNREFUSED));
    // Unconnected send.
    assert_eq!(fx.send(anon, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(fx.e.getpeername(anon), Err(Errno::ENOTCONN));
}

#[test]
fn the_sender_name_is_read_when_received_and_survives_the_sender() {
    let mut fx = Fx::new();
    let srv = fx.bound_dgram(b"srv");
    let c = fx.dgram();
    assert_eq!(fx.send_to(c, b"srv", b"before bind"), Ok(11));
    fx.e.bind(c, BindTarget::Abstract(b"late".to_vec()))
        .unwrap();
    assert_eq!(fx.send_to(c, b"srv", b"x"), Ok(1));
    fx.e.close(c).unwrap();
    // Linux reads the sending socket's name at receive time (`unix_copy_addr`), and a
    // closed sender's socket lives on with its messages: both name it as it was.
    for _ in 0..2 {
        let (r, _) = fx.recv_msg(srv, 64, RECV_NOW).unwrap();
        assert_eq!(r.from, Some(UnixAddr::Abstract(b"late".to_vec())));
    }
}

#[test]
fn connect_sets_the_default_peer_and_filters_other_senders() {
    let mut fx = Fx::new();
    let a = fx.bound_dgram(b"a");
    let b = fx.bound_dgram(b"b");
    let c = fx.bound_dgram(b"c");
    let t = fx.token();
    ready(fx.e.connect(a, &abs(b"b"), &cred(1), t)).unwrap();
    assert_eq!(fx.e.getpeername(a), Ok(&UnixAddr::Abstract(b"b".to_vec())));
    assert_eq!(fx.send(a, b"to b"), Ok(4));
    // a takes messages from b only: c may not send to it.
    assert_eq!(fx.send_to(c, b"a", b"x"), Err(Errno::EPERM));
    let t = fx.token();
    assert_eq!(
        ready(fx.e.connect(c, &abs(b"a"), &cred(1), t)),
        Err(Errno::EPERM)
    );
    assert_eq!(fx.send_to(b, b"a", b"reply"), Ok(5));
    // AF_UNSPEC dissolves it, and purges what a had queued.
    assert_eq!(fx.e.fionread(a), Ok(5));
    fx.e.disconnect(a).unwrap();
    assert_eq!(fx.e.fionread(a), Ok(0));
    assert_eq!(fx.e.getpeername(a), Err(Errno::ENOTCONN));
    assert_eq!(fx.send_to(c, b"a", b"now"), Ok(3));
    // Streams take no AF_UNSPEC.
    let s = fx.e.socket().unwrap();
    assert_eq!(fx.e.disconnect(s), Err(Errno::EINVAL));
    let (r, data) = fx.recv_msg(b, 64, RECV_NOW).unwrap();
    assert_eq!(
        (data.as_slice(), r.from),
        (&b"to b"[..], Some(UnixAddr::Abstract(b"a".to_vec())))
    );
}

#[test]
fn a_closed_peer_refuses_the_next_send_once() {
    let mut fx = Fx::new();
    let a = fx.dgram();
    let b = fx.bound_dgram(b"b");
    let t = fx.token();
    ready(fx.e.connect(a, &abs(b"b"), &cred(1), t)).unwrap();
    fx.e.close(b).unwrap();
    // getpeername still names the dead peer until a send finds it gone.
    assert_eq!(fx.e.getpeername(a), Ok(&UnixAddr::Abstract(b"b".to_vec())));
    assert_eq!(fx.send(a, b"x"), Err(Errno::ECONNREFUSED));
    assert_eq!(fx.send(a, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(fx.e.getpeername(a), Err(Errno::ENOTCONN));
}

#[test]
fn a_full_receiver_blocks_its_sender_until_it_takes_one() {
    let mut fx = Fx::new();
    let srv = fx.bound_dgram(b"srv");
    let c = fx.dgram();
    // max_dgram_qlen 10: the queue is full when it holds more than 10.
    for i in 0..11u8 {
        assert_eq!(fx.send_to(c, b"srv", &[i]), Ok(1), "message {i}");
    }
    assert_eq!(fx.send_to(c, b"srv", b"x"), Err(Errno::EAGAIN));
    let t = fx.token();
    let blocked = fx.e.send_to(c, &abs(b"srv"), &[11], WAIT, t);
    assert!(blocked.is_pending());
    // A later non-blocking send does not overtake it.
    assert_eq!(fx.send_to(c, b"srv", b"x"), Err(Errno::EAGAIN));
    assert!(fx.completions().is_empty());
    let (_, first) = fx.recv_msg(srv, 8, RECV_NOW).unwrap();
    assert_eq!(first, [0]);
    let done = fx.completions();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].token, t);
    assert_eq!(done[0].result, Ok(Completed::Sent(1)));
    for i in 1..12u8 {
        assert_eq!(fx.recv_msg(srv, 8, RECV_NOW).unwrap().1, [i]);
    }
    assert_eq!(fx.e.pending_count(), 0);
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn the_senders_sndbuf_bounds_a_socketpair() {
    let mut fx = Fx::new();
    let (a, b) = fx.e.socketpair_typed(SockType::Dgram, &cred(1)).unwrap();
    // Connected back: no queue-length limit, only SO_SNDBUF.
    let mut sent = 0usize;
    while fx.send(a, &[7; 1000]) == Ok(1000) {
        sent += 1;
        assert!(sent < 1000);
    }
    let per = 1000 + MSG_OVERHEAD;
    assert_eq!(
        sent,
        212_992 / per + 1,
        "sends until SO_SNDBUF is reached, as Linux"
    );
    assert_eq!(fx.e.poll(a).unwrap().0 & PollMask::OUT, 0);
    assert_eq!(fx.send(a, &[1]), Err(Errno::EAGAIN));
    // A message over SO_SNDBUF - 32 can never go.
    assert_eq!(fx.send(b, &vec![0; 212_992 - 31]), Err(Errno::EMSGSIZE));
    fx.recv(b, 1000).unwrap();
    assert_eq!(fx.send(a, &[1]), Ok(1));
}

#[test]
fn a_pending_recv_takes_the_message_straight_from_the_sender() {
    let mut fx = Fx::new();
    let (a, b) = fx.e.socketpair_typed(SockType::Dgram, &cred(1)).unwrap();
    let t = fx.token();
    let wait = RecvFlags {
        dontwait: false,
        ..RECV_NOW
    };
    assert!(fx.e.recv_from(b, 4, wait, t).is_pending());
    assert_eq!(fx.send(a, b"abcdef"), Ok(6));
    let done = fx.completions();
    assert_eq!(
        done[0].result,
        Ok(Completed::Message(Received {
            copied: 4,
            len: 6,
            from: None,
            rights: alloc::vec::Vec::new(),
            ctrunc: false,
        }))
    );
    assert_eq!(fx.e.received(t, 4), b"abcd");
    assert_eq!(fx.e.memory_used(), 0, "never queued");
    // A cancelled pending recv ends with ECANCELED, and loses nothing sent later.
    let t = fx.token();
    assert!(fx.e.recv_from(b, 4, wait, t).is_pending());
    assert!(fx.e.cancel(t));
    assert_eq!(fx.completions()[0].result, Err(Errno::ECANCELED));
    assert_eq!(fx.send(a, b"kept"), Ok(4));
    assert_eq!(fx.recv(b, 8).unwrap(), b"kept");
}

#[test]
fn shutdown_read_ends_a_datagram_socket_as_linux_does() {
    let mut fx = Fx::new();
    let (a, b) = fx.e.socketpair_typed(SockType::Dgram, &cred(1)).unwrap();
    let t = fx.token();
    let wait = RecvFlags {
        dontwait: false,
        ..RECV_NOW
    };
    assert!(fx.e.recv_from(b, 4, wait, t).is_pending());
    fx.e.shutdown(b, Shutdown::Read).unwrap();
    let done = fx.completions();
    assert_eq!(
        done[0].result,
        Ok(Completed::Message(Received {
            copied: 0,
            len: 0,
            from: None,
            rights: alloc::vec::Vec::new(),
            ctrunc: false,
        }))
    );
    // Non-blocking: EAGAIN (skb_recv_datagram does not wait, so never sees the shutdown).
    assert_eq!(fx.recv(b, 4), Err(Errno::EAGAIN));
    // A datagram shutdown is not mirrored to the peer.
    assert_eq!(
        fx.send(a, b"x"),
        Err(Errno::EPIPE),
        "b's SHUT_RD refuses senders"
    );
    fx.e.shutdown(a, Shutdown::Write).unwrap();
    assert_eq!(fx.send(b, b"x"), Ok(1), "a's SHUT_WR does not stop b");
    assert_eq!(fx.send(a, b"x"), Err(Errno::EPIPE));
}

#[test]
fn types_do_not_meet() {
    let mut fx = Fx::new();
    let d = fx.dgram();
    fx.e.bind(
        d,
        BindTarget::Pathname {
            key: PathKey {
                volume: 1,
                file_id: 2,
                secret: 3,
            },
            path: b"/tmp/d".to_vec(),
        },
    )
    .unwrap();
    let s = fx.e.socket().unwrap();
    let t = fx.token();
    let path = ConnectTarget::Pathname(PathKey {
        volume: 1,
        file_id: 2,
        secret: 3,
    });
    assert_eq!(
        ready(fx.e.connect(s, &path, &cred(1), t)),
        Err(Errno::EPROTOTYPE)
    );
    // Abstract names are one namespace per type.
    let d2 = fx.bound_dgram(b"shared");
    let l = fx.listening(b"shared", 1);
    let q = fx.e.socket_typed(&[], SockType::SeqPacket).unwrap();
    let t = fx.token();
    assert_eq!(
        ready(fx.e.connect(q, &abs(b"shared"), &cred(1), t)),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(fx.e.listen(d2, 1, &cred(1)), Err(Errno::EOPNOTSUPP));
    let t = fx.token();
    assert_eq!(ready(fx.e.accept(d2, q, t)), Err(Errno::EOPNOTSUPP));
    assert!(fx.e.is_listening(l).unwrap());
    // A datagram send to a stream's name: not found among datagram names.
    assert_eq!(
        fx.send_to(d, b"shared", b"x"),
        Ok(1),
        "d2 holds it as a datagram name"
    );
    assert_eq!(fx.send_to(d, b"nothing", b"x"), Err(Errno::ECONNREFUSED));
}

#[test]
fn seqpacket_connects_like_a_stream_and_keeps_records() {
    let mut fx = Fx::new();
    let l = fx.e.socket_typed(&[], SockType::SeqPacket).unwrap();
    fx.e.bind(l, BindTarget::Abstract(b"sp".to_vec())).unwrap();
    fx.e.listen(l, 4, &cred(9)).unwrap();
    let c = fx.e.socket_typed(&[], SockType::SeqPacket).unwrap();
    assert_eq!(fx.send(c, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(fx.e.poll(c).unwrap().0 & PollMask::HUP, PollMask::HUP);
    let t = fx.token();
    ready(fx.e.connect(c, &abs(b"sp"), &cred(2), t)).unwrap();
    assert_eq!(fx.e.poll(l).unwrap().0 & PollMask::IN, PollMask::IN);
    // Sent before accept: waits in the embryo.
    assert_eq!(fx.send(c, b"one"), Ok(3));
    assert_eq!(fx.send(c, b"two!"), Ok(4));
    let s = fx.e.socket_typed(&[], SockType::SeqPacket).unwrap();
    let t = fx.token();
    ready(fx.e.accept(l, s, t)).unwrap();
    assert_eq!(fx.e.fionread(s), Ok(7), "FIONREAD: every queued byte");
    let (r, data) = fx.recv_msg(s, 2, RECV_NOW).unwrap();
    assert_eq!((r.copied, r.len, data.as_slice()), (2, 3, &b"on"[..]));
    assert_eq!(r.from, None, "the connector is unnamed");
    assert_eq!(fx.e.peer_credentials(s).unwrap().map(|c| c.pid), Some(2));
    assert_eq!(fx.send(s, b""), Ok(0));
    let (r, _) = fx.recv_msg(c, 8, RECV_NOW).unwrap();
    assert_eq!(
        (r.len, r.from),
        (0, Some(UnixAddr::Abstract(b"sp".to_vec()))),
        "an empty record names its sender"
    );
    // Closing with a record unread: the peer sees ECONNRESET, then end of file.
    fx.e.close(s).unwrap();
    assert_eq!(fx.recv(c, 8), Err(Errno::ECONNRESET));
    assert_eq!(fx.recv(c, 8).map(|v| v.len()), Ok(0));
    assert_eq!(fx.send(c, b"x"), Err(Errno::EPIPE));
    fx.e.close(c).unwrap();
    fx.e.close(l).unwrap();
    assert_eq!(fx.e.socket_count(), 0);
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn polling_a_datagram_socket() {
    let mut fx = Fx::new();
    let fresh = fx.dgram();
    // No HUP for an unconnected datagram socket, unlike a stream.
    assert_eq!(
        fx.e.poll(fresh).unwrap().0,
        PollMask::OUT | PollMask::WRNORM | PollMask::WRBAND
    );
    let srv = fx.bound_dgram(b"srv");
    let t = fx.token();
    ready(fx.e.connect(fresh, &abs(b"srv"), &cred(1), t)).unwrap();
    for _ in 0..11 {
        fx.send(fresh, b"m").unwrap();
    }
    assert_eq!(
        fx.e.poll(fresh).unwrap().0 & PollMask::OUT,
        0,
        "its peer's queue is full"
    );
    assert_eq!(fx.e.poll(srv).unwrap().0 & PollMask::IN, PollMask::IN);
    fx.recv(srv, 1).unwrap();
    assert_eq!(fx.e.poll(fresh).unwrap().0 & PollMask::OUT, PollMask::OUT);
}

#[test]
fn closing_a_receiver_fails_its_blocked_senders_and_frees_everything() {
    let mut fx = Fx::new();
    let srv = fx.bound_dgram(b"srv");
    let c = fx.dgram();
    for _ in 0..11 {
        fx.send_to(c, b"srv", b"m").unwrap();
    }
    let t = fx.token();
    assert!(fx.e.send_to(c, &abs(b"srv"), b"late", WAIT, t).is_pending());
    fx.e.close(srv).unwrap();
    let done = fx.completions();
    assert_eq!(done[0].result, Err(Errno::ECONNREFUSED));
    assert_eq!(fx.e.memory_used(), 0);
    assert_eq!(fx.e.pending_count(), 0);
    // And a sender closed while blocked: its send is cancelled.
    let srv = fx.bound_dgram(b"srv2");
    for _ in 0..11 {
        fx.send_to(c, b"srv2", b"m").unwrap();
    }
    let t = fx.token();
    assert!(
        fx.e.send_to(c, &abs(b"srv2"), b"late", WAIT, t)
            .is_pending()
    );
    fx.e.close(c).unwrap();
    assert_eq!(fx.completions()[0].result, Err(Errno::ECANCELED));
    // Its messages stay for the receiver.
    assert_eq!(fx.e.fionread(srv), Ok(1));
    fx.e.close(srv).unwrap();
    assert_eq!((fx.e.memory_used(), fx.e.socket_count()), (0, 0));
}

#[test]
fn getpeername_follows_a_peer_that_binds_later_even_once_it_is_gone() {
    let mut fx = Fx::new();
    let (a, b) = fx.e.socketpair_typed(SockType::Dgram, &cred(1)).unwrap();
    assert_eq!(fx.e.getpeername(a), Ok(&UnixAddr::Unnamed));
    fx.e.bind(b, BindTarget::Abstract(b"later".to_vec()))
        .unwrap();
    assert_eq!(
        fx.e.getpeername(a),
        Ok(&UnixAddr::Abstract(b"later".to_vec()))
    );
    fx.e.close(b).unwrap();
    assert_eq!(
        fx.e.getpeername(a),
        Ok(&UnixAddr::Abstract(b"later".to_vec()))
    );
    // A seqpacket peer that closes resets only if more than one empty record is unread.
    let (c, d) =
        fx.e.socketpair_typed(SockType::SeqPacket, &cred(1))
            .unwrap();
    assert_eq!(fx.send(c, b""), Ok(0));
    fx.e.close(d).unwrap();
    assert_eq!(fx.e.take_error(c), Ok(None));
    let (c2, d2) =
        fx.e.socketpair_typed(SockType::SeqPacket, &cred(1))
            .unwrap();
    assert_eq!(fx.send(c2, b""), Ok(0));
    assert_eq!(fx.send(c2, b""), Ok(0));
    fx.e.close(d2).unwrap();
    assert_eq!(fx.e.take_error(c2), Ok(Some(Errno::ECONNRESET)));
}

#[test]
fn a_purged_queue_lets_its_blocked_senders_go_once_buffers_are_passed() {
    let mut fx = Fx::new();
    let srv = fx.bound_dgram(b"srv");
    let x = fx.bound_dgram(b"x");
    // srv takes messages from x only, so no queue limit applies to x: x sends until its
    // own SO_SNDBUF is full, then a blocking send waits for room there.
    let t = fx.token();
    ready(fx.e.connect(srv, &abs(b"x"), &cred(1), t)).unwrap();
    while fx.send_to(x, b"srv", &[1; 1000]) == Ok(1000) {}
    let t = fx.token();
    assert!(fx.e.send_to(x, &abs(b"srv"), b"late", WAIT, t).is_pending());
    // AF_UNSPEC purges srv's queue (disconnect carries no buffers): x's SO_SNDBUF has room
    // again, and its send goes when buffers are passed.
    fx.e.disconnect(srv).unwrap();
    assert_eq!(fx.e.fionread(srv), Ok(0));
    assert!(fx.completions().is_empty());
    let e = &mut fx.e;
    e.inner.run_wakes(&mut e.bufs);
    let done = fx.completions();
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].token, &done[0].result),
        (t, &Ok(Completed::Sent(4)))
    );
    assert_eq!(fx.recv(srv, 8).unwrap(), b"late");
}
