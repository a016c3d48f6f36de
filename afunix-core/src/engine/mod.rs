//! The engine: the socket table, the name registry and the completion queue.
//!
//! Sans-IO, in the manner of quinn-proto's `Connection`: inputs are method calls, outputs are
//! return values plus [`Completion`]s the caller drains with [`Engine::poll_completion`]. The
//! engine takes no locks and never blocks; the driver calls it under its own lock from one
//! dispatch thread at a time.

mod conn;
mod data;
mod msg;
mod options;
mod quota;
mod recv;
mod rights;
mod send;

pub use data::{Buffers, NoBuffers};
pub use msg::MSG_OVERHEAD;
pub(crate) use msg::SPARE_BUFFERS;
pub use options::{LINGER_FOREVER_SECONDS, Linger, SocketFlag};
pub use quota::{UserId, UserUsage};
pub use rights::{RIGHT_OVERHEAD, SCM_MAX_FD};

use alloc::collections::VecDeque;

use crate::queue::Slot;
use crate::slab::Slab;
use crate::socket::{Binding, PendingSend, Socket, State};
use crate::util::{KeyedHash, KeyedMap};
use crate::{
    Completed, Completion, Credentials, Errno, Limits, PollMask, SockType, SocketId, Token,
    UnixAddr,
};

/// What an unnamed socket's name is reported as, borrowed like any other.
static UNNAMED: UnixAddr = UnixAddr::Unnamed;

/// Where a pending operation is queued, so that `cancel` (and `close`, for a connect or an
/// accept queued on another socket) can unlink it at once: its socket and its slot there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// A recv queued on this socket.
    Recv { socket: SocketId, slot: Slot },
    /// A send queued on this socket.
    Send { socket: SocketId, slot: Slot },
    /// A message socket's send queued on this socket.
    MsgSend { socket: SocketId, slot: Slot },
    /// An accept queued on this listener.
    Accept { listener: SocketId, slot: Slot },
    /// A connect by `connector` queued on `listener`.
    Connect {
        connector: SocketId,
        listener: SocketId,
        slot: Slot,
    },
}

impl Waiting {
    const fn slot(self) -> Slot {
        match self {
            Waiting::Recv { slot, .. }
            | Waiting::Send { slot, .. }
            | Waiting::MsgSend { slot, .. }
            | Waiting::Accept { slot, .. }
            | Waiting::Connect { slot, .. } => slot,
        }
    }
}

/// The AF_UNIX engine: stream, datagram and seqpacket sockets. See the crate documentation
/// for the contract.
#[derive(Debug)]
pub struct Engine {
    sockets: Slab<Socket>,
    /// Bound names. A hash table keyed with the caller's seed (see `KeyedHash`): a lookup
    /// costs the same however many names are bound, and no program can choose colliding names.
    names: KeyedMap<Binding, SocketId>,
    /// Every pending token, and where it waits. Constant cost per lookup, insertion and
    /// removal, so that neither a request nor a cancel slows down with the number pending.
    tokens: KeyedMap<Token, Waiting>,
    /// Invariant: `completions.capacity() >= completions.len() + tokens.len()`, so that
    /// completing never allocates and a completion is never lost.
    completions: VecDeque<Completion>,
    limits: Limits,
    /// Bytes held over all sockets (queued, pending sends, pending receives, undrained
    /// completions), against `limits.global_buffer_cap`.
    memory_used: usize,
    /// Room under the global cap reserved for the bytes in-place sends have exposed (see
    /// `PendingSend::exposed`), which are not held yet.
    reserved: usize,
    /// Capacity of empty receive rings kept for reuse, against [`Engine::idle_ring_budget`].
    idle_ring_bytes: usize,
    autobind_next: u32,
    /// The writer whose pending send is moving bytes right now: delivering can complete a
    /// recv and so wake that same writer again, which must wait for the outer move to finish
    /// (else a later send's bytes could overtake the rest of an earlier one).
    moving_writer: Option<SocketId>,
    /// Each user's share of the caps (see the `quota` module).
    quota: quota::Quotas,
    /// Message sockets whose pending sends should try again (see the `msg` module); room
    /// for one entry per socket is reserved as sockets are made.
    msg_wakes: VecDeque<SocketId>,
    /// Whether an outer call is running `msg_wakes`.
    msg_waking: bool,
    /// The names of closed datagram sockets whose messages are still queued, and how many
    /// are: a receiver reports a message's sender's name as it was when the sender closed.
    ghosts: KeyedMap<SocketId, msg::Ghost>,
    /// Passed objects given up, for the caller to release (see the `rights` module).
    /// Invariant: `released.capacity() >= released.len() + rights_total`.
    released: VecDeque<crate::Passed>,
    /// Passed objects in flight over all users.
    rights_total: usize,
}

