//! A fresh socket (`TCP_CLOSE`).

use alloc::vec;

use super::fixtures::*;
use crate::*;

#[test]
fn unix_stream_sendmsg_unconnected_is_enotconn_and_recv_is_einval() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    assert_eq!(fx.send(s, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(fx.recv(s, 4), Err(Errno::EINVAL));
    assert_eq!(fx.e.getpeername(s).cloned(), Err(Errno::ENOTCONN));
    assert_eq!(fx.e.getsockname(s).cloned(), Ok(UnixAddr::Unnamed));
    assert_eq!(fx.e.fionread(s), Ok(0));
}

#[test]
fn unix_poll_unconnected_is_writable_and_hup() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    let m = fx.e.poll(s).unwrap();
    assert!(m.contains(PollMask::OUT | PollMask::HUP));
    assert!(!m.contains(PollMask::IN));
}

#[test]
fn unix_listen_unbound_is_einval() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    assert_eq!(fx.e.listen(s, 5, &cred(1)), Err(Errno::EINVAL));
}

#[test]
fn unix_bind_twice_is_einval_but_autobind_keeps_the_name() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    fx.e.bind(s, BindTarget::Abstract(b"one".to_vec())).unwrap();
    assert_eq!(
        fx.e.bind(s, BindTarget::Abstract(b"two".to_vec())),
        Err(Errno::EINVAL)
    );
    assert_eq!(fx.e.bind(s, BindTarget::Autobind), Ok(()));
    assert_eq!(
        fx.e.getsockname(s).cloned(),
        Ok(UnixAddr::Abstract(b"one".to_vec()))
    );
}

#[test]
fn unix_autobind_gives_five_hex_digits_and_skips_taken_names() {
    let mut fx = Fx::with(Limits {
        autobind_seed: 0xFFFFF,
        ..Limits::default()
    });
    let taken = fx.e.socket().unwrap();
    fx.e.bind(taken, BindTarget::Abstract(b"fffff".to_vec()))
        .unwrap();
    let s = fx.e.socket().unwrap();
    fx.e.bind(s, BindTarget::Autobind).unwrap();
    let name = fx.e.getsockname(s).cloned().unwrap();
    assert_eq!(name, UnixAddr::Abstract(b"00000".to_vec()));
    assert_eq!(name.reported_len(), 8);
}

#[test]
fn bind_name_in_use_is_eaddrinuse_and_freed_by_close() {
    let mut fx = Fx::new();
    let a = fx.e.socket().unwrap();
    let b = fx.e.socket().unwrap();
    let key = PathKey {
        volume: 1,
        file_id: 9,
        secret: 0,
    };
    let path = |k| BindTarget::Pathname {
        key: k,
        path: b"/s".to_vec(),
    };
    fx.e.bind(a, path(key)).unwrap();
    assert_eq!(fx.e.bind(b, path(key)), Err(Errno::EADDRINUSE));
    fx.e.close(a).unwrap();
    assert_eq!(fx.e.bind(b, path(key)), Ok(()));
    assert_eq!(
        fx.e.getsockname(b).cloned(),
        Ok(UnixAddr::Pathname(b"/s".to_vec()))
    );
}

#[test]
fn unix_shutdown_unconnected_succeeds_and_sticks() {
    let mut fx = Fx::new();
    let l = fx.listening(b"L", 1);
    let s = fx.e.socket().unwrap();
    assert_eq!(fx.e.shutdown(s, Shutdown::Write), Ok(()));
    let t = fx.token();
    ready(fx.e.connect(s, &ConnectTarget::Abstract(b"L".to_vec()), &cred(2), t)).unwrap();
    assert_eq!(fx.send(s, b"x"), Err(Errno::EPIPE));
    let _ = l;
}

#[test]
fn stale_ids_are_ebadf() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    fx.e.close(s).unwrap();
    let again = fx.e.socket().unwrap();
    assert_eq!(again.index(), s.index(), "slot reused");
    assert_eq!(fx.e.poll(s), Err(Errno::EBADF));
    assert_eq!(fx.e.close(s), Err(Errno::EBADF));
    let mut buf = vec![0u8; 1];
    let t = fx.token();
    assert_eq!(
        fx.e.recv(s, &mut buf, RecvFlags::default(), t),
        Outcome::Ready(Err(Errno::EBADF))
    );
}

#[test]
fn setsockopt_buffers_double_clamp_and_floor_like_sock_setsockopt() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    assert_eq!(fx.e.sndbuf(s), Ok(212_992));
    fx.e.set_sndbuf(s, 10_000).unwrap();
    assert_eq!(fx.e.sndbuf(s), Ok(20_000));
    fx.e.set_sndbuf(s, 1).unwrap();
    assert_eq!(fx.e.sndbuf(s), Ok(SOCK_MIN_SNDBUF));
    fx.e.set_sndbuf(s, -1).unwrap();
    assert_eq!(fx.e.sndbuf(s), Ok(2 * 212_992));
    fx.e.set_rcvbuf(s, 0).unwrap();
    assert_eq!(fx.e.rcvbuf(s), Ok(SOCK_MIN_RCVBUF));
    fx.e.set_rcvbuf(s, i32::MAX).unwrap();
    assert_eq!(fx.e.rcvbuf(s), Ok(2 * 212_992));
    assert_eq!(fx.e.socket_type(s), Ok(SockType::Stream));
}
