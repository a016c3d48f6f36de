//! Hand-written scenarios, one per Linux behaviour the engine promises, each run on real
//! AF_UNIX sockets and on the engine and compared step by step. Each test also pins the
//! Linux result that makes the behaviour (so a test cannot pass by both backends agreeing on
//! nothing).

use super::backend::EBADF;
use super::scenario::{Addr, MsgId, Obs, Op, PathForm, SockOpt, SockTy};
use super::{fresh_names, run_pair};

const STREAM: SockTy = SockTy::Stream;

const EAGAIN: i32 = 11;
const EINVAL: i32 = 22;
const EPIPE: i32 = 32;
const EADDRINUSE: i32 = 98;
const ECONNRESET: i32 = 104;
const EISCONN: i32 = 106;
const ENOTCONN: i32 = 107;
const ECONNREFUSED: i32 = 111;
const ENOENT: i32 = 2;

const POLLIN: u32 = 0x1;
const POLLOUT: u32 = 0x4;
const POLLERR: u32 = 0x8;
const POLLHUP: u32 = 0x10;
const POLLRDHUP: u32 = 0x2000;

/// Runs `ops` on both backends, fails on the first difference, returns Linux's observations.
#[track_caller]
fn both(ops: &[Op]) -> Vec<Obs> {
    let names = fresh_names();
    let (linux, engine, first) = run_pair(ops, &names);
    if let Some(i) = first {
        panic!(
            "step {i} {:?}: linux {:?}, engine {:?}\nall linux:  {linux:?}\nall engine: {engine:?}",
            ops[i], linux[i], engine[i]
        );
    }
    linux
}

fn path(n: u8, form: PathForm) -> Addr {
    Addr::Path { n, form }
}

fn abs(n: u8) -> Addr {
    Addr::Abstract {
        n,
        trailing_nul: false,
    }
}

/// A listener in slot 0 on `addr`, a client in 1 connected to it, accepted into 2.
fn connected(addr: Addr) -> Vec<Op> {
    vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind {
            s: 0,
            addr: addr.clone(),
        },
        Op::Listen { s: 0, backlog: 5 },
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect { s: 1, addr },
        Op::Accept { l: 0, into: 2 },
    ]
}

fn addr_len(obs: &Obs) -> usize {
    match obs {
        Obs::Addr { len, .. } => *len,
        other => panic!("not an address: {other:?}"),
    }
}

fn poll(obs: &Obs) -> u32 {
    match obs {
        Obs::Poll(m) => *m,
        other => panic!("not a poll mask: {other:?}"),
    }
}

#[test]
fn unix_mkname_bsd_pathname_nul_handling_and_lengths() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind {
            s: 0,
            addr: path(0, PathForm::NulThenJunk),
        },
        Op::GetSockName { s: 0 },
        Op::Socket { s: 1, ty: STREAM },
        Op::Bind {
            s: 1,
            addr: path(0, PathForm::Plain),
        },
        Op::Bind {
            s: 1,
            addr: path(1, PathForm::Full108),
        },
        Op::GetSockName { s: 1 },
        Op::Socket { s: 2, ty: STREAM },
        Op::Bind {
            s: 2,
            addr: Addr::Oversize,
        },
        Op::Bind {
            s: 2,
            addr: Addr::Short { len: 1 },
        },
        Op::Bind {
            s: 2,
            addr: Addr::BadFamily,
        },
    ];
    let l = both(&ops);
    let dir_len = fresh_names().dir.len();
    assert_eq!(
        addr_len(&l[2]),
        2 + dir_len + 3 + 1,
        "path up to the NUL, plus one"
    );
    assert_eq!(l[4], Obs::Err(EADDRINUSE), "the same file");
    assert_eq!(addr_len(&l[6]), 111, "108 bytes report 111");
    assert_eq!(
        &l[8..],
        &[Obs::Err(EINVAL), Obs::Err(EINVAL), Obs::Err(EINVAL)]
    );
}

