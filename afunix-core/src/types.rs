//! The plain values that cross the engine's API.

use alloc::vec::Vec;

use crate::{Errno, SocketId};

/// A pending operation's identity, chosen by the caller (the driver uses the IRP's address).
/// Unique among the caller's outstanding operations; completed exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

/// The immediate outcome of an operation that may wait.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Outcome<T> {
    /// Done now, with this result; the token is not remembered.
    Ready(Result<T, Errno>),
    /// Waiting; a [`Completion`] for the token comes later from `poll_completion`.
    Pending,
}

impl<T> Outcome<T> {
    /// The result if ready.
    pub fn ready(self) -> Option<Result<T, Errno>> {
        match self {
            Self::Ready(r) => Some(r),
            Self::Pending => None,
        }
    }

    /// Whether the operation is waiting.
    #[must_use]
    pub const fn is_pending(&self) -> bool {
        matches!(self, Self::Pending)
    }
}

/// What a completed pending operation produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Completed {
    /// A pending connect finished: the socket is connected.
    Connected,
    /// A pending accept attached a connection to the socket it named.
    Accepted,
    /// A pending send finished: this many bytes were queued (all of them, or fewer when an
    /// error or a cancel cut it short after some bytes went out, as Linux returns `sent`).
    Sent(usize),
    /// A pending recv finished: this many bytes are in the caller's buffer (0: end of file).
    Received(usize),
    /// A pending recv on a message socket finished with one message (an empty one with
    /// `len` 0 at end of file).
    Message(Received),
}

/// A completion for a pending operation.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Completion {
    /// The caller's token.
    pub token: Token,
    /// The socket the operation was issued on.
    pub socket: SocketId,
    /// Its result.
    pub result: Result<Completed, Errno>,
}

/// The opaque identity of a process, recorded at connect, listen and socketpair and reported
/// to the peer (`SO_PEERCRED`). The engine never interprets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Process id.
    pub pid: u32,
    /// The user SID of the token the caller acts with, as bytes.
    pub sid: Vec<u8>,
    /// That token's mandatory integrity level (the RID of its label: 0x2000 is Medium).
    pub integrity: u32,
    /// What else that token says about the caller (`afunix_proto::wire::PEERCRED_*`).
    pub flags: u32,
}

impl Credentials {
    pub(crate) fn try_clone(&self) -> Result<Self, Errno> {
        Ok(Self {
            pid: self.pid,
            sid: crate::util::try_copy(&self.sid)?,
            integrity: self.integrity,
            flags: self.flags,
        })
    }
}

/// Flags for `recv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvFlags {
    /// `MSG_PEEK`: copy without consuming.
    pub peek: bool,
    /// `MSG_WAITALL`: wait for the whole length (non-blocking: as much as there is).
    pub waitall: bool,
    /// `MSG_DONTWAIT`: do not wait, whatever the socket's mode.
    pub dontwait: bool,
    /// Wait even on a non-blocking socket (Winsock's overlapped requests); `dontwait` wins.
    pub overlapped: bool,
    /// `MSG_TRUNC`: a message socket's recv returns the message's whole length, even when
    /// the buffer was shorter (streams ignore it).
    pub trunc: bool,
    /// How many passed objects (SCM_RIGHTS) the caller's control buffer has room for. A
    /// message's objects past that are closed (with MSG_PEEK: left with the message), and
    /// the receive reports [`Received::ctrunc`].
    pub rights_room: usize,
}

/// Flags for `send`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// `MSG_DONTWAIT`.
    pub dontwait: bool,
    /// Wait even on a non-blocking socket (Winsock's overlapped requests); `dontwait` wins.
    pub overlapped: bool,
}

/// `shutdown`'s `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `SHUT_RD` (0).
    Read,
    /// `SHUT_WR` (1).
    Write,
    /// `SHUT_RDWR` (2).
    Both,
}

