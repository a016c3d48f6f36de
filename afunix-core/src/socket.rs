//! One socket's state.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::engine::UserId;
use crate::queue::Queue;
use crate::{Credentials, Errno, Passed, PathKey, SockType, SocketId, Token, UnixAddr};

/// Linux's `sk_state` for a stream socket. The engine changes it only through
/// `Engine::set_state`.
#[derive(Debug)]
pub(crate) enum State {
    /// `TCP_CLOSE`: fresh (or waiting in a pending connect).
    Unconnected,
    /// `TCP_LISTEN`.
    Listening(ListenerBox),
    /// `TCP_ESTABLISHED`. `peer` is `None` once the peer has been released; Linux keeps a
    /// pointer to the dead peer, we keep what getpeername needs in `Socket::dead_peer_addr`.
    Connected {
        /// The other end.
        peer: Option<SocketId>,
        /// Whether this is an embryo still queued on `listener` (not yet accepted).
        embryo_of: Option<SocketId>,
    },
}

/// A listener's queues, out of line: only listening sockets pay for them (a fallible box).
#[derive(Debug)]
pub(crate) struct ListenerBox(Vec<Listener>);

impl ListenerBox {
    /// ENOMEM if it cannot be allocated.
    pub(crate) fn new(l: Listener) -> Result<Self, Errno> {
        let mut v = Vec::new();
        v.try_reserve_exact(1).map_err(|_| Errno::ENOMEM)?;
        v.push(l);
        Ok(Self(v))
    }

    pub(crate) fn get(&self) -> Option<&Listener> {
        self.0.first()
    }

    pub(crate) fn get_mut(&mut self) -> Option<&mut Listener> {
        self.0.first_mut()
    }

    pub(crate) fn into_inner(self) -> Option<Listener> {
        self.0.into_iter().next()
    }
}

/// A listener's queues.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    /// `sk_max_ack_backlog`.
    pub(crate) backlog: u32,
    /// Connected embryos waiting for accept (the listener's `sk_receive_queue`).
    pub(crate) embryos: VecDeque<SocketId>,
    /// Pending accepts: (token, the socket to attach to).
    pub(crate) accepts: Queue<(Token, SocketId)>,
    /// Connects waiting for backlog room (`unix_wait_for_peer`): (token, connector).
    pub(crate) connects: Queue<PendingConnect>,
}

#[derive(Debug)]
pub(crate) struct PendingConnect {
    pub(crate) token: Token,
    pub(crate) connector: SocketId,
    pub(crate) cred: Credentials,
}

/// A pending receive.
#[derive(Debug)]
pub(crate) struct PendingRecv {
    pub(crate) token: Token,
    pub(crate) len: usize,
    pub(crate) peek: bool,
    pub(crate) waitall: bool,
    /// How many bytes are in the caller's buffer (written through `Buffers`).
    pub(crate) filled: usize,
    /// Whether the first bytes it took carried their writer's credentials, when its socket
    /// had SO_PASSCRED as it took them (see [`CredRuns`]): from then on it takes only bytes
    /// that match, as Linux's read keeps checking once it started. None until then.
    pub(crate) first_creds: Option<bool>,
    /// Room in its control buffer for passed objects (`RecvFlags::rights_room`).
    pub(crate) rights_room: usize,
}

impl PendingRecv {
    pub(crate) fn filled(&self) -> usize {
        self.filled
    }
}

/// A pending send.
#[derive(Debug)]
pub(crate) struct PendingSend {
    pub(crate) token: Token,
    /// The bytes stay in the caller's buffer (read through `Buffers`): `offset..len` remain.
    pub(crate) offset: usize,
    pub(crate) len: usize,
    /// Whether its bytes carry the writer's credentials (see [`CredRuns`]), decided when the
    /// send was made.
    pub(crate) creds: bool,
    pub(crate) sent: usize,
    /// Of an in-place send at the front: how many of its next bytes the reader has been
    /// shown as queued (readable, in FIONREAD, poll and MSG_PEEK) though they are still in
    /// the caller's buffer. Reserved against the global cap, and never shrunk but by moving,
    /// so that whatever ends the send can still queue them all.
    pub(crate) exposed: usize,
    /// The user its exposed bytes are charged to (its socket's owner).
    pub(crate) user: UserId,
}

