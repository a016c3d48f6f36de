//! Operation sequences against the engine, shared by the fuzz target (`fuzz/`) and the
//! seeded proptest that CI runs on stable (`tests/fuzz_ops.rs`).
//!
//! `run` drives any sequence without panicking and checks the engine's bookkeeping: every
//! token that went pending completes exactly once (by progress, cancel or close), nothing
//! completes that was not pending, bytes arrive in order with nothing lost or duplicated, and
//! once every socket is closed the engine holds no sockets, names, pending operations or
//! memory.

use std::collections::{BTreeMap, BTreeSet};

use afunix_core::{
    BindTarget, Buffers, Completed, ConnectTarget, Credentials, Engine, Errno, Limits, Outcome,
    PathKey, RecvFlags, SendFlags, Shutdown, SockType, SocketId, Token,
};
use arbitrary::Arbitrary;

/// Sockets a sequence works on.
pub const SLOTS: usize = 5;

/// One operation. Slots index a small table of sockets.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// A socket of type `kind % 3` (stream, datagram, seqpacket).
    Socket {
        s: u8,
        kind: u8,
    },
    SocketPair {
        a: u8,
        b: u8,
        kind: u8,
    },
    /// `sendto` a name (a datagram socket's destination; others refuse or ignore it).
    SendTo {
        s: u8,
        name: u8,
        path: bool,
        len: u16,
        dontwait: bool,
    },
    Bind {
        s: u8,
        name: u8,
        path: bool,
    },
    Autobind {
        s: u8,
    },
    Listen {
        s: u8,
        backlog: i8,
    },
    Connect {
        s: u8,
        name: u8,
        path: bool,
    },
    Accept {
        l: u8,
        into: u8,
    },
    Send {
        s: u8,
        len: u16,
        dontwait: bool,
    },
    Recv {
        s: u8,
        len: u16,
        peek: bool,
        waitall: bool,
        dontwait: bool,
    },
    /// `send` from a buffer the harness keeps by token, blocking.
    SendInPlace {
        s: u8,
        len: u16,
    },
    /// `recv` into a buffer the harness keeps by token, blocking.
    RecvInPlace {
        s: u8,
        len: u16,
        waitall: bool,
    },
    Shutdown {
        s: u8,
        how: u8,
    },
    Close {
        s: u8,
    },
    Cancel {
        nth: u8,
    },
    SetSndBuf {
        s: u8,
        val: i32,
    },
    NonBlocking {
        s: u8,
        on: bool,
    },
    /// SO_PASSCRED on or off: runs of bytes with and without credentials.
    PassCred {
        s: u8,
        on: bool,
    },
    Poll {
        s: u8,
    },
    Names {
        s: u8,
    },
}

/// The caller's buffers of in-place operations, by token.
#[derive(Default)]
pub struct CallerBuffers {
    sends: BTreeMap<u64, Vec<u8>>,
    recvs: BTreeMap<u64, Vec<u8>>,
}

impl Buffers for CallerBuffers {
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
        self.recvs
            .get_mut(&token.0)
            .and_then(|b| b.get_mut(offset..offset + src.len()))
            .map(|d| d.copy_from_slice(src))
            .is_some()
    }

    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        self.sends
            .get(&token.0)
            .and_then(|b| b.get(offset..offset + dst.len()))
            .map(|s| dst.copy_from_slice(s))
            .is_some()
    }

    fn send_to_recv(&mut self, send: Token, so: usize, recv: Token, ro: usize, len: usize) -> bool {
        // Two maps, borrowed apart: no copy in between, so nothing allocates here (the
        // fault-injection run counts the engine's allocations only).
        let Some(src) = self.sends.get(&send.0).and_then(|b| b.get(so..so + len)) else {
            return false;
        };
        self.recvs
            .get_mut(&recv.0)
            .and_then(|b| b.get_mut(ro..ro + len))
            .map(|d| d.copy_from_slice(src))
            .is_some()
    }
}

