//! Objects passed with SCM_RIGHTS: carried with their messages, given back exactly once.

use alloc::vec;
use alloc::vec::Vec;

use super::fixtures::{Fx, cred};
use crate::*;

const NOW: SendFlags = SendFlags {
    dontwait: true,
    overlapped: false,
};
const WAIT: SendFlags = SendFlags {
    dontwait: false,
    overlapped: false,
};

fn recv_flags(room: usize, peek: bool) -> RecvFlags {
    RecvFlags {
        peek,
        dontwait: true,
        rights_room: room,
        ..RecvFlags::default()
    }
}

fn obj(key: u64) -> Passed {
    Passed { key, socket: None }
}

fn sock(key: u64, s: SocketId) -> Passed {
    Passed {
        key,
        socket: Some(s),
    }
}

fn keys(rights: &[Passed]) -> Vec<u64> {
    rights.iter().map(|r| r.key).collect()
}

impl Fx {
    fn pair_of(&mut self, kind: SockType) -> (SocketId, SocketId) {
        self.e.socketpair_typed(kind, &cred(7)).unwrap()
    }

    /// A send of `data` passing `rights`; what is left in `rights` is the caller's.
    fn send_rights(
        &mut self,
        s: SocketId,
        data: &[u8],
        flags: SendFlags,
        rights: &mut Vec<Passed>,
    ) -> Outcome<usize> {
        let t = self.token();
        self.e.bufs.insert_send(t, data.to_vec()).unwrap();
        let o =
            self.e
                .inner
                .send_with_rights(s, None, data.len(), flags, t, &mut self.e.bufs, rights);
        if !o.is_pending() {
            self.e.bufs.remove(t);
        }
        o
    }

    fn recv_rights(
        &mut self,
        s: SocketId,
        len: usize,
        flags: RecvFlags,
    ) -> Result<(Received, Vec<u8>), Errno> {
        let t = self.token();
        self.e.bufs.insert_recv(t, vec![0; len]).unwrap();
        let o = self.e.inner.recv_from(s, len, flags, t, &mut self.e.bufs);
        let own = self.e.bufs.remove(t).unwrap();
        match o {
            Outcome::Ready(r) => r.map(|r| {
                let n = r.copied;
                (r, own[..n].to_vec())
            }),
            Outcome::Pending => panic!("unexpectedly pending"),
        }
    }

    fn released(&mut self) -> Vec<u64> {
        core::iter::from_fn(|| self.e.inner.poll_released())
            .map(|r| r.key)
            .collect()
    }
}

#[test]
fn objects_travel_with_their_message_in_order_on_both_message_types() {
    for kind in [SockType::Dgram, SockType::SeqPacket] {
        let mut fx = Fx::new();
        let (a, b) = fx.pair_of(kind);
        let mut rights = vec![obj(1), obj(2), obj(3)];
        assert_eq!(
            fx.send_rights(a, b"first", NOW, &mut rights),
            Outcome::Ready(Ok(5))
        );
        assert!(rights.is_empty(), "the engine took them");
        let mut none = Vec::new();
        assert_eq!(
            fx.send_rights(a, b"second", NOW, &mut none),
            Outcome::Ready(Ok(6))
        );
        assert_eq!(fx.e.rights_in_flight(), 3);
        assert_eq!(
            fx.e.user_usage(&cred(7).sid).rights,
            3,
            "charged to the maker"
        );

        let (r, data) = fx.recv_rights(b, 64, recv_flags(8, false)).unwrap();
        assert_eq!(data, b"first");
        assert_eq!(keys(&r.rights), [1, 2, 3]);
        assert!(!r.ctrunc);
        let (r, data) = fx.recv_rights(b, 64, recv_flags(8, false)).unwrap();
        assert_eq!(data, b"second");
        assert!(r.rights.is_empty());
        assert_eq!(fx.e.rights_in_flight(), 0);
        assert!(fx.released().is_empty());
    }
}

#[test]
fn a_short_control_buffer_gets_what_fits_and_the_rest_is_released() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::SeqPacket);
    let mut rights = vec![obj(10), obj(11), obj(12)];
    assert_eq!(
        fx.send_rights(a, b"x", NOW, &mut rights),
        Outcome::Ready(Ok(1))
    );
    let (r, _) = fx.recv_rights(b, 8, recv_flags(1, false)).unwrap();
    assert_eq!(keys(&r.rights), [10]);
    assert!(r.ctrunc);
    assert_eq!(fx.released(), [11, 12]);
    assert_eq!(fx.e.rights_in_flight(), 0);
}

