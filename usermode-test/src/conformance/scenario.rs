//! The scenario language: operations over a few socket slots, and what each step observed.

use serde::{Deserialize, Serialize};

/// How many socket slots a scenario uses.
pub const SLOTS: usize = 6;

/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_LEN: usize = 110;

/// A name a scenario binds or connects to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Addr {
    /// Pathname `n` in the scenario's directory, written as `form` says.
    Path { n: u8, form: PathForm },
    /// Abstract name `n` (`"\0afx-<run>-<n>"`), with one extra trailing NUL if asked (a
    /// different name to Linux: every byte of `addr_len` counts).
    Abstract { n: u8, trailing_nul: bool },
    /// `addr_len == 2`: autobind for bind, EINVAL for connect.
    Autobind,
    /// The address slot `s` reports from getsockname on this backend (autobound names differ
    /// between backends, so scenarios name them this way).
    NameOf { s: u8 },
    /// `sun_family` `AF_UNSPEC` (`addr_len` 2): connect dissolves a datagram socket's
    /// association; bind, a stream's connect and sendto give EINVAL.
    Unspec,
    /// A too-short sockaddr (`addr_len` 0 or 1).
    Short { len: u8 },
    /// `sun_family` not `AF_UNIX`.
    BadFamily,
    /// A pathname longer than `sun_path` (`addr_len` 111).
    Oversize,
}

/// How a pathname is written into `sun_path` (`unix_mkname_bsd` takes bytes up to the first
/// NUL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathForm {
    /// The bytes, no NUL, `addr_len` = 2 + length.
    Plain,
    /// The bytes and a NUL counted in `addr_len`.
    WithNul,
    /// The bytes, a NUL, then junk, all counted in `addr_len`.
    NulThenJunk,
    /// A name padded so the path is exactly 108 bytes, no NUL (`addr_len` 110).
    Full108,
    /// `s<n>/x`: a path that runs through name `n`, whatever it is (a socket file or a plain
    /// file: ENOTDIR; nothing: ENOENT).
    Under,
    /// `s<n>/`: the name with a trailing slash (it must be a directory).
    TrailingSlash,
}

/// A socket type (`SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockTy {
    /// `SOCK_STREAM` (1).
    #[default]
    Stream,
    /// `SOCK_DGRAM` (2).
    Dgram,
    /// `SOCK_SEQPACKET` (5).
    SeqPacket,
}

impl SockTy {
    /// Linux's number for the type.
    #[must_use]
    pub const fn raw(self) -> i32 {
        match self {
            Self::Stream => 1,
            Self::Dgram => 2,
            Self::SeqPacket => 5,
        }
    }

    /// Whether messages keep their boundaries (datagram and seqpacket).
    #[must_use]
    pub const fn is_message(self) -> bool {
        !matches!(self, Self::Stream)
    }
}

/// Socket options the scenarios read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SockOpt {
    /// `SO_SNDBUF`.
    SndBuf,
    /// `SO_RCVBUF`.
    RcvBuf,
    /// `SO_ERROR`.
    Error,
    /// `SO_TYPE`.
    Type,
    /// `SO_DOMAIN` (read-only).
    Domain,
    /// `SO_PROTOCOL` (read-only).
    Protocol,
    /// `SO_PASSCRED`: connect autobinds an unbound socket first.
    PassCred,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `SO_REUSEADDR`.
    ReuseAddr,
}

