//! The device layer, by state: fresh handles, sockets, connected pairs, pending requests.

use alloc::vec;
use alloc::vec::Vec;

use afunix_proto::decode::{MsgFlags, OptValue};
use afunix_proto::sockopt::*;
use afunix_proto::wire::{MSG_DONTWAIT, MSG_OOB, MSG_PEEK};

use super::*;
use crate::device::POLLNVAL;

const POLLIN: u32 = 0x1;
const POLLOUT: u32 = 0x4;
const POLLHUP: u32 = 0x10;

fn me() -> Credentials {
    Credentials {
        pid: 1234,
        sid: vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
        // Low integrity, impersonating: what PEERCRED must carry through unchanged.
        integrity: 0x1000,
        flags: afunix_proto::wire::PEERCRED_IMPERSONATING,
    }
}

/// Tokens are reused as the driver reuses IRP addresses: a request's token is free again
/// once it is over (ready at once, or its completion drained by [`Fixture::completions`]),
/// and the next request takes the most recently freed. A token the device or the engine
/// remembered past its request's end would then name a live request, and the tests see it.
struct Fixture {
    device: Device,
    next_token: u64,
    free_tokens: Vec<Token>,
    /// The SEND and RECV requests' own buffers, by token (the driver: its IRPs' pages).
    bufs: OwnedBuffers,
    /// The buffers of requests whose completion was drained, until their token is reused.
    finished: alloc::collections::BTreeMap<Token, Vec<u8>>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Fixture {
        Fixture {
            device: Device::new(limits),
            next_token: 1,
            free_tokens: Vec::new(),
            bufs: OwnedBuffers::new(),
            finished: alloc::collections::BTreeMap::new(),
        }
    }