/// The checks' state.
pub struct Harness {
    pub engine: Engine,
    slots: [Option<SocketId>; SLOTS],
    next_token: u64,
    /// Tokens free for reuse: a token is free once its operation is over (ready at once, or
    /// its completion drained), and the next operation takes the most recently freed, as the
    /// driver's IRP addresses come back. So a token the engine remembered past its
    /// operation's end would name a live one, and the checks below would see it.
    free_tokens: Vec<u64>,
    /// Tokens that went pending and have not completed.
    pending: BTreeSet<u64>,
    /// Each pending token's socket, and for a send the stream position it started at.
    pending_kind: BTreeMap<u64, (SocketId, Option<u64>)>,
    /// Per sending socket: bytes sent so far (the pattern position).
    sent: BTreeMap<SocketId, u64>,
    /// Per receiving socket: bytes received so far.
    received: BTreeMap<SocketId, u64>,
    /// Buffers of in-place operations.
    bufs: CallerBuffers,
    /// Per receiving socket: how far into its stream the reader was shown bytes (by a peek
    /// or FIONREAD). Those bytes must arrive, whatever happens to their writer.
    shown: BTreeMap<SocketId, u64>,
    /// Fault injection around every engine call (`tests/faults.rs`), or none.
    pub hooks: Option<Hooks>,
    /// Engine calls during which an allocation was made to fail, and how they answered.
    pub injected_calls: u64,
}

/// What the fault-injection run plugs in: arm the failing allocator for one engine call,
/// disarm it, and how many allocations it has failed so far.
#[derive(Clone, Copy)]
pub struct Hooks {
    pub arm: fn(),
    pub disarm: fn(),
    pub failed: fn() -> u64,
}

/// The errno an engine call answered with, if any.
pub trait CallResult {
    fn errno(&self) -> Option<Errno>;
}

impl<T> CallResult for Result<T, Errno> {
    fn errno(&self) -> Option<Errno> {
        self.as_ref().err().copied()
    }
}

impl<T> CallResult for Outcome<T> {
    fn errno(&self) -> Option<Errno> {
        match self {
            Outcome::Ready(Err(e)) => Some(*e),
            _ => None,
        }
    }
}

impl CallResult for bool {
    fn errno(&self) -> Option<Errno> {
        None
    }
}

fn slot(s: u8) -> usize {
    usize::from(s) % SLOTS
}

fn pattern(k: u64) -> u8 {
    (k % 251) as u8
}

fn kind_of(k: u8) -> SockType {
    match k % 3 {
        0 => SockType::Stream,
        1 => SockType::Dgram,
        _ => SockType::SeqPacket,
    }
}

impl Harness {
    pub fn new(limits: Limits) -> Self {
        Self {
            engine: Engine::new(limits),
            slots: [None; SLOTS],
            next_token: 0,
            free_tokens: Vec::new(),
            pending: BTreeSet::new(),
            pending_kind: BTreeMap::new(),
            sent: BTreeMap::new(),
            received: BTreeMap::new(),
            bufs: CallerBuffers::default(),
            shown: BTreeMap::new(),
            hooks: None,
            injected_calls: 0,
        }
    }