#[test]
fn abstract_names_count_every_byte_and_unnamed_reports_two() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind { s: 0, addr: abs(0) },
        Op::Listen { s: 0, backlog: 1 },
        Op::GetSockName { s: 0 },
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect {
            s: 1,
            addr: Addr::Abstract {
                n: 0,
                trailing_nul: true,
            },
        },
        Op::GetSockName { s: 1 },
        Op::GetPeerName { s: 1 },
        Op::Connect { s: 1, addr: abs(0) },
        Op::GetPeerName { s: 1 },
    ];
    let l = both(&ops);
    assert_eq!(
        l[5],
        Obs::Err(ECONNREFUSED),
        "a trailing NUL is another name"
    );
    assert_eq!(addr_len(&l[6]), 2);
    assert_eq!(l[7], Obs::Err(ENOTCONN));
    assert_eq!(l[8], Obs::Ok);
    assert_eq!(l[9], l[3], "the client's peer is the listener's name");
}

#[test]
fn unix_autobind_and_socketpair() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind {
            s: 0,
            addr: Addr::Autobind,
        },
        Op::GetSockName { s: 0 },
        Op::Bind {
            s: 0,
            addr: Addr::Autobind,
        },
        Op::Bind { s: 0, addr: abs(1) },
        Op::Listen { s: 0, backlog: 0 },
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect {
            s: 1,
            addr: Addr::NameOf { s: 0 },
        },
        Op::SocketPair {
            a: 3,
            b: 4,
            ty: STREAM,
        },
        Op::GetSockName { s: 3 },
        Op::GetPeerName { s: 4 },
        Op::Send { s: 3, len: 10 },
        Op::Recv {
            s: 4,
            len: 64,
            peek: false,
            waitall: false,
        },
    ];
    let l = both(&ops);
    assert_eq!(addr_len(&l[2]), 8, "NUL + 5 hex digits");
    assert_eq!(l[3], Obs::Ok, "autobind when bound keeps the name");
    assert_eq!(l[4], Obs::Err(EINVAL));
    assert_eq!(l[7], Obs::Ok);
    assert_eq!(addr_len(&l[9]), 2);
    assert_eq!(
        l[12],
        Obs::Data {
            len: 10,
            in_order: true
        }
    );
}

#[test]
fn unix_listen_backlog_and_unix_stream_connect_errors() {
    let mut ops = vec![
        Op::Socket { s: 5, ty: STREAM },
        Op::Listen { s: 5, backlog: 1 },
        Op::Connect {
            s: 5,
            addr: path(2, PathForm::Plain),
        },
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind { s: 0, addr: abs(0) },
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect { s: 1, addr: abs(0) },
        Op::Listen { s: 0, backlog: 0 },
        Op::Connect { s: 1, addr: abs(0) },
        Op::Socket { s: 2, ty: STREAM },
        Op::Connect { s: 2, addr: abs(0) },
        Op::Listen { s: 0, backlog: 1 },
        Op::Connect { s: 2, addr: abs(0) },
        Op::Connect { s: 2, addr: abs(0) },
        Op::Accept { l: 0, into: 4 },
        Op::Connect { s: 2, addr: abs(0) },
        Op::Connect { s: 0, addr: abs(0) },
        Op::Connect {
            s: 2,
            addr: Addr::Short { len: 2 },
        },
    ];
    ops.push(Op::Close { s: 0 });
    ops.push(Op::Socket { s: 3, ty: STREAM });
    ops.push(Op::Connect { s: 3, addr: abs(0) });
    let l = both(&ops);
    assert_eq!(l[1], Obs::Err(EINVAL), "listen unbound");
    assert_eq!(l[2], Obs::Err(ENOENT), "no such file");
    assert_eq!(l[6], Obs::Err(ECONNREFUSED), "bound, not listening");
    assert_eq!(l[8], Obs::Ok, "backlog 0 admits one");
    assert_eq!(l[10], Obs::Err(EAGAIN), "backlog full");
    assert_eq!(l[12], Obs::Ok, "listen again raised the backlog");
    assert_eq!(
        l[13],
        Obs::Err(EAGAIN),
        "a full backlog is checked before our own state"
    );
    assert_eq!(l[15], Obs::Err(EISCONN));
    assert_eq!(l[16], Obs::Err(EINVAL), "a listener cannot connect");
    assert_eq!(l[17], Obs::Err(EINVAL), "addr_len 2");
    assert_eq!(l[20], Obs::Err(ECONNREFUSED), "listener closed");
}