impl Shutdown {
    /// From the numeric `how`; EINVAL outside 0..=2 (`unix_shutdown`).
    pub const fn from_how(how: i32) -> Result<Self, Errno> {
        match how {
            0 => Ok(Self::Read),
            1 => Ok(Self::Write),
            2 => Ok(Self::Both),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// Poll readiness, with Linux's bit values (`include/uapi/asm-generic/poll.h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollMask(pub u32);

impl PollMask {
    /// `POLLIN`.
    pub const IN: u32 = 0x0001;
    /// `POLLOUT`.
    pub const OUT: u32 = 0x0004;
    /// `POLLERR`.
    pub const ERR: u32 = 0x0008;
    /// `POLLHUP`.
    pub const HUP: u32 = 0x0010;
    /// `POLLNVAL`: not a socket. The engine never reports it; the device layer does, for a
    /// POLL entry that names no socket.
    pub const NVAL: u32 = 0x0020;
    /// `POLLRDNORM`.
    pub const RDNORM: u32 = 0x0040;
    /// `POLLWRNORM`.
    pub const WRNORM: u32 = 0x0100;
    /// `POLLWRBAND`.
    pub const WRBAND: u32 = 0x0200;
    /// `POLLRDHUP`.
    pub const RDHUP: u32 = 0x2000;

    /// Whether every bit of `bits` is set.
    #[must_use]
    pub const fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
}

/// The socket type (`SO_TYPE`), with Linux's `SOCK_*` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SockType {
    /// `SOCK_STREAM` (1): a connected byte stream.
    Stream = 1,
    /// `SOCK_DGRAM` (2): connectionless messages, each with its sender's name.
    Dgram = 2,
    /// `SOCK_SEQPACKET` (5): connected like a stream, with message boundaries.
    SeqPacket = 5,
}

impl SockType {
    /// From Linux's number, as `unix_create` takes it: `SOCK_RAW` (3) is a datagram socket.
    /// None for anything else (ESOCKTNOSUPPORT).
    #[must_use]
    pub const fn from_raw(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Stream),
            2 | 3 => Some(Self::Dgram),
            5 => Some(Self::SeqPacket),
            _ => None,
        }
    }

    /// Whether its data moves as messages (datagram and seqpacket).
    #[must_use]
    pub const fn is_message(self) -> bool {
        matches!(self, Self::Dgram | Self::SeqPacket)
    }
}

/// What a receive on a message socket got (`recvmsg` on a datagram or seqpacket socket).
#[derive(Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes written into the caller's buffer.
    pub copied: usize,
    /// The whole message's length: more than `copied` when the buffer was too short and the
    /// rest was dropped (MSG_TRUNC in `msg_flags`). For a stream, `copied`.
    pub len: usize,
    /// The sender's name (`unix_copy_addr` of the sending socket): a datagram's own, a
    /// seqpacket message's peer's. None when it has none, at end of file, and for streams
    /// ([`Engine::sender_address`](crate::Engine::sender_address) names a stream's).
    pub from: Option<crate::UnixAddr>,
    /// The objects passed with the message (SCM_RIGHTS), in the order they were sent, up to
    /// the receive's [`RecvFlags::rights_room`]. Now the receiver's, unless it peeked: then
    /// they are still the message's, and these are what a copy should be made of.
    pub rights: Vec<Passed>,
    /// Objects were dropped for want of room (`MSG_CTRUNC`).
    pub ctrunc: bool,
}

/// One object passed with SCM_RIGHTS, as the caller (the device layer) handed it to a send:
/// an opaque key the caller owns, and, when the object is one of the engine's own sockets,
/// which one. The engine never looks behind the key; every key it is given comes back
/// exactly once, in a [`Received`] (unless peeked) or from [`crate::Engine::poll_released`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passed {
    /// The caller's key.
    pub key: u64,
    /// The engine socket the object is, if it is one.
    pub socket: Option<SocketId>,
}

impl Received {
    /// Whether the message was cut short (`MSG_TRUNC` in `msg_flags`).
    #[must_use]
    pub const fn truncated(&self) -> bool {
        self.len > self.copied
    }

    /// What `recvmsg` returns: the bytes copied, or with MSG_TRUNC in the call's flags the
    /// message's whole length.
    #[must_use]
    pub const fn ret(&self, flags: RecvFlags) -> usize {
        if flags.trunc { self.len } else { self.copied }
    }
}

/// Where a pathname socket lives: its socket file's identity (volume and file ID) and the
/// secret its bind wrote into that file. A file that merely reuses a deleted socket file's
/// identity does not carry the secret, so it names no binding. Tests may use any unique
/// triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathKey {
    /// The volume's identity.
    pub volume: u64,
    /// File ID on that volume.
    pub file_id: u128,
    /// The binding's secret, written in the file.
    pub secret: u128,
}

/// What `bind` binds to, once the caller has done its part (see
/// [`parse_bind_addr`](crate::parse_bind_addr)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindTarget {
    /// `unix_autobind`: a fresh 5-hex-digit abstract name.
    Autobind,
    /// A socket file the caller created; `path` is what getsockname reports.
    Pathname {
        /// The binding key.
        key: PathKey,
        /// The path bytes (no NUL).
        path: Vec<u8>,
    },
    /// An abstract name (bytes after the leading NUL).
    Abstract(Vec<u8>),
}

