//! The device layer under an allocator that fails the N-th allocation (issue 19).
//!
//! A script of requests (sockets, a listener, connect and accept, a socketpair, a pending
//! RECV, a waiting POLL, a blocked SEND whose bytes the reader peeks and counts, then the
//! send cancelled or its socket closed) runs once per N the script reaches, with the
//! failing allocator armed around every device call, failing that allocation; and again
//! with every allocation failing from the N-th on. After each run:
//! - a request during which an allocation failed answered ENOBUFS or ENOMEM, or succeeded;
//! - every byte a SEND reported accepted arrives, in order, and at least every byte the
//!   reader was shown (peek, FIONREAD);
//! - every pending request completed exactly once;
//! - with every handle closed, STATS is zero and no user is charged.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use afunix_proto::decode::MsgFlags;
use afunix_proto::wire::{MSG_DONTWAIT, MSG_PEEK};
use fault_alloc::{FaultAlloc, Plan};

use super::*;

#[global_allocator]
static ALLOC: FaultAlloc = FaultAlloc;

const POLLIN: u32 = 0x1;

fn pattern(k: usize) -> u8 {
    (k % 251) as u8
}

fn me() -> Credentials {
    Credentials {
        pid: 7,
        sid: vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0],
        integrity: 0x2000,
        flags: 0,
    }
}

/// How the blocked send ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Cancel,
    CloseWriter,
    ReadSome,
}

struct Run {
    device: Device,
    bufs: OwnedBuffers,
    me: Credentials,
    next_token: u64,
    pending: BTreeSet<Token>,
    /// The writer (file 2)'s stream: bytes accepted so far.
    sent: usize,
    /// The reader (file 3)'s stream: bytes read so far, and how far it was shown.
    received: usize,
    shown: usize,
    /// The pending send's token and where its bytes start in the stream.
    blocked: Option<(Token, usize)>,
    injected_calls: u64,
}

impl Run {
    fn new() -> Run {
        Run {
            device: Device::new(Limits {
                sndbuf_default: 8192,
                ..Limits::default()
            }),
            bufs: OwnedBuffers::new(),
            me: me(),
            next_token: 0,
            pending: BTreeSet::new(),
            sent: 0,
            received: 0,
            shown: 0,
            blocked: None,
            injected_calls: 0,
        }
    }

    /// One device call with the failing allocator armed around it.
    fn armed<R>(
        &mut self,
        f: impl FnOnce(&mut Device, &mut OwnedBuffers, &Credentials) -> R,
    ) -> (R, bool) {
        let before = fault_alloc::failed();
        fault_alloc::arm();
        let r = f(&mut self.device, &mut self.bufs, &self.me);
        fault_alloc::disarm();
        let injected = fault_alloc::failed() != before;
        if injected {
            self.injected_calls += 1;
        }
        (r, injected)
    }

    #[track_caller]
    fn check_errno(e: Errno, injected: bool, recv: bool) {
        if injected {
            // A RECV decides its answer before it lets the writer go on; a failure in the
            // writer's delivery then is the writer's, and the RECV's EAGAIN stands.
            assert!(
                matches!(e, Errno::ENOBUFS | Errno::ENOMEM) || recv && e == Errno::EAGAIN,
                "a request answered {e:?} when an allocation failed"
            );
        }
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// A request; Pending ones are remembered; completions drained and checked.
    #[track_caller]
    fn exec(&mut self, file: u64, op: Op<'_>) -> (Token, Reply) {
        let token = self.token();
        let recv = matches!(op, Op::Recv { .. });
        let (reply, injected) = self.armed(|d, b, me| d.execute(FileId(file), token, op, me, b));
        match &reply {
            Reply::Pending => {
                assert!(self.pending.insert(token));
            }
            Reply::Ready(Err(e)) => Self::check_errno(*e, injected, recv),
            Reply::Ready(Ok(_)) => {}
        }
        self.drain();
        (token, reply)
    }

    fn open(&mut self, file: u64) {
        let (r, injected) = self.armed(|d, _, _| d.open(FileId(file)));
        if let Err(e) = r {
            Self::check_errno(e, injected, false);
            return;
        }
        let _ = self.exec(
            file,
            Op::Socket {
                sock_type: 1,
                nonblocking: false,
            },
        );
    }

    /// A SEND of `len` bytes of file 2's stream.
    fn send(&mut self, len: usize) {
        let token = self.token();
        self.next_token -= 1;
        let data: Vec<u8> = (0..len).map(|i| pattern(self.sent + i)).collect();
        self.bufs.insert_send(token, data).unwrap();
        let op = Op::Send {
            flags: MsgFlags(0),
            len,
            to: None,
        };
        let from = self.sent;
        let (t, reply) = self.exec(2, op);
        assert_eq!(t, token);
        match reply {
            Reply::Ready(Ok(Done::Count(n))) => {
                self.sent += n;
                self.bufs.remove(token);
            }
            Reply::Pending => self.blocked = Some((token, from)),
            _ => {
                self.bufs.remove(token);
            }
        }
    }

    /// A RECV on file 3 (the reader) of up to `len` bytes.
    fn recv(&mut self, len: usize, flags: u32) -> Token {
        let token = self.token();
        self.next_token -= 1;
        self.bufs.insert_recv(token, vec![0; len]).unwrap();
        let op = Op::Recv {
            flags: MsgFlags(flags),
            len,
            from: false,
        };
        let (_, reply) = self.exec(3, op);
        if let Reply::Ready(r) = reply {
            let buf = self.bufs.remove(token).unwrap();
            if let Ok(Done::Count(n)) = r {
                self.take(&buf[..n], flags & MSG_PEEK == 0);
            }
        }
        token
    }

    /// Bytes file 3 read (or peeked): the stream, in order.
    #[track_caller]
    fn take(&mut self, bytes: &[u8], consume: bool) {
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(
                *b,
                pattern(self.received + i),
                "byte {} out of order",
                self.received + i
            );
        }
        if consume {
            self.received += bytes.len();
        } else {
            self.shown = self.shown.max(self.received + bytes.len());
        }
    }