#[test]
fn unix_accept_order_and_data_sent_before_accept() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind {
            s: 0,
            addr: path(0, PathForm::WithNul),
        },
        Op::Listen { s: 0, backlog: 4 },
        Op::Accept { l: 0, into: 3 },
        Op::Poll { s: 0 },
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect {
            s: 1,
            addr: path(0, PathForm::Plain),
        },
        Op::Send { s: 1, len: 100 },
        Op::Poll { s: 0 },
        Op::Accept { l: 0, into: 2 },
        Op::GetSockName { s: 2 },
        Op::GetPeerName { s: 2 },
        Op::Recv {
            s: 2,
            len: 1000,
            peek: false,
            waitall: false,
        },
        Op::Accept { l: 1, into: 4 },
    ];
    let l = both(&ops);
    assert_eq!(l[3], Obs::Err(EAGAIN));
    assert_eq!(poll(&l[4]) & (POLLIN | POLLOUT), 0);
    assert_eq!(
        poll(&l[8]) & POLLIN,
        POLLIN,
        "a queued connection is readable"
    );
    assert_eq!(l[9], Obs::Ok);
    assert_eq!(addr_len(&l[11]), 2, "the client is unnamed");
    assert_eq!(
        l[12],
        Obs::Data {
            len: 100,
            in_order: true
        }
    );
    assert_eq!(l[13], Obs::Err(EINVAL), "accept on a non-listener");
}

#[test]
fn recv_peek_waitall_dontwait_and_fionread() {
    let mut ops = connected(abs(0));
    ops.extend([
        Op::Recv {
            s: 2,
            len: 10,
            peek: false,
            waitall: false,
        },
        Op::Send { s: 1, len: 300 },
        Op::Send { s: 1, len: 7 },
        Op::Fionread { s: 2 },
        Op::Recv {
            s: 2,
            len: 5,
            peek: true,
            waitall: false,
        },
        Op::Recv {
            s: 2,
            len: 500,
            peek: true,
            waitall: true,
        },
        Op::Recv {
            s: 2,
            len: 100,
            peek: false,
            waitall: false,
        },
        Op::Recv {
            s: 2,
            len: 500,
            peek: false,
            waitall: true,
        },
        Op::Recv {
            s: 2,
            len: 0,
            peek: false,
            waitall: false,
        },
        Op::Fionread { s: 0 },
    ]);
    let l = both(&ops);
    assert_eq!(l[6], Obs::Err(EAGAIN));
    assert_eq!(l[9], Obs::Num(307));
    assert_eq!(
        l[11],
        Obs::Data {
            len: 307,
            in_order: true
        },
        "peek crosses sends"
    );
    assert_eq!(
        l[13],
        Obs::Data {
            len: 207,
            in_order: true
        },
        "non-blocking WAITALL returns what there is"
    );
    assert_eq!(l[14], Obs::Err(EAGAIN));
    assert_eq!(l[15], Obs::Err(EINVAL), "FIONREAD on a listener");
}

#[test]
fn unix_shutdown_mirrors_to_the_peer() {
    let mut ops = connected(abs(1));
    ops.extend([
        Op::Send { s: 2, len: 20 },
        Op::Shutdown { s: 2, how: 1 },
        Op::Send { s: 2, len: 1 },
        Op::Poll { s: 1 },
        Op::Recv {
            s: 1,
            len: 100,
            peek: false,
            waitall: false,
        },
        Op::Recv {
            s: 1,
            len: 100,
            peek: false,
            waitall: false,
        },
        Op::Shutdown { s: 1, how: 0 },
        Op::Send { s: 2, len: 1 },
        Op::Poll { s: 2 },
        Op::Shutdown { s: 1, how: 3 },
        Op::Shutdown { s: 0, how: 2 },
        Op::Socket { s: 3, ty: STREAM },
        Op::Connect { s: 3, addr: abs(1) },
    ]);
    let l = both(&ops);
    assert_eq!(l[8], Obs::Err(EPIPE));
    let p = poll(&l[9]);
    assert_eq!(p & (POLLIN | POLLRDHUP | POLLHUP), POLLIN | POLLRDHUP);
    assert_eq!(
        l[11],
        Obs::Data {
            len: 0,
            in_order: true
        },
        "EOF"
    );
    assert_eq!(l[15], Obs::Err(EINVAL));
    assert_eq!(l[18], Obs::Err(ECONNREFUSED), "a listener shut for reading");
}

