//! Socket options that are stored and read back, and SO_PASSCRED's autobind at connect.

use super::fixtures::*;
use crate::*;

#[track_caller]
fn is_autobound(fx: &Fx, s: SocketId) {
    match fx.e.getsockname(s).cloned() {
        Ok(UnixAddr::Abstract(name)) => assert_eq!(name.len(), 5, "{name:?}"),
        other => panic!("not autobound: {other:?}"),
    }
}

#[track_caller]
fn connect_to(fx: &mut Fx, s: SocketId, name: &[u8]) -> Result<(), Errno> {
    let t = fx.token();
    ready(fx.e.connect(s, &ConnectTarget::Abstract(name.to_vec()), &cred(20), t))
}

#[test]
fn sock_setsockopt_flags_start_clear_and_any_non_zero_sets_them() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    for flag in [
        SocketFlag::PassCred,
        SocketFlag::KeepAlive,
        SocketFlag::ReuseAddr,
    ] {
        assert_eq!(fx.e.flag(s, flag), Ok(false), "{flag:?}");
        fx.e.set_flag(s, flag, 5).unwrap();
        assert_eq!(fx.e.flag(s, flag), Ok(true), "{flag:?}");
        fx.e.set_flag(s, flag, 0).unwrap();
        assert_eq!(fx.e.flag(s, flag), Ok(false), "{flag:?}");
        fx.e.set_flag(s, flag, -7).unwrap();
        assert_eq!(fx.e.flag(s, flag), Ok(true), "{flag:?}");
    }
    // Each flag is its own.
    let t = fx.e.socket().unwrap();
    fx.e.set_flag(t, SocketFlag::KeepAlive, 1).unwrap();
    assert_eq!(fx.e.flag(t, SocketFlag::ReuseAddr), Ok(false));
    assert_eq!(fx.e.flag(t, SocketFlag::PassCred), Ok(false));
}

#[test]
fn sock_setsockopt_linger_off_keeps_the_time_and_negative_is_for_ever() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    let l = |onoff, seconds| Linger { onoff, seconds };
    assert_eq!(fx.e.linger(s), Ok(l(0, 0)));
    let steps = [
        ((1, 7), l(1, 7)),
        ((0, 99), l(0, 7)),
        ((5, -1), l(1, LINGER_FOREVER_SECONDS)),
        ((0, 3), l(0, LINGER_FOREVER_SECONDS)),
        ((1, i32::MAX), l(1, i32::MAX)),
        ((1, i32::MIN), l(1, LINGER_FOREVER_SECONDS)),
        ((2, 0), l(1, 0)),
    ];
    for ((onoff, seconds), want) in steps {
        fx.e.set_linger(s, onoff, seconds).unwrap();
        assert_eq!(fx.e.linger(s), Ok(want), "after {{{onoff}, {seconds}}}");
    }
    // Seen on Linux 6.18 with CONFIG_HZ=250.
    assert_eq!(LINGER_FOREVER_SECONDS, -1_752_346_657);
}

#[test]
fn unix_stream_connect_with_passcred_autobinds_even_when_no_one_listens() {
    let mut fx = Fx::new();
    let s = fx.e.socket().unwrap();
    fx.e.set_flag(s, SocketFlag::PassCred, 1).unwrap();
    assert_eq!(connect_to(&mut fx, s, b"nobody"), Err(Errno::ECONNREFUSED));
    is_autobound(&fx, s);
    // Without SO_PASSCRED a failed connect leaves the socket unnamed.
    let plain = fx.e.socket().unwrap();
    assert_eq!(
        connect_to(&mut fx, plain, b"nobody"),
        Err(Errno::ECONNREFUSED)
    );
    assert_eq!(fx.e.getsockname(plain).cloned(), Ok(UnixAddr::Unnamed));
}

#[test]
fn unix_stream_connect_with_passcred_autobinds_a_connected_pair_before_eisconn() {
    let mut fx = Fx::new();
    fx.listening(b"srv", 5);
    let (a, _b) = fx.pair();
    fx.e.set_flag(a, SocketFlag::PassCred, 1).unwrap();
    assert_eq!(connect_to(&mut fx, a, b"srv"), Err(Errno::EISCONN));
    is_autobound(&fx, a);
}

#[test]
fn unix_stream_connect_with_passcred_keeps_a_bound_name_and_autobinds_a_successful_one() {
    let mut fx = Fx::new();
    fx.listening(b"srv", 5);
    let bound = fx.e.socket().unwrap();
    fx.e.bind(bound, BindTarget::Abstract(b"mine".to_vec()))
        .unwrap();
    fx.e.set_flag(bound, SocketFlag::PassCred, 1).unwrap();
    connect_to(&mut fx, bound, b"srv").unwrap();
    assert_eq!(
        fx.e.getsockname(bound).cloned(),
        Ok(UnixAddr::Abstract(b"mine".to_vec()))
    );
    let fresh = fx.e.socket().unwrap();
    fx.e.set_flag(fresh, SocketFlag::PassCred, 1).unwrap();
    connect_to(&mut fx, fresh, b"srv").unwrap();
    is_autobound(&fx, fresh);
}

