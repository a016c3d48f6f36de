//! Close (`unix_release_sock`): EOF or ECONNRESET at the peer, embryos released.

use alloc::vec;

use super::fixtures::*;
use crate::*;

#[test]
fn close_without_unread_data_is_eof_and_epipe() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"bye").unwrap();
    fx.e.close(a).unwrap();
    let m = fx.e.poll(b).unwrap();
    assert!(m.contains(PollMask::HUP | PollMask::RDHUP | PollMask::IN | PollMask::OUT));
    assert!(!m.contains(PollMask::ERR));
    assert_eq!(fx.recv(b, 10), Ok(b"bye".to_vec()));
    assert_eq!(fx.recv(b, 10), Ok(vec![]));
    assert_eq!(fx.send(b, b"x"), Err(Errno::EPIPE));
    assert_eq!(
        fx.e.getpeername(b).cloned(),
        Ok(UnixAddr::Unnamed),
        "the dead peer's name"
    );
}

#[test]
fn close_with_unread_data_is_econnreset_once_then_eof() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(b, b"unread").unwrap();
    fx.send(a, b"for b").unwrap();
    fx.e.close(a).unwrap();
    assert!(fx.e.poll(b).unwrap().contains(PollMask::ERR));
    assert_eq!(fx.recv(b, 10), Ok(b"for b".to_vec()), "data first");
    assert_eq!(fx.recv(b, 10), Err(Errno::ECONNRESET));
    assert_eq!(fx.recv(b, 10), Ok(vec![]));
    assert_eq!(fx.e.take_error(b), Ok(None));
}

#[test]
fn so_error_reports_and_clears_the_reset() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(b, b"unread").unwrap();
    fx.e.close(a).unwrap();
    assert_eq!(fx.e.take_error(b), Ok(Some(Errno::ECONNRESET)));
    assert_eq!(fx.recv(b, 10), Ok(vec![]));
}

#[test]
fn closing_listener_releases_embryos_and_resets_their_clients() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 5);
    let c = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.connect(c, &ConnectTarget::Abstract(b"L".to_vec()), &cred(2), t)).unwrap();
    fx.send(c, b"never read").unwrap();
    let sockets = fx.e.socket_count();
    fx.e.close(l).unwrap();
    assert_eq!(fx.e.socket_count(), sockets - 2, "listener and embryo gone");
    assert_eq!(fx.recv(c, 4), Err(Errno::ECONNRESET));
    assert_eq!(fx.recv(c, 4), Ok(vec![]));
    assert_eq!(
        fx.e.getpeername(c).cloned(),
        Ok(UnixAddr::Abstract(b"L".to_vec()))
    );
    let again = fx.e.socket().unwrap();
    fx.e.set_nonblocking(again, true).unwrap();
    let t = fx.token();
    assert_eq!(
        fx.e.connect(again, &ConnectTarget::Abstract(b"L".to_vec()), &cred(2), t),
        Outcome::Ready(Err(Errno::ECONNREFUSED))
    );
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn client_closing_before_accept_leaves_data_and_eof_for_the_server() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 5);
    let c = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.connect(c, &ConnectTarget::Abstract(b"L".to_vec()), &cred(2), t)).unwrap();
    fx.send(c, b"hi").unwrap();
    fx.e.close(c).unwrap();
    let s = fx.e.socket().unwrap();
    let t = fx.token();
    ready(fx.e.accept(l, s, t)).unwrap();
    assert_eq!(fx.recv(s, 8), Ok(b"hi".to_vec()));
    assert_eq!(fx.recv(s, 8), Ok(vec![]));
}