impl PendingSend {
    pub(crate) fn remaining(&self) -> usize {
        self.len.saturating_sub(self.offset)
    }
}

/// Where the credentials attached to a receive queue's bytes change.
///
/// Linux attaches the writer's credentials to what it queues when either end has
/// SO_PASSCRED, or the reader is an embryo not yet accepted (`maybe_add_creds`), and a
/// reader with SO_PASSCRED never reads across bytes whose credentials differ in one call
/// (`unix_stream_read_generic`: "never glue messages from different writers"). A stream
/// here has one writer, so what differs is whether credentials are attached: runs of bytes
/// with and without. Positions count bytes ever queued and ever taken.
///
/// Bounded: at most [`CredRuns::MAX`] runs are remembered; a change past that (a program
/// switching SO_PASSCRED between every few bytes with nothing read) extends the last run,
/// which only lets a reader read further than Linux's would, never loses or reorders a byte.
#[derive(Debug, Default)]
pub(crate) struct CredRuns {
    /// (first position, credentials attached) of each run after the front one.
    changes: VecDeque<(u64, bool)>,
    /// Whether the bytes at the front carry credentials.
    front: bool,
    /// Bytes ever queued, and ever taken.
    queued: u64,
    taken: u64,
}

impl CredRuns {
    pub(crate) const MAX: usize = 64;

    /// `n` bytes were queued, carrying credentials or not.
    pub(crate) fn push(&mut self, creds: bool, n: usize) {
        if n == 0 {
            return;
        }
        let last = self.changes.back().map_or(self.front, |c| c.1);
        if self.queued == self.taken {
            self.front = creds;
            self.changes.clear();
        } else if last != creds
            && self.changes.len() < Self::MAX
            && self.changes.try_reserve(1).is_ok()
        {
            self.changes.push_back((self.queued, creds));
        }
        self.queued = self.queued.saturating_add(n as u64);
    }

    /// `n` bytes were taken from the front.
    pub(crate) fn take(&mut self, n: usize) {
        self.taken = self.taken.saturating_add(n as u64).min(self.queued);
        while let Some(&(at, creds)) = self.changes.front() {
            if at > self.taken {
                break;
            }
            self.front = creds;
            self.changes.pop_front();
        }
    }

    /// Whether the front bytes carry credentials, and how many bytes of the queue share that.
    pub(crate) fn front_run(&self) -> (bool, usize) {
        let end = self.changes.front().map_or(self.queued, |c| c.0);
        let n = usize::try_from(end.saturating_sub(self.taken)).unwrap_or(usize::MAX);
        (self.front, n)
    }
}

/// `sk_shutdown` bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShutdownBits {
    /// `RCV_SHUTDOWN`.
    pub(crate) rd: bool,
    /// `SEND_SHUTDOWN`.
    pub(crate) wr: bool,
}

impl ShutdownBits {
    pub(crate) const fn all(self) -> bool {
        self.rd && self.wr
    }
}

/// One message in a message socket's receive queue (an skb of `unix_dgram_sendmsg`).
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) data: Vec<u8>,
    /// The socket that sent it; its `wmem` counts `charge` until the message leaves. Its
    /// name is read when the message is received (`unix_copy_addr`), from the engine's
    /// ghosts once it has closed (Linux's skb keeps the sending socket, and its name, alive).
    pub(crate) sender: SocketId,
    /// The user charged for it (its sender's owner), and how much.
    pub(crate) user: UserId,
    pub(crate) charge: usize,
    /// The objects passed with it (SCM_RIGHTS), charged to `user` (see `engine::rights`).
    pub(crate) rights: Vec<Passed>,
}