#[test]
fn unix_release_sock_eof_reset_and_embryos() {
    let mut ops = connected(abs(2));
    ops.extend([
        // 2 sends to 1, then closes with nothing unread: EOF at 1.
        Op::Send { s: 2, len: 50 },
        Op::Close { s: 2 },
        Op::Poll { s: 1 },
        Op::Recv {
            s: 1,
            len: 100,
            peek: false,
            waitall: false,
        },
        Op::Recv {
            s: 1,
            len: 100,
            peek: false,
            waitall: false,
        },
        Op::Send { s: 1, len: 1 },
        Op::GetPeerName { s: 1 },
        // A pair where the closer leaves unread data: ECONNRESET once.
        Op::SocketPair {
            a: 3,
            b: 4,
            ty: STREAM,
        },
        Op::Send { s: 4, len: 10 },
        Op::Close { s: 3 },
        Op::Poll { s: 4 },
        Op::Recv {
            s: 4,
            len: 10,
            peek: true,
            waitall: false,
        },
        Op::Recv {
            s: 4,
            len: 10,
            peek: false,
            waitall: false,
        },
        // An embryo released by its listener's close.
        Op::Socket { s: 5, ty: STREAM },
        Op::Connect { s: 5, addr: abs(2) },
        Op::Close { s: 0 },
        Op::GetOpt {
            s: 5,
            opt: SockOpt::Error,
        },
        Op::GetOpt {
            s: 5,
            opt: SockOpt::Error,
        },
        Op::Recv {
            s: 5,
            len: 1,
            peek: false,
            waitall: false,
        },
        Op::Close { s: 0 },
    ]);
    let l = both(&ops);
    assert_eq!(poll(&l[8]) & (POLLHUP | POLLERR), POLLHUP);
    assert_eq!(
        l[10],
        Obs::Data {
            len: 0,
            in_order: true
        }
    );
    assert_eq!(l[11], Obs::Err(EPIPE));
    assert_eq!(poll(&l[16]) & POLLERR, POLLERR);
    assert_eq!(l[17], Obs::Err(ECONNRESET), "peek reports the reset too");
    assert_eq!(
        l[18],
        Obs::Data {
            len: 0,
            in_order: true
        }
    );
    assert_eq!(l[22], Obs::Num(i64::from(ECONNRESET)));
    assert_eq!(l[23], Obs::Num(0), "SO_ERROR clears it");
    assert_eq!(l[25], Obs::Err(EBADF));
}

#[test]
fn socket_options_and_nonblocking_full_buffer() {
    let ops = vec![
        Op::SocketPair {
            a: 0,
            b: 1,
            ty: STREAM,
        },
        Op::GetOpt {
            s: 0,
            opt: SockOpt::SndBuf,
        },
        Op::GetOpt {
            s: 0,
            opt: SockOpt::RcvBuf,
        },
        Op::GetOpt {
            s: 0,
            opt: SockOpt::Type,
        },
        Op::SetOpt {
            s: 0,
            opt: SockOpt::SndBuf,
            val: 1,
        },
        Op::GetOpt {
            s: 0,
            opt: SockOpt::SndBuf,
        },
        Op::SetOpt {
            s: 0,
            opt: SockOpt::RcvBuf,
            val: -1,
        },
        Op::GetOpt {
            s: 0,
            opt: SockOpt::RcvBuf,
        },
        Op::SetOpt {
            s: 0,
            opt: SockOpt::SndBuf,
            val: 65536,
        },
        Op::Fill { s: 0 },
        Op::Poll { s: 0 },
        Op::Send { s: 0, len: 1 },
        Op::Drain { s: 1 },
        Op::Poll { s: 0 },
        Op::Send { s: 0, len: 64 },
    ];
    let l = both(&ops);
    assert_eq!(l[3], Obs::Num(1), "SOCK_STREAM");
    assert_eq!(l[5], Obs::Num(4608), "SOCK_MIN_SNDBUF");
    assert_eq!(
        l[9],
        Obs::Fill {
            sent_any: true,
            end: EAGAIN
        }
    );
    assert_eq!(poll(&l[10]) & POLLOUT, 0);
    assert_eq!(l[11], Obs::Err(EAGAIN));
    assert_eq!(
        l[12],
        Obs::Drain {
            any: true,
            in_order: true,
            end: EAGAIN
        }
    );
    assert_eq!(poll(&l[13]) & POLLOUT, POLLOUT);
    assert_eq!(l[14], Obs::Num(64));
}