#[test]
fn a_peek_reports_copies_and_leaves_the_objects_with_the_message() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::Dgram);
    let mut rights = vec![obj(1), obj(2)];
    assert!(
        fx.send_rights(a, b"m", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    let (r, _) = fx.recv_rights(b, 8, recv_flags(1, true)).unwrap();
    assert_eq!(keys(&r.rights), [1]);
    assert!(r.ctrunc);
    assert!(fx.released().is_empty(), "a peek releases nothing");
    assert_eq!(fx.e.rights_in_flight(), 2);
    let (r, _) = fx.recv_rights(b, 8, recv_flags(2, false)).unwrap();
    assert_eq!(keys(&r.rights), [1, 2]);
    assert!(!r.ctrunc);
}

#[test]
fn closing_a_receiver_releases_what_its_queue_held() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::Dgram);
    let mut rights = vec![obj(5), obj(6)];
    assert!(
        fx.send_rights(a, b"m", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    let mut more = vec![obj(7)];
    assert!(
        fx.send_rights(a, b"n", NOW, &mut more)
            .ready()
            .unwrap()
            .is_ok()
    );
    fx.e.inner.close(b, &mut NoBuffers).unwrap();
    assert_eq!(fx.released(), [5, 6, 7]);
    assert_eq!(fx.e.rights_in_flight(), 0);
    assert_eq!(fx.e.user_usage(&cred(7).sid).rights, 0);
}

#[test]
fn a_stream_refuses_objects_and_a_failed_send_leaves_them_with_the_caller() {
    let mut fx = Fx::new();
    let (a, _b) = fx.pair_of(SockType::Stream);
    let mut rights = vec![obj(1)];
    assert_eq!(
        fx.send_rights(a, b"x", NOW, &mut rights),
        Outcome::Ready(Err(Errno::EOPNOTSUPP))
    );
    assert_eq!(keys(&rights), [1]);

    let (c, d) = fx.pair_of(SockType::SeqPacket);
    fx.e.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(
        fx.send_rights(c, b"x", NOW, &mut rights),
        Outcome::Ready(Err(Errno::EPIPE))
    );
    assert_eq!(keys(&rights), [1]);
    assert_eq!(fx.e.rights_in_flight(), 0);
    assert_eq!(fx.e.user_usage(&cred(7).sid).rights, 0);
    let _ = d;
}

#[test]
fn more_than_scm_max_fd_is_einval_and_past_the_users_share_is_etoomanyrefs() {
    let mut fx = Fx::with(Limits {
        max_rights_per_user: 3,
        ..Limits::default()
    });
    let (a, b) = fx.pair_of(SockType::Dgram);
    let mut many: Vec<Passed> = (0..=SCM_MAX_FD as u64).map(obj).collect();
    assert_eq!(
        fx.send_rights(a, b"x", NOW, &mut many),
        Outcome::Ready(Err(Errno::EINVAL))
    );
    let mut two = vec![obj(1), obj(2)];
    assert!(
        fx.send_rights(a, b"x", NOW, &mut two)
            .ready()
            .unwrap()
            .is_ok()
    );
    let mut two_more = vec![obj(3), obj(4)];
    assert_eq!(
        fx.send_rights(a, b"y", NOW, &mut two_more),
        Outcome::Ready(Err(Errno::ETOOMANYREFS))
    );
    // Received, they no longer count.
    fx.recv_rights(b, 8, recv_flags(8, false)).unwrap();
    assert!(
        fx.send_rights(a, b"y", NOW, &mut two_more)
            .ready()
            .unwrap()
            .is_ok()
    );
}

#[test]
fn a_socket_sent_over_itself_is_released_when_its_peer_closes() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::SeqPacket);
    // a passes itself: it sits in b's queue.
    let mut rights = vec![sock(1, a)];
    assert!(
        fx.send_rights(a, b"self", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    fx.e.inner.close(b, &mut NoBuffers).unwrap();
    assert_eq!(fx.released(), [1]);
    fx.e.inner.close(a, &mut NoBuffers).unwrap();
    assert_eq!(fx.e.socket_count(), 0);
    assert_eq!(fx.e.rights_in_flight(), 0);
}

#[test]
fn cycles_are_refused_with_etoomanyrefs() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::SeqPacket);
    // Into its own queue: a socket in its own queue would only be reachable from itself.
    let mut own = vec![sock(1, b)];
    assert_eq!(
        fx.send_rights(a, b"x", NOW, &mut own),
        Outcome::Ready(Err(Errno::ETOOMANYREFS))
    );
    assert_eq!(keys(&own), [1]);
    // a in b's queue, then b into a's queue: a two-socket cycle.
    let mut first = vec![sock(2, a)];
    assert!(
        fx.send_rights(a, b"x", NOW, &mut first)
            .ready()
            .unwrap()
            .is_ok()
    );
    let mut back = vec![sock(3, b)];
    assert_eq!(
        fx.send_rights(b, b"y", NOW, &mut back),
        Outcome::Ready(Err(Errno::ETOOMANYREFS))
    );
    // b's queue carries a socket: b may not travel anywhere.
    let (c, d) = fx.pair_of(SockType::Dgram);
    let mut nested = vec![sock(4, b)];
    assert_eq!(
        fx.send_rights(c, b"z", NOW, &mut nested),
        Outcome::Ready(Err(Errno::ETOOMANYREFS))
    );
    // Once a is received, b's queue carries nothing and b may travel.
    let (r, _) = fx.recv_rights(b, 8, recv_flags(4, false)).unwrap();
    assert_eq!(keys(&r.rights), [2]);
    assert!(
        fx.send_rights(c, b"z", NOW, &mut nested)
            .ready()
            .unwrap()
            .is_ok()
    );
    let (r, _) = fx.recv_rights(d, 8, recv_flags(4, false)).unwrap();
    assert_eq!(keys(&r.rights), [4]);
    // Plain objects go anywhere, in flight or not.
    let mut plain = vec![obj(9)];
    assert!(
        fx.send_rights(a, b"p", NOW, &mut plain)
            .ready()
            .unwrap()
            .is_ok()
    );
}