/// One step. Every socket is non-blocking, so "would block" is EAGAIN on both backends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `socket(AF_UNIX, ty)` into slot `s` (closing what was there).
    Socket {
        s: u8,
        #[serde(default)]
        ty: SockTy,
    },
    /// `socketpair(AF_UNIX, ty)` into slots `a` and `b`.
    SocketPair {
        a: u8,
        b: u8,
        #[serde(default)]
        ty: SockTy,
    },
    /// `bind`.
    Bind { s: u8, addr: Addr },
    /// `listen`.
    Listen { s: u8, backlog: i32 },
    /// `connect`.
    Connect { s: u8, addr: Addr },
    /// `accept` on `l`, the new socket into slot `into`.
    Accept { l: u8, into: u8 },
    /// `send` of `len` pattern bytes.
    Send { s: u8, len: u32 },
    /// `sendto` of `len` pattern bytes to `addr` (a stream refuses any address).
    SendTo { s: u8, len: u32, addr: Addr },
    /// `recvmsg` of up to `len` bytes: the data, the return value (with `MSG_TRUNC` in the
    /// flags, a message's whole length), `msg_flags`' `MSG_TRUNC` and the sender's address.
    RecvFrom {
        s: u8,
        len: u32,
        peek: bool,
        #[serde(default)]
        trunc: bool,
    },
    /// `sendmsg` of a message of `len` bytes to the peer passing `n` objects (SCM_RIGHTS),
    /// each numbered by the runner.
    SendRights { s: u8, len: u32, n: u8 },
    /// `recvmsg` of up to `len` bytes with room for exactly `room` objects.
    RecvRights {
        s: u8,
        len: u32,
        room: u8,
        peek: bool,
    },
    /// `unlink` of pathname `n` (a socket file too: the socket keeps its name).
    Unlink { n: u8 },
    /// A plain file made at pathname `n` (`O_CREAT | O_EXCL`), as anyone may make one where a
    /// socket file was.
    MakeFile { n: u8 },
    /// `recv` of up to `len` bytes.
    Recv {
        s: u8,
        len: u32,
        peek: bool,
        waitall: bool,
    },
    /// `shutdown` (how outside 0..=2 is EINVAL).
    Shutdown { s: u8, how: i32 },
    /// `close`.
    Close { s: u8 },
    /// `getsockname`.
    GetSockName { s: u8 },
    /// `getpeername`.
    GetPeerName { s: u8 },
    /// `ioctl(FIONREAD)`.
    Fionread { s: u8 },
    /// `getsockopt`.
    GetOpt { s: u8, opt: SockOpt },
    /// `setsockopt` of an `int`.
    SetOpt { s: u8, opt: SockOpt, val: i32 },
    /// `getsockopt(SO_LINGER)`.
    GetLinger { s: u8 },
    /// `setsockopt(SO_LINGER, {l_onoff, l_linger})`.
    SetLinger { s: u8, onoff: i32, seconds: i32 },
    /// `poll` with every event asked for, timeout 0.
    Poll { s: u8 },
    /// Send 16 KiB chunks until the first error (EAGAIN when the buffer is full).
    Fill { s: u8 },
    /// Receive until EAGAIN, end of file or an error.
    Drain { s: u8 },
}

impl Op {
    /// The operation's name, for the coverage table.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Socket { ty, .. } => match ty {
                SockTy::Stream => "socket",
                SockTy::Dgram => "socket(DGRAM)",
                SockTy::SeqPacket => "socket(SEQPACKET)",
            },
            Self::SocketPair { ty, .. } => match ty {
                SockTy::Stream => "socketpair",
                SockTy::Dgram => "socketpair(DGRAM)",
                SockTy::SeqPacket => "socketpair(SEQPACKET)",
            },
            Self::Bind { .. } => "bind",
            Self::Listen { .. } => "listen",
            Self::Connect {
                addr: Addr::Unspec, ..
            } => "connect(AF_UNSPEC)",
            Self::Connect { .. } => "connect",
            Self::Accept { .. } => "accept",
            Self::Send { .. } => "send",
            Self::SendTo { .. } => "sendto",
            Self::RecvFrom {
                peek: true,
                trunc: true,
                ..
            } => "recvfrom(PEEK|TRUNC)",
            Self::RecvFrom { peek: true, .. } => "recvfrom(PEEK)",
            Self::RecvFrom { trunc: true, .. } => "recvfrom(TRUNC)",
            Self::RecvFrom { .. } => "recvfrom",
            Self::SendRights { .. } => "sendmsg(SCM_RIGHTS)",
            Self::RecvRights { peek: true, .. } => "recvmsg(SCM_RIGHTS, PEEK)",
            Self::RecvRights { .. } => "recvmsg(SCM_RIGHTS)",
            Self::Unlink { .. } => "unlink",
            Self::MakeFile { .. } => "make a plain file",
            Self::Recv { peek: true, .. } => "recv(PEEK)",
            Self::Recv { waitall: true, .. } => "recv(WAITALL)",
            Self::Recv { .. } => "recv",
            Self::Shutdown { .. } => "shutdown",
            Self::Close { .. } => "close",
            Self::GetSockName { .. } => "getsockname",
            Self::GetPeerName { .. } => "getpeername",
            Self::Fionread { .. } => "FIONREAD",
            Self::GetOpt { opt, .. } => match opt {
                SockOpt::SndBuf => "getsockopt(SO_SNDBUF)",
                SockOpt::RcvBuf => "getsockopt(SO_RCVBUF)",
                SockOpt::Error => "getsockopt(SO_ERROR)",
                SockOpt::Type => "getsockopt(SO_TYPE)",
                SockOpt::Domain => "getsockopt(SO_DOMAIN)",
                SockOpt::Protocol => "getsockopt(SO_PROTOCOL)",
                SockOpt::PassCred => "getsockopt(SO_PASSCRED)",
                SockOpt::KeepAlive => "getsockopt(SO_KEEPALIVE)",
                SockOpt::ReuseAddr => "getsockopt(SO_REUSEADDR)",
            },
            Self::SetOpt { opt, .. } => match opt {
                SockOpt::SndBuf => "setsockopt(SO_SNDBUF)",
                SockOpt::RcvBuf => "setsockopt(SO_RCVBUF)",
                SockOpt::PassCred => "setsockopt(SO_PASSCRED)",
                SockOpt::KeepAlive => "setsockopt(SO_KEEPALIVE)",
                SockOpt::ReuseAddr => "setsockopt(SO_REUSEADDR)",
                SockOpt::Error | SockOpt::Type | SockOpt::Domain | SockOpt::Protocol => {
                    "setsockopt(read-only)"
                }
            },
            Self::GetLinger { .. } => "getsockopt(SO_LINGER)",
            Self::SetLinger { .. } => "setsockopt(SO_LINGER)",
            Self::Poll { .. } => "poll",
            Self::Fill { .. } => "send until full",
            Self::Drain { .. } => "recv until empty",
        }
    }

    /// Every kind, in table order.
    pub const KINDS: [&'static str; 50] = [
        "socket",
        "socket(DGRAM)",
        "socket(SEQPACKET)",
        "socketpair",
        "socketpair(DGRAM)",
        "socketpair(SEQPACKET)",
        "bind",
        "listen",
        "connect",
        "connect(AF_UNSPEC)",
        "accept",
        "send",
        "recv",
        "recv(PEEK)",
        "recv(WAITALL)",
        "shutdown",
        "close",
        "getsockname",
        "getpeername",
        "FIONREAD",
        "getsockopt(SO_SNDBUF)",
        "getsockopt(SO_RCVBUF)",
        "getsockopt(SO_ERROR)",
        "getsockopt(SO_TYPE)",
        "setsockopt(SO_SNDBUF)",
        "setsockopt(SO_RCVBUF)",
        "getsockopt(SO_DOMAIN)",
        "getsockopt(SO_PROTOCOL)",
        "getsockopt(SO_PASSCRED)",
        "getsockopt(SO_KEEPALIVE)",
        "getsockopt(SO_REUSEADDR)",
        "getsockopt(SO_LINGER)",
        "setsockopt(SO_PASSCRED)",
        "setsockopt(SO_KEEPALIVE)",
        "setsockopt(SO_REUSEADDR)",
        "setsockopt(SO_LINGER)",
        "setsockopt(read-only)",
        "poll",
        "send until full",
        "recv until empty",
        "sendto",
        "recvfrom",
        "recvfrom(PEEK)",
        "recvfrom(TRUNC)",
        "sendmsg(SCM_RIGHTS)",
        "recvmsg(SCM_RIGHTS)",
        "recvmsg(SCM_RIGHTS, PEEK)",
        "recvfrom(PEEK|TRUNC)",
        "unlink",
        "make a plain file",
    ];
}