#[test]
fn poll_readiness_by_state() {
    let mut ops = vec![Op::Socket { s: 3, ty: STREAM }, Op::Poll { s: 3 }];
    ops.extend(connected(abs(0)));
    ops.extend([
        Op::Poll { s: 0 },
        Op::Poll { s: 1 },
        Op::Send { s: 1, len: 1 },
        Op::Poll { s: 2 },
    ]);
    let l = both(&ops);
    assert_eq!(
        poll(&l[1]),
        POLLOUT | POLLHUP | 0x100 | 0x200,
        "unconnected: OUT and HUP"
    );
    assert_eq!(poll(&l[8]), 0, "idle listener");
    assert_eq!(poll(&l[9]), POLLOUT | 0x100 | 0x200);
    assert_eq!(poll(&l[11]), POLLIN | 0x40 | POLLOUT | 0x100 | 0x200);
}

const ENOPROTOOPT: i32 = 92;

fn get(s: u8, opt: SockOpt) -> Op {
    Op::GetOpt { s, opt }
}

fn set(s: u8, opt: SockOpt, val: i32) -> Op {
    Op::SetOpt { s, opt, val }
}

#[test]
fn so_domain_protocol_keepalive_reuseaddr_read_back_as_linux_gives_them() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        get(0, SockOpt::Domain),
        get(0, SockOpt::Protocol),
        set(0, SockOpt::Domain, 1),
        set(0, SockOpt::Protocol, 1),
        get(0, SockOpt::KeepAlive),
        set(0, SockOpt::KeepAlive, 5),
        get(0, SockOpt::KeepAlive),
        set(0, SockOpt::ReuseAddr, -1),
        get(0, SockOpt::ReuseAddr),
        set(0, SockOpt::ReuseAddr, 0),
        get(0, SockOpt::ReuseAddr),
    ];
    let l = both(&ops);
    assert_eq!(l[1], Obs::Num(1), "AF_UNIX");
    assert_eq!(l[2], Obs::Num(0));
    assert_eq!(
        (&l[3], &l[4]),
        (&Obs::Err(ENOPROTOOPT), &Obs::Err(ENOPROTOOPT))
    );
    assert_eq!((&l[5], &l[7]), (&Obs::Num(0), &Obs::Num(1)));
    assert_eq!((&l[9], &l[11]), (&Obs::Num(1), &Obs::Num(0)));
}

#[test]
fn so_linger_off_keeps_the_time_and_a_negative_time_is_for_ever() {
    let linger = |onoff, seconds| Op::SetLinger {
        s: 0,
        onoff,
        seconds,
    };
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::GetLinger { s: 0 },
        linger(1, 7),
        Op::GetLinger { s: 0 },
        linger(0, 99),
        Op::GetLinger { s: 0 },
        linger(2, -1),
        Op::GetLinger { s: 0 },
    ];
    let l = both(&ops);
    let obs = |onoff, seconds| Obs::Linger { onoff, seconds };
    assert_eq!(l[1], obs(0, 0));
    assert_eq!(l[3], obs(1, 7));
    assert_eq!(l[5], obs(0, 7));
    assert_eq!(l[7], obs(1, afunix_core::LINGER_FOREVER_SECONDS));
}