    fn drain(&mut self) {
        while let Some(c) = self.device.poll_completion() {
            assert!(
                self.pending.remove(&c.token),
                "a completion for a request not pending (or completed twice): {c:?}"
            );
            let buf = self.bufs.remove(c.token);
            match (c.file.0, c.result) {
                (3, Ok(Done::Count(n))) => {
                    let buf = buf.expect("the RECV's buffer");
                    self.take(&buf[..n], true);
                }
                (2, result) => {
                    if let Some((t, from)) = self.blocked {
                        if t == c.token {
                            self.blocked = None;
                            if let Ok(Done::Count(n)) = result {
                                self.sent = from + n;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn script(&mut self, end: End) {
        for file in 1..=5 {
            self.open(file);
        }
        let srv = [1u8, 0, 0, b's', b'r', b'v'];
        let _ = self.exec(
            1,
            Op::Bind {
                sockaddr: &srv,
                key: None,
            },
        );
        let _ = self.exec(1, Op::Listen { backlog: 4 });
        let _ = self.exec(
            2,
            Op::Connect {
                sockaddr: &srv,
                key: None,
            },
        );
        let _ = self.exec(
            1,
            Op::Accept {
                new_file: FileId(3),
            },
        );
        let _ = self.exec(4, Op::SocketPair { other: FileId(5) });
        // A RECV that waits, then bytes straight into it.
        self.recv(100, 0);
        self.send(50);
        // A POLL that waits, then woken.
        let entries = [PollEntry {
            file: Some(FileId(4)),
            events: POLLIN,
        }];
        let _ = self.exec(
            4,
            Op::Poll {
                timeout_ms: -1,
                entries: &entries,
            },
        );
        let t = self.token();
        self.bufs.insert_send(t, vec![9; 10]).unwrap();
        self.next_token -= 1;
        let _ = self.exec(
            5,
            Op::Send {
                flags: MsgFlags(0),
                len: 10,
                to: None,
            },
        );
        self.bufs.remove(t);
        // A send that blocks, its bytes shown to the reader.
        self.send(40_000);
        self.recv(300, MSG_PEEK | MSG_DONTWAIT);
        if let (_, Reply::Ready(Ok(Done::Int(n)))) = self.exec(3, Op::Fionread) {
            self.shown = self.shown.max(self.received + usize::try_from(n).unwrap());
        }
        match end {
            End::Cancel => {
                if let Some((t, _)) = self.blocked {
                    let (_, _) = self.armed(|d, b, _| d.cancel(t, b));
                    self.drain();
                }
            }
            End::CloseWriter => {
                let _ = self.armed(|d, b, _| d.close(FileId(2), b));
                self.drain();
            }
            End::ReadSome => {
                self.recv(5000, MSG_DONTWAIT);
                self.recv(5000, MSG_DONTWAIT);
            }
        }
    }

    /// Disarmed: what the reader can still read, then every handle closed.
    fn finish(mut self) {
        if let Some((t, _)) = self.blocked {
            self.device.cancel(t, &mut self.bufs);
            self.drain();
        }
        loop {
            let before = self.received;
            self.recv(65536, MSG_DONTWAIT);
            if self.received == before {
                break;
            }
        }
        assert!(
            self.received >= self.shown,
            "shown bytes up to {} but only {} could be read",
            self.shown,
            self.received
        );
        assert_eq!(self.received, self.sent, "bytes a SEND accepted were lost");
        for file in 1..=5 {
            self.device.close(FileId(file), &mut self.bufs);
        }
        self.drain();
        assert!(
            self.pending.is_empty(),
            "never completed: {:?}",
            self.pending
        );
        assert_eq!(self.device.stats(), DeviceStats::default());
        assert_eq!(self.device.user_count(), 0);
    }
}

/// Runs the script under `plan`; returns (allocations seen, failed, calls that met one).
fn run(end: End, plan: Plan) -> (u64, u64, u64) {
    fault_alloc::start(plan);
    let mut r = Run::new();
    r.script(end);
    let out = (fault_alloc::seen(), fault_alloc::failed(), r.injected_calls);
    r.finish();
    fault_alloc::start(Plan::Count);
    out
}

#[test]
fn every_failed_allocation_in_the_device_layer_keeps_its_promises() {
    let (mut runs, mut injected, mut calls) = (0u64, 0u64, 0u64);
    for end in [End::Cancel, End::CloseWriter, End::ReadSome] {
        let (total, _, _) = run(end, Plan::Count);
        assert!(total > 0);
        for n in 1..=total + 1 {
            for plan in [Plan::FailAt(n), Plan::FailFrom(n)] {
                let (_, f, c) = run(end, plan);
                runs += 1;
                injected += f;
                calls += c;
            }
        }
    }
    std::println!(
        "device fault injection: {runs} runs, {injected} allocations failed, in {calls} device calls"
    );
    assert!(injected > 0);
}

/// RECVFROM names the sender after it has taken the bytes: with memory exhausted by then,
/// it still names it (the address is borrowed, not copied), as it did before the bytes
/// went.
#[test]
fn recvfrom_names_the_sender_when_memory_has_run_out() {
    let mut r = Run::new();
    for file in [1, 2, 3] {
        r.open(file);
    }
    let srv = [1u8, 0, 0, b's', b'r', b'v'];
    let bind = Op::Bind {
        sockaddr: &srv,
        key: None,
    };
    assert_eq!(r.exec(1, bind).1, Reply::Ready(Ok(Done::Ok)));
    let _ = r.exec(1, Op::Listen { backlog: 4 });
    let connect = Op::Connect {
        sockaddr: &srv,
        key: None,
    };
    assert_eq!(r.exec(2, connect).1, Reply::Ready(Ok(Done::Ok)));
    let accept = Op::Accept {
        new_file: FileId(3),
    };
    assert!(matches!(r.exec(1, accept).1, Reply::Ready(Ok(_))));
    // File 3 (the accepted end) sends; file 2, the client, names it as the listener's name.
    let t = r.token();
    r.bufs.insert_send(t, vec![7; 5]).unwrap();
    r.next_token -= 1;
    let send = Op::Send {
        flags: MsgFlags(0),
        len: 5,
        to: None,
    };
    assert_eq!(r.exec(3, send).1, Reply::Ready(Ok(Done::Count(5))));
    r.bufs.remove(t);
    fault_alloc::start(Plan::FailFrom(1));
    let t = r.token();
    r.bufs.insert_recv(t, vec![0; 5]).unwrap();
    r.next_token -= 1;
    let recvfrom = Op::Recv {
        flags: MsgFlags(0),
        len: 5,
        from: true,
    };
    let (_, reply) = r.exec(2, recvfrom);
    fault_alloc::start(Plan::Count);
    let Reply::Ready(Ok(Done::CountFrom(5, from))) = reply else {
        panic!("RECVFROM: {reply:?}");
    };
    assert_eq!(from.addr_len, 6, "the sender's name, family and \\0srv");
    assert_eq!(&from.addr[..6], &srv[..]);
}

/// A datagram SENDTO to a pathname whose address cannot be copied while the device decides
/// whether the caller must open a socket file: ENOMEM, not a request that goes on without
/// the file and is refused as an invalid address (EINVAL; the Wine replay in low-resources
/// mode found it).
#[test]
fn a_datagram_sendto_whose_name_cannot_be_copied_fails_for_want_of_memory() {
    let mut r = Run::new();
    r.armed(|d, _, _| d.open(FileId(1))).0.unwrap();
    let socket = Op::Socket {
        sock_type: 2,
        nonblocking: true,
    };
    assert_eq!(r.exec(1, socket).1, Reply::Ready(Ok(Done::Ok)));
    let mut to = vec![1u8, 0];
    to.extend_from_slice(b"/tmp/no-such-socket");
    let flags = MsgFlags(MSG_DONTWAIT);
    // With memory: a pathname, so the caller opens its socket file first.
    let (looked_up, _) = r.armed(|d, _, _| d.prepare_send_to(FileId(1), &to, 4, flags));
    assert_eq!(looked_up, Ok(true));
    fault_alloc::start(Plan::FailFrom(1));
    let (looked_up, injected) = r.armed(|d, _, _| d.prepare_send_to(FileId(1), &to, 4, flags));
    fault_alloc::start(Plan::Count);
    assert!(injected, "the address is copied");
    assert_eq!(looked_up, Err(Errno::ENOMEM));
}