/// What a step produced, normalised so that what is compared is what a user relies on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Obs {
    /// The call failed with this Linux errno.
    Err(i32),
    /// Success with no value.
    Ok,
    /// Success with a number (send count, FIONREAD, an option's value).
    Num(i64),
    /// Received bytes: how many, and whether they are exactly the next bytes of the peer's
    /// stream (every send writes a position-derived pattern, so loss, duplication or
    /// reordering shows as `in_order: false`).
    Data { len: usize, in_order: bool },
    /// An address: the length reported and the bytes copied into a 110-byte `sockaddr_un`.
    /// A 5-hex-digit autobind name is replaced by `?????`: Linux picks it at random.
    Addr { len: usize, bytes: Vec<u8> },
    /// `recvfrom` on a stream: received bytes as [`Obs::Data`], and the sender's address
    /// (`from_len` 0: none), normalised as [`Obs::Addr`] is. `ret` is what the call returned
    /// and `truncated` whether `msg_flags` had `MSG_TRUNC` (a stream ignores `MSG_TRUNC`).
    DataFrom {
        len: usize,
        in_order: bool,
        from_len: usize,
        from: Vec<u8>,
        #[serde(default)]
        ret: usize,
        #[serde(default)]
        truncated: bool,
    },
    /// A message received (`recv` on a datagram or seqpacket socket): the bytes copied and
    /// which message they were ([`MsgId`]).
    Msg { len: usize, msg: MsgId },
    /// `recvmsg` on a datagram or seqpacket socket: the return value (the message's whole
    /// length with `MSG_TRUNC` in the flags), the bytes copied, which message, whether
    /// `msg_flags` had `MSG_TRUNC` (the message was longer than the buffer), and the
    /// sender's address normalised as [`Obs::Addr`] is.
    MsgFrom {
        ret: usize,
        len: usize,
        msg: MsgId,
        truncated: bool,
        from_len: usize,
        from: Vec<u8>,
    },
    /// `recvmsg` with room for objects: the bytes copied and which message, MSG_TRUNC,
    /// MSG_CTRUNC, and which objects came (their markers, in order; each was opened and
    /// read, so the marker is the object's own content).
    Rights {
        len: usize,
        msg: MsgId,
        truncated: bool,
        ctrunc: bool,
        objects: Vec<u32>,
    },
    /// `SO_LINGER`'s `struct linger`.
    Linger { onoff: i32, seconds: i32 },
    /// Poll readiness (Linux bit values).
    Poll(u32),
    /// `Fill`: the error that ended it and whether any byte went first. How many bytes fit is
    /// not compared: Linux counts `truesize` (payload plus per-skb overhead), the engine counts
    /// payload, so both fill up but at different byte counts.
    Fill { sent_any: bool, end: i32 },
    /// `Drain`: whether anything came, whether it was all in order, and how it ended (0 for
    /// end of file, else the errno). The count is not compared (see `Fill`).
    Drain { any: bool, in_order: bool, end: i32 },
}