#[test]
fn so_passcred_autobinds_on_connect_even_when_the_name_is_missing() {
    let ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        set(0, SockOpt::PassCred, 1),
        get(0, SockOpt::PassCred),
        // An invalid address fails before the autobind.
        Op::Connect {
            s: 0,
            addr: Addr::BadFamily,
        },
        Op::GetSockName { s: 0 },
        Op::Connect {
            s: 0,
            addr: path(0, PathForm::Plain),
        },
        Op::GetSockName { s: 0 },
        Op::Socket { s: 1, ty: STREAM },
        set(1, SockOpt::PassCred, 1),
        Op::Connect { s: 1, addr: abs(0) },
        Op::GetSockName { s: 1 },
        // A connected pair is unbound: it autobinds, then EISCONN.
        Op::SocketPair {
            a: 2,
            b: 3,
            ty: STREAM,
        },
        set(2, SockOpt::PassCred, 1),
        Op::Connect {
            s: 2,
            addr: Addr::NameOf { s: 1 },
        },
        Op::GetSockName { s: 2 },
    ];
    let l = both(&ops);
    let autobound = Obs::Addr {
        len: 8,
        bytes: b"\x01\x00\x00?????".to_vec(),
    };
    assert_eq!(l[2], Obs::Num(1));
    assert_eq!(l[3], Obs::Err(EINVAL));
    assert_eq!(
        l[4],
        Obs::Addr {
            len: 2,
            bytes: vec![1, 0]
        }
    );
    assert_eq!(l[5], Obs::Err(ENOENT));
    assert_eq!(l[6], autobound);
    assert_eq!(l[9], Obs::Err(ECONNREFUSED));
    assert_eq!(l[10], autobound);
    assert_eq!(l[13], Obs::Err(ECONNREFUSED), "slot 1 is not listening");
    assert_eq!(l[14], autobound);
}

#[test]
fn an_accepted_socket_has_the_listeners_so_passcred_from_connect_time() {
    let mut ops = vec![
        Op::Socket { s: 0, ty: STREAM },
        Op::Bind { s: 0, addr: abs(1) },
        Op::Listen { s: 0, backlog: 5 },
        set(0, SockOpt::PassCred, 1),
        set(0, SockOpt::KeepAlive, 1),
        Op::Socket { s: 1, ty: STREAM },
        Op::Connect { s: 1, addr: abs(1) },
        set(0, SockOpt::PassCred, 0),
        Op::Socket { s: 3, ty: STREAM },
        Op::Connect { s: 3, addr: abs(1) },
        set(0, SockOpt::PassCred, 1),
        Op::Accept { l: 0, into: 2 },
        Op::Accept { l: 0, into: 4 },
    ];
    ops.extend([
        get(2, SockOpt::PassCred),
        get(4, SockOpt::PassCred),
        get(2, SockOpt::KeepAlive),
        get(1, SockOpt::PassCred),
        Op::GetSockName { s: 1 },
    ]);
    let l = both(&ops);
    assert_eq!(l[13], Obs::Num(1), "passcred at the first connect");
    assert_eq!(l[14], Obs::Num(0), "cleared at the second");
    assert_eq!(l[15], Obs::Num(0), "SO_KEEPALIVE is not inherited");
    assert_eq!(l[16], Obs::Num(0));
    assert_eq!(
        l[17],
        Obs::Addr {
            len: 2,
            bytes: vec![1, 0]
        }
    );
}

#[test]
fn a_thousand_random_seeds_do_not_diverge() {
    let report = super::run_seeds(0, 1000, None);
    assert_eq!(report.scenarios, 1000);
    assert!(
        report.divergent_seeds.is_empty(),
        "divergent seeds {:?}",
        report.divergent_seeds
    );
    // With SCM_RIGHTS steps too (`--rights`).
    let rights = super::run_seeds_with(0, 300, None, true);
    assert!(
        rights.divergent_seeds.is_empty(),
        "divergent seeds with SCM_RIGHTS {:?}",
        rights.divergent_seeds
    );
    // Every operation kind was reached.
    for kind in Op::KINDS {
        assert!(
            report.coverage.contains_key(kind) || rights.coverage.contains_key(kind),
            "{kind} never ran"
        );
    }
}

#[test]
fn traces_record_and_replay_without_mismatch() {
    let path = std::env::temp_dir().join(format!("afx-trace-{}.jsonl", std::process::id()));
    let mut w = super::trace::Writer::create(&path).unwrap();
    let report = super::run_seeds(5000, 20, Some(&mut w));
    drop(w);
    assert!(report.divergent_seeds.is_empty());
    let net = afunix::Net::in_process_with(super::linux_limits());
    let replay = super::trace::replay(&path, &net, None, false).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        (
            replay.scenarios,
            replay.mismatches,
            replay.limited_scenarios
        ),
        (20, 0, 0)
    );
    assert!(replay.steps > 20);
}