#[test]
fn accepted_socket_has_the_listeners_passcred_as_it_was_at_connect() {
    let mut fx = Fx::new();
    let l = fx.listening(b"srv", 5);
    fx.e.set_flag(l, SocketFlag::PassCred, 1).unwrap();
    fx.e.set_flag(l, SocketFlag::KeepAlive, 1).unwrap();
    fx.e.set_flag(l, SocketFlag::ReuseAddr, 1).unwrap();
    fx.e.set_linger(l, 1, 9).unwrap();
    let c1 = fx.e.socket().unwrap();
    connect_to(&mut fx, c1, b"srv").unwrap();
    fx.e.set_flag(l, SocketFlag::PassCred, 0).unwrap();
    let c2 = fx.e.socket().unwrap();
    connect_to(&mut fx, c2, b"srv").unwrap();
    fx.e.set_flag(l, SocketFlag::PassCred, 1).unwrap();
    let mut accept = || {
        let s = fx.e.socket().unwrap();
        let t = fx.token();
        ready(fx.e.accept(l, s, t)).unwrap();
        s
    };
    let (s1, s2) = (accept(), accept());
    assert_eq!(fx.e.flag(s1, SocketFlag::PassCred), Ok(true));
    assert_eq!(fx.e.flag(s2, SocketFlag::PassCred), Ok(false));
    // Nothing else is inherited, and the connector's own flag stays its own.
    assert_eq!(fx.e.flag(s1, SocketFlag::KeepAlive), Ok(false));
    assert_eq!(fx.e.flag(s1, SocketFlag::ReuseAddr), Ok(false));
    assert_eq!(fx.e.linger(s1), Ok(Linger::default()));
    assert_eq!(fx.e.flag(c1, SocketFlag::PassCred), Ok(false));
}

const WAIT: RecvFlags = RecvFlags {
    peek: false,
    waitall: false,
    dontwait: false,
    overlapped: false,
    trunc: false,
    rights_room: 0,
};

#[test]
fn a_reader_with_passcred_never_reads_across_a_change_of_credentials() {
    // unix_stream_read_generic: bytes queued before SO_PASSCRED carry no credentials, those
    // after carry the writer's; one read stops between them, MSG_WAITALL or not.
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.send(a, b"plain").unwrap();
    fx.e.set_flag(b, SocketFlag::PassCred, 1).unwrap();
    fx.send(a, b"with").unwrap();
    let waitall = RecvFlags {
        waitall: true,
        dontwait: true,
        ..RecvFlags::default()
    };
    let peek = RecvFlags {
        peek: true,
        dontwait: true,
        ..RecvFlags::default()
    };
    assert_eq!(fx.recv_flags(b, 64, peek), Ok(b"plain".to_vec()));
    assert_eq!(fx.recv_flags(b, 64, waitall), Ok(b"plain".to_vec()));
    assert_eq!(fx.recv(b, 64), Ok(b"with".to_vec()));
    // Without SO_PASSCRED the reader glues them, as Linux does.
    let (c, d) = fx.pair();
    fx.send(c, b"plain").unwrap();
    fx.e.set_flag(c, SocketFlag::PassCred, 1).unwrap();
    fx.send(c, b"with").unwrap();
    assert_eq!(fx.recv(d, 64), Ok(b"plainwith".to_vec()));
    assert_eq!(fx.e.memory_used(), 0);
}

#[test]
fn a_waiting_recv_completes_at_a_change_of_credentials() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_flag(b, SocketFlag::PassCred, 1).unwrap();
    let t = fx.token();
    let mut buf = [0u8; 16];
    let waitall = RecvFlags {
        waitall: true,
        ..WAIT
    };
    assert!(fx.e.recv(b, &mut buf, waitall, t).is_pending());
    // With the reader's SO_PASSCRED set, these carry credentials: they go straight in.
    fx.send(a, b"abc").unwrap();
    assert!(fx.completions().is_empty(), "MSG_WAITALL waits for more");
    // The reader drops SO_PASSCRED: the next bytes carry none. Linux's reader, woken,
    // still checks (its SO_PASSCRED is read per call), so model the change on the writer:
    // a writer that had credentials attached only through the reader now sends without.
    fx.e.set_flag(b, SocketFlag::PassCred, 0).unwrap();
    fx.send(a, b"xyz").unwrap();
    fx.e.set_flag(b, SocketFlag::PassCred, 1).unwrap();
    fx.send(a, b"!").unwrap();
    let done = fx.completions();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].result, Ok(Completed::Received(3)));
    assert_eq!(fx.e.received(t, 3), b"abc");
    // The rest is queued, in order, in its two runs.
    assert_eq!(fx.recv(b, 64), Ok(b"xyz".to_vec()));
    assert_eq!(fx.recv(b, 64), Ok(b"!".to_vec()));
}

#[test]
fn credential_runs_are_bounded_and_lose_nothing() {
    let mut fx = Fx::new();
    let (a, b) = fx.pair();
    fx.e.set_flag(b, SocketFlag::PassCred, 1).unwrap();
    let mut sent = alloc::vec::Vec::new();
    for i in 0..500u32 {
        fx.e.set_flag(a, SocketFlag::PassCred, (i % 2) as i32)
            .unwrap();
        // The reader's SO_PASSCRED attaches credentials to everything; toggle it too.
        fx.e.set_flag(b, SocketFlag::PassCred, (i % 2) as i32)
            .unwrap();
        let byte = [(i % 251) as u8];
        fx.send(a, &byte).unwrap();
        sent.push(byte[0]);
    }
    fx.e.set_flag(b, SocketFlag::PassCred, 1).unwrap();
    let mut got = alloc::vec::Vec::new();
    while got.len() < sent.len() {
        let part = fx.recv(b, 1000).unwrap();
        assert!(!part.is_empty());
        got.extend_from_slice(&part);
    }
    assert_eq!(got, sent);
}