/// Which message a receive returned. Every message a runner sends gets the next number
/// (ordinary sends from 0, `Fill`'s from [`FILL_MSG_BASE`], whose count differs between
/// backends) and its bytes are [`msg_byte`]s of that number, so the bytes received name the
/// message: the same number on both backends means the same message, whole or cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MsgId {
    /// No bytes were copied (a zero-length message, or a zero-length buffer): nothing to
    /// check; the lengths say the rest.
    Empty,
    /// The first bytes of message `n`, exactly.
    Of(u32),
    /// Bytes that are no message's start: lost, glued or corrupted.
    Garbled,
}

/// Where `Fill`'s message numbers start.
pub const FILL_MSG_BASE: u32 = 1 << 20;

/// Byte `i` of message `n`: the stream pattern shifted by a stride prime to 251, so the first
/// byte alone tells the first 251 message numbers apart.
#[must_use]
pub fn msg_byte(n: u32, i: u64) -> u8 {
    pattern(u64::from(n) * 97 + i)
}

/// The names a run uses: a private directory for pathnames and a private abstract prefix, so
/// that concurrent runs never collide.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Names {
    /// Directory for socket files (absolute, short).
    pub dir: String,
    /// Abstract-name prefix.
    pub prefix: String,
}

impl Names {
    /// The path bytes of pathname `n` (padded to 108 bytes for `Full108`).
    #[must_use]
    pub fn path(&self, n: u8, form: PathForm) -> Vec<u8> {
        let mut p = format!("{}/s{n}", self.dir).into_bytes();
        match form {
            PathForm::Full108 => {
                p.push(b'_');
                while p.len() < 108 {
                    p.push(b'x');
                }
            }
            PathForm::Under => p.extend_from_slice(b"/x"),
            PathForm::TrailingSlash => p.push(b'/'),
            PathForm::Plain | PathForm::WithNul | PathForm::NulThenJunk => {}
        }
        p
    }

    /// The file of pathname `n` (as `unlink` and `MakeFile` name it).
    #[must_use]
    pub fn file(&self, n: u8) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("{}/s{n}", self.dir))
    }

    /// The raw sockaddr for `addr` (`NameOf` is resolved by the runner).
    #[must_use]
    pub fn raw(&self, addr: &Addr) -> Vec<u8> {
        let mut raw = 1u16.to_ne_bytes().to_vec();
        match addr {
            Addr::Path { n, form } => {
                raw.extend_from_slice(&self.path(*n, *form));
                match form {
                    PathForm::Plain
                    | PathForm::Full108
                    | PathForm::Under
                    | PathForm::TrailingSlash => {}
                    PathForm::WithNul => raw.push(0),
                    PathForm::NulThenJunk => raw.extend_from_slice(b"\0junk"),
                }
            }
            Addr::Abstract { n, trailing_nul } => {
                raw.push(0);
                raw.extend_from_slice(format!("{}-{n}", self.prefix).as_bytes());
                if *trailing_nul {
                    raw.push(0);
                }
            }
            Addr::Autobind | Addr::NameOf { .. } => {}
            Addr::Unspec => raw = 0u16.to_ne_bytes().to_vec(),
            Addr::Short { len } => raw.truncate(usize::from(*len).min(2)),
            Addr::BadFamily => {
                raw = 2u16.to_ne_bytes().to_vec();
                raw.extend_from_slice(b"/tmp/x");
            }
            Addr::Oversize => {
                raw.extend_from_slice(&self.path(0, PathForm::Full108));
                raw.push(b'y');
            }
        }
        raw.truncate(SOCKADDR_UN_LEN + 1);
        raw
    }
}

/// The byte at position `k` of a connection's stream: period 251 (prime), so a shifted,
/// duplicated or missing run of bytes does not match.
#[must_use]
pub fn pattern(k: u64) -> u8 {
    u8::try_from(k % 251).unwrap_or(0)
}