    /// One engine call, with the failing allocator armed around it when fault injection is
    /// on. A call during which an allocation failed must answer as Linux does when memory
    /// runs out (ENOBUFS or ENOMEM), or succeed (it managed without), never with another
    /// error.
    fn call<R: CallResult>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Engine, &mut CallerBuffers) -> R,
    ) -> R {
        let Some(h) = self.hooks else {
            return f(&mut self.engine, &mut self.bufs);
        };
        let before = (h.failed)();
        (h.arm)();
        let r = f(&mut self.engine, &mut self.bufs);
        (h.disarm)();
        if (h.failed)() != before {
            self.injected_calls += 1;
            if let Some(e) = r.errno() {
                // A recv decides its answer before it lets the writer go on; an allocation
                // that failed in the writer's delivery then is the writer's (its send ends
                // with ENOBUFS or its count), and the recv's EAGAIN stands.
                let writers = what.starts_with("recv") && e == Errno::EAGAIN;
                assert!(
                    matches!(e, Errno::ENOBUFS | Errno::ENOMEM) || writers,
                    "{what} answered {e:?} when an allocation failed"
                );
            }
        }
        r
    }

    /// The reader was shown bytes up to `n` past what it has received.
    fn show(&mut self, id: SocketId, n: usize) {
        let at = self.received.get(&id).copied().unwrap_or(0) + n as u64;
        let e = self.shown.entry(id).or_default();
        *e = (*e).max(at);
    }

    fn token(&mut self) -> Token {
        if let Some(t) = self.free_tokens.pop() {
            return Token(t);
        }
        self.next_token += 1;
        Token(self.next_token)
    }

    fn id(&self, s: u8) -> Option<SocketId> {
        self.slots[slot(s)]
    }

    fn cred() -> Credentials {
        Credentials {
            pid: 42,
            sid: vec![1, 2, 3],
            integrity: 0x2000,
            flags: 0,
        }
    }

    fn is_message(&self, id: SocketId) -> bool {
        self.engine.socket_type(id).is_ok_and(SockType::is_message)
    }

    /// Checks what `id` received: a stream's bytes against the stream (`check_bytes`); a
    /// message socket's message against itself: every message is a run of the pattern,
    /// so bytes of two messages never mix, and a truncated one is a prefix.
    fn check_received(&mut self, id: SocketId, bytes: &[u8], consume: bool) {
        if !self.is_message(id) {
            self.check_bytes(id, bytes, consume);
            return;
        }
        if let Some(&first) = bytes.first() {
            for (i, b) in bytes.iter().enumerate() {
                assert_eq!(
                    *b,
                    pattern(u64::from(first) + i as u64),
                    "byte {i} of a message to socket {id:?} is not its own"
                );
            }
        }
    }

    /// Checks bytes `id` received against the stream: its peer wrote the pattern from its own
    /// count, which started at zero when the connection was made, as `received[id]` did (an
    /// accepted socket is a new id, so bytes sent to the embryo are counted from zero too).
    fn check_bytes(&mut self, id: SocketId, bytes: &[u8], consume: bool) {
        let from = self.received.get(&id).copied().unwrap_or(0);
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(
                *b,
                pattern(from + i as u64),
                "byte {} of socket {id:?} out of order",
                from + i as u64
            );
        }
        if consume {
            *self.received.entry(id).or_default() += bytes.len() as u64;
        }
    }

    /// After an operation: if it pends, its token is live until its completion; if not, the
    /// token is free again.
    fn note(&mut self, token: Token, id: SocketId, send_base: Option<u64>, pending: bool) {
        if pending {
            assert!(
                self.pending.insert(token.0),
                "a live token handed out again"
            );
            self.pending_kind.insert(token.0, (id, send_base));
        } else {
            self.free_tokens.push(token.0);
        }
    }

    fn has_pending_send(&self, id: SocketId) -> bool {
        self.pending_kind
            .values()
            .any(|(s, base)| *s == id && base.is_some())
    }

    /// Drains completions and checks them.
    pub fn drain(&mut self) {
        while let Some(c) = self.engine.poll_completion() {
            // A token completed twice, or completed after its request ended and it was
            // handed to a new one that has not gone pending, is not pending now.
            assert!(
                self.pending.remove(&c.token.0),
                "completion for a token that was not pending: {c:?}"
            );
            let (id, send_base) = self.pending_kind.remove(&c.token.0).expect("kind");
            match c.result {
                Ok(Completed::Received(n)) => {
                    let buf = self
                        .bufs
                        .recvs
                        .remove(&c.token.0)
                        .expect("in-place recv buffer");
                    self.check_bytes(id, &buf[..n], true);
                }
                Ok(Completed::Message(ref r)) => {
                    let buf = self
                        .bufs
                        .recvs
                        .remove(&c.token.0)
                        .expect("in-place recv buffer");
                    assert!(r.copied <= r.len && r.copied <= buf.len());
                    self.check_received(id, &buf[..r.copied], true);
                }
                Ok(Completed::Sent(n)) => {
                    self.sent.insert(id, send_base.unwrap_or(0) + n as u64);
                }
                Ok(_) | Err(_) => {}
            }
            // The operation is over: its buffers go back to the caller, its token is free.
            self.bufs.sends.remove(&c.token.0);
            self.bufs.recvs.remove(&c.token.0);
            self.free_tokens.push(c.token.0);
        }
    }

    /// Runs one operation (never panics in the engine; asserts the harness's invariants).
    pub fn step(&mut self, op: &Op) {
        match *op {
            Op::Socket { s, kind } => {
                if self.id(s).is_none() {
                    if let Ok(id) =
                        self.call("socket", |e, _| e.socket_typed(user_of(s), kind_of(kind)))
                    {
                        self.slots[slot(s)] = Some(id);
                    }
                }
            }
            Op::SocketPair { a, b, kind } => {
                if self.id(a).is_none() && self.id(b).is_none() && slot(a) != slot(b) {
                    if let Ok((x, y)) = {
                        let cred = Self::cred();
                        self.call("socketpair", |e, _| {
                            e.socketpair_typed(kind_of(kind), &cred)
                        })
                    } {
                        self.slots[slot(a)] = Some(x);
                        self.slots[slot(b)] = Some(y);
                    }
                }
            }
            Op::Bind { s, name, path } => {
                if let Some(id) = self.id(s) {
                    let target = if path {
                        BindTarget::Pathname {
                            key: PathKey {
                                volume: 7,
                                file_id: u128::from(name % 4),
                                secret: 0,
                            },
                            path: format!("/tmp/s{}", name % 4).into_bytes(),
                        }
                    } else {
                        BindTarget::Abstract(vec![b'n', name % 4])
                    };
                    let _ = self.call("bind", |e, _| e.bind(id, target));
                }
            }
            Op::Autobind { s } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("autobind", |e, _| e.bind(id, BindTarget::Autobind));
                }
            }
            Op::Listen { s, backlog } => {
                if let Some(id) = self.id(s) {
                    let cred = Self::cred();
                    let _ = self.call("listen", |e, _| e.listen(id, i32::from(backlog), &cred));
                }
            }
            Op::Connect { s, name, path } => {
                if let Some(id) = self.id(s) {
                    let target = if path {
                        ConnectTarget::Pathname(PathKey {
                            volume: 7,
                            file_id: u128::from(name % 4),
                            secret: 0,
                        })
                    } else {
                        ConnectTarget::Abstract(vec![b'n', name % 4])
                    };
                    let t = self.token();
                    let cred = Self::cred();
                    let o = self.call("connect", |e, _| e.connect(id, &target, &cred, t));
                    self.note(t, id, None, o.is_pending());
                }
            }
            Op::Accept { l, into } => {
                if let (Some(lid), None) = (self.id(l), self.id(into)) {
                    if let Ok(fresh) = self.call("socket", |e, _| e.socket_for(user_of(into))) {
                        self.slots[slot(into)] = Some(fresh);
                        let t = self.token();
                        let o = self.call("accept", |e, _| e.accept(lid, fresh, t));
                        self.note(t, lid, None, o.is_pending());
                    }
                }
            }
            Op::Send { s, len, dontwait } => {
                // One pending send per socket at a time, so stream positions stay exact.
                if let Some(id) = self.id(s).filter(|id| !self.has_pending_send(*id)) {
                    let from = self.sent.get(&id).copied().unwrap_or(0);
                    let data: Vec<u8> = (0..u64::from(len)).map(|i| pattern(from + i)).collect();
                    let t = self.token();
                    let len = data.len();
                    self.bufs.sends.insert(t.0, data);
                    let flags = SendFlags {
                        dontwait,
                        overlapped: false,
                    };
                    match self.call("send", |e, b| e.send(id, len, flags, t, b)) {
                        Outcome::Ready(r) => {
                            self.bufs.sends.remove(&t.0);
                            self.note(t, id, None, false);
                            if let Ok(n) = r {
                                assert!(n <= len);
                                *self.sent.entry(id).or_default() += n as u64;
                            }
                        }
                        // The completion reports the total sent, from `from`.
                        Outcome::Pending => self.note(t, id, Some(from), true),
                    }
                }
            }
            Op::SendTo {
                s,
                name,
                path,
                len,
                dontwait,
            } => {
                if let Some(id) = self.id(s).filter(|id| !self.has_pending_send(*id)) {
                    let target = if path {
                        ConnectTarget::Pathname(PathKey {
                            volume: 7,
                            file_id: u128::from(name % 4),
                            secret: 0,
                        })
                    } else {
                        ConnectTarget::Abstract(vec![b'n', name % 4])
                    };
                    let from = self.sent.get(&id).copied().unwrap_or(0);
                    let data: Vec<u8> = (0..u64::from(len)).map(|i| pattern(from + i)).collect();
                    let t = self.token();
                    let len = data.len();
                    self.bufs.sends.insert(t.0, data);
                    let flags = SendFlags {
                        dontwait,
                        overlapped: false,
                    };
                    match self.call("sendto", |e, b| e.send_to(id, &target, len, flags, t, b)) {
                        Outcome::Ready(r) => {
                            self.bufs.sends.remove(&t.0);
                            self.note(t, id, None, false);
                            if let Ok(n) = r {
                                assert!(n <= len);
                                *self.sent.entry(id).or_default() += n as u64;
                            }
                        }
                        Outcome::Pending => self.note(t, id, Some(from), true),
                    }
                }
            }
            Op::Recv {
                s,
                len,
                peek,
                waitall,
                dontwait,
            } => {
                if let Some(id) = self.id(s) {
                    let len = usize::from(len % 4096);
                    let t = self.token();
                    self.bufs.recvs.insert(t.0, vec![0u8; len]);
                    let flags = RecvFlags {
                        peek,
                        waitall,
                        dontwait,
                        overlapped: false,
                        trunc: false,
                        rights_room: 0,
                    };
                    // Blocking peeks would complete with bytes that are not consumed; keep
                    // peeks non-blocking so `received` stays exact.
                    let flags = if peek {
                        RecvFlags {
                            dontwait: true,
                            ..flags
                        }
                    } else {
                        flags
                    };
                    match self.call("recv", |e, b| e.recv(id, len, flags, t, b)) {
                        Outcome::Ready(r) => {
                            let buf = self.bufs.recvs.remove(&t.0).expect("buffer");
                            self.note(t, id, None, false);
                            if let Ok(n) = r {
                                assert!(n <= len);
                                self.check_received(id, &buf[..n], !peek);
                                if peek && !self.is_message(id) {
                                    self.show(id, n);
                                }
                            }
                        }
                        Outcome::Pending => self.note(t, id, None, true),
                    }
                }
            }
            Op::SendInPlace { s, len } => {
                if let Some(id) = self.id(s).filter(|id| !self.has_pending_send(*id)) {
                    let from = self.sent.get(&id).copied().unwrap_or(0);
                    let t = self.token();
                    let data: Vec<u8> = (0..u64::from(len)).map(|i| pattern(from + i)).collect();
                    self.bufs.sends.insert(t.0, data);
                    let o = self.call("send in place", |e, b| {
                        e.send(id, usize::from(len), SendFlags::default(), t, b)
                    });
                    match o {
                        Outcome::Ready(r) => {
                            self.bufs.sends.remove(&t.0);
                            self.note(t, id, None, false);
                            if let Ok(n) = r {
                                assert!(n <= usize::from(len));
                                *self.sent.entry(id).or_default() += n as u64;
                            }
                        }
                        Outcome::Pending => self.note(t, id, Some(from), true),
                    }
                }
            }
            Op::RecvInPlace { s, len, waitall } => {
                if let Some(id) = self.id(s) {
                    let len = usize::from(len % 4096);
                    let t = self.token();
                    self.bufs.recvs.insert(t.0, vec![0u8; len]);
                    let flags = RecvFlags {
                        peek: false,
                        waitall,
                        dontwait: false,
                        overlapped: false,
                        trunc: false,
                        rights_room: 0,
                    };
                    match self.call("recv in place", |e, b| e.recv(id, len, flags, t, b)) {
                        Outcome::Ready(r) => {
                            let buf = self.bufs.recvs.remove(&t.0).expect("buffer");
                            self.note(t, id, None, false);
                            if let Ok(n) = r {
                                assert!(n <= len);
                                self.check_received(id, &buf[..n], true);
                            }
                        }
                        Outcome::Pending => self.note(t, id, None, true),
                    }
                }
            }
            Op::Shutdown { s, how } => {
                if let Some(id) = self.id(s) {
                    if let Ok(how) = Shutdown::from_how(i32::from(how % 4)) {
                        let _ = self.call("shutdown", |e, b| e.shutdown(id, how, b));
                    }
                }
            }
            Op::Close { s } => {
                if let Some(id) = self.slots[slot(s)].take() {
                    assert_eq!(self.call("close", |e, b| e.close(id, b)), Ok(()));
                    assert_eq!(self.engine.close(id, &mut self.bufs), Err(Errno::EBADF));
                }
            }
            Op::Cancel { nth } => {
                let all: Vec<u64> = self.pending.iter().copied().collect();
                if !all.is_empty() {
                    let t = all[usize::from(nth) % all.len()];
                    assert!(self.call("cancel", |e, b| e.cancel(Token(t), b)));
                }
                assert!(!self.engine.cancel(Token(u64::MAX), &mut self.bufs));
            }
            Op::SetSndBuf { s, val } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("SO_SNDBUF", |e, b| e.set_sndbuf(id, val % 70_000, b));
                }
            }
            Op::NonBlocking { s, on } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("nonblocking", |e, _| e.set_nonblocking(id, on));
                }
            }
            Op::PassCred { s, on } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("SO_PASSCRED", |e, _| {
                        e.set_flag(id, afunix_core::SocketFlag::PassCred, i32::from(on))
                    });
                }
            }
            Op::Poll { s } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("poll", |e, _| e.poll(id));
                    if let Ok(n) = self.call("FIONREAD", |e, _| e.fionread(id)) {
                        if !self.is_message(id) {
                            self.show(id, n);
                        }
                    }
                    let _ = self.call("SO_ERROR", |e, _| e.take_error(id));
                }
            }
            Op::Names { s } => {
                if let Some(id) = self.id(s) {
                    let _ = self.call("getsockname", |e, _| e.getsockname(id).map(drop));
                    let _ = self.call("getpeername", |e, _| e.getpeername(id).map(drop));
                    let _ = self.call("peer credentials", |e, _| {
                        e.peer_credentials(id).map(|_| ())
                    });
                }
            }
        }
        self.drain();
        self.check_users();
    }

    /// Every byte, socket and pending request the engine holds is charged to exactly one
    /// user (the per-user shares add up to the global counts).
    fn check_users(&self) {
        let usage: Vec<_> = USERS.iter().map(|u| self.engine.user_usage(u)).collect();
        let sum = |f: fn(&afunix_core::UserUsage) -> usize| usage.iter().map(f).sum::<usize>();
        assert_eq!(sum(|u| u.sockets), self.engine.socket_count(), "sockets");
        assert_eq!(sum(|u| u.pending), self.engine.pending_count(), "pending");
        assert_eq!(
            sum(|u| u.bytes),
            self.engine.memory_used() + self.engine.memory_reserved(),
            "bytes"
        );
        assert_eq!(
            sum(|u| u.locked_bytes),
            self.engine.locked_bytes(),
            "locked"
        );
        let users = usage.iter().filter(|u| **u != Default::default()).count();
        assert_eq!(users, self.engine.user_count(), "users");
    }

    /// Every byte a reader was shown (peek, FIONREAD) can still be read: pending requests
    /// are cancelled (a cancelled send queues what it showed), then each open socket reads
    /// until nothing is left.
    fn check_shown(&mut self) {
        let pending: Vec<u64> = self.pending.iter().copied().collect();
        for t in pending {
            if self.pending.contains(&t) {
                self.engine.cancel(Token(t), &mut self.bufs);
                self.drain();
            }
        }
        let flags = RecvFlags {
            dontwait: true,
            ..RecvFlags::default()
        };
        for s in 0..SLOTS {
            let Some(id) = self.slots[s] else {
                continue;
            };
            loop {
                let t = self.token();
                self.bufs.recvs.insert(t.0, vec![0u8; 4096]);
                let r = self.engine.recv(id, 4096, flags, t, &mut self.bufs);
                let buf = self.bufs.recvs.remove(&t.0).expect("buffer");
                self.free_tokens.push(t.0);
                match r {
                    Outcome::Ready(Ok(n)) if n > 0 => self.check_received(id, &buf[..n], true),
                    _ => break,
                }
                self.drain();
            }
            let shown = self.shown.get(&id).copied().unwrap_or(0);
            let received = self.received.get(&id).copied().unwrap_or(0);
            assert!(
                received >= shown,
                "socket {id:?} was shown bytes up to {shown} but could read only {received}"
            );
            // Every byte its connected peer's sends reported accepted arrived (a message
            // socket drops the rest of a message its reader's buffer cut short).
            if let Ok(Some(peer)) = self
                .engine
                .peer(id)
                .map(|p| p.filter(|_| !self.is_message(id)))
            {
                let sent = self.sent.get(&peer).copied().unwrap_or(0);
                assert_eq!(
                    received, sent,
                    "socket {id:?} read {received} of the {sent} bytes its peer sent"
                );
            }
        }
    }

    /// Closes everything and checks the engine is empty.
    pub fn finish(mut self) {
        self.check_shown();
        for s in 0..SLOTS {
            if let Some(id) = self.slots[s].take() {
                let _ = self.engine.close(id, &mut self.bufs);
            }
        }
        self.drain();
        assert!(
            self.pending.is_empty(),
            "tokens never completed: {:?}",
            self.pending
        );
        assert_eq!(self.engine.pending_count(), 0);
        assert_eq!(self.engine.socket_count(), 0, "sockets left (embryos?)");
        assert_eq!(self.engine.binding_count(), 0);
        assert_eq!(self.engine.memory_used(), 0, "memory not returned");
        assert_eq!(self.engine.memory_reserved(), 0, "reservation not returned");
        assert_eq!(self.engine.user_count(), 0, "a user still charged");
        assert_eq!(self.engine.locked_bytes(), 0, "locked bytes still charged");
        assert_eq!(
            self.engine.idle_ring_bytes(),
            0,
            "idle ring memory still counted"
        );
    }
}

/// Small buffers so that full buffers and pending sends are common.
pub fn small_limits() -> Limits {
    Limits {
        sndbuf_default: 8192,
        sndbuf_max: 16384,
        global_buffer_cap: 64 * 1024,
        max_sockets: 64,
        // Two users (and the socketpairs' third), each with half of every cap, and few
        // pending requests, so that the shares are reached too.
        user_share: afunix_core::UserShare { divisor: 2 },
        max_pending: 24,
        max_locked_bytes: 256 * 1024,
        ..Limits::default()
    }
}

/// The SIDs sockets are made by: even slots one user, odd slots another, socketpairs a third.
const USERS: [&[u8]; 3] = [&[0], &[1], &[1, 2, 3]];

fn user_of(s: u8) -> &'static [u8] {
    USERS[slot(s) % 2]
}

/// Runs a whole sequence.
pub fn run(ops: &[Op]) {
    let mut h = Harness::new(small_limits());
    for op in ops {
        h.step(op);
    }
    h.finish();
}

/// Decodes operations from raw bytes until they run out (libFuzzer's input, or proptest's).
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut u = arbitrary::Unstructured::new(bytes);
    let mut ops = Vec::new();
    while !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}
