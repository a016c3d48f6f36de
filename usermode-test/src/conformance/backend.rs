//! What a backend provides, and the runner that turns a scenario into observations.

use super::scenario::{
    Addr, FILL_MSG_BASE, MsgId, Names, Obs, Op, SLOTS, SockOpt, SockTy, msg_byte, pattern,
};

/// A Linux errno.
pub type Res<T> = Result<T, i32>;

/// `EBADF`.
pub const EBADF: i32 = 9;

/// What `recvmsg` gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FromOut {
    /// The bytes copied.
    pub bytes: Vec<u8>,
    /// The return value: the bytes copied, or with `MSG_TRUNC` in the flags on a message
    /// socket the message's whole length.
    pub ret: usize,
    /// `msg_flags & MSG_TRUNC`: the message was longer than the buffer.
    pub truncated: bool,
    /// The reported length of the sender's address (0: none).
    pub from_len: usize,
    /// The address bytes copied into a 110-byte `sockaddr_un`.
    pub from: Vec<u8>,
}

/// A backend that cannot run a step at all (its layer lacks the feature yet) says so with
/// this errno, which Linux never gives for these calls: the step then differs loudly.
pub const UNSUPPORTED: i32 = -95;

/// One implementation of AF_UNIX sockets (stream, datagram, seqpacket), addressed by slot.
/// Every socket is non-blocking.
pub trait Backend {
    /// Whether slot `s` holds a socket.
    fn is_open(&self, s: usize) -> bool;
    /// `socket` of type `ty` into an empty slot.
    fn socket(&mut self, s: usize, ty: SockTy) -> Res<()>;
    /// `socketpair` of type `ty` into two empty slots.
    fn socketpair(&mut self, a: usize, b: usize, ty: SockTy) -> Res<()>;
    /// `bind` with this raw sockaddr (its length is `addr_len`).
    fn bind(&mut self, s: usize, raw: &[u8]) -> Res<()>;
    /// `listen`.
    fn listen(&mut self, s: usize, backlog: i32) -> Res<()>;
    /// `connect` with this raw sockaddr.
    fn connect(&mut self, s: usize, raw: &[u8]) -> Res<()>;
    /// `accept` on `l`, the new (non-blocking) socket into the empty slot `into`.
    fn accept(&mut self, l: usize, into: usize) -> Res<()>;
    /// `send` (MSG_DONTWAIT | MSG_NOSIGNAL).
    fn send(&mut self, s: usize, data: &[u8]) -> Res<usize>;
    /// `recv` of up to `len` bytes.
    fn recv(&mut self, s: usize, len: usize, peek: bool, waitall: bool) -> Res<Vec<u8>>;
    /// `sendto` with a raw destination.
    fn send_to(&mut self, s: usize, data: &[u8], raw: &[u8]) -> Res<usize>;
    /// `recvmsg` of up to `len` bytes with `MSG_PEEK` and `MSG_TRUNC` as asked.
    fn recv_from(&mut self, s: usize, len: usize, peek: bool, trunc: bool) -> Res<FromOut>;
    /// `sendmsg(2)` of `data` to the peer, passing one object per marker (SCM_RIGHTS): an
    /// object that carries its marker (Linux: a memfd holding it), so the receiver can tell
    /// which one it got.
    fn send_rights(&mut self, s: usize, data: &[u8], markers: &[u32]) -> Res<usize> {
        let _ = (s, data, markers);
        Err(UNSUPPORTED)
    }
    /// `recvmsg(2)` of up to `len` bytes with a control buffer of room for `room` objects
    /// exactly (`CMSG_LEN(room * size)`): the bytes, MSG_TRUNC, MSG_CTRUNC and the markers of
    /// the objects received, in order (each closed once read).
    fn recv_rights(&mut self, s: usize, len: usize, room: usize, peek: bool) -> Res<RightsOut> {
        let _ = (s, len, room, peek);
        Err(UNSUPPORTED)
    }
    /// The scenario's directory, for a backend that simulates its file system.
    fn set_dir(&mut self, _dir: &str) {}
    /// `unlink(path)`.
    fn unlink(&mut self, path: &std::path::Path) -> Res<()> {
        std::fs::remove_file(path).map_err(|e| fs_errno(&e))
    }
    /// A plain file at `path`, made only if nothing is there.
    fn make_file(&mut self, path: &std::path::Path) -> Res<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map(|_| ())
            .map_err(|e| fs_errno(&e))
    }
    /// `shutdown`.
    fn shutdown(&mut self, s: usize, how: i32) -> Res<()>;
    /// `close`; the slot becomes empty.
    fn close(&mut self, s: usize) -> Res<()>;
    /// `getsockname` / `getpeername` into a 110-byte buffer: (reported length, bytes copied).
    fn name(&mut self, s: usize, peer: bool) -> Res<(usize, Vec<u8>)>;
    /// `ioctl(FIONREAD)`.
    fn fionread(&mut self, s: usize) -> Res<i64>;
    /// `getsockopt`.
    fn getsockopt(&mut self, s: usize, opt: SockOpt) -> Res<i64>;
    /// `setsockopt` of an `int`.
    fn setsockopt(&mut self, s: usize, opt: SockOpt, val: i32) -> Res<()>;
    /// `getsockopt(SO_LINGER)`: `(l_onoff, l_linger)`.
    fn linger(&mut self, s: usize) -> Res<(i32, i32)>;
    /// `setsockopt(SO_LINGER, {l_onoff, l_linger})`.
    fn set_linger(&mut self, s: usize, onoff: i32, seconds: i32) -> Res<()>;
    /// `poll` for every event, timeout 0: the revents.
    fn poll(&mut self, s: usize) -> Res<u32>;
}