/// A pending send on a message socket: its bytes stay in the caller's buffer until the
/// message can be queued whole.
#[derive(Debug)]
pub(crate) struct PendingMsgSend {
    pub(crate) token: Token,
    pub(crate) len: usize,
    /// Where it goes: None for the connected peer (looked up again at each try, as Linux's
    /// restart does), else the datagram socket its address named.
    pub(crate) to: Option<SocketId>,
    /// The objects it passes, charged to its socket's owner while it waits.
    pub(crate) rights: Vec<Passed>,
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) kind: SockType,
    pub(crate) state: State,
    /// `u->addr`: the name getsockname reports (accepted sockets share the listener's).
    pub(crate) addr: Option<UnixAddr>,
    /// The registry entry this socket owns (the binder only).
    pub(crate) binding: Option<Binding>,
    pub(crate) shutdown: ShutdownBits,
    /// `sk_err`, reported once by recv or SO_ERROR.
    pub(crate) err: Option<Errno>,
    pub(crate) nonblocking: bool,
    pub(crate) sndbuf: u32,
    pub(crate) rcvbuf: u32,
    /// `sk_receive_queue` for a connected socket (a byte stream).
    pub(crate) rx: crate::ring::ByteRing,
    /// Which of `rx`'s bytes carry their writer's credentials.
    pub(crate) rx_creds: CredRuns,
    pub(crate) recvs: Queue<PendingRecv>,
    pub(crate) sends: Queue<PendingSend>,
    /// Our own identity recorded at listen (`init_peercred`), copied to connectors.
    pub(crate) own_cred: Option<Credentials>,
    /// `SO_PEERCRED`.
    pub(crate) peer_cred: Option<Credentials>,
    /// The peer's address at the time it was released (getpeername after the peer closed).
    pub(crate) dead_peer_addr: Option<UnixAddr>,
    /// This socket waits in a pending connect with this token.
    pub(crate) connecting: Option<(Token, SocketId)>,
    /// This fresh socket is named by a pending accept with this token.
    pub(crate) reserved_by: Option<(Token, SocketId)>,
    pub(crate) options: SocketOptions,
    /// The user this socket is charged to (see `engine::quota`).
    pub(crate) owner: UserId,
    /// The user charged for the bytes in `rx` (its writer's), while it holds any.
    pub(crate) rx_user: UserId,
    /// A message socket's receive queue, and its payload bytes.
    pub(crate) msgs: VecDeque<Message>,
    pub(crate) msg_bytes: usize,
    /// What this socket's messages still queued somewhere are charged (`sk_wmem_alloc`).
    pub(crate) wmem: usize,
    /// A message socket's pending sends, in order.
    pub(crate) msg_sends: Queue<PendingMsgSend>,
    /// Senders whose first pending send waits for room in this socket's queue
    /// (`peer_wait`). May hold stale entries; `waiting_on` says which are current.
    pub(crate) waiters: Vec<SocketId>,
    /// How many senders wait on this socket's queue now (the live entries of `waiters`).
    pub(crate) waiter_count: usize,
    /// The socket whose queue this one's first pending send waits on.
    pub(crate) waiting_on: Option<SocketId>,
    /// Whether this socket is on the engine's work list of senders to try again.
    pub(crate) wake_queued: bool,
    /// A datagram socket's default destination (`unix_peer`) and its name, recorded at
    /// connect (a bound name never changes; getpeername reports it even after that socket
    /// is gone, as Linux, which keeps the dead peer until the next send).
    pub(crate) dgram_peer: Option<(SocketId, UnixAddr)>,
    /// Datagram sockets whose default destination this socket is (may hold stale entries),
    /// and how many are current: when this socket closes, they record its name as it is
    /// then, which is what getpeername keeps reporting, as Linux's dead peer does.
    pub(crate) referrers: Vec<SocketId>,
    pub(crate) referrer_count: usize,
    /// How many of this socket's messages are queued somewhere.
    pub(crate) in_flight: usize,
    /// Buffers of messages this socket has received, kept for the next ones it is sent (at
    /// most `SPARE_BUFFERS`, within the engine's idle budget), as a stream keeps its ring.
    pub(crate) spare: Vec<Vec<u8>>,
    /// How many times this socket is itself in flight: passed (SCM_RIGHTS) in a queued
    /// message or a pending send, not yet received.
    pub(crate) passed: usize,
    /// How many of the objects in this socket's queue are engine sockets.
    pub(crate) carried: usize,
}

