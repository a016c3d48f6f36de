//! A listener (`TCP_LISTEN`): connect, backlog, accept.

use alloc::vec;

use super::fixtures::*;
use crate::*;

fn target(name: &[u8]) -> ConnectTarget {
    ConnectTarget::Abstract(name.to_vec())
}

#[track_caller]
fn connect_nb(fx: &mut Fx, name: &[u8]) -> Result<SocketId, Errno> {
    let c = fx.e.socket().unwrap();
    fx.e.set_nonblocking(c, true).unwrap();
    let t = fx.token();
    ready(fx.e.connect(c, &target(name), &cred(20), t)).map(|()| c)
}

#[test]
fn unix_recvq_full_admits_backlog_plus_one_then_eagain() {
    let mut fx = Fx::new();
    fx.listening(b"L", 1);
    connect_nb(&mut fx, b"L").unwrap();
    connect_nb(&mut fx, b"L").unwrap();
    assert_eq!(connect_nb(&mut fx, b"L"), Err(Errno::EAGAIN));
}

#[test]
fn unix_stream_connect_refusals() {
    let mut fx = Fx::new();
    assert_eq!(connect_nb(&mut fx, b"nobody"), Err(Errno::ECONNREFUSED));
    let bound = fx.e.socket().unwrap();
    fx.e.bind(bound, BindTarget::Abstract(b"B".to_vec()))
        .unwrap();
    assert_eq!(
        connect_nb(&mut fx, b"B"),
        Err(Errno::ECONNREFUSED),
        "bound, not listening"
    );
    let l = fx.listening(b"L", 5);
    fx.e.shutdown(l, Shutdown::Read).unwrap();
    assert_eq!(
        connect_nb(&mut fx, b"L"),
        Err(Errno::ECONNREFUSED),
        "shut for reading"
    );
}

#[test]
fn unix_stream_connect_own_state_after_target_checks() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 5);
    let c = connect_nb(&mut fx, b"L").unwrap();
    let t = fx.token();
    assert_eq!(
        fx.e.connect(c, &target(b"L"), &cred(1), t),
        Outcome::Ready(Err(Errno::EISCONN))
    );
    let t = fx.token();
    assert_eq!(
        fx.e.connect(c, &target(b"none"), &cred(1), t),
        Outcome::Ready(Err(Errno::ECONNREFUSED))
    );
    let t = fx.token();
    assert_eq!(
        fx.e.connect(l, &target(b"L"), &cred(1), t),
        Outcome::Ready(Err(Errno::EINVAL))
    );
}

#[test]
fn unix_listen_again_updates_backlog_and_listen_on_connected_is_einval() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 0);
    connect_nb(&mut fx, b"L").unwrap();
    assert_eq!(connect_nb(&mut fx, b"L"), Err(Errno::EAGAIN));
    fx.e.listen(l, 3, &cred(10)).unwrap();
    connect_nb(&mut fx, b"L").unwrap();
    let (a, _) = fx.pair();
    assert_eq!(fx.e.listen(a, 1, &cred(1)), Err(Errno::EINVAL));
}

#[test]
fn unix_accept_attaches_in_order_and_is_eagain_or_einval_when_empty() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 5);
    fx.e.set_nonblocking(l, true).unwrap();
    let c1 = connect_nb(&mut fx, b"L").unwrap();
    let c2 = connect_nb(&mut fx, b"L").unwrap();
    assert_eq!(
        fx.send(c2, b"two"),
        Ok(3),
        "a client may send before accept"
    );
    assert!(fx.e.poll(l).unwrap().contains(PollMask::IN));
    let s1 = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.accept(l, s1, t)).unwrap();
    let s2 = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.accept(l, s2, t)).unwrap();
    assert_eq!(fx.e.peer(s1), Ok(Some(c1)));
    assert_eq!(fx.recv(s2, 8), Ok(b"two".to_vec()));
    assert_eq!(
        fx.e.getsockname(s1).cloned(),
        Ok(UnixAddr::Abstract(b"L".to_vec()))
    );
    assert_eq!(
        fx.e.getpeername(c1).cloned(),
        Ok(UnixAddr::Abstract(b"L".to_vec()))
    );
    let s3 = fx.e.socket().unwrap();
    let t = fx.token();
    assert_eq!(fx.e.accept(l, s3, t), Outcome::Ready(Err(Errno::EAGAIN)));
    assert_eq!(
        fx.e.accept(s1, s3, t),
        Outcome::Ready(Err(Errno::EINVAL)),
        "not listening"
    );
    assert_eq!(
        fx.e.accept(l, s1, t),
        Outcome::Ready(Err(Errno::EINVAL)),
        "not fresh"
    );
}

#[test]
fn peer_credentials_follow_init_peercred_and_copy_peercred() {
    let mut fx = Fx::new();
    let (_, c, s) = fx.connected();
    // The client sees the listener's identity at listen(); the server side, the client's.
    assert_eq!(fx.e.peer_credentials(c).unwrap().map(|c| c.pid), Some(10));
    assert_eq!(fx.e.peer_credentials(s).unwrap().map(|c| c.pid), Some(20));
    let (a, b) = fx.pair();
    assert_eq!(fx.e.peer_credentials(a).unwrap().map(|c| c.pid), Some(1));
    assert_eq!(
        fx.e.peer_credentials(b).unwrap().map(|c| c.sid.clone()),
        Some(cred(1).sid)
    );
    let lone = fx.e.socket().unwrap();
    assert_eq!(fx.e.peer_credentials(lone), Ok(None));
}

#[test]
fn pending_accept_completes_on_connect_and_pending_connect_on_accept() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 0);
    let s = fx.e.socket().unwrap();
    let at = fx.token();
    assert!(fx.e.accept(l, s, at).is_pending());
    assert_eq!(
        fx.e.bind(s, BindTarget::Autobind),
        Err(Errno::EINVAL),
        "reserved by accept"
    );
    let c1 = connect_nb(&mut fx, b"L").unwrap();
    let done = fx.completions();
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].token, &done[0].result),
        (at, &Ok(Completed::Accepted))
    );
    assert_eq!(fx.e.peer(s), Ok(Some(c1)));
    // Backlog 0 admits one embryo; a blocking connect then waits for room.
    connect_nb(&mut fx, b"L").unwrap();
    let c3 = fx.e.socket().unwrap();
    let ct = fx.token();
    assert!(fx.e.connect(c3, &target(b"L"), &cred(3), ct).is_pending());
    let s2 = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.accept(l, s2, t)).unwrap();
    let done = fx.completions();
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].token, done[0].socket, &done[0].result),
        (ct, c3, &Ok(Completed::Connected))
    );
}

#[test]
fn shutdown_read_on_listener_fails_pending_accept_with_einval() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 0);
    let s = fx.e.socket().unwrap();
    let at = fx.token();
    assert!(fx.e.accept(l, s, at).is_pending());
    fx.e.shutdown(l, Shutdown::Read).unwrap();
    let done = fx.completions();
    assert_eq!(done[0].result, Err(Errno::EINVAL));
    let t = fx.token();
    assert_eq!(fx.e.accept(l, s, t), Outcome::Ready(Err(Errno::EINVAL)));
    let _ = vec![0u8; 0];
}