/// Runs scenarios on one backend, keeping the per-connection stream positions that make
/// received bytes self-checking.
#[derive(Debug)]
pub struct Runner<B> {
    /// The backend.
    pub backend: B,
    names: Names,
    /// Bytes this slot has sent since its connection was made.
    sent: [u64; SLOTS],
    /// Bytes this slot has received since its connection was made.
    received: [u64; SLOTS],
    /// Each slot's socket type (what `accept` gives is its listener's).
    ty: [SockTy; SLOTS],
    /// Every message sent: its number and length.
    msgs: Vec<(u32, usize)>,
    /// The next ordinary message's number.
    next_msg: u32,
    /// The next `Fill` message's number.
    next_fill: u32,
    /// The next passed object's marker.
    next_object: u32,
}

/// `EINVAL`.
const EINVAL: i32 = 22;

/// The errno of a file-system error: the number itself on Linux; elsewhere (the replay under
/// Wine) the errno of its kind.
fn fs_errno(e: &std::io::Error) -> i32 {
    if cfg!(target_os = "linux") {
        return e.raw_os_error().unwrap_or(EINVAL);
    }
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => 2,
        K::PermissionDenied => 13,
        K::AlreadyExists => 17,
        K::NotADirectory => 20,
        K::IsADirectory => 21,
        _ => EINVAL,
    }
}

fn slot(s: u8) -> usize {
    usize::from(s) % SLOTS
}

fn unit(r: Res<()>) -> Obs {
    r.map_or_else(Obs::Err, |()| Obs::Ok)
}

/// Replaces a 5-hex-digit abstract name (an autobind name) by `?????`.
fn normalise_addr(len: usize, mut bytes: Vec<u8>) -> Obs {
    if len == 8 && bytes.len() == 8 && bytes.get(2) == Some(&0) {
        let digits = bytes.get(3..8).unwrap_or(&[]);
        if digits
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            bytes.truncate(3);
            bytes.extend_from_slice(b"?????");
        }
    }
    Obs::Addr { len, bytes }
}

/// What [`Backend::recv_rights`] got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RightsOut {
    pub bytes: Vec<u8>,
    pub truncated: bool,
    pub ctrunc: bool,
    pub markers: Vec<u32>,
}