impl Engine {
    /// An empty engine with these limits.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        let max_sockets = limits.max_sockets;
        let autobind_next = limits.autobind_seed & 0xF_FFFF;
        let hash = KeyedHash::new(limits.hash_seed);
        Self {
            sockets: Slab::new(max_sockets),
            names: KeyedMap::new(hash),
            tokens: KeyedMap::new(hash),
            completions: VecDeque::new(),
            limits,
            memory_used: 0,
            reserved: 0,
            idle_ring_bytes: 0,
            autobind_next,
            moving_writer: None,
            quota: quota::Quotas::new(hash),
            msg_wakes: VecDeque::new(),
            msg_waking: false,
            ghosts: KeyedMap::new(hash),
            released: VecDeque::new(),
            rights_total: 0,
        }
    }

    /// The limits in force.
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Live sockets, embryos included.
    #[must_use]
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    /// Bound names (pathname and abstract).
    #[must_use]
    pub fn binding_count(&self) -> usize {
        self.names.len()
    }

    /// Pending operations not yet completed.
    #[must_use]
    pub fn pending_count(&self) -> usize {
        self.tokens.len()
    }

    /// Bytes held against the global cap.
    #[must_use]
    pub const fn memory_used(&self) -> usize {
        self.memory_used
    }

    /// Room under the global cap reserved for bytes that blocked in-place sends have shown
    /// their readers (they may have to be queued when such a send ends).
    #[must_use]
    pub const fn memory_reserved(&self) -> usize {
        self.reserved
    }

    /// A new, unconnected SOCK_STREAM socket (blocking, default buffer sizes), charged to
    /// the user with the empty SID (see [`Engine::socket_for`]).
    pub fn socket(&mut self) -> Result<SocketId, Errno> {
        self.socket_for(&[])
    }

    /// `unix_socketpair` of two streams: see [`Engine::socketpair_typed`].
    pub fn socketpair(&mut self, cred: &Credentials) -> Result<(SocketId, SocketId), Errno> {
        self.socketpair_typed(SockType::Stream, cred)
    }

    /// `unix_socketpair`: two sockets of type `kind` connected to each other, both unnamed,
    /// each recording `cred` as its peer's credentials.
    pub fn socketpair_typed(
        &mut self,
        kind: SockType,
        cred: &Credentials,
    ) -> Result<(SocketId, SocketId), Errno> {
        let cred_a = cred.try_clone()?;
        let cred_b = cred.try_clone()?;
        let a = self.socket_typed(&cred.sid, kind)?;
        let b = match self.socket_typed(&cred.sid, kind) {
            Ok(b) => b,
            Err(e) => {
                self.discard_socket(a);
                return Err(e);
            }
        };
        if kind == SockType::Dgram {
            // Each other's default destination; the state stays as a datagram's.
            let noted = self
                .note_referrer(a, b)
                .and_then(|()| self.note_referrer(b, a));
            if let Err(e) = noted {
                self.discard_socket(a);
                self.discard_socket(b);
                return Err(e);
            }
            if let Some(s) = self.sockets.get_mut(a) {
                s.dgram_peer = Some((b, UnixAddr::Unnamed));
                s.peer_cred = Some(cred_a);
            }
            if let Some(s) = self.sockets.get_mut(b) {
                s.dgram_peer = Some((a, UnixAddr::Unnamed));
                s.peer_cred = Some(cred_b);
            }
            return Ok((a, b));
        }
        self.set_state(
            a,
            State::Connected {
                peer: Some(b),
                embryo_of: None,
            },
        );
        self.set_state(
            b,
            State::Connected {
                peer: Some(a),
                embryo_of: None,
            },
        );
        if let Some(s) = self.sockets.get_mut(a) {
            s.peer_cred = Some(cred_a);
        }
        if let Some(s) = self.sockets.get_mut(b) {
            s.peer_cred = Some(cred_b);
        }
        Ok((a, b))
    }

    pub(crate) fn sock(&self, id: SocketId) -> Result<&Socket, Errno> {
        self.sockets.get(id).ok_or(Errno::EBADF)
    }

    pub(crate) fn sock_mut(&mut self, id: SocketId) -> Result<&mut Socket, Errno> {
        self.sockets.get_mut(id).ok_or(Errno::EBADF)
    }

    /// The single place a socket's state changes, with the wake-ups the change implies
    /// (smoltcp's `set_state`). Becoming a listener, or a listener's backlog growing, lets
    /// waiting connects retry (`unix_listen` wakes `peer_wait`).
    pub(crate) fn set_state(&mut self, id: SocketId, state: State) {
        let wake_connects = matches!(state, State::Listening(_));
        if let Some(sock) = self.sockets.get_mut(id) {
            sock.state = state;
        }
        if wake_connects {
            self.retry_connects(id);
        }
    }

    /// Changes the peer link of a connected socket (accept moves an embryo; release cuts it).
    pub(crate) fn set_peer(&mut self, id: SocketId, peer: Option<SocketId>) {
        let embryo_of = match self.sockets.get(id).map(|s| &s.state) {
            Some(State::Connected { embryo_of, .. }) => *embryo_of,
            _ => return,
        };
        self.set_state(id, State::Connected { peer, embryo_of });
    }

    /// Sets or clears `O_NONBLOCK`.
    pub fn set_nonblocking(&mut self, id: SocketId, nonblocking: bool) -> Result<(), Errno> {
        self.sock_mut(id)?.nonblocking = nonblocking;
        Ok(())
    }

    /// Whether the socket is in non-blocking mode.
    pub fn is_nonblocking(&self, id: SocketId) -> Result<bool, Errno> {
        Ok(self.sock(id)?.nonblocking)
    }

    /// Whether the socket is fresh: unbound, unconnected, not listening, with no connect
    /// under way, not reserved by a pending accept, and nothing pending on it.
    pub fn is_fresh(&self, id: SocketId) -> Result<bool, Errno> {
        Ok(self.sock(id)?.is_fresh())
    }

    /// `SO_ACCEPTCONN`: whether the socket listens.
    pub fn is_listening(&self, id: SocketId) -> Result<bool, Errno> {
        Ok(matches!(
            self.sock(id)?.state,
            crate::socket::State::Listening(_)
        ))
    }

    /// `SO_TYPE`.
    pub fn socket_type(&self, id: SocketId) -> Result<SockType, Errno> {
        self.sock(id).map(|s| s.kind)
    }

    /// `SO_ERROR`: the pending error, cleared by reading it (`sock_error`).
    pub fn take_error(&mut self, id: SocketId) -> Result<Option<Errno>, Errno> {
        Ok(self.sock_mut(id)?.err.take())
    }

    /// `SO_SNDBUF` as getsockopt reports it.
    pub fn sndbuf(&self, id: SocketId) -> Result<u32, Errno> {
        Ok(self.sock(id)?.sndbuf)
    }

    /// `SO_RCVBUF` as getsockopt reports it.
    pub fn rcvbuf(&self, id: SocketId) -> Result<u32, Errno> {
        Ok(self.sock(id)?.rcvbuf)
    }

    /// `setsockopt(SO_SNDBUF, val)` as `sock_setsockopt` does it: capped at `sndbuf_max`
    /// (comparing as unsigned, so a negative value means the cap), doubled, and at least
    /// `SOCK_MIN_SNDBUF`. The engine lets a sender queue up to `sndbuf` bytes of payload to its
    /// peer (Linux counts `truesize`, which includes overhead). Growing wakes pending sends
    /// (`sk_write_space`); shrinking leaves the bytes already shown to the reader queued.
    /// With the caller's buffers, through which a pending send that now fits moves into
    /// the queue and completes.
    pub fn set_sndbuf(
        &mut self,
        id: SocketId,
        val: i32,
        bufs: &mut dyn Buffers,
    ) -> Result<(), Errno> {
        let max = self.limits.sndbuf_max;
        let v = doubled_buffer(val, max, crate::SOCK_MIN_SNDBUF);
        self.sock_mut(id)?.sndbuf = v;
        self.service_sends(id, bufs);
        Ok(())
    }

    /// `setsockopt(SO_RCVBUF, val)` as `__sock_set_rcvbuf` does it. Linux's AF_UNIX streams do
    /// not limit by the receiver's buffer, and neither does the engine: the value is reported.
    pub fn set_rcvbuf(&mut self, id: SocketId, val: i32) -> Result<(), Errno> {
        let max = self.limits.rcvbuf_max;
        let v = doubled_buffer(val, max, crate::SOCK_MIN_RCVBUF);
        self.sock_mut(id)?.rcvbuf = v;
        Ok(())
    }

    /// `getsockname` (`unix_getname`, peer = 0). Borrowed, as Linux's, which never fails for
    /// want of memory: the caller copies it where it must go.
    pub fn getsockname(&self, id: SocketId) -> Result<&UnixAddr, Errno> {
        Ok(self.sock(id)?.addr.as_ref().unwrap_or(&UNNAMED))
    }

    /// `getpeername` (`unix_getname`, peer = 1): ENOTCONN unless connected. After the peer
    /// was released Linux still reports its address, and so do we.
    pub fn getpeername(&self, id: SocketId) -> Result<&UnixAddr, Errno> {
        let sock = self.sock(id)?;
        if sock.kind == SockType::Dgram {
            // The peer's name as it is now (it may have bound since the association was
            // made), or as it was when it was last seen, once it is gone.
            let (peer, recorded) = sock.dgram_peer.as_ref().ok_or(Errno::ENOTCONN)?;
            return Ok(match self.sockets.get(*peer) {
                Some(p) => p.addr.as_ref().unwrap_or(&UNNAMED),
                None => recorded,
            });
        }
        if !sock.is_connected() {
            return Err(Errno::ENOTCONN);
        }
        let addr = match sock.peer() {
            Some(p) => self.sockets.get(p).and_then(|p| p.addr.as_ref()),
            None => sock.dead_peer_addr.as_ref(),
        };
        Ok(addr.unwrap_or(&UNNAMED))
    }

    /// `unix_stream_sendmsg` given a destination address (`sendto`): a stream never takes
    /// one, whatever it is. EISCONN when connected (also after the peer left or a shutdown),
    /// EOPNOTSUPP otherwise (unconnected, listening).
    pub fn send_to_error(&self, id: SocketId) -> Result<Errno, Errno> {
        Ok(if self.sock(id)?.is_connected() {
            Errno::EISCONN
        } else {
            Errno::EOPNOTSUPP
        })
    }

    /// The address `recvfrom` reports for bytes a stream received (`unix_copy_addr` of the
    /// sending socket): the peer's name as it is now, or as it was when the peer was
    /// released; None when the peer has no name, which Linux reports with length 0.
    /// Borrowed, not copied: it is asked for after the bytes were taken, when an allocation
    /// that failed could no longer give them back.
    pub fn sender_address(&self, id: SocketId) -> Result<Option<&UnixAddr>, Errno> {
        match self.getpeername(id) {
            Ok(UnixAddr::Unnamed) | Err(Errno::ENOTCONN) => Ok(None),
            Ok(addr) => Ok(Some(addr)),
            Err(e) => Err(e),
        }
    }

    /// The socket at the other end (an embryo's id before accept), for diagnostics and tests.
    pub fn peer(&self, id: SocketId) -> Result<Option<SocketId>, Errno> {
        Ok(self.sock(id)?.peer())
    }

    /// `SO_PEERCRED`: the identity the peer recorded, `None` when not connected (Linux then
    /// reports pid 0 and uid/gid -1).
    pub fn peer_credentials(&self, id: SocketId) -> Result<Option<&Credentials>, Errno> {
        Ok(self.sock(id)?.peer_cred.as_ref())
    }

    /// `FIONREAD` / `SIOCINQ` (`unix_inq_len`): bytes queued (including those a blocked
    /// in-place writer holds for us); EINVAL on a listener.
    pub fn fionread(&self, id: SocketId) -> Result<usize, Errno> {
        let sock = self.sock(id)?;
        if sock.is_listening() {
            return Err(Errno::EINVAL);
        }
        match sock.kind {
            SockType::Dgram => return Ok(sock.msgs.front().map_or(0, |m| m.data.len())),
            SockType::SeqPacket => return Ok(sock.msg_bytes),
            SockType::Stream => {}
        }
        Ok(sock.rx.len().saturating_add(self.visible_pending(id)))
    }

    /// Poll readiness, as `unix_poll` computes it.
    pub fn poll(&self, id: SocketId) -> Result<PollMask, Errno> {
        let sock = self.sock(id)?;
        if sock.kind.is_message() {
            return Ok(self.msg_poll(sock, id));
        }
        let mut mask = 0u32;
        if sock.err.is_some() {
            mask |= PollMask::ERR;
        }
        if sock.shutdown.all() {
            mask |= PollMask::HUP;
        }
        if sock.shutdown.rd {
            mask |= PollMask::RDHUP | PollMask::IN | PollMask::RDNORM;
        }
        let readable = match &sock.state {
            State::Listening(l) => l.get().is_some_and(|l| !l.embryos.is_empty()),
            _ => !sock.rx.is_empty() || self.visible_pending(id) > 0,
        };
        if readable {
            mask |= PollMask::IN | PollMask::RDNORM;
        }
        if matches!(sock.state, State::Unconnected) {
            mask |= PollMask::HUP;
        }
        // unix_writable: not listening, and wmem_alloc * 4 <= sndbuf. Our wmem is what sits
        // in the peer's queue. Linux has no cap over all sockets; ours (and the writer's
        // user's share of it) makes a send fail with ENOBUFS when it leaves no room, so a
        // socket is not writable then either: a waiting POLLOUT completes once memory is
        // freed (waiting POLLs are rechecked after every request), and an async writer
        // waits for that rather than failing.
        let queued = sock
            .peer()
            .and_then(|p| self.sockets.get(p).map(|ps| (p, ps)))
            .map_or(0, |(p, ps)| {
                ps.rx.len().saturating_add(self.visible_pending(p))
            });
        if !sock.is_listening()
            && queued.saturating_mul(4) <= to_usize(sock.sndbuf)
            && self.user_room(self.owner_of(id)) > 0
        {
            mask |= PollMask::OUT | PollMask::WRNORM | PollMask::WRBAND;
        }
        Ok(PollMask(mask))
    }

    /// The next completion, if any. Each pending token is completed exactly once.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    /// Cancels a pending operation: it completes (through `poll_completion`) with ECANCELED,
    /// or with what it achieved so far (bytes sent, bytes received), so no data is lost: a
    /// cancelled send first delivers, through the caller's buffers, the bytes its reader
    /// could already see (they count as queued), and reports them as sent. Returns false if
    /// the token is not pending.
    pub fn cancel(&mut self, token: Token, bufs: &mut dyn Buffers) -> bool {
        let Some(waiting) = self.tokens.get(&token).copied() else {
            return false;
        };
        if let Waiting::Send { socket: id, .. } = waiting {
            if self
                .sockets
                .get(id)
                .and_then(|s| s.sends.front())
                .is_some_and(|p| p.token == token)
            {
                self.materialize_front(id, bufs);
            }
        }
        // Moving its bytes took the send out and put it back: where it is now.
        let Some(waiting) = self.tokens.get(&token).copied() else {
            return true;
        };
        let slot = Some(waiting.slot());
        match waiting {
            Waiting::Recv { socket: id, .. } => {
                let pending = self
                    .sockets
                    .get_mut(id)
                    .and_then(|s| s.recvs.take(slot, |r| r.token == token));
                let result = match pending {
                    Some(r) => data::recv_result(r, Err(Errno::ECANCELED)),
                    None => Err(Errno::ECANCELED),
                };
                self.complete(token, id, result);
            }
            Waiting::Send { socket: id, .. } => {
                let pending = self
                    .sockets
                    .get_mut(id)
                    .and_then(|s| s.sends.take(slot, |p| p.token == token));
                let result = match pending {
                    Some(mut p) => {
                        self.unexpose(&mut p);
                        if p.sent > 0 {
                            Ok(Completed::Sent(p.sent))
                        } else {
                            Err(Errno::ECANCELED)
                        }
                    }
                    None => Err(Errno::ECANCELED),
                };
                self.complete(token, id, result);
            }
            Waiting::MsgSend { socket: id, .. } => {
                let taken = self.sockets.get_mut(id).and_then(|s| {
                    let owner = s.owner;
                    s.msg_sends
                        .take(slot, |p| p.token == token)
                        .map(|p| (owner, p))
                });
                if let Some((owner, p)) = taken {
                    self.release_rights(owner, p.rights);
                }
                self.complete(token, id, Err(Errno::ECANCELED));
                // The send behind it may go now, or wait for room elsewhere.
                self.stop_waiting(id);
                self.service_msg_sends(id, bufs);
            }
            Waiting::Accept { listener, .. } => {
                let target = self
                    .sockets
                    .get_mut(listener)
                    .and_then(Socket::listener_mut)
                    .and_then(|l| l.accepts.take(slot, |(t, _)| *t == token));
                if let Some((_, target)) = target {
                    if let Some(s) = self.sockets.get_mut(target) {
                        s.reserved_by = None;
                    }
                }
                self.complete(token, listener, Err(Errno::ECANCELED));
            }
            Waiting::Connect {
                connector,
                listener,
                ..
            } => {
                if let Some(l) = self
                    .sockets
                    .get_mut(listener)
                    .and_then(Socket::listener_mut)
                {
                    let _ = l.connects.take(slot, |c| c.token == token);
                }
                if let Some(s) = self.sockets.get_mut(connector) {
                    s.connecting = None;
                }
                self.complete(token, connector, Err(Errno::ECANCELED));
            }
        }
        true
    }

    /// Where pending `token` sits in its queue.
    fn slot_of(&self, token: Token) -> Option<Slot> {
        self.tokens.get(&token).map(|w| w.slot())
    }

    /// Puts back, first in `id`'s queue of pending sends, the send just taken from its front
    /// to move its bytes, and records where it is. That reuses the node the taking freed;
    /// should it fail all the same, or the socket be gone, the send ends with what it sent,
    /// rather than be lost.
    pub(crate) fn requeue_send(&mut self, id: SocketId, p: PendingSend) {
        let token = p.token;
        let back = match self.sockets.get_mut(id) {
            Some(w) => w.sends.push_front(p),
            None => Err((Errno::EPIPE, p)),
        };
        match back {
            Ok(slot) => {
                if let Some(Waiting::Send { slot: at, .. }) = self.tokens.get_mut(&token) {
                    *at = slot;
                }
            }
            Err((e, mut p)) => {
                self.unexpose(&mut p);
                let result = if p.sent > 0 {
                    Ok(Completed::Sent(p.sent))
                } else {
                    Err(e)
                };
                self.complete(token, id, result);
            }
        }
    }

    /// Closes a socket (`unix_release_sock`): its pending operations complete (ECANCELED or
    /// what they achieved), its name is released, a connected peer sees EOF, or ECONNRESET
    /// if this socket left unread data, and a listener releases its embryos, whose clients
    /// see ECONNRESET. A pending send first delivers the bytes its reader could already see
    /// (see [`Engine::cancel`]), and the peer's pending recvs take what is theirs, through the
    /// caller's buffers.
    pub fn close(&mut self, id: SocketId, bufs: &mut dyn Buffers) -> Result<(), Errno> {
        self.sock(id)?;
        self.materialize_front(id, bufs);
        self.release(id, false, bufs);
        Ok(())
    }

    fn release(&mut self, id: SocketId, embryo: bool, bufs: &mut dyn Buffers) {
        // Bytes a blocked in-place writer holds for us count as queued and unread: they are
        // dropped with us, and the writer's send counts them as sent, as Linux's would.
        let held = self.visible_pending(id);
        let unread_pending = held > 0;
        let writer = self.sockets.get(id).and_then(Socket::peer);
        if let Some((w, mut front)) = writer.and_then(|w| {
            let front = self.sockets.get_mut(w)?.sends.pop_front()?;
            Some((w, front))
        }) {
            self.advance(&mut front, held);
            self.requeue_send(w, front);
        }
        self.unidle_ring(id);
        let Some(mut sock) = self.sockets.remove(id) else {
            return;
        };
        self.socket_gone(sock.owner);
        // Unread messages reset the peer, but one empty message at the head does not count
        // (`unix_release_sock` skips a zero-length skb there, measured on Linux 6.18: [0]
        // resets nothing, [0, 0], [0, 5], [5, 0] and [1] reset).
        let had_messages = match sock.msgs.front() {
            Some(m) if m.data.is_empty() => sock.msgs.len() > 1,
            Some(_) => true,
            None => false,
        };
        self.release_messages(id, &mut sock, bufs);
        while let Some(r) = sock.recvs.pop_front() {
            let token = r.token;
            let result = data::recv_result(r, Err(Errno::ECANCELED));
            self.complete(token, id, result);
        }
        while let Some(mut p) = sock.sends.pop_front() {
            self.unexpose(&mut p);
            let result = if p.sent > 0 {
                Ok(Completed::Sent(p.sent))
            } else {
                Err(Errno::ECANCELED)
            };
            self.complete(p.token, id, result);
        }
        if let Some((token, listener)) = sock.connecting.take() {
            let slot = self.slot_of(token);
            if let Some(l) = self
                .sockets
                .get_mut(listener)
                .and_then(Socket::listener_mut)
            {
                let _ = l.connects.take(slot, |c| c.token == token);
            }
            self.complete(token, id, Err(Errno::ECANCELED));
        }
        if let Some((token, listener)) = sock.reserved_by.take() {
            let slot = self.slot_of(token);
            if let Some(l) = self
                .sockets
                .get_mut(listener)
                .and_then(Socket::listener_mut)
            {
                let _ = l.accepts.take(slot, |(t, _)| *t == token);
            }
            self.complete(token, listener, Err(Errno::ECANCELED));
        }
        if let Some(binding) = sock.binding.take() {
            self.names.remove(&binding);
        }
        self.uncharge(sock.rx_user, sock.rx.len());
        let had_unread = !sock.rx.is_empty() || unread_pending || had_messages;
        match sock.state {
            State::Unconnected => {}
            State::Listening(l) => {
                let Some(mut l) = l.into_inner() else {
                    return;
                };
                while let Some((token, target)) = l.accepts.pop_front() {
                    if let Some(s) = self.sockets.get_mut(target) {
                        s.reserved_by = None;
                    }
                    self.complete(token, id, Err(Errno::ECANCELED));
                }
                while let Some(c) = l.connects.pop_front() {
                    if let Some(s) = self.sockets.get_mut(c.connector) {
                        s.connecting = None;
                    }
                    self.complete(c.token, c.connector, Err(Errno::ECONNREFUSED));
                }
                while let Some(e) = l.embryos.pop_front() {
                    self.release(e, true, bufs);
                }
            }
            State::Connected { peer, .. } => {
                if let Some(p) = peer {
                    let addr = sock.addr.take();
                    if let Some(ps) = self.sockets.get_mut(p) {
                        ps.shutdown.rd = true;
                        ps.shutdown.wr = true;
                        if had_unread || embryo {
                            ps.err = Some(Errno::ECONNRESET);
                        }
                        ps.dead_peer_addr = addr;
                    }
                    self.set_peer(p, None);
                    self.service_recvs(p, bufs);
                    self.service_sends(p, bufs);
                }
            }
        }
    }

    /// Queues the completion of a pending token. Capacity was reserved when it went pending.
    pub(crate) fn complete(
        &mut self,
        token: Token,
        socket: SocketId,
        result: Result<Completed, Errno>,
    ) {
        if self.tokens.remove(&token).is_none() {
            return;
        }
        self.release_pending(token);
        self.completions.push_back(Completion {
            token,
            socket,
            result,
        });
    }

    /// Checks a token is new and reserves what completing it will need.
    pub(crate) fn prepare_token(&mut self, token: Token) -> Result<(), Errno> {
        if self.tokens.contains(&token) {
            return Err(Errno::EINVAL);
        }
        self.tokens.try_reserve(1)?;
        let need = self.tokens.len().saturating_add(1);
        self.completions
            .try_reserve(need)
            .map_err(|_| Errno::ENOMEM)
    }

    /// Registers a pending token; `prepare_token` made room, so this does not fail in
    /// practice (if it did, the operation completes at once with ENOMEM).
    /// Charges it to its user first (ENOBUFS past the user's share; see `quota`).
    fn register(&mut self, token: Token, waiting: Waiting) -> Result<(), Errno> {
        self.charge_pending(token, waiting)?;
        let inserted = self.tokens.try_insert(token, waiting);
        if inserted.is_err() {
            self.release_pending(token);
        }
        inserted
    }

    /// The most memory empty receive rings may keep for reuse over all sockets: an eighth of
    /// the global cap. A socket whose queue empties keeps its ring (up to 256 KiB) while this
    /// budget has room, which saves reallocating it for the next burst; otherwise the ring is
    /// given back, so idle sockets cannot pin memory beyond the caps.
    pub(crate) const fn idle_ring_budget(&self) -> usize {
        self.limits.global_buffer_cap / 8
    }

    /// Memory held by empty receive rings kept for reuse.
    #[must_use]
    pub const fn idle_ring_bytes(&self) -> usize {
        self.idle_ring_bytes
    }

    /// After bytes were taken from `id`'s ring: if it is now empty, keep its buffer within
    /// the idle budget, or give it back.
    pub(crate) fn settle_idle_ring(&mut self, id: SocketId) {
        let budget = self.idle_ring_budget();
        if self.ring_holds_shown(id) {
            // Its room is the reservation of bytes the reader was shown (`expose_front`).
            return;
        }
        let Some(sock) = self.sockets.get_mut(id) else {
            return;
        };
        if !sock.rx.is_empty() || sock.rx.idle_counted() {
            return;
        }
        let cap = sock.rx.capacity();
        if cap == 0 {
            return;
        }
        match self.idle_ring_bytes.checked_add(cap) {
            Some(total) if cap <= crate::ring::IDLE_KEEP && total <= budget => {
                sock.rx.count_idle();
                self.idle_ring_bytes = total;
            }
            _ => sock.rx.release(),
        }
    }

    /// Before bytes go into `id`'s ring (or the ring goes away): it is no longer idle.
    pub(crate) fn unidle_ring(&mut self, id: SocketId) {
        if let Some(sock) = self.sockets.get_mut(id) {
            let counted = sock.rx.take_idle();
            self.idle_ring_bytes = self.idle_ring_bytes.saturating_sub(counted);
        }
    }

    pub(crate) fn global_room(&self) -> usize {
        self.limits
            .global_buffer_cap
            .saturating_sub(self.memory_used)
            .saturating_sub(self.reserved)
    }
}

/// `sock_setsockopt`'s SO_SNDBUF/SO_RCVBUF arithmetic.
fn doubled_buffer(val: i32, max: u32, min: u32) -> u32 {
    #[allow(clippy::cast_sign_loss)]
    let capped = (val as u32).min(max);
    let capped = capped.min(i32::MAX.unsigned_abs() / 2);
    capped.saturating_mul(2).max(min)
}

pub(crate) fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