const DGRAM: SockTy = SockTy::Dgram;
const SEQPACKET: SockTy = SockTy::SeqPacket;
const EPERM: i32 = 1;
const EPROTOTYPE: i32 = 91;

/// The bytes-copied, return value, truncation flag and sender length of a `recvmsg` on a
/// message socket.
fn msg_from(obs: &Obs) -> (usize, usize, bool, usize, MsgId) {
    match obs {
        Obs::MsgFrom {
            ret,
            len,
            truncated,
            from_len,
            msg,
            ..
        } => (*len, *ret, *truncated, *from_len, *msg),
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn datagrams_keep_boundaries_truncate_and_name_their_sender() {
    let ops = vec![
        Op::Socket { s: 0, ty: DGRAM },
        Op::Bind { s: 0, addr: abs(0) },
        Op::Socket { s: 1, ty: DGRAM },
        Op::Bind { s: 1, addr: abs(1) },
        Op::SendTo {
            s: 1,
            len: 300,
            addr: abs(0),
        },
        Op::SendTo {
            s: 1,
            len: 0,
            addr: abs(0),
        },
        // 6: FIONREAD is the next message's length.
        Op::Fionread { s: 0 },
        Op::RecvFrom {
            s: 0,
            len: 64,
            peek: true,
            trunc: true,
        },
        Op::RecvFrom {
            s: 0,
            len: 64,
            peek: false,
            trunc: false,
        },
        // 9: the rest of the first message was dropped; the zero-length one is next.
        Op::Fionread { s: 0 },
        Op::RecvFrom {
            s: 0,
            len: 64,
            peek: false,
            trunc: true,
        },
        Op::Recv {
            s: 0,
            len: 64,
            peek: false,
            waitall: false,
        },
        // 12: an unnamed sender is reported with no address.
        Op::Socket { s: 2, ty: DGRAM },
        Op::SendTo {
            s: 2,
            len: 5,
            addr: Addr::NameOf { s: 0 },
        },
        Op::RecvFrom {
            s: 0,
            len: 64,
            peek: false,
            trunc: false,
        },
        // 15: a stream cannot reach a datagram socket's abstract name (one namespace per
        // type), nor a datagram socket a stream's socket file.
        Op::Socket { s: 3, ty: STREAM },
        Op::Connect { s: 3, addr: abs(0) },
        Op::Bind {
            s: 3,
            addr: path(0, PathForm::Plain),
        },
        Op::SendTo {
            s: 1,
            len: 1,
            addr: path(0, PathForm::Plain),
        },
    ];
    let l = both(&ops);
    assert_eq!(l[4], Obs::Num(300));
    assert_eq!(l[5], Obs::Num(0));
    assert_eq!(l[6], Obs::Num(300));
    let (len, ret, truncated, from_len, msg) = msg_from(&l[7]);
    assert_eq!((len, ret, truncated, msg), (64, 300, true, MsgId::Of(0)));
    // The sender's abstract name (compared exactly by `both`; its digits vary by run).
    assert!(from_len > 3, "{from_len}");
    assert_eq!(msg_from(&l[8]).0..=msg_from(&l[8]).1, 64..=64);
    assert!(msg_from(&l[8]).2);
    assert_eq!(l[9], Obs::Num(0));
    let (len, ret, truncated, from_len, msg) = msg_from(&l[10]);
    assert_eq!((len, ret, truncated, msg), (0, 0, false, MsgId::Empty));
    assert!(
        from_len > 0,
        "a zero-length datagram still names its sender"
    );
    assert_eq!(l[11], Obs::Err(EAGAIN));
    assert_eq!(msg_from(&l[14]).3, 0);
    assert_eq!(l[16], Obs::Err(ECONNREFUSED));
    assert_eq!(l[17], Obs::Ok);
    assert_eq!(l[18], Obs::Err(EPROTOTYPE));
}

#[test]
fn datagram_connect_filters_queues_and_dissolves() {
    let mut ops = vec![
        Op::Socket { s: 0, ty: DGRAM },
        Op::Bind { s: 0, addr: abs(0) },
        Op::Socket { s: 1, ty: DGRAM },
        Op::Connect { s: 1, addr: abs(0) },
        Op::GetPeerName { s: 1 },
    ];
    // 5..=15: eleven datagrams fit (`max_dgram_qlen` 10: full when it holds more), the
    // twelfth does not, and the sender is not writable while the queue is full.
    for _ in 0..12 {
        ops.push(Op::Send { s: 1, len: 1 });
    }
    ops.extend([
        Op::Poll { s: 1 },
        // 18: connect(AF_UNSPEC) dissolves the association.
        Op::Connect {
            s: 1,
            addr: Addr::Unspec,
        },
        Op::GetPeerName { s: 1 },
        Op::Send { s: 1, len: 1 },
        // 21: a receiver connected elsewhere refuses others' datagrams.
        Op::Socket { s: 2, ty: DGRAM },
        Op::Bind { s: 2, addr: abs(2) },
        Op::Connect { s: 0, addr: abs(2) },
        Op::SendTo {
            s: 1,
            len: 1,
            addr: abs(0),
        },
        // 25: a stream refuses AF_UNSPEC.
        Op::Socket { s: 3, ty: STREAM },
        Op::Connect {
            s: 3,
            addr: Addr::Unspec,
        },
    ]);
    let l = both(&ops);
    assert!(addr_len(&l[4]) > 3);
    assert!(
        l[5..16].iter().all(|o| *o == Obs::Num(1)),
        "{:?}",
        &l[5..16]
    );
    assert_eq!(l[16], Obs::Err(EAGAIN));
    assert_eq!(poll(&l[17]) & POLLOUT, 0);
    assert_eq!(l[18], Obs::Ok);
    assert_eq!(l[19], Obs::Err(ENOTCONN));
    assert_eq!(l[20], Obs::Err(ENOTCONN));
    assert_eq!(l[23], Obs::Ok);
    assert_eq!(l[24], Obs::Err(EPERM));
    assert_eq!(l[26], Obs::Err(EINVAL));
}

#[test]
fn seqpacket_connects_like_a_stream_and_keeps_message_boundaries() {
    let ops = vec![
        Op::Socket {
            s: 0,
            ty: SEQPACKET,
        },
        Op::Bind {
            s: 0,
            addr: path(0, PathForm::Plain),
        },
        Op::Listen { s: 0, backlog: 5 },
        Op::Socket {
            s: 1,
            ty: SEQPACKET,
        },
        Op::Connect {
            s: 1,
            addr: path(0, PathForm::Plain),
        },
        Op::Accept { l: 0, into: 2 },
        Op::Send { s: 1, len: 300 },
        Op::Send { s: 1, len: 7 },
        // 8: FIONREAD counts every queued byte.
        Op::Fionread { s: 2 },
        Op::RecvFrom {
            s: 2,
            len: 64,
            peek: false,
            trunc: true,
        },
        Op::Recv {
            s: 2,
            len: 64,
            peek: false,
            waitall: false,
        },
        // 11: the end of file after the peer closes.
        Op::Close { s: 1 },
        Op::Recv {
            s: 2,
            len: 64,
            peek: false,
            waitall: false,
        },
        // 13: a stream connect to a seqpacket socket file.
        Op::Socket { s: 3, ty: STREAM },
        Op::Connect {
            s: 3,
            addr: path(0, PathForm::Plain),
        },
    ];
    let l = both(&ops);
    assert_eq!(l[6], Obs::Num(300));
    assert_eq!(l[8], Obs::Num(307));
    let (len, ret, truncated, _, msg) = msg_from(&l[9]);
    assert_eq!((len, ret, truncated, msg), (64, 300, true, MsgId::Of(0)));
    assert_eq!(
        l[10],
        Obs::Msg {
            len: 7,
            msg: MsgId::Of(1)
        }
    );
    assert_eq!(
        l[12],
        Obs::Msg {
            len: 0,
            msg: MsgId::Empty
        }
    );
    assert_eq!(l[14], Obs::Err(EPROTOTYPE));
}