/// What `connect` connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectTarget {
    /// The socket file with this key (the caller resolved and access-checked the path).
    Pathname(PathKey),
    /// An abstract name.
    Abstract(Vec<u8>),
}

/// Limits and defaults, passed in by the caller. `Default` gives Linux's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Initial `SO_SNDBUF` (`net.core.wmem_default`).
    pub sndbuf_default: u32,
    /// Cap on a `SO_SNDBUF` request before doubling (`net.core.wmem_max`).
    pub sndbuf_max: u32,
    /// Initial `SO_RCVBUF` (`net.core.rmem_default`).
    pub rcvbuf_default: u32,
    /// Cap on a `SO_RCVBUF` request before doubling (`net.core.rmem_max`).
    pub rcvbuf_max: u32,
    /// Cap on a listen backlog (`net.core.somaxconn`).
    pub max_backlog: u32,
    /// The most sockets (embryos included) the engine holds at once.
    pub max_sockets: usize,
    /// The most bytes the engine holds at once, over all sockets: queued data, pending sends'
    /// data and pending receives' partial data.
    pub global_buffer_cap: usize,
    /// The starting point of the autobind name search (Linux uses a random number).
    pub autobind_seed: u32,
    /// The most requests pending at once over all sockets (RECV, SEND, ACCEPT, CONNECT).
    pub max_pending: usize,
    /// The most bytes the data buffers of pending SEND and RECV requests may span at once:
    /// the driver keeps those buffers locked in memory (their MDLs) until they complete.
    pub max_locked_bytes: usize,
    /// Each user's share of every cap: one user (SID) may hold at most this fraction of
    /// `max_sockets`, `global_buffer_cap`, `max_pending` and `max_locked_bytes` (and of the
    /// device's POLL caps), so that one user at all its limits leaves the rest to others.
    /// 1 lets one user take a whole cap, as Linux, which has no per-user socket caps.
    pub user_share: UserShare,
    /// The most distinct users holding sockets or requests at once (the accounting table is
    /// bounded too; a new user past it is refused with ENOBUFS).
    pub max_users: usize,
    /// How many messages a datagram socket's queue holds before senders not connected back
    /// to it wait (`net.unix.max_dgram_qlen`; the queue is full when it holds more).
    pub max_dgram_qlen: u32,
    /// The key of the engine's and the device layer's hash tables (`KeyedHash`): drawn at
    /// random by the driver, so that no program can predict which socket names collide.
    pub hash_seed: u64,
    /// The most objects (SCM_RIGHTS) in flight at once over all users: sent and not yet
    /// received or dropped. Each counts [`crate::RIGHT_OVERHEAD`] bytes against the buffer
    /// caps too.
    pub max_rights: usize,
    /// The most objects one user may have in flight (ETOOMANYREFS past it, as Linux's
    /// `too_many_unix_fds` gives past the sender's `RLIMIT_NOFILE`).
    pub max_rights_per_user: usize,
}

/// A fraction `1 / divisor` of a cap (see [`Limits::user_share`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserShare {
    /// Each user may hold `cap / divisor` (at least 1); 1 means the whole cap.
    pub divisor: usize,
}

impl UserShare {
    /// A user's share of `cap`: `cap / divisor`, at least 1 (so a share never forbids
    /// everything), at most `cap`.
    #[must_use]
    pub const fn of(self, cap: usize) -> usize {
        let share = match cap.checked_div(self.divisor) {
            Some(s) => s,
            None => cap,
        };
        if share == 0 && cap > 0 { 1 } else { share }
    }
}

/// `SOCK_MIN_SNDBUF` on x86-64: `2 * (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff)))`.
pub const SOCK_MIN_SNDBUF: u32 = 4608;
/// `SOCK_MIN_RCVBUF` on x86-64: `2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))`.
pub const SOCK_MIN_RCVBUF: u32 = 2304;

impl Default for Limits {
    fn default() -> Self {
        Self {
            sndbuf_default: 212_992,
            sndbuf_max: 212_992,
            rcvbuf_default: 212_992,
            rcvbuf_max: 212_992,
            max_backlog: 4096,
            max_sockets: 65_536,
            global_buffer_cap: 256 << 20,
            autobind_seed: 0,
            max_pending: 65_536,
            max_locked_bytes: 1 << 30,
            user_share: UserShare { divisor: 1 },
            max_users: 4096,
            max_dgram_qlen: 10,
            hash_seed: 0,
            max_rights: 65_536,
            max_rights_per_user: 1024,
        }
    }
}