/// Options that are only stored and read back (and `SO_PASSCRED`, which connect consults).
#[derive(Debug, Default)]
pub(crate) struct SocketOptions {
    pub(crate) passcred: bool,
    pub(crate) keepalive: bool,
    pub(crate) reuseaddr: bool,
    pub(crate) linger: crate::engine::Linger,
}

/// A bound name. Abstract names are one namespace per socket type, as Linux hashes the type
/// into them (`unix_abstract_hash`); a socket file is one file whatever the type.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Binding {
    Path(PathKey),
    Abstract(SockType, Vec<u8>),
}

impl Binding {
    /// A fallible copy.
    pub(crate) fn try_clone(&self) -> Result<Self, crate::Errno> {
        Ok(match self {
            Self::Path(k) => Self::Path(*k),
            Self::Abstract(t, n) => Self::Abstract(*t, crate::util::try_copy(n)?),
        })
    }
}

impl Socket {
    pub(crate) fn new(kind: SockType, sndbuf: u32, rcvbuf: u32, owner: UserId) -> Self {
        Self {
            kind,
            state: State::Unconnected,
            addr: None,
            binding: None,
            shutdown: ShutdownBits::default(),
            err: None,
            nonblocking: false,
            sndbuf,
            rcvbuf,
            rx: crate::ring::ByteRing::new(),
            rx_creds: CredRuns::default(),
            recvs: Queue::new(),
            sends: Queue::new(),
            own_cred: None,
            peer_cred: None,
            dead_peer_addr: None,
            connecting: None,
            reserved_by: None,
            options: SocketOptions::default(),
            owner,
            rx_user: owner,
            msgs: VecDeque::new(),
            msg_bytes: 0,
            wmem: 0,
            msg_sends: Queue::new(),
            waiters: Vec::new(),
            waiter_count: 0,
            waiting_on: None,
            wake_queued: false,
            dgram_peer: None,
            referrers: Vec::new(),
            referrer_count: 0,
            in_flight: 0,
            spare: Vec::new(),
            passed: 0,
            carried: 0,
        }
    }

    pub(crate) const fn is_listening(&self) -> bool {
        matches!(self.state, State::Listening(_))
    }

    pub(crate) const fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    pub(crate) const fn peer(&self) -> Option<SocketId> {
        match self.state {
            State::Connected { peer, .. } => peer,
            _ => None,
        }
    }

    pub(crate) fn listener_mut(&mut self) -> Option<&mut Listener> {
        match &mut self.state {
            State::Listening(l) => l.get_mut(),
            _ => None,
        }
    }

    pub(crate) fn listener(&self) -> Option<&Listener> {
        match &self.state {
            State::Listening(l) => l.get(),
            _ => None,
        }
    }

    /// A message socket's room for the message buffers it keeps (`Socket::spare`), made
    /// once, so that keeping one never allocates. Nothing for a stream.
    pub(crate) fn reserve_spares(&mut self) -> Result<(), Errno> {
        if self.kind.is_message() {
            self.spare
                .try_reserve_exact(crate::engine::SPARE_BUFFERS)
                .map_err(|_| Errno::ENOMEM)?;
        }
        Ok(())
    }

    /// Whether this socket is fresh enough to receive an accepted connection.
    pub(crate) fn is_fresh(&self) -> bool {
        matches!(self.state, State::Unconnected)
            && self.addr.is_none()
            && self.connecting.is_none()
            && self.reserved_by.is_none()
            && self.recvs.is_empty()
            && self.sends.is_empty()
            && self.msg_sends.is_empty()
            && self.dgram_peer.is_none()
            // Not in flight: an accepted connection or a socketpair made in it would hold
            // a queue while it travels (see `engine::rights`).
            && self.passed == 0
    }
}