impl<B: Backend> Runner<B> {
    /// A runner over `backend`, using `names` for pathnames and abstract names.
    pub fn new(mut backend: B, names: Names) -> Self {
        backend.set_dir(&names.dir);
        Self {
            backend,
            names,
            sent: [0; SLOTS],
            received: [0; SLOTS],
            ty: [SockTy::Stream; SLOTS],
            msgs: Vec::new(),
            next_msg: 0,
            next_fill: FILL_MSG_BASE,
            next_object: 0,
        }
    }

    /// Slot `s`'s socket type as the scenario made it.
    #[must_use]
    pub fn ty(&self, s: usize) -> SockTy {
        self.ty.get(s).copied().unwrap_or_default()
    }

    fn set_ty(&mut self, s: usize, ty: SockTy) {
        if let Some(t) = self.ty.get_mut(s) {
            *t = ty;
        }
    }

    /// The bytes of message `n`.
    fn msg_bytes(n: u32, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| msg_byte(n, i)).collect()
    }

    /// Which message `bytes` start.
    fn identify(&self, bytes: &[u8]) -> MsgId {
        if bytes.is_empty() {
            return MsgId::Empty;
        }
        // Message numbers 251 apart start alike. Ordinary messages are looked for first:
        // both sides sent the same ones, while "send until full" sends a different count on
        // each (Linux charges skb overhead), so a fill message may match on one side only.
        let starts = |(n, len): &&(u32, usize)| {
            *len >= bytes.len() && bytes.iter().zip(0..).all(|(b, i)| *b == msg_byte(*n, i))
        };
        let ordinary = self.msgs.iter().filter(|(n, _)| *n < FILL_MSG_BASE);
        let fills = self.msgs.iter().filter(|(n, _)| *n >= FILL_MSG_BASE);
        ordinary
            .chain(fills)
            .find(starts)
            .map_or(MsgId::Garbled, |(n, _)| MsgId::Of(*n))
    }

    /// Sends one message (message sockets): numbered from `next_msg`, or from `next_fill`.
    fn send_msg(&mut self, s: usize, len: usize, fill: bool, raw: Option<&[u8]>) -> Res<usize> {
        let n = if fill { self.next_fill } else { self.next_msg };
        let data = Self::msg_bytes(n, len);
        let r = match raw {
            Some(raw) => self.backend.send_to(s, &data, raw),
            None => self.backend.send(s, &data),
        };
        if let Ok(sent) = r {
            self.msgs.push((n, sent));
            if fill {
                self.next_fill += 1;
            } else {
                self.next_msg += 1;
            }
        }
        r
    }

    fn reset_stream(&mut self, s: usize) {
        if let Some(v) = self.sent.get_mut(s) {
            *v = 0;
        }
        if let Some(v) = self.received.get_mut(s) {
            *v = 0;
        }
    }

    /// The raw sockaddr for `addr`, resolving `NameOf` through getsockname.
    pub fn raw_addr(&mut self, addr: &Addr) -> Vec<u8> {
        match addr {
            Addr::NameOf { s } => {
                let s = slot(*s);
                if !self.backend.is_open(s) {
                    return 1u16.to_ne_bytes().to_vec();
                }
                match self.backend.name(s, false) {
                    Ok((len, mut bytes)) => {
                        bytes.truncate(len);
                        bytes
                    }
                    Err(_) => 1u16.to_ne_bytes().to_vec(),
                }
            }
            other => self.names.raw(other),
        }
    }

    fn check(&self, s: usize, bytes: &[u8], from: u64) -> bool {
        let _ = s;
        bytes.iter().zip(from..).all(|(b, k)| *b == pattern(k))
    }

    fn pattern_bytes(&self, s: usize, len: usize) -> Vec<u8> {
        let from = self.sent.get(s).copied().unwrap_or(0);
        (from..from + len as u64).map(pattern).collect()
    }

    fn add_sent(&mut self, s: usize, n: usize) {
        if let Some(v) = self.sent.get_mut(s) {
            *v += n as u64;
        }
    }

    fn add_received(&mut self, s: usize, n: usize) {
        if let Some(v) = self.received.get_mut(s) {
            *v += n as u64;
        }
    }

    /// Runs one step.
    pub fn step(&mut self, op: &Op) -> Obs {
        // Operations on an empty slot fail with EBADF on both backends without a call.
        let needs_open: &[u8] = match op {
            Op::Socket { .. } | Op::SocketPair { .. } | Op::Unlink { .. } | Op::MakeFile { .. } => {
                &[]
            }
            Op::Accept { l, .. } => &[*l][..],
            Op::Bind { s, .. }
            | Op::Listen { s, .. }
            | Op::Connect { s, .. }
            | Op::Send { s, .. }
            | Op::SendTo { s, .. }
            | Op::Recv { s, .. }
            | Op::RecvFrom { s, .. }
            | Op::SendRights { s, .. }
            | Op::RecvRights { s, .. }
            | Op::Shutdown { s, .. }
            | Op::Close { s }
            | Op::GetSockName { s }
            | Op::GetPeerName { s }
            | Op::Fionread { s }
            | Op::GetOpt { s, .. }
            | Op::SetOpt { s, .. }
            | Op::GetLinger { s }
            | Op::SetLinger { s, .. }
            | Op::Poll { s }
            | Op::Fill { s }
            | Op::Drain { s } => std::slice::from_ref(s),
        };
        if needs_open.iter().any(|s| !self.backend.is_open(slot(*s))) {
            return Obs::Err(EBADF);
        }
        match op {
            Op::Socket { s, ty } => {
                let s = slot(*s);
                self.close_if_open(s);
                self.reset_stream(s);
                self.set_ty(s, *ty);
                unit(self.backend.socket(s, *ty))
            }
            Op::SocketPair { a, b, ty } => {
                let (a, b) = (slot(*a), slot(*b));
                if a == b {
                    return Obs::Err(22);
                }
                self.close_if_open(a);
                self.close_if_open(b);
                self.reset_stream(a);
                self.reset_stream(b);
                self.set_ty(a, *ty);
                self.set_ty(b, *ty);
                unit(self.backend.socketpair(a, b, *ty))
            }
            Op::Bind { s, addr } => {
                let raw = self.raw_addr(addr);
                unit(self.backend.bind(slot(*s), &raw))
            }
            Op::Listen { s, backlog } => unit(self.backend.listen(slot(*s), *backlog)),
            Op::Connect { s, addr } => {
                let raw = self.raw_addr(addr);
                let s = slot(*s);
                let r = self.backend.connect(s, &raw);
                if r.is_ok() {
                    self.reset_stream(s);
                }
                unit(r)
            }
            Op::Accept { l, into } => {
                let (l, into) = (slot(*l), slot(*into));
                if l == into {
                    return Obs::Err(22);
                }
                self.close_if_open(into);
                let r = self.backend.accept(l, into);
                if r.is_ok() {
                    self.reset_stream(into);
                    self.set_ty(into, self.ty(l));
                }
                unit(r)
            }
            Op::Send { s, len } if self.ty(slot(*s)).is_message() => self
                .send_msg(slot(*s), *len as usize, false, None)
                .map_or_else(Obs::Err, |n| Obs::Num(n as i64)),
            Op::Recv { s, len, peek, .. } if self.ty(slot(*s)).is_message() => {
                match self.backend.recv(slot(*s), *len as usize, *peek, false) {
                    Ok(bytes) => Obs::Msg {
                        len: bytes.len(),
                        msg: self.identify(&bytes),
                    },
                    Err(e) => Obs::Err(e),
                }
            }
            Op::SendTo { s, len, addr } if self.ty(slot(*s)).is_message() => {
                let raw = self.raw_addr(addr);
                self.send_msg(slot(*s), *len as usize, false, Some(&raw))
                    .map_or_else(Obs::Err, |n| Obs::Num(n as i64))
            }
            Op::Send { s, len } => {
                let s = slot(*s);
                let data = self.pattern_bytes(s, *len as usize);
                match self.backend.send(s, &data) {
                    Ok(n) => {
                        self.add_sent(s, n);
                        Obs::Num(n as i64)
                    }
                    Err(e) => Obs::Err(e),
                }
            }
            Op::Recv {
                s,
                len,
                peek,
                waitall,
            } => {
                let s = slot(*s);
                match self.backend.recv(s, *len as usize, *peek, *waitall) {
                    Ok(bytes) => {
                        let from = self.received.get(s).copied().unwrap_or(0);
                        let in_order = self.check(s, &bytes, from);
                        if !*peek {
                            self.add_received(s, bytes.len());
                        }
                        Obs::Data {
                            len: bytes.len(),
                            in_order,
                        }
                    }
                    Err(e) => Obs::Err(e),
                }
            }
            Op::SendTo { s, len, addr } => {
                let raw = self.raw_addr(addr);
                let s = slot(*s);
                let data = self.pattern_bytes(s, *len as usize);
                match self.backend.send_to(s, &data, &raw) {
                    Ok(n) => {
                        self.add_sent(s, n);
                        Obs::Num(n as i64)
                    }
                    Err(e) => Obs::Err(e),
                }
            }
            Op::RecvFrom {
                s,
                len,
                peek,
                trunc,
            } => {
                let s = slot(*s);
                let got = match self.backend.recv_from(s, *len as usize, *peek, *trunc) {
                    Ok(got) => got,
                    Err(e) => return Obs::Err(e),
                };
                let Obs::Addr {
                    len: from_len,
                    bytes: from,
                } = normalise_addr(got.from_len, got.from)
                else {
                    return Obs::Err(EINVAL);
                };
                if self.ty(s).is_message() {
                    return Obs::MsgFrom {
                        ret: got.ret,
                        len: got.bytes.len(),
                        msg: self.identify(&got.bytes),
                        truncated: got.truncated,
                        from_len,
                        from,
                    };
                }
                let start = self.received.get(s).copied().unwrap_or(0);
                let in_order = self.check(s, &got.bytes, start);
                if !*peek {
                    self.add_received(s, got.bytes.len());
                }
                Obs::DataFrom {
                    len: got.bytes.len(),
                    in_order,
                    from_len,
                    from,
                    ret: got.ret,
                    truncated: got.truncated,
                }
            }
            Op::SendRights { s, len, n } => {
                let s = slot(*s);
                let id = self.next_msg;
                let data = Self::msg_bytes(id, *len as usize);
                let markers: Vec<u32> = (0..u32::from(*n)).map(|k| self.next_object + k).collect();
                match self.backend.send_rights(s, &data, &markers) {
                    Ok(sent) => {
                        self.msgs.push((id, sent));
                        self.next_msg += 1;
                        self.next_object += u32::from(*n);
                        Obs::Num(sent as i64)
                    }
                    Err(e) => Obs::Err(e),
                }
            }
            Op::RecvRights { s, len, room, peek } => {
                match self
                    .backend
                    .recv_rights(slot(*s), *len as usize, usize::from(*room), *peek)
                {
                    Ok(got) => Obs::Rights {
                        len: got.bytes.len(),
                        msg: self.identify(&got.bytes),
                        truncated: got.truncated,
                        ctrunc: got.ctrunc,
                        objects: got.markers,
                    },
                    Err(e) => Obs::Err(e),
                }
            }
            Op::Unlink { n } => {
                let path = self.names.file(*n);
                unit(self.backend.unlink(&path))
            }
            Op::MakeFile { n } => {
                let path = self.names.file(*n);
                unit(self.backend.make_file(&path))
            }
            Op::Shutdown { s, how } => unit(self.backend.shutdown(slot(*s), *how)),
            Op::Close { s } => unit(self.backend.close(slot(*s))),
            Op::GetSockName { s } => match self.backend.name(slot(*s), false) {
                Ok((len, bytes)) => normalise_addr(len, bytes),
                Err(e) => Obs::Err(e),
            },
            Op::GetPeerName { s } => match self.backend.name(slot(*s), true) {
                Ok((len, bytes)) => normalise_addr(len, bytes),
                Err(e) => Obs::Err(e),
            },
            Op::Fionread { s } => self
                .backend
                .fionread(slot(*s))
                .map_or_else(Obs::Err, Obs::Num),
            Op::GetOpt { s, opt } => self
                .backend
                .getsockopt(slot(*s), *opt)
                .map_or_else(Obs::Err, Obs::Num),
            Op::SetOpt { s, opt, val } => unit(self.backend.setsockopt(slot(*s), *opt, *val)),
            Op::GetLinger { s } => match self.backend.linger(slot(*s)) {
                Ok((onoff, seconds)) => Obs::Linger { onoff, seconds },
                Err(e) => Obs::Err(e),
            },
            Op::SetLinger { s, onoff, seconds } => {
                unit(self.backend.set_linger(slot(*s), *onoff, *seconds))
            }
            Op::Poll { s } => self.backend.poll(slot(*s)).map_or_else(Obs::Err, Obs::Poll),
            Op::Fill { s } => self.fill(slot(*s)),
            Op::Drain { s } => self.drain(slot(*s)),
        }
    }

    fn close_if_open(&mut self, s: usize) {
        if self.backend.is_open(s) {
            let _ = self.backend.close(s);
        }
    }

    fn fill(&mut self, s: usize) -> Obs {
        const CHUNK: usize = 16 * 1024;
        let mut sent_any = false;
        let message = self.ty(s).is_message();
        // Bounded: the largest SO_SNDBUF scenarios set is far below this many chunks.
        for _ in 0..4096 {
            if message {
                match self.send_msg(s, CHUNK, true, None) {
                    Ok(n) => sent_any |= n > 0,
                    Err(e) => return Obs::Fill { sent_any, end: e },
                }
                continue;
            }
            let data = self.pattern_bytes(s, CHUNK);
            match self.backend.send(s, &data) {
                Ok(n) => {
                    self.add_sent(s, n);
                    sent_any |= n > 0;
                }
                Err(e) => return Obs::Fill { sent_any, end: e },
            }
        }
        Obs::Fill { sent_any, end: 0 }
    }

    fn drain(&mut self, s: usize) -> Obs {
        // On a message socket 0 is a zero-length message or the end: so many of them in a
        // row mean the end (scenarios queue far fewer).
        const ZEROS_AT_END: u32 = 64;
        let mut any = false;
        let mut in_order = true;
        let message = self.ty(s).is_message();
        let mut zeros = 0;
        for _ in 0..100_000 {
            match self.backend.recv(s, 64 * 1024, false, false) {
                Ok(bytes) if message => {
                    any |= !bytes.is_empty();
                    in_order &= self.identify(&bytes) != MsgId::Garbled;
                    zeros = if bytes.is_empty() { zeros + 1 } else { 0 };
                    if zeros == ZEROS_AT_END {
                        return Obs::Drain {
                            any,
                            in_order,
                            end: 0,
                        };
                    }
                }
                Ok(bytes) if bytes.is_empty() => {
                    return Obs::Drain {
                        any,
                        in_order,
                        end: 0,
                    };
                }
                Ok(bytes) => {
                    let from = self.received.get(s).copied().unwrap_or(0);
                    in_order &= self.check(s, &bytes, from);
                    self.add_received(s, bytes.len());
                    any = true;
                }
                Err(e) => {
                    return Obs::Drain {
                        any,
                        in_order,
                        end: e,
                    };
                }
            }
        }
        Obs::Drain {
            any,
            in_order,
            end: -1,
        }
    }

    /// Closes every slot (end of a scenario).
    pub fn close_all(&mut self) {
        for s in 0..SLOTS {
            self.close_if_open(s);
        }
    }
}