    /// The most recently freed token, else a new one.
    fn token(&mut self) -> Token {
        if let Some(t) = self.free_tokens.pop() {
            self.finished.remove(&t);
            return t;
        }
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Request `token` is over: its buffer goes, its token is free.
    fn free(&mut self, token: Token) {
        self.bufs.remove(token);
        self.free_tokens.push(token);
    }

    #[track_caller]
    fn run(&mut self, file: u64, op: Op<'_>) -> Reply {
        let token = self.token();
        let reply = self
            .device
            .execute(FileId(file), token, op, &me(), &mut self.bufs);
        if reply != Reply::Pending {
            self.free(token);
        }
        reply
    }

    /// A SEND of `data` (its own buffer, under a new token) or a RECV into a zeroed buffer
    /// of `data.len()` bytes, with these `MSG_*` flags: its token and reply.
    fn data_op(&mut self, file: u64, flags: u32, data: Vec<u8>, send: bool) -> (Token, Reply) {
        let token = self.token();
        let len = data.len();
        if send {
            self.bufs.insert_send(token, data).unwrap();
        } else {
            self.bufs.insert_recv(token, data).unwrap();
        }
        let flags = MsgFlags(flags);
        let op = if send {
            Op::Send {
                flags,
                len,
                to: None,
            }
        } else {
            Op::Recv {
                flags,
                len,
                from: false,
            }
        };
        let reply = self
            .device
            .execute(FileId(file), token, op, &me(), &mut self.bufs);
        (token, reply)
    }

    /// The first `n` bytes of request `token`'s buffer (also once its completion was
    /// drained, until the token is reused).
    fn buffer(&self, token: Token, n: usize) -> Vec<u8> {
        let buf = self
            .bufs
            .get(token)
            .or_else(|| self.finished.get(&token).map(Vec::as_slice))
            .unwrap();
        buf[..n].to_vec()
    }

    /// A SEND or RECV that must be over at once: its reply, its token freed.
    #[track_caller]
    fn data_ready(&mut self, file: u64, flags: u32, data: Vec<u8>, send: bool) -> Reply {
        let (token, reply) = self.data_op(file, flags, data, send);
        assert_ne!(
            reply,
            Reply::Pending,
            "expected a request that is over at once"
        );
        self.free(token);
        reply
    }

    #[track_caller]
    fn send_ok(&mut self, file: u64, flags: u32, data: &[u8]) -> Done {
        match self.data_ready(file, flags, data.to_vec(), true) {
            Reply::Ready(Ok(done)) => done,
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[track_caller]
    fn send_err(&mut self, file: u64, flags: u32, data: &[u8]) -> Errno {
        match self.data_ready(file, flags, data.to_vec(), true) {
            Reply::Ready(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// A RECV into `buf` that completes at once: its result, the bytes copied into `buf`.
    #[track_caller]
    fn recv_ok(&mut self, file: u64, flags: u32, buf: &mut [u8]) -> Done {
        let (token, reply) = self.data_op(file, flags, vec![0; buf.len()], false);
        match reply {
            Reply::Ready(Ok(Done::Count(n))) => {
                buf[..n].copy_from_slice(&self.buffer(token, n));
                self.free(token);
                Done::Count(n)
            }
            other => panic!("expected a count, got {other:?}"),
        }
    }

    #[track_caller]
    fn recv_err(&mut self, file: u64, flags: u32, buf: &mut [u8]) -> Errno {
        match self.data_ready(file, flags, vec![0; buf.len()], false) {
            Reply::Ready(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[track_caller]
    fn ok(&mut self, file: u64, op: Op<'_>) -> Done {
        match self.run(file, op) {
            Reply::Ready(Ok(done)) => done,
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[track_caller]
    fn err(&mut self, file: u64, op: Op<'_>) -> Errno {
        match self.run(file, op) {
            Reply::Ready(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn socket(&mut self, file: u64, nonblocking: bool) {
        self.device.open(FileId(file)).unwrap();
        self.ok(
            file,
            Op::Socket {
                sock_type: 1,
                nonblocking,
            },
        );
    }

    /// Files 1 (listening on abstract "srv" with `backlog`), 2 and 3 (fresh sockets).
    fn listening(backlog: i32) -> Fixture {
        let mut f = Fixture::new();
        f.socket(1, false);
        f.socket(2, false);
        f.socket(3, false);
        f.ok(
            1,
            Op::Bind {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        f.ok(1, Op::Listen { backlog });
        f
    }

    /// Files 1 (listener on abstract "srv"), 2 (client, connected), 3 (accepted).
    fn connected() -> Fixture {
        let mut f = Fixture::listening(4);
        f.ok(
            2,
            Op::Connect {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        f.ok(
            1,
            Op::Accept {
                new_file: FileId(3),
            },
        );
        f
    }

    /// A blocking RECV of up to `len` bytes on `file`, which must pend; its token.
    #[track_caller]
    fn pend_recv(&mut self, file: u64, len: usize) -> Token {
        let (token, reply) = self.data_op(file, 0, vec![0; len], false);
        assert_eq!(reply, Reply::Pending);
        token
    }

    /// Files `a` and `b`: a connected pair (SOCKETPAIR).
    fn pair(&mut self, a: u64, b: u64) {
        self.socket(a, false);
        self.socket(b, false);
        self.ok(a, Op::SocketPair { other: FileId(b) });
    }

    /// Everything `file` can read before EOF, without waiting.
    fn read_to_eof(&mut self, file: u64) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut buf = vec![0u8; 65536];
            match self.recv_ok(file, MSG_DONTWAIT, &mut buf) {
                Done::Count(0) => return got,
                Done::Count(n) => got.extend_from_slice(&buf[..n]),
                other => panic!("a count, got {other:?}"),
            }
        }
    }

    /// Drains the completions; their tokens are free again (their buffers stay readable by
    /// [`Fixture::buffer`] until the token is reused).
    fn completions(&mut self) -> Vec<crate::op::Completion> {
        let done: Vec<_> = core::iter::from_fn(|| self.device.poll_completion()).collect();
        for c in &done {
            if let Some(buf) = self.bufs.remove(c.token) {
                self.finished.insert(c.token, buf);
            }
            self.free_tokens.push(c.token);
        }
        done
    }
}

fn abstract_addr(name: &[u8]) -> Vec<u8> {
    let mut a = 1u16.to_ne_bytes().to_vec();
    a.push(0);
    a.extend_from_slice(name);
    a
}

fn path_addr(path: &[u8]) -> Vec<u8> {
    let mut a = 1u16.to_ne_bytes().to_vec();
    a.extend_from_slice(path);
    a
}

mod fresh_handle {
    use super::*;

    #[test]
    fn every_socket_request_before_socket_is_enotsock() {
        let mut f = Fixture::new();
        f.device.open(FileId(1)).unwrap();
        assert_eq!(f.err(1, Op::Listen { backlog: 1 }), Errno::ENOTSOCK);
        assert_eq!(f.err(1, Op::GetSockName), Errno::ENOTSOCK);
        assert_eq!(f.send_err(1, 0, b"x"), Errno::ENOTSOCK);
        assert!(!f.device.is_socket(FileId(1)));
    }

    #[test]
    fn an_unknown_file_is_ebadf() {
        let mut f = Fixture::new();
        assert_eq!(f.err(9, Op::Fionread), Errno::EBADF);
    }

    #[test]
    fn a_file_its_create_could_not_record_still_becomes_a_socket() {
        // CREATE failed for want of memory (Wine hands out the handle all the same): SOCKET
        // records the file and makes it a socket that works.
        let mut f = Fixture::new();
        f.ok(
            9,
            Op::Socket {
                sock_type: 1,
                nonblocking: false,
            },
        );
        f.socket(10, false);
        f.ok(9, Op::SocketPair { other: FileId(10) });
        f.send_ok(9, 0, b"ok");
        let mut buf = [0u8; 2];
        assert_eq!(f.recv_ok(10, 0, &mut buf), Done::Count(2));
    }

    #[test]
    fn a_second_socket_on_one_handle_is_refused() {
        let mut f = Fixture::new();
        f.device.open(FileId(1)).unwrap();
        for ty in [2, 1] {
            let expected = if ty == 2 {
                Ok(Done::Ok)
            } else {
                Err(Errno::EINVAL)
            };
            assert_eq!(
                f.run(
                    1,
                    Op::Socket {
                        sock_type: ty,
                        nonblocking: false
                    }
                ),
                Reply::Ready(expected)
            );
        }
    }
}

mod socket {
    use super::*;

    #[test]
    fn so_type_and_default_buffers() {
        let mut f = Fixture::new();
        f.socket(1, false);
        assert_eq!(f.ok(1, Op::GetSockOpt { level: 1, name: 3 }), Done::Int(1));
        assert_eq!(f.ok(1, Op::GetSockOpt { level: 1, name: 4 }), Done::Int(0));
        assert_eq!(
            f.err(
                1,
                Op::GetSockOpt {
                    level: 1,
                    name: 999
                }
            ),
            Errno::ENOPROTOOPT
        );
        assert_eq!(
            f.err(1, Op::GetSockOpt { level: 6, name: 1 }),
            Errno::EOPNOTSUPP
        );
        assert_eq!(
            f.err(
                1,
                Op::SetSockOpt {
                    level: 1,
                    name: 3,
                    value: OptValue::int(2)
                }
            ),
            Errno::ENOPROTOOPT
        );
    }

    #[test]
    fn pathname_bind_needs_the_callers_key_and_reports_the_path() {
        let mut f = Fixture::new();
        f.socket(1, false);
        let addr = path_addr(b"/tmp/sock\0");
        assert_eq!(
            f.err(
                1,
                Op::Bind {
                    sockaddr: &addr,
                    key: None
                }
            ),
            Errno::EINVAL
        );
        assert_eq!(
            f.device.prepare_bind(FileId(1), &addr),
            Ok(Some(SockType::Stream))
        );
        f.ok(
            1,
            Op::Bind {
                sockaddr: &addr,
                key: Some(PathKey {
                    volume: 7,
                    file_id: 42,
                    secret: 0,
                }),
            },
        );
        let Done::Address(out) = f.ok(1, Op::GetSockName) else {
            panic!()
        };
        assert_eq!(out.sockaddr(), &addr[..]);
        assert_eq!(out.addr_len, 12);
        assert_eq!(f.device.stats().bindings, 1);
    }

    #[test]
    fn the_address_is_checked_before_any_file_is_touched() {
        let mut f = Fixture::new();
        f.socket(1, false);
        f.device.open(FileId(2)).unwrap();
        let mut bad_family = path_addr(b"/tmp/x");
        bad_family[0] = 9;
        assert_eq!(
            f.device.prepare_bind(FileId(1), &bad_family),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            f.device.prepare_connect(FileId(1), &bad_family),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            f.device.prepare_connect(FileId(1), &abstract_addr(b"x")),
            Ok(false)
        );
        assert_eq!(
            f.device.prepare_bind(FileId(1), &1u16.to_ne_bytes()),
            Ok(None)
        );
        assert_eq!(
            f.device.prepare_bind(FileId(2), &path_addr(b"/tmp/x")),
            Err(Errno::ENOTSOCK)
        );
    }

    #[test]
    fn autobind_gives_a_five_hex_digit_abstract_name() {
        let mut f = Fixture::new();
        f.socket(1, false);
        f.ok(
            1,
            Op::Bind {
                sockaddr: &1u16.to_ne_bytes(),
                key: None,
            },
        );
        let Done::Address(out) = f.ok(1, Op::GetSockName) else {
            panic!()
        };
        assert_eq!(out.addr_len, 8);
        let name = &out.sockaddr()[3..];
        assert!(name.iter().all(u8::is_ascii_hexdigit), "{name:?}");
    }

    #[test]
    fn oob_is_not_supported() {
        let mut f = Fixture::connected();
        assert_eq!(f.send_err(2, MSG_OOB, b"x"), Errno::EOPNOTSUPP);
        let mut buf = [0u8; 4];
        assert_eq!(f.recv_err(3, MSG_OOB, &mut buf), Errno::EOPNOTSUPP);
    }
}

mod connected {
    use super::*;

    #[test]
    fn data_flows_both_ways_and_accept_reports_the_peer() {
        let mut f = Fixture::listening(4);
        f.ok(
            2,
            Op::Bind {
                sockaddr: &abstract_addr(b"cli"),
                key: None,
            },
        );
        f.ok(
            2,
            Op::Connect {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        let Done::Address(peer) = f.ok(
            1,
            Op::Accept {
                new_file: FileId(3),
            },
        ) else {
            panic!()
        };
        assert_eq!(peer.sockaddr(), &abstract_addr(b"cli")[..]);
        assert_eq!(f.send_ok(2, 0, b"hello"), Done::Count(5));
        assert_eq!(f.ok(3, Op::Fionread), Done::Int(5));
        let mut buf = [0u8; 8];
        assert_eq!(f.recv_ok(3, MSG_PEEK, &mut buf), Done::Count(5));
        assert_eq!(f.recv_ok(3, 0, &mut buf), Done::Count(5));
        assert_eq!(&buf[..5], b"hello");
        let Done::PeerCred(cred) = f.ok(3, Op::PeerCred) else {
            panic!()
        };
        assert_eq!((cred.pid, cred.sid()), (1234, &me().sid[..]));
        assert_eq!(
            (cred.integrity, cred.flags),
            (0x1000, afunix_proto::wire::PEERCRED_IMPERSONATING)
        );
    }

    #[test]
    fn a_pending_recv_gets_the_bytes_in_its_completion() {
        let mut f = Fixture::connected();
        let token = f.pend_recv(3, 16);
        assert_eq!(f.device.stats().pending, 1);
        f.send_ok(2, 0, b"abc");
        let done = f.completions();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].token, done[0].file), (token, FileId(3)));
        assert_eq!(done[0].result, Ok(Done::Count(3)));
        assert_eq!(
            f.buffer(token, 3),
            b"abc",
            "written straight into its buffer"
        );
        assert_eq!(f.device.stats().pending, 0);
    }

    #[test]
    fn dontwait_on_an_empty_buffer_is_eagain() {
        let mut f = Fixture::connected();
        let mut buf = [0u8; 4];
        assert_eq!(f.recv_err(3, MSG_DONTWAIT, &mut buf), Errno::EAGAIN);
    }

    #[test]
    fn socketpair_connects_two_fresh_handles_and_keeps_their_modes() {
        let mut f = Fixture::new();
        f.socket(1, false);
        f.socket(2, true);
        f.ok(1, Op::SocketPair { other: FileId(2) });
        f.send_ok(1, 0, b"ping");
        let mut buf = [0u8; 4];
        assert_eq!(f.recv_ok(2, 0, &mut buf), Done::Count(4));
        // File 2 stayed non-blocking: an empty read does not pend.
        assert_eq!(f.recv_err(2, 0, &mut buf), Errno::EAGAIN);
        assert_eq!(f.device.stats().sockets, 2);
        // Not again, and not with itself.
        assert_eq!(f.err(1, Op::SocketPair { other: FileId(2) }), Errno::EINVAL);
    }
}

mod pending {
    use super::*;

    #[test]
    fn cancel_completes_a_pending_recv_exactly_once() {
        let mut f = Fixture::connected();
        let token = f.pend_recv(3, 4);
        assert!(f.device.cancel(token, &mut f.bufs));
        assert!(!f.device.cancel(token, &mut f.bufs));
        let done = f.completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].result, Err(Errno::ECANCELED));
    }

    #[test]
    fn a_token_already_pending_is_refused() {
        let mut f = Fixture::connected();
        let token = f.pend_recv(3, 4);
        assert_eq!(
            f.device.execute(
                FileId(3),
                token,
                Op::Recv {
                    flags: MsgFlags(0),
                    len: 4,
                    from: false,
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Ready(Err(Errno::EALREADY))
        );
    }

    #[test]
    fn closing_a_file_completes_its_requests_and_the_peer_sees_eof() {
        let mut f = Fixture::connected();
        f.pend_recv(3, 4);
        f.device.close(FileId(3), &mut f.bufs);
        f.device.close(FileId(3), &mut f.bufs);
        let done = f.completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].file, FileId(3));
        assert!(done[0].result.is_err());
        let mut buf = [0u8; 4];
        assert_eq!(f.recv_ok(2, 0, &mut buf), Done::Count(0));
        assert_eq!(f.device.stats().pending, 0);
    }

    #[test]
    fn a_pending_accept_completes_with_the_peer_address() {
        let mut f = Fixture::listening(1);
        let token = f.token();
        assert_eq!(
            f.device.execute(
                FileId(1),
                token,
                Op::Accept {
                    new_file: FileId(3)
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Pending
        );
        f.ok(
            2,
            Op::Connect {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        let done = f.completions();
        assert_eq!(done.len(), 1);
        let Ok(Done::Address(peer)) = &done[0].result else {
            panic!("{:?}", done[0])
        };
        assert_eq!(peer.addr_len, 2, "the client is unnamed");
        assert_eq!(f.send_ok(3, 0, b"x"), Done::Count(1));
    }
}

mod poll {
    use super::*;

    fn entry(file: u64, events: u32) -> PollEntry {
        PollEntry {
            file: Some(FileId(file)),
            events,
        }
    }

    #[test]
    fn reports_readiness_at_once_when_there_is_some() {
        let mut f = Fixture::connected();
        let entries = [
            entry(2, POLLIN | POLLOUT),
            entry(3, POLLIN),
            PollEntry {
                file: None,
                events: POLLIN,
            },
        ];
        let Done::Polled(revents) = f.ok(
            2,
            Op::Poll {
                timeout_ms: -1,
                entries: &entries,
            },
        ) else {
            panic!()
        };
        assert_eq!(revents, vec![POLLOUT, 0, POLLNVAL]);
    }

    #[test]
    fn a_zero_timeout_never_waits() {
        let mut f = Fixture::connected();
        let entries = [entry(3, POLLIN)];
        assert_eq!(
            f.ok(
                3,
                Op::Poll {
                    timeout_ms: 0,
                    entries: &entries
                }
            ),
            Done::Polled(vec![0])
        );
    }

    #[test]
    fn a_waiting_poll_wakes_when_data_arrives() {
        let mut f = Fixture::connected();
        let entries = [entry(3, POLLIN)];
        let token = f.token();
        assert_eq!(
            f.device.execute(
                FileId(3),
                token,
                Op::Poll {
                    timeout_ms: 1000,
                    entries: &entries
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Pending
        );
        assert!(f.completions().is_empty());
        f.send_ok(2, 0, b"x");
        let done = f.completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].token, token);
        assert_eq!(done[0].result, Ok(Done::Polled(vec![POLLIN])));
    }

    #[test]
    fn a_waiting_poll_sees_the_peer_hang_up() {
        let mut f = Fixture::connected();
        let entries = [entry(3, POLLIN)];
        let token = f.token();
        assert_eq!(
            f.device.execute(
                FileId(3),
                token,
                Op::Poll {
                    timeout_ms: -1,
                    entries: &entries
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Pending
        );
        f.device.close(FileId(2), &mut f.bufs);
        let done = f.completions();
        let Ok(Done::Polled(revents)) = &done[0].result else {
            panic!("{done:?}")
        };
        assert_ne!(revents[0] & POLLHUP, 0);
        assert_ne!(revents[0] & POLLIN, 0);
    }

    #[test]
    fn waiting_polls_are_bounded_in_number_of_sockets() {
        let mut f = Fixture::connected();
        let entries = vec![entry(3, POLLIN); 1024];
        for _ in 0..crate::device::MAX_PENDING_POLL_ENTRIES / 1024 {
            let token = f.token();
            let op = Op::Poll {
                timeout_ms: -1,
                entries: &entries,
            };
            assert_eq!(
                f.device.execute(FileId(3), token, op, &me(), &mut f.bufs),
                Reply::Pending
            );
        }
        let token = f.token();
        let op = Op::Poll {
            timeout_ms: -1,
            entries: &entries[..1],
        };
        assert_eq!(
            f.device.execute(FileId(3), token, op, &me(), &mut f.bufs),
            Reply::Ready(Err(Errno::ENOBUFS))
        );
        // They all still wake when data arrives, and then there is room again.
        f.send_ok(2, 0, b"x");
        assert_eq!(
            f.completions().len(),
            crate::device::MAX_PENDING_POLL_ENTRIES / 1024
        );
        assert_eq!(f.device.stats().pending, 0);
    }

    #[test]
    fn expiry_and_cancel_each_complete_once() {
        let mut f = Fixture::connected();
        let entries = [entry(3, POLLIN)];
        let expired = f.token();
        assert_eq!(
            f.device.execute(
                FileId(3),
                expired,
                Op::Poll {
                    timeout_ms: 10,
                    entries: &entries
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Pending
        );
        assert!(f.device.expire(expired));
        assert!(!f.device.expire(expired));
        assert!(!f.device.cancel(expired, &mut f.bufs));
        let cancelled = f.token();
        assert_eq!(
            f.device.execute(
                FileId(3),
                cancelled,
                Op::Poll {
                    timeout_ms: 10,
                    entries: &entries
                },
                &me(),
                &mut f.bufs
            ),
            Reply::Pending
        );
        assert!(f.device.cancel(cancelled, &mut f.bufs));
        let done = f.completions();
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].result, Ok(Done::Polled(vec![0])));
        assert_eq!(done[1].result, Err(Errno::ECANCELED));
        assert_eq!(f.device.stats().pending, 0);
    }
}

#[test]
fn a_send_fills_a_waiting_recv_straight_from_buffer_to_buffer() {
    let mut f = Fixture::connected();
    let r = f.pend_recv(3, 8);
    assert_eq!(f.send_ok(2, 0, b"direct"), Done::Count(6));
    let c = f.device.poll_completion().unwrap();
    assert_eq!((c.token, c.result), (r, Ok(Done::Count(6))));
    assert_eq!(f.buffer(r, 6), b"direct");
    assert_eq!(
        f.device.stats().bytes_buffered,
        0,
        "nothing was copied in between"
    );
}

#[test]
fn a_pending_send_keeps_its_bytes_in_its_buffer_and_loses_none_when_cancelled() {
    let mut f = Fixture::connected();
    // More than the send buffer: the send pends, its tail still in its own buffer.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (w, reply) = f.data_op(2, 0, data.clone(), true);
    assert_eq!(reply, Reply::Pending);
    let buffered = f.device.stats().bytes_buffered;
    assert!(
        buffered < data.len() / 2,
        "the pending tail is not copied into the device's memory ({buffered} bytes buffered)"
    );
    // Read some, then cancel the writer: what it had sent, and only that, arrives.
    let mut got = vec![0u8; 4096];
    assert_eq!(f.recv_ok(3, 0, &mut got), Done::Count(4096));
    assert!(f.device.cancel(w, &mut f.bufs));
    let c = f.device.poll_completion().unwrap();
    let Ok(Done::Count(sent)) = c.result else {
        panic!("the cancelled send reports what it sent: {:?}", c.result)
    };
    f.bufs.remove(w);
    loop {
        let mut buf = vec![0u8; 65536];
        match f.data_op(3, MSG_DONTWAIT, buf.clone(), false) {
            (t, Reply::Ready(Ok(Done::Count(n)))) => {
                buf.truncate(n);
                buf.copy_from_slice(&f.buffer(t, n));
                got.extend_from_slice(&buf);
            }
            _ => break,
        }
    }
    assert_eq!(
        got.len(),
        sent,
        "every byte the send reported arrives, no more"
    );
    assert_eq!(&got[..], &data[..sent], "in order, unchanged");
}

/// A blocking SEND of 300,000 bytes on file 1 of pair (1, 2): it pends, and the reader may
/// see (FIONREAD) and peek its first 212,992 (the default SO_SNDBUF). Returns the data, the
/// token and the peeked bytes.
fn blocked_send_seen_by_peek(f: &mut Fixture) -> (Vec<u8>, Token, Vec<u8>) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (w, reply) = f.data_op(1, 0, data.clone(), true);
    assert_eq!(reply, Reply::Pending);
    assert_eq!(f.ok(2, Op::Fionread), Done::Int(212_992));
    let mut peeked = vec![0u8; data.len()];
    let Done::Count(n) = f.recv_ok(2, MSG_PEEK, &mut peeked) else {
        panic!("a count")
    };
    peeked.truncate(n);
    assert_eq!(peeked, data[..212_992]);
    (data, w, peeked)
}

#[test]
fn peeked_bytes_still_arrive_after_the_writer_shrinks_its_send_buffer_and_closes() {
    let mut f = Fixture::new();
    f.pair(1, 2);
    let (data, w, peeked) = blocked_send_seen_by_peek(&mut f);
    f.ok(
        1,
        Op::SetSockOpt {
            level: 1,
            name: 7,
            value: OptValue::int(0),
        },
    );
    assert_eq!(
        f.ok(2, Op::Fionread),
        Done::Int(212_992),
        "what the reader saw stays queued"
    );
    f.device.close(FileId(1), &mut f.bufs);
    let c = f.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].token, c[0].result.clone()),
        (w, Ok(Done::Count(peeked.len())))
    );
    let got = f.read_to_eof(2);
    assert_eq!(got, data[..peeked.len()], "every peeked byte, then EOF");
}

#[test]
fn peeked_bytes_still_arrive_when_other_connections_fill_the_global_cap() {
    let mut f = Fixture::with_limits(Limits {
        global_buffer_cap: 1 << 20,
        ..Limits::default()
    });
    f.pair(1, 2);
    let (data, w, peeked) = blocked_send_seen_by_peek(&mut f);
    // Other connections take all the room there is.
    let mut file = 10;
    loop {
        f.pair(file, file + 1);
        let (_, reply) = f.data_op(file, MSG_DONTWAIT, vec![7; 212_992], true);
        file += 2;
        if reply != Reply::Ready(Ok(Done::Count(212_992))) {
            break;
        }
    }
    f.device.close(FileId(1), &mut f.bufs);
    let c = f.completions();
    assert_eq!(
        (c[0].token, c[0].result.clone()),
        (w, Ok(Done::Count(peeked.len())))
    );
    let got = f.read_to_eof(2);
    assert_eq!(got, data[..peeked.len()], "every peeked byte, then EOF");
}

#[test]
fn a_larger_send_buffer_completes_a_blocked_send_that_now_fits() {
    let mut f = Fixture::new();
    f.pair(1, 2);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (w, reply) = f.data_op(1, 0, data.clone(), true);
    assert_eq!(reply, Reply::Pending);
    // Doubled: 425,984 bytes, room for all of it (Linux: sk_write_space wakes the writer).
    f.ok(
        1,
        Op::SetSockOpt {
            level: 1,
            name: 7,
            value: OptValue::int(212_992),
        },
    );
    let c = f.completions();
    assert_eq!(c.len(), 1, "the send completes");
    assert_eq!(
        (c[0].token, c[0].result.clone()),
        (w, Ok(Done::Count(data.len())))
    );
    f.bufs.remove(w);
    f.device.close(FileId(1), &mut f.bufs);
    assert_eq!(f.read_to_eof(2), data);
}

#[test]
fn so_acceptconn_says_whether_the_socket_listens() {
    let mut f = Fixture::listening(4);
    let opt = |f: &mut Fixture, file| f.ok(file, Op::GetSockOpt { level: 1, name: 30 });
    assert_eq!(opt(&mut f, 1), Done::Int(1));
    assert_eq!(opt(&mut f, 2), Done::Int(0));
}

mod options {
    use super::*;

    fn get(f: &mut Fixture, name: i32) -> Result<i32, Errno> {
        let op = Op::GetSockOpt {
            level: SOL_SOCKET,
            name,
        };
        match f.run(1, op) {
            Reply::Ready(Ok(Done::Int(v))) => Ok(v),
            Reply::Ready(Err(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    fn set(f: &mut Fixture, name: i32, value: OptValue) -> Result<(), Errno> {
        let op = Op::SetSockOpt {
            level: SOL_SOCKET,
            name,
            value,
        };
        match f.run(1, op) {
            Reply::Ready(Ok(Done::Ok)) => Ok(()),
            Reply::Ready(Err(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn so_domain_and_so_protocol_are_af_unix_and_zero_and_read_only() {
        let mut f = Fixture::new();
        f.socket(1, false);
        assert_eq!(get(&mut f, SO_DOMAIN), Ok(1));
        assert_eq!(get(&mut f, SO_PROTOCOL), Ok(0));
        for name in [SO_DOMAIN, SO_PROTOCOL, SO_AFUNIX_LINGER_SECONDS] {
            assert_eq!(
                set(&mut f, name, OptValue::int(1)),
                Err(Errno::ENOPROTOOPT),
                "{name}"
            );
        }
    }

    #[test]
    fn passcred_keepalive_and_reuseaddr_read_back_as_zero_or_one() {
        let mut f = Fixture::new();
        f.socket(1, false);
        for name in [SO_PASSCRED, SO_KEEPALIVE, SO_REUSEADDR] {
            assert_eq!(get(&mut f, name), Ok(0), "{name}");
            set(&mut f, name, OptValue::int(5)).unwrap();
            assert_eq!(get(&mut f, name), Ok(1), "{name}");
            set(&mut f, name, OptValue::int(0)).unwrap();
            assert_eq!(get(&mut f, name), Ok(0), "{name}");
        }
    }

    #[test]
    fn so_linger_carries_both_fields_in_and_reports_them_by_two_options() {
        let mut f = Fixture::new();
        f.socket(1, false);
        let linger = |f: &mut Fixture| {
            (
                get(f, SO_LINGER).unwrap(),
                get(f, SO_AFUNIX_LINGER_SECONDS).unwrap(),
            )
        };
        assert_eq!(linger(&mut f), (0, 0));
        set(&mut f, SO_LINGER, OptValue::linger(3, 7)).unwrap();
        assert_eq!(linger(&mut f), (1, 7));
        // l_onoff 0 only clears the flag (sock_setsockopt).
        set(&mut f, SO_LINGER, OptValue::linger(0, 99)).unwrap();
        assert_eq!(linger(&mut f), (0, 7));
        set(&mut f, SO_LINGER, OptValue::linger(1, -1)).unwrap();
        assert_eq!(linger(&mut f), (1, afunix_core::LINGER_FOREVER_SECONDS));
    }

    #[test]
    fn passcred_autobinds_before_the_socket_file_is_looked_up() {
        let mut f = Fixture::new();
        f.socket(1, false);
        let name = |f: &mut Fixture| {
            let Done::Address(out) = f.ok(1, Op::GetSockName) else {
                panic!()
            };
            out.addr_len
        };
        // Without SO_PASSCRED nothing happens before the caller opens the file.
        assert_eq!(
            f.device
                .prepare_connect(FileId(1), &path_addr(b"/tmp/gone")),
            Ok(true)
        );
        assert_eq!(name(&mut f), 2);
        set(&mut f, SO_PASSCRED, OptValue::int(1)).unwrap();
        // An invalid address fails first and binds nothing (unix_validate_addr).
        let mut bad_family = path_addr(b"/tmp/gone");
        bad_family[0] = 9;
        assert_eq!(
            f.device.prepare_connect(FileId(1), &bad_family),
            Err(Errno::EINVAL)
        );
        assert_eq!(name(&mut f), 2);
        // The caller then finds no file (ENOENT) and never reaches CONNECT: the socket keeps
        // the name it autobound, as on Linux.
        assert_eq!(
            f.device
                .prepare_connect(FileId(1), &path_addr(b"/tmp/gone")),
            Ok(true)
        );
        assert_eq!(name(&mut f), 8);
    }

    #[test]
    fn an_accepted_socket_reports_the_listeners_passcred() {
        let mut f = Fixture::new();
        f.socket(1, false);
        f.ok(
            1,
            Op::Bind {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        f.ok(1, Op::Listen { backlog: 4 });
        set(&mut f, SO_PASSCRED, OptValue::int(1)).unwrap();
        f.socket(2, false);
        f.ok(
            2,
            Op::Connect {
                sockaddr: &abstract_addr(b"srv"),
                key: None,
            },
        );
        f.socket(3, false);
        f.ok(
            1,
            Op::Accept {
                new_file: FileId(3),
            },
        );
        let passcred = |f: &mut Fixture, file| {
            f.ok(
                file,
                Op::GetSockOpt {
                    level: SOL_SOCKET,
                    name: SO_PASSCRED,
                },
            )
        };
        assert_eq!(passcred(&mut f, 3), Done::Int(1));
        assert_eq!(passcred(&mut f, 2), Done::Int(0));
    }
}

/// The driver names requests by IRP address, which the I/O manager reuses at once: the
/// fixture hands a freed token to the next request, and that request must see nothing of
/// the one before.
#[test]
fn a_token_reused_after_completion_names_only_its_new_request() {
    let mut f = Fixture::new();
    f.pair(1, 2);
    f.pair(3, 4);
    let t = f.pend_recv(1, 8);
    assert_eq!(f.send_ok(2, 0, b"first"), Done::Count(5));
    let done = f.completions();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].token, done[0].file), (t, FileId(1)));
    assert_eq!(done[0].result, Ok(Done::Count(5)));
    assert_eq!(f.buffer(t, 5), b"first");
    // The next request (a RECV on the other pair) gets the same token.
    assert_eq!(f.pend_recv(3, 8), t);
    // More bytes for file 1 stay queued there: none reach the new request.
    assert_eq!(f.send_ok(2, 0, b"second"), Done::Count(6));
    assert!(f.completions().is_empty());
    assert_eq!(f.buffer(t, 8), [0u8; 8]);
    assert_eq!(f.send_ok(4, 0, b"third"), Done::Count(5));
    let done = f.completions();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].token, done[0].file), (t, FileId(3)));
    assert_eq!(f.buffer(t, 5), b"third");
    let mut buf = [0u8; 16];
    assert_eq!(f.recv_ok(1, MSG_DONTWAIT, &mut buf), Done::Count(6));
    assert_eq!(&buf[..6], b"second");
}

/// A cancelled RECV's token reused by a SEND that pends: bytes for the cancelled RECV's
/// socket are not written into the SEND's buffer, which may only be read (the driver locks
/// a SEND's pages for reading only), and the SEND's own bytes arrive unchanged.
#[test]
fn a_token_reused_after_cancel_by_a_send_is_never_written() {
    let mut f = Fixture::new();
    f.pair(1, 2);
    f.pair(3, 4);
    let t = f.pend_recv(1, 8);
    assert!(f.device.cancel(t, &mut f.bufs));
    let done = f.completions();
    assert_eq!(
        (done[0].token, done[0].result.clone()),
        (t, Err(Errno::ECANCELED))
    );
    // More than SO_SNDBUF into file 4, nobody reading: the send pends, under the same token.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (w, reply) = f.data_op(3, 0, data.clone(), true);
    assert_eq!((w, reply), (t, Reply::Pending));
    assert_eq!(f.send_ok(2, 0, b"for file 1"), Done::Count(10));
    assert!(f.completions().is_empty());
    assert_eq!(f.buffer(t, data.len()), data, "the send's buffer unchanged");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    while got.len() < data.len() {
        match f.recv_ok(4, 0, &mut buf) {
            Done::Count(n) => got.extend_from_slice(&buf[..n]),
            other => panic!("a count, got {other:?}"),
        }
    }
    assert_eq!(got, data);
    let done = f.completions();
    assert_eq!(
        (done[0].token, done[0].result.clone()),
        (t, Ok(Done::Count(300_000)))
    );
    let mut buf = [0u8; 16];
    assert_eq!(f.recv_ok(1, MSG_DONTWAIT, &mut buf), Done::Count(10));
    assert_eq!(&buf[..10], b"for file 1");
}

/// Datagram and seqpacket sockets through the device: SOCKET's types, SOCKETPAIR, SENDTO's
/// destination, RECVFROM's truncation report, CONNECT with AF_UNSPEC, FIONREAD and POLL.
mod message_sockets {
    use super::*;
    use crate::SendTo;
    use afunix_proto::wire::{MSG_TRUNC, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM};

    impl Fixture {
        fn typed(&mut self, file: u64, ty: u32) {
            self.device.open(FileId(file)).unwrap();
            self.ok(
                file,
                Op::Socket {
                    sock_type: ty,
                    nonblocking: true,
                },
            );
        }

        fn typed_pair(&mut self, a: u64, b: u64, ty: u32) {
            self.typed(a, ty);
            self.typed(b, ty);
            self.ok(a, Op::SocketPair { other: FileId(b) });
        }

        /// SENDTO of `data` to `to`: its reply.
        fn send_to(&mut self, file: u64, data: &[u8], to: SendTo<'_>) -> Reply {
            let token = self.token();
            self.bufs.insert_send(token, data.to_vec()).unwrap();
            let op = Op::Send {
                flags: MsgFlags(MSG_DONTWAIT),
                len: data.len(),
                to: Some(to),
            };
            let reply = self
                .device
                .execute(FileId(file), token, op, &me(), &mut self.bufs);
            assert_ne!(reply, Reply::Pending);
            self.free(token);
            reply
        }

        /// RECVFROM into `len` bytes that is over at once: the bytes and the reply.
        fn recv_from(&mut self, file: u64, flags: u32, len: usize) -> (Vec<u8>, Done) {
            let token = self.token();
            self.bufs.insert_recv(token, vec![0; len]).unwrap();
            let op = Op::Recv {
                flags: MsgFlags(flags | MSG_DONTWAIT),
                len,
                from: true,
            };
            let reply = self
                .device
                .execute(FileId(file), token, op, &me(), &mut self.bufs);
            let Reply::Ready(Ok(done)) = reply else {
                panic!("RECVFROM: {reply:?}")
            };
            let Done::CountFrom(n, _) = done else {
                panic!("RECVFROM gave {done:?}")
            };
            let bytes = self.buffer(token, n);
            self.free(token);
            (bytes, done)
        }

        fn so_type(&mut self, file: u64) -> Done {
            self.ok(
                file,
                Op::GetSockOpt {
                    level: SOL_SOCKET,
                    name: SO_TYPE,
                },
            )
        }
    }

    fn header(done: &Done) -> AddressOut {
        match done {
            Done::CountFrom(_, out) => *out,
            other => panic!("not a RECVFROM reply: {other:?}"),
        }
    }

    use afunix_proto::wire::AddressOut;

    #[test]
    fn socket_makes_each_linux_type_and_refuses_the_rest() {
        let mut f = Fixture::new();
        for (file, ty, reported) in [
            (1, SOCK_STREAM, 1),
            (2, SOCK_DGRAM, 2),
            (3, SOCK_RAW, 2),
            (4, SOCK_SEQPACKET, 5),
        ] {
            f.typed(file, ty);
            assert_eq!(f.so_type(file), Done::Int(reported), "type {ty}");
        }
        f.device.open(FileId(9)).unwrap();
        for ty in [0, 4, 6, 10, u32::MAX] {
            assert_eq!(
                f.err(
                    9,
                    Op::Socket {
                        sock_type: ty,
                        nonblocking: false
                    }
                ),
                Errno::ESOCKTNOSUPPORT,
                "type {ty}"
            );
        }
        // A refused type leaves the handle as it was: it can still become a socket.
        assert!(!f.device.is_socket(FileId(9)));
        f.ok(
            9,
            Op::Socket {
                sock_type: SOCK_DGRAM,
                nonblocking: false,
            },
        );
        assert_eq!(f.device.stats().sockets, 5);
    }

    #[test]
    fn a_datagram_pair_keeps_boundaries_and_reports_a_cut_message_whole() {
        let mut f = Fixture::new();
        f.typed_pair(1, 2, SOCK_DGRAM);
        assert_eq!(f.so_type(1), Done::Int(2), "the pair keeps the type");
        f.send_ok(1, 0, b"hello");
        f.send_ok(1, 0, b"");
        f.send_ok(1, 0, b"world!!");
        // FIONREAD: the next datagram's length, not all that is queued.
        assert_eq!(f.ok(2, Op::Fionread), Done::Int(5));
        let (bytes, done) = f.recv_from(2, 0, 3);
        assert_eq!(bytes, b"hel");
        let out = header(&done);
        assert_eq!((out.msg_flags, out.msg_len), (MSG_TRUNC, 5));
        assert_eq!(out.addr_len, 0, "an unnamed sender has no address");
        // The rest of "hello" is gone; the empty datagram is a message of its own.
        let (bytes, done) = f.recv_from(2, 0, 64);
        assert!(bytes.is_empty());
        assert_eq!((header(&done).msg_flags, header(&done).msg_len), (0, 0));
        // A plain RECV's reply is the bytes copied, even with MSG_TRUNC asked for.
        f.send_ok(1, 0, b"again");
        let mut buf = [0u8; 16];
        assert_eq!(f.recv_ok(2, 0, &mut buf), Done::Count(7));
        assert_eq!(&buf[..7], b"world!!");
        let mut small = [0u8; 2];
        assert_eq!(f.recv_ok(2, MSG_TRUNC, &mut small), Done::Count(2));
        assert_eq!(&small, b"ag");
        assert_eq!(f.recv_err(2, MSG_DONTWAIT, &mut buf), Errno::EAGAIN);
    }

    #[test]
    fn recvfrom_with_msg_peek_and_msg_trunc_keeps_the_message() {
        let mut f = Fixture::new();
        f.typed_pair(1, 2, SOCK_DGRAM);
        f.send_ok(1, 0, b"abcdef");
        let (bytes, done) = f.recv_from(2, MSG_PEEK | MSG_TRUNC, 2);
        assert_eq!(bytes, b"ab");
        assert_eq!(
            (done.clone(), header(&done).msg_len),
            (Done::CountFrom(2, header(&done)), 6)
        );
        assert!(header(&done).truncated());
        let (bytes, _) = f.recv_from(2, 0, 64);
        assert_eq!(bytes, b"abcdef", "the peek consumed nothing");
    }

    #[test]
    fn sendto_reaches_a_named_datagram_socket_and_recvfrom_names_the_sender() {
        let mut f = Fixture::new();
        f.typed(1, SOCK_DGRAM);
        f.typed(2, SOCK_DGRAM);
        f.typed(3, SOCK_DGRAM);
        let server = abstract_addr(b"dgram-server");
        f.ok(
            1,
            Op::Bind {
                sockaddr: &server,
                key: None,
            },
        );
        let key = PathKey {
            volume: 3,
            file_id: 9,
            secret: 77,
        };
        f.ok(
            2,
            Op::Bind {
                sockaddr: &path_addr(b"/run/client"),
                key: Some(key),
            },
        );
        let to = SendTo::Address {
            sockaddr: &server,
            key: None,
        };
        assert_eq!(
            f.send_to(2, b"from a file", to),
            Reply::Ready(Ok(Done::Count(11)))
        );
        assert_eq!(f.send_to(3, b"anon", to), Reply::Ready(Ok(Done::Count(4))));
        let (bytes, done) = f.recv_from(1, 0, 64);
        assert_eq!(bytes, b"from a file");
        assert_eq!(header(&done).sockaddr(), &path_addr(b"/run/client\0")[..]);
        assert_eq!(header(&done).msg_len, 11);
        let (bytes, done) = f.recv_from(1, 0, 64);
        assert_eq!(bytes, b"anon");
        assert_eq!(header(&done).addr_len, 0, "an unbound sender");
        // A pathname destination goes by the key the caller resolved, as CONNECT's.
        let to_client = SendTo::Address {
            sockaddr: &path_addr(b"/run/client"),
            key: Some(key),
        };
        assert_eq!(
            f.send_to(1, b"back", to_client),
            Reply::Ready(Ok(Done::Count(4)))
        );
        let (bytes, done) = f.recv_from(2, 0, 64);
        assert_eq!(bytes, b"back");
        assert_eq!(header(&done).sockaddr(), &server[..]);
        // Unresolved pathnames, bad addresses and oversize ones: EINVAL; no one there:
        // ECONNREFUSED.
        let unresolved = SendTo::Address {
            sockaddr: &path_addr(b"/run/client"),
            key: None,
        };
        assert_eq!(
            f.send_to(1, b"x", unresolved),
            Reply::Ready(Err(Errno::EINVAL))
        );
        let bad_family = SendTo::Address {
            sockaddr: &[9, 0, 0, b'x'],
            key: None,
        };
        assert_eq!(
            f.send_to(1, b"x", bad_family),
            Reply::Ready(Err(Errno::EINVAL))
        );
        assert_eq!(
            f.send_to(1, b"x", SendTo::Oversize),
            Reply::Ready(Err(Errno::EINVAL))
        );
        let nobody = abstract_addr(b"nobody");
        let nobody = SendTo::Address {
            sockaddr: &nobody,
            key: None,
        };
        assert_eq!(
            f.send_to(1, b"x", nobody),
            Reply::Ready(Err(Errno::ECONNREFUSED))
        );
        // A stream name is not a datagram socket's destination (one namespace per type).
        f.typed(4, SOCK_STREAM);
        let stream_name = abstract_addr(b"a-stream");
        f.ok(
            4,
            Op::Bind {
                sockaddr: &stream_name,
                key: None,
            },
        );
        let to_stream = SendTo::Address {
            sockaddr: &stream_name,
            key: None,
        };
        assert_eq!(
            f.send_to(1, b"x", to_stream),
            Reply::Ready(Err(Errno::ECONNREFUSED))
        );
    }

    #[test]
    fn a_seqpacket_socket_ignores_sendtos_address_and_a_stream_refuses_it() {
        let mut f = Fixture::new();
        f.typed_pair(1, 2, SOCK_SEQPACKET);
        let anywhere = abstract_addr(b"nowhere at all");
        let to = SendTo::Address {
            sockaddr: &anywhere,
            key: None,
        };
        assert_eq!(f.send_to(1, b"rec", to), Reply::Ready(Ok(Done::Count(3))));
        assert_eq!(
            f.send_to(1, b"ord", SendTo::Oversize),
            Reply::Ready(Ok(Done::Count(3)))
        );
        // Seqpacket FIONREAD: every byte queued.
        assert_eq!(f.ok(2, Op::Fionread), Done::Int(6));
        let (bytes, done) = f.recv_from(2, 0, 2);
        assert_eq!(bytes, b"re");
        assert_eq!(
            (header(&done).msg_flags, header(&done).msg_len),
            (MSG_TRUNC, 3)
        );
        let (bytes, _) = f.recv_from(2, 0, 64);
        assert_eq!(bytes, b"ord", "the cut record's rest was dropped");
        f.typed(3, SOCK_SEQPACKET);
        assert_eq!(f.send_to(3, b"x", to), Reply::Ready(Err(Errno::ENOTCONN)));
        f.typed_pair(4, 5, SOCK_STREAM);
        assert_eq!(f.send_to(4, b"x", to), Reply::Ready(Err(Errno::EISCONN)));
    }

    #[test]
    fn connect_with_af_unspec_dissolves_a_datagram_association_only() {
        let mut f = Fixture::new();
        f.typed(1, SOCK_DGRAM);
        f.typed(2, SOCK_DGRAM);
        let server = abstract_addr(b"peer");
        f.ok(
            1,
            Op::Bind {
                sockaddr: &server,
                key: None,
            },
        );
        // connect on a datagram socket never pends.
        f.ok(
            2,
            Op::Connect {
                sockaddr: &server,
                key: None,
            },
        );
        f.send_ok(2, 0, b"one");
        let unspec = [0u8, 0];
        assert_eq!(f.device.prepare_connect(FileId(2), &unspec), Ok(false));
        f.ok(
            2,
            Op::Connect {
                sockaddr: &unspec,
                key: None,
            },
        );
        assert_eq!(f.send_err(2, MSG_DONTWAIT, b"two"), Errno::ENOTCONN);
        let (bytes, _) = f.recv_from(1, 0, 8);
        assert_eq!(bytes, b"one");
        // A stream and a seqpacket socket refuse AF_UNSPEC (unix_validate_addr).
        f.pair(3, 4);
        f.typed_pair(5, 6, SOCK_SEQPACKET);
        for file in [3, 5] {
            assert_eq!(
                f.err(
                    file,
                    Op::Connect {
                        sockaddr: &unspec,
                        key: None
                    }
                ),
                Errno::EINVAL
            );
        }
    }

    #[test]
    fn socketpair_needs_two_sockets_of_one_type() {
        let mut f = Fixture::new();
        f.typed(1, SOCK_DGRAM);
        f.typed(2, SOCK_SEQPACKET);
        assert_eq!(
            f.err(1, Op::SocketPair { other: FileId(2) }),
            Errno::EPROTOTYPE
        );
        // Both are still fresh: each pairs with one of its own type.
        f.typed(3, SOCK_DGRAM);
        f.typed(4, SOCK_SEQPACKET);
        f.ok(1, Op::SocketPair { other: FileId(3) });
        f.ok(2, Op::SocketPair { other: FileId(4) });
        assert_eq!((f.so_type(3), f.so_type(4)), (Done::Int(2), Done::Int(5)));
        assert_eq!(f.device.stats().sockets, 4);
    }

    #[test]
    fn a_pending_recvfrom_completes_with_the_message_report() {
        let mut f = Fixture::new();
        f.typed(1, SOCK_DGRAM);
        f.typed(2, SOCK_DGRAM);
        let name = abstract_addr(b"waiter");
        f.ok(
            1,
            Op::Bind {
                sockaddr: &name,
                key: None,
            },
        );
        let sender = abstract_addr(b"sender");
        f.ok(
            2,
            Op::Bind {
                sockaddr: &sender,
                key: None,
            },
        );
        // A blocking RECVFROM (the socket is non-blocking: overlapped waits anyway).
        let token = f.token();
        f.bufs.insert_recv(token, vec![0; 4]).unwrap();
        let op = Op::Recv {
            flags: MsgFlags(afunix_proto::wire::MSG_AFUNIX_OVERLAPPED),
            len: 4,
            from: true,
        };
        let reply = f.device.execute(FileId(1), token, op, &me(), &mut f.bufs);
        assert_eq!(reply, Reply::Pending);
        let to = SendTo::Address {
            sockaddr: &name,
            key: None,
        };
        assert_eq!(
            f.send_to(2, b"0123456789", to),
            Reply::Ready(Ok(Done::Count(10)))
        );
        let done = f.completions();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].token, token);
        let Ok(Done::CountFrom(4, out)) = done[0].result else {
            panic!("{:?}", done[0].result)
        };
        assert_eq!(out.sockaddr(), &sender[..]);
        assert_eq!((out.msg_flags, out.msg_len), (MSG_TRUNC, 10));
        assert_eq!(f.buffer(token, 4), b"0123");
        // A pending plain RECV completes with the bytes copied.
        let token = f.pend_recv_typed(1, 3);
        assert_eq!(
            f.send_to(2, b"abcdef", to),
            Reply::Ready(Ok(Done::Count(6)))
        );
        let done = f.completions();
        assert_eq!(done[0].token, token);
        assert_eq!(done[0].result, Ok(Done::Count(3)));
    }

    impl Fixture {
        /// An overlapped RECV of `len` bytes that must pend.
        fn pend_recv_typed(&mut self, file: u64, len: usize) -> Token {
            let (token, reply) = self.data_op(
                file,
                afunix_proto::wire::MSG_AFUNIX_OVERLAPPED,
                vec![0; len],
                false,
            );
            assert_eq!(reply, Reply::Pending);
            token
        }
    }

    #[test]
    fn poll_reports_a_datagram_socket_writable_and_then_readable() {
        let mut f = Fixture::new();
        f.typed_pair(1, 2, SOCK_DGRAM);
        f.device.open(FileId(9)).unwrap();
        let entries = [PollEntry {
            file: Some(FileId(2)),
            events: POLLIN | POLLOUT,
        }];
        let poll = |f: &mut Fixture| {
            f.ok(
                9,
                Op::Poll {
                    timeout_ms: 0,
                    entries: &entries,
                },
            )
        };
        assert_eq!(poll(&mut f), Done::Polled(vec![POLLOUT]));
        f.send_ok(1, 0, b"");
        assert_eq!(poll(&mut f), Done::Polled(vec![POLLIN | POLLOUT]));
    }
}