#[test]
fn a_pending_send_keeps_its_objects_until_it_is_delivered_or_cancelled() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::SeqPacket);
    // Seqpacket peers are connected back: what makes a send wait is its own full SO_SNDBUF.
    fx.e.inner.set_sndbuf(a, 0, &mut NoBuffers).unwrap();
    let filler = vec![0u8; 4000];
    let mut none = Vec::new();
    while fx.send_rights(a, &filler, NOW, &mut none).ready() == Some(Ok(4000)) {}
    let mut rights = vec![obj(1), obj(2)];
    assert!(fx.send_rights(a, b"late", WAIT, &mut rights).is_pending());
    assert!(rights.is_empty());
    assert_eq!(fx.e.rights_in_flight(), 2);
    // Drain the queue: the pending send goes, with its objects.
    let mut got = Vec::new();
    while let Ok((r, data)) = fx.recv_rights(b, 4096, recv_flags(4, false)) {
        if data == b"late" {
            got = keys(&r.rights);
        }
    }
    assert_eq!(got, [1, 2]);
    let _ = fx.completions();

    while fx.send_rights(a, &filler, NOW, &mut none).ready() == Some(Ok(4000)) {}
    let mut rights = vec![obj(3)];
    let t = fx.token();
    fx.e.bufs.insert_send(t, b"cancelled".to_vec()).unwrap();
    let o =
        fx.e.inner
            .send_with_rights(a, None, 9, WAIT, t, &mut fx.e.bufs, &mut rights);
    assert!(o.is_pending());
    assert!(fx.e.inner.cancel(t, &mut fx.e.bufs));
    assert_eq!(fx.released(), [3]);
    assert_eq!(fx.e.rights_in_flight(), 0);
}

#[test]
fn an_object_given_back_after_a_receive_comes_out_released_later() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::Dgram);
    let mut rights = vec![obj(1), obj(2)];
    assert!(
        fx.send_rights(a, b"m", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    let (r, _) = fx.recv_rights(b, 8, recv_flags(2, false)).unwrap();
    for p in &r.rights {
        assert!(fx.e.inner.release_later(p.key));
    }
    assert_eq!(fx.released(), [1, 2]);
}

#[test]
fn a_purged_datagram_queue_releases_its_objects() {
    let mut fx = Fx::new();
    let connect = |fx: &mut Fx, s: SocketId, name: &[u8]| {
        let t = fx.token();
        let o =
            fx.e.inner
                .connect(s, &ConnectTarget::Abstract(name.to_vec()), &cred(7), t);
        assert_eq!(o.ready(), Some(Ok(())));
    };
    let mut bound = |name: &[u8]| {
        let s = fx.e.socket_typed(&cred(7).sid, SockType::Dgram).unwrap();
        fx.e.bind(s, BindTarget::Abstract(name.to_vec())).unwrap();
        s
    };
    let (a, d, other) = (bound(b"a"), bound(b"d"), bound(b"o"));
    connect(&mut fx, a, b"d");
    connect(&mut fx, d, b"a");
    let mut rights = vec![obj(1), sock(2, other)];
    assert!(
        fx.send_rights(a, b"m", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    // d connects elsewhere: its queue of what its old peer sent is purged
    // (`unix_dgram_disconnected`), and the objects with it come back.
    connect(&mut fx, d, b"o");
    assert_eq!(fx.released(), [1, 2]);
    assert_eq!(fx.e.rights_in_flight(), 0);
    assert_eq!(fx.e.user_usage(&cred(7).sid).rights, 0);
    // `other` is no longer in flight: a send may carry sockets into it again.
    let mut into_other = vec![sock(3, a)];
    connect(&mut fx, d, b"o");
    assert!(
        fx.send_rights(d, b"n", NOW, &mut into_other)
            .ready()
            .unwrap()
            .is_ok()
    );
}

#[test]
fn a_socket_in_flight_is_not_fresh_for_accept_or_socketpair() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair_of(SockType::SeqPacket);
    let t =
        fx.e.socket_typed(&cred(7).sid, SockType::SeqPacket)
            .unwrap();
    assert_eq!(fx.e.is_fresh(t), Ok(true));
    let mut rights = vec![sock(1, t)];
    assert!(
        fx.send_rights(a, b"t", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    assert_eq!(fx.e.is_fresh(t), Ok(false), "in flight, so not fresh");
    let (r, _) = fx.recv_rights(b, 8, recv_flags(1, false)).unwrap();
    assert_eq!(keys(&r.rights), [1]);
    assert_eq!(fx.e.is_fresh(t), Ok(true), "received, fresh again");
}

#[test]
fn accepting_into_a_socket_in_flight_is_refused_so_it_cannot_hold_itself() {
    let mut fx = Fx::new();
    let l =
        fx.e.socket_typed(&cred(7).sid, SockType::SeqPacket)
            .unwrap();
    fx.e.bind(l, BindTarget::Abstract(b"l".to_vec())).unwrap();
    fx.e.listen(l, 4, &cred(7)).unwrap();
    fx.e.set_nonblocking(l, true).unwrap();
    let c =
        fx.e.socket_typed(&cred(7).sid, SockType::SeqPacket)
            .unwrap();
    let t = fx.token();
    let o =
        fx.e.inner
            .connect(c, &ConnectTarget::Abstract(b"l".to_vec()), &cred(7), t);
    assert_eq!(o.ready(), Some(Ok(())));
    // The client sends a fresh socket T into the embryo's queue; accepting into T would
    // make T's queue hold T.
    let target =
        fx.e.socket_typed(&cred(7).sid, SockType::SeqPacket)
            .unwrap();
    let mut rights = vec![sock(1, target)];
    assert!(
        fx.send_rights(c, b"T", NOW, &mut rights)
            .ready()
            .unwrap()
            .is_ok()
    );
    let t = fx.token();
    assert_eq!(
        fx.e.inner.accept(l, target, t),
        Outcome::Ready(Err(Errno::EINVAL))
    );
    // Into another socket the connection is accepted, its message and object with it.
    let fresh =
        fx.e.socket_typed(&cred(7).sid, SockType::SeqPacket)
            .unwrap();
    let t = fx.token();
    assert_eq!(fx.e.inner.accept(l, fresh, t), Outcome::Ready(Ok(())));
    let (r, _) = fx.recv_rights(fresh, 8, recv_flags(1, false)).unwrap();
    assert_eq!(keys(&r.rights), [1]);
}
