//! Message sockets: SOCK_DGRAM and SOCK_SEQPACKET (`unix_dgram_sendmsg`,
//! `unix_dgram_recvmsg`, `unix_dgram_connect`, `unix_dgram_poll`).
//!
//! Data moves as whole messages. A message whose receiver waits with an empty queue is copied
//! straight from the sender's buffer into the receiver's (one copy, as for streams); otherwise
//! it is copied into the receiver's queue. A send that must wait keeps its bytes in the
//! caller's buffer until the whole message can go. The limits are Linux's: a sender's
//! SO_SNDBUF bounds what its messages hold in queues (`sk_wmem_alloc`, counted here as payload
//! plus [`MSG_OVERHEAD`] per message), and a datagram receiver not connected back to its
//! sender is full when it holds more than `max_dgram_qlen` messages.
//!
//! Wake-ups never recurse: a message taken from a queue lets its sender, and the senders
//! waiting for room in that queue, try again; those are put on a work list
//! (`Engine::msg_wakes`, one entry per socket at most, its room reserved as sockets are made)
//! that the outermost call runs.

use alloc::vec::Vec;

use crate::socket::{Message, PendingMsgSend, Socket, State};
use crate::{
    BindTarget, Completed, ConnectTarget, Errno, Outcome, Passed, PollMask, Received, RecvFlags,
    SendFlags, SockType, SocketId, Token, UnixAddr,
};

use super::data::{Buffers, put};
use super::{Engine, RIGHT_OVERHEAD, Waiting, to_usize};

/// What each queued message costs besides its payload, against its sender's SO_SNDBUF and the
/// global cap: the truesize of a small skb on x86-64 Linux (768 bytes), so that empty
/// messages cannot pile up without bound, and a sender fills its SO_SNDBUF after about as
/// many small messages as on Linux.
pub const MSG_OVERHEAD: usize = 768;

/// How many emptied message buffers a socket keeps for its next messages.
pub(crate) const SPARE_BUFFERS: usize = 4;

/// A closed datagram socket's name, kept while its messages are queued.
#[derive(Debug)]
pub(crate) struct Ghost {
    name: UnixAddr,
    messages: usize,
}

/// Where a message goes.
#[derive(Clone, Copy)]
enum Dest<'a> {
    /// The connected peer (a datagram socket's default destination, a seqpacket's peer).
    Peer,
    /// A datagram socket's destination address.
    Name(&'a ConnectTarget),
    /// The socket a pending send's address named when it was made.
    Socket(SocketId),
}

/// Why a message cannot go yet.
enum Blocked {
    /// The sender's SO_SNDBUF is full: it waits for one of its messages to leave a queue.
    Wmem,
    /// The receiver's queue is full: the sender waits for it to take one.
    Queue(SocketId),
}

impl Engine {
    /// `sendmsg` on a message socket: to the peer, or (a datagram socket with an address) to
    /// the socket `to` names. Errors in Linux's order: a seqpacket socket's pending error and
    /// state (ENOTCONN); autobind with SO_PASSCRED; EMSGSIZE beyond SO_SNDBUF - 32; then the
    /// pending error, SHUT_WR (EPIPE) and a full SO_SNDBUF (wait, or EAGAIN); then the
    /// destination: ENOTCONN, ECONNREFUSED (no such name, or the connected peer is gone, which
    /// also dissolves the association), EPROTOTYPE, EPERM (it is connected to another
    /// socket), EPIPE (it shut down reading); then its full queue (wait, or EAGAIN).
    ///
    /// `rights`: objects passed with the message (SCM_RIGHTS). The engine takes them (leaving
    /// the vector empty) when the send succeeds or pends; when it fails they stay with the
    /// caller. Past the checks of `check_rights` and `check_destination`: ETOOMANYREFS.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn msg_send(
        &mut self,
        id: SocketId,
        to: Option<&ConnectTarget>,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<Passed>,
    ) -> Outcome<usize> {
        self.run_msg_wakes(bufs);
        let result = self.msg_send_with_rights(id, to, len, flags, token, bufs, rights);
        self.run_msg_wakes(bufs);
        match result {
            Ok(true) => Outcome::Ready(Ok(len)),
            Ok(false) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    /// What `sendto` on a datagram socket checks before it looks the destination up, in
    /// Linux's order (`unix_dgram_sendmsg`, `sock_alloc_send_pskb`): autobind with
    /// SO_PASSCRED, EMSGSIZE, the pending error (taken, as Linux takes it), SHUT_WR (EPIPE),
    /// and a full SO_SNDBUF when the send may not wait (EAGAIN). A caller that must find a
    /// pathname destination itself (the driver opens the socket file) calls this first, so
    /// that these errors come before ENOENT or ECONNREFUSED, as on Linux; [`Engine::send_to`]
    /// then checks again. Other socket types: nothing to check here.
    pub fn send_to_precheck(
        &mut self,
        id: SocketId,
        len: usize,
        flags: SendFlags,
    ) -> Result<(), Errno> {
        let sock = self.sock(id)?;
        if sock.kind != SockType::Dgram {
            return Ok(());
        }
        self.autobind_then_size(id, len)?;
        let sock = self.sock_mut(id)?;
        let nonblocking = (sock.nonblocking && !flags.overlapped) || flags.dontwait;
        if let Some(e) = sock.err.take() {
            return Err(e);
        }
        if sock.shutdown.wr {
            return Err(Errno::EPIPE);
        }
        let full = sock.wmem >= to_usize(sock.sndbuf) || !sock.msg_sends.is_empty();
        if full && nonblocking {
            return Err(Errno::EAGAIN);
        }
        Ok(())
    }

    /// `unix_dgram_sendmsg`'s first checks: an unbound sender with SO_PASSCRED autobinds,
    /// then a message longer than SO_SNDBUF - 32 is refused (EMSGSIZE).
    fn autobind_then_size(&mut self, id: SocketId, len: usize) -> Result<(), Errno> {
        let sock = self.sock(id)?;
        if sock.options.passcred && sock.addr.is_none() {
            self.bind(id, BindTarget::Autobind)?;
        }
        if len > to_usize(self.sock(id)?.sndbuf).saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        Ok(())
    }

    /// `msg_send_inner` with `rights` checked and charged to the sender's owner while the
    /// engine may take them: if it does not, they are uncharged and stay with the caller.
    #[allow(clippy::too_many_arguments)]
    fn msg_send_with_rights(
        &mut self,
        id: SocketId,
        to: Option<&ConnectTarget>,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<Passed>,
    ) -> Result<bool, Errno> {
        // With no objects the checks pass and charging is nothing.
        let owner = self.sock(id)?.owner;
        self.check_rights(id, rights)?;
        self.charge_rights(owner, rights);
        let result = self.msg_send_inner(id, to, len, flags, token, bufs, rights);
        self.uncharge_rights(owner, rights);
        result
    }

    /// True: sent; false: pending.
    #[allow(clippy::too_many_arguments)]
    fn msg_send_inner(
        &mut self,
        id: SocketId,
        to: Option<&ConnectTarget>,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<Passed>,
    ) -> Result<bool, Errno> {
        let sock = self.sock_mut(id)?;
        let kind = sock.kind;
        // A seqpacket socket ignores the address (`unix_seqpacket_sendmsg`).
        let to = if kind == SockType::Dgram { to } else { None };
        if kind == SockType::SeqPacket {
            if let Some(e) = sock.err.take() {
                return Err(e);
            }
            if !sock.is_connected() {
                return Err(Errno::ENOTCONN);
            }
        }
        self.autobind_then_size(id, len)?;
        let sock = self.sock(id)?;
        let nonblocking = (sock.nonblocking && !flags.overlapped) || flags.dontwait;
        if !sock.msg_sends.is_empty() {
            // Earlier sends still wait: keep the order.
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            let dest = match to {
                Some(t) => Some(self.lookup(t, kind)?),
                None => None,
            };
            self.pend_msg_send(id, token, len, dest, rights)?;
            return Ok(false);
        }
        let dest = match to {
            Some(t) => Dest::Name(t),
            None => Dest::Peer,
        };
        match self.try_msg(id, dest, token, len, bufs, rights)? {
            Ok(()) => Ok(true),
            Err(_) if nonblocking => Err(Errno::EAGAIN),
            Err(blocked) => {
                let dest = match (to, &blocked) {
                    (_, Blocked::Queue(o)) if to.is_some() => Some(*o),
                    (Some(t), _) => Some(self.lookup(t, kind)?),
                    (None, _) => None,
                };
                if let Blocked::Queue(o) = blocked {
                    // Room to wait there first: a send refused for want of it must not be
                    // left pending (with the objects it was given back).
                    self.sock_mut(o)?
                        .waiters
                        .try_reserve(1)
                        .map_err(|_| Errno::ENOBUFS)?;
                }
                self.pend_msg_send(id, token, len, dest, rights)?;
                if let Blocked::Queue(o) = blocked {
                    self.wait_for_room(id, o)?;
                }
                Ok(false)
            }
        }
    }

    /// One attempt at sending a whole message of `len` bytes from `token`'s buffer.
    fn try_msg(
        &mut self,
        id: SocketId,
        dest: Dest<'_>,
        token: Token,
        len: usize,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<Passed>,
    ) -> Result<Result<(), Blocked>, Errno> {
        let sock = self.sock_mut(id)?;
        // sock_alloc_send_pskb: the pending error, SHUT_WR, then SO_SNDBUF.
        if let Some(e) = sock.err.take() {
            return Err(e);
        }
        if sock.shutdown.wr {
            return Err(Errno::EPIPE);
        }
        if sock.wmem >= to_usize(sock.sndbuf) {
            return Ok(Err(Blocked::Wmem));
        }
        let kind = sock.kind;
        let other = match dest {
            Dest::Name(t) => self.lookup(t, kind)?,
            Dest::Socket(o) => o,
            Dest::Peer => match kind {
                SockType::Dgram => sock
                    .dgram_peer
                    .as_ref()
                    .map(|p| p.0)
                    .ok_or(Errno::ENOTCONN)?,
                _ => sock.peer().ok_or(Errno::EPIPE)?,
            },
        };
        let Ok(o) = self.sock(other) else {
            // The receiver is gone. A datagram socket's association with it dissolves, and
            // its own queue is purged (`unix_dgram_disconnected`).
            return Err(match (kind, dest) {
                (SockType::Dgram, Dest::Peer) => {
                    self.dgram_disconnect(id);
                    Errno::ECONNREFUSED
                }
                (SockType::Dgram, _) => Errno::ECONNREFUSED,
                _ => Errno::EPIPE,
            });
        };
        let connected_back = match kind {
            SockType::Dgram => match &o.dgram_peer {
                // unix_may_send: it takes messages only from its own peer.
                Some((p, _)) if *p != id => return Err(Errno::EPERM),
                Some(_) => true,
                None => false,
            },
            _ => true,
        };
        if o.shutdown.rd {
            return Err(Errno::EPIPE);
        }
        if other != id && !connected_back && self.queue_full(o) {
            return Ok(Err(Blocked::Queue(other)));
        }
        self.check_destination(other, rights)?;
        self.deliver_msg(id, other, token, len, bufs, rights)?;
        Ok(Ok(()))
    }

    /// `unix_recvq_full`: more messages queued than `max_dgram_qlen`.
    fn queue_full(&self, o: &Socket) -> bool {
        o.msgs.len() > to_usize(self.limits.max_dgram_qlen)
    }

    /// Moves a message from `token`'s buffer to `other`: straight into its oldest recv if one
    /// waits on an empty queue, else into its queue (charged to the sender, ENOBUFS past the
    /// sender's user's share or the global cap). EFAULT if the buffer cannot be read.
    ///
    /// `rights` (charged to the sender's owner) go with the message: taken out of the vector
    /// only once nothing can fail.
    fn deliver_msg(
        &mut self,
        id: SocketId,
        other: SocketId,
        token: Token,
        len: usize,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<Passed>,
    ) -> Result<(), Errno> {
        let sender = self.sock(id)?;
        let user = sender.owner;
        let o = self.sock(other)?;
        let direct = o
            .recvs
            .front()
            .filter(|r| o.msgs.is_empty() && o.err.is_none() && !r.peek)
            .map(|r| (r.token, r.len, r.rights_room));
        if let Some((rtoken, rlen, room)) = direct {
            let n = len.min(rlen);
            let from = self.sender_name(id, other)?;
            if n == 0 || bufs.send_to_recv(token, 0, rtoken, 0, n) {
                let _ = self.sock_mut(other)?.recvs.pop_front();
                let taken = self.take_rights(user, core::mem::take(rights), room);
                let received = Received {
                    copied: n,
                    len,
                    from,
                    rights: taken.rights,
                    ctrunc: taken.ctrunc,
                };
                self.complete(rtoken, other, Ok(Completed::Message(received)));
                return Ok(());
            }
            // That recv's buffer is out of reach now: queue the message instead.
        }
        let charge = len
            .saturating_add(MSG_OVERHEAD)
            .saturating_add(rights.len().saturating_mul(RIGHT_OVERHEAD));
        if self.user_room(Some(user)) < charge {
            return Err(Errno::ENOBUFS);
        }
        let mut data = self.spare_buffer(other, len);
        data.try_reserve_exact(len).map_err(|_| Errno::ENOBUFS)?;
        if len > 0 && !bufs.append_send(token, 0, len, &mut data) {
            self.keep_spare(other, data);
            return Err(Errno::EFAULT);
        }
        let o = self.sock_mut(other)?;
        o.msgs.try_reserve(1).map_err(|_| Errno::ENOBUFS)?;
        let rights = core::mem::take(rights);
        let carried = rights.iter().filter(|r| r.socket.is_some()).count();
        o.carried = o.carried.saturating_add(carried);
        o.msgs.push_back(Message {
            data,
            sender: id,
            user,
            charge,
            rights,
        });
        o.msg_bytes = o.msg_bytes.saturating_add(len);
        self.charge_queued(other, Some(user), charge);
        if let Ok(s) = self.sock_mut(id) {
            s.wmem = s.wmem.saturating_add(charge);
            s.in_flight = s.in_flight.saturating_add(1);
        }
        self.service_msg_recvs(other, bufs);
        Ok(())
    }

    /// Queues a pending send; its bytes stay in the caller's buffer.
    fn pend_msg_send(
        &mut self,
        id: SocketId,
        token: Token,
        len: usize,
        to: Option<SocketId>,
        rights: &mut Vec<Passed>,
    ) -> Result<(), Errno> {
        self.prepare_token(token)?;
        let pending = PendingMsgSend {
            token,
            len,
            to,
            rights: core::mem::take(rights),
        };
        let slot = match self.sock_mut(id) {
            Ok(s) => s.msg_sends.push_back(pending),
            Err(e) => Err((e, pending)),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err((e, p)) => {
                *rights = p.rights;
                return Err(e);
            }
        };
        if let Err(e) = self.register(token, Waiting::MsgSend { socket: id, slot }) {
            if let Ok(s) = self.sock_mut(id) {
                if let Some(p) = s.msg_sends.remove(slot) {
                    *rights = p.rights;
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Records that `id`'s first pending send waits for room in `other`'s queue.
    fn wait_for_room(&mut self, id: SocketId, other: SocketId) -> Result<(), Errno> {
        if self.sock(id)?.waiting_on == Some(other) {
            return Ok(());
        }
        self.stop_waiting(id);
        let o = self.sock_mut(other)?;
        // Drop stale entries (senders that wait elsewhere now) before the list outgrows
        // twice the live ones.
        if o.waiters.len() >= o.waiter_count.saturating_mul(2).saturating_add(8) {
            let mut live = core::mem::take(&mut o.waiters);
            live.retain(|w| {
                self.sockets
                    .get(*w)
                    .is_some_and(|s| s.waiting_on == Some(other))
            });
            if let Ok(o) = self.sock_mut(other) {
                o.waiters = live;
            }
        }
        let o = self.sock_mut(other)?;
        o.waiters.try_reserve(1).map_err(|_| Errno::ENOBUFS)?;
        o.waiters.push(id);
        o.waiter_count = o.waiter_count.saturating_add(1);
        self.sock_mut(id)?.waiting_on = Some(other);
        Ok(())
    }

    /// `id` no longer waits for room anywhere.
    pub(crate) fn stop_waiting(&mut self, id: SocketId) {
        let Some(old) = self.sockets.get_mut(id).and_then(|s| s.waiting_on.take()) else {
            return;
        };
        if let Some(o) = self.sockets.get_mut(old) {
            o.waiter_count = o.waiter_count.saturating_sub(1);
        }
    }

    /// Lets `id`'s pending sends try again (now, or from the outermost call's work list).
    pub(crate) fn service_msg_sends(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        self.schedule_msg_wake(id);
        self.run_msg_wakes(bufs);
    }

    /// Puts `id` on the work list of senders to try again, once.
    fn schedule_msg_wake(&mut self, id: SocketId) {
        let Some(s) = self.sockets.get_mut(id) else {
            return;
        };
        if s.wake_queued || s.msg_sends.is_empty() {
            return;
        }
        // Room for one entry per socket was reserved as each socket was made.
        if self.msg_wakes.try_reserve(1).is_ok() {
            s.wake_queued = true;
            self.msg_wakes.push_back(id);
        }
    }

    /// Lets the pending sends that a call made without buffers freed (a datagram socket's
    /// `connect` elsewhere or `disconnect`, which purge its queue) move their messages now,
    /// through the caller's buffers.
    pub fn run_wakes(&mut self, bufs: &mut dyn Buffers) {
        self.run_msg_wakes(bufs);
    }

    /// Runs the work list, unless an outer call is running it.
    pub(crate) fn run_msg_wakes(&mut self, bufs: &mut dyn Buffers) {
        if self.msg_waking {
            return;
        }
        self.msg_waking = true;
        while let Some(id) = self.msg_wakes.pop_front() {
            if let Some(s) = self.sockets.get_mut(id) {
                s.wake_queued = false;
            }
            self.try_msg_sends(id, bufs);
        }
        self.msg_waking = false;
    }

    /// Sends `id`'s pending messages, oldest first, until one must wait.
    fn try_msg_sends(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        while let Some(sock) = self.sockets.get_mut(id) {
            let owner = sock.owner;
            let Some(front) = sock.msg_sends.front_mut() else {
                break;
            };
            let (token, len) = (front.token, front.len);
            let dest = front.to.map_or(Dest::Peer, Dest::Socket);
            let mut rights = core::mem::take(&mut front.rights);
            let result = match self.try_msg(id, dest, token, len, bufs, &mut rights) {
                Ok(Ok(())) => Ok(Completed::Sent(len)),
                Ok(Err(Blocked::Wmem)) => {
                    self.keep_rights(id, rights);
                    self.stop_waiting(id);
                    return;
                }
                Ok(Err(Blocked::Queue(o))) => match self.wait_for_room(id, o) {
                    Ok(()) => {
                        self.keep_rights(id, rights);
                        return;
                    }
                    Err(e) => Err(e),
                },
                // The caller's buffer is out of reach in this call: try again later.
                Err(Errno::EFAULT) => {
                    self.keep_rights(id, rights);
                    return;
                }
                Err(e) => Err(e),
            };
            self.stop_waiting(id);
            let _ = self
                .sockets
                .get_mut(id)
                .and_then(|s| s.msg_sends.pop_front());
            // A send that failed gives up what it passed.
            self.release_rights(owner, rights);
            self.complete(token, id, result);
        }
        self.stop_waiting(id);
    }

    /// Gives the objects taken out of `id`'s front pending send for an attempt back to it.
    fn keep_rights(&mut self, id: SocketId, rights: Vec<Passed>) {
        let owner = self.sockets.get(id).map(|s| s.owner);
        match self
            .sockets
            .get_mut(id)
            .and_then(|s| s.msg_sends.front_mut())
        {
            Some(front) => front.rights = rights,
            // Not reached: the send is still at the front. Nothing is kept, nothing is lost.
            None => {
                if let Some(owner) = owner {
                    self.release_rights(owner, rights);
                }
            }
        }
    }

    /// `recvmsg` on a message socket (`unix_dgram_recvmsg`): one message, or its first `len`
    /// bytes (the rest dropped; `Received::len` is the whole length). A seqpacket socket must
    /// be connected (ENOTCONN). The pending error comes first; then a queued message; then end
    /// of file (0) after SHUT_RD, except that a non-blocking datagram socket answers EAGAIN
    /// there as Linux's does; then EAGAIN when non-blocking, else pending.
    pub(crate) fn msg_recv(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Outcome<Received> {
        self.run_msg_wakes(bufs);
        let result = self.msg_recv_inner(id, len, flags, token, bufs);
        self.run_msg_wakes(bufs);
        match result {
            Ok(Some(r)) => Outcome::Ready(Ok(r)),
            Ok(None) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    fn msg_recv_inner(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Result<Option<Received>, Errno> {
        let sock = self.sock_mut(id)?;
        let kind = sock.kind;
        if kind == SockType::SeqPacket && !sock.is_connected() {
            return Err(Errno::ENOTCONN);
        }
        let nonblocking = (sock.nonblocking && !flags.overlapped) || flags.dontwait;
        if !sock.recvs.is_empty() {
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            self.pend_recv(id, len, flags, 0, None, token)?;
            return Ok(None);
        }
        if let Some(e) = sock.err.take() {
            return Err(e);
        }
        if !sock.msgs.is_empty() {
            return self
                .take_msg(id, token, len, flags.peek, flags.rights_room, bufs)
                .map(Some);
        }
        if sock.shutdown.rd {
            if nonblocking && kind == SockType::Dgram {
                return Err(Errno::EAGAIN);
            }
            return Ok(Some(end_of_file()));
        }
        if nonblocking {
            return Err(Errno::EAGAIN);
        }
        self.pend_recv(id, len, flags, 0, None, token)?;
        Ok(None)
    }

    /// Copies the first message of `id`'s queue into `token`'s buffer, and unless `peek`
    /// takes it out. EFAULT, leaving it queued, if the buffer cannot be written.
    fn take_msg(
        &mut self,
        id: SocketId,
        token: Token,
        len: usize,
        peek: bool,
        room: usize,
        bufs: &mut dyn Buffers,
    ) -> Result<Received, Errno> {
        let sock = self.sock(id)?;
        let m = sock.msgs.front().ok_or(Errno::EAGAIN)?;
        let whole = m.data.len();
        let n = len.min(whole);
        // Copied before anything is taken, so that a failure loses nothing.
        let from = self.sender_name(m.sender, id)?;
        if !put(bufs, token, 0, m.data.get(..n).unwrap_or(&[])) {
            return Err(Errno::EFAULT);
        }
        let taken = if peek {
            Self::peek_rights(&m.rights, room)
        } else {
            let user = m.user;
            let rights = self
                .sockets
                .get_mut(id)
                .and_then(|s| s.msgs.front_mut())
                .map(|m| core::mem::take(&mut m.rights))
                .unwrap_or_default();
            self.carry(id, &rights, false);
            let taken = self.take_rights(user, rights, room);
            self.consume_msg(id);
            taken
        };
        Ok(Received {
            copied: n,
            len: whole,
            from,
            rights: taken.rights,
            ctrunc: taken.ctrunc,
        })
    }

    /// The name a message from `sender` to `receiver` reports (`unix_copy_addr` of the
    /// sending socket, as it is when the message is received): a datagram's sender's own,
    /// or its ghost's once it has closed; a seqpacket message's is the receiver's peer's as
    /// getpeername reports it (also once the peer is gone). None when unnamed.
    fn sender_name(&self, sender: SocketId, receiver: SocketId) -> Result<Option<UnixAddr>, Errno> {
        let name = if self.sock(receiver)?.kind == SockType::Dgram {
            match self.sockets.get(sender) {
                Some(s) => s.addr.as_ref(),
                None => self.ghosts.get(&sender).map(|g| &g.name),
            }
        } else {
            self.getpeername(receiver).ok()
        };
        match name {
            None | Some(UnixAddr::Unnamed) => Ok(None),
            Some(a) => a.try_clone().map(Some),
        }
    }

    /// Takes the first message out of `id`'s queue: its charge is released, its buffer kept
    /// for the next message `id` is sent, and its sender and the senders waiting for room
    /// here go on the work list.
    fn consume_msg(&mut self, id: SocketId) -> bool {
        let Some(sock) = self.sockets.get_mut(id) else {
            return false;
        };
        let Some(mut m) = sock.msgs.pop_front() else {
            return false;
        };
        sock.msg_bytes = sock.msg_bytes.saturating_sub(m.data.len());
        self.uncharge(m.user, m.charge);
        // Objects still with it (a purged queue; a receive took its own out first) go back.
        let rights = core::mem::take(&mut m.rights);
        self.carry(id, &rights, false);
        self.release_rights(m.user, rights);
        self.msg_left(&m);
        self.room_made(id);
        self.keep_spare(id, m.data);
        true
    }

    /// A buffer for a message of `len` bytes to `id`: one it kept, if one is large enough
    /// (emptied, and no longer counted as idle), else a new, empty one.
    fn spare_buffer(&mut self, id: SocketId, len: usize) -> Vec<u8> {
        let Some(sock) = self.sockets.get_mut(id) else {
            return Vec::new();
        };
        let Some(at) = sock.spare.iter().position(|b| b.capacity() >= len) else {
            return Vec::new();
        };
        let buf = sock.spare.swap_remove(at);
        self.idle_ring_bytes = self.idle_ring_bytes.saturating_sub(buf.capacity());
        buf
    }

    /// Keeps an emptied message buffer for `id`'s next messages while the idle budget (which
    /// receive rings share) has room, up to [`SPARE_BUFFERS`] of at most 256 KiB each; else
    /// gives it back. Allocating a buffer per message is what costs most at 64 KiB.
    fn keep_spare(&mut self, id: SocketId, mut buf: Vec<u8>) {
        let budget = self.idle_ring_budget();
        let cap = buf.capacity();
        let Some(sock) = self.sockets.get_mut(id) else {
            return;
        };
        let total = self.idle_ring_bytes.saturating_add(cap);
        // The list's room was reserved when the socket was made: keeping never allocates.
        if cap == 0
            || cap > crate::ring::IDLE_KEEP
            || total > budget
            || sock.spare.len() >= sock.spare.capacity().min(SPARE_BUFFERS)
        {
            return;
        }
        buf.clear();
        sock.spare.push(buf);
        self.idle_ring_bytes = total;
    }

    /// Gives back the buffers a closing socket kept.
    fn drop_spares(&mut self, sock: &mut Socket) {
        for buf in sock.spare.drain(..) {
            self.idle_ring_bytes = self.idle_ring_bytes.saturating_sub(buf.capacity());
        }
    }

    /// A message of `m.sender` left a queue: its SO_SNDBUF has that much more room (or, the
    /// sender closed, its ghost has one message fewer to name).
    fn msg_left(&mut self, m: &Message) {
        if let Some(s) = self.sockets.get_mut(m.sender) {
            s.wmem = s.wmem.saturating_sub(m.charge);
            s.in_flight = s.in_flight.saturating_sub(1);
            self.schedule_msg_wake(m.sender);
            return;
        }
        let gone = self.ghosts.get_mut(&m.sender).is_some_and(|g| {
            g.messages = g.messages.saturating_sub(1);
            g.messages == 0
        });
        if gone {
            self.ghosts.remove(&m.sender);
        }
    }

    /// `id`'s queue has room: the senders waiting for it go on the work list.
    fn room_made(&mut self, id: SocketId) {
        let waiters = self
            .sockets
            .get_mut(id)
            .map(|s| core::mem::take(&mut s.waiters))
            .unwrap_or_default();
        for w in waiters {
            if self
                .sockets
                .get(w)
                .is_some_and(|s| s.waiting_on == Some(id))
            {
                self.stop_waiting(w);
                self.schedule_msg_wake(w);
            }
        }
    }

    /// Completes pending recvs on a message socket that can complete, oldest first, with
    /// `recv`'s rules.
    pub(crate) fn service_msg_recvs(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        while let Some(sock) = self.sockets.get_mut(id) {
            let Some(front) = sock.recvs.front() else {
                break;
            };
            let (token, len, peek, room) = (front.token, front.len, front.peek, front.rights_room);
            let result = if let Some(e) = sock.err.take() {
                Err(e)
            } else if !sock.msgs.is_empty() {
                match self.take_msg(id, token, len, peek, room, bufs) {
                    Ok(r) => Ok(Completed::Message(r)),
                    // Its buffer is out of reach in this call: it keeps waiting.
                    Err(Errno::EFAULT) => break,
                    Err(e) => Err(e),
                }
            } else if sock.shutdown.rd {
                Ok(Completed::Message(end_of_file()))
            } else {
                break;
            };
            let _ = self.sockets.get_mut(id).and_then(|s| s.recvs.pop_front());
            self.complete(token, id, result);
        }
        self.run_msg_wakes(bufs);
    }

    /// What a closing message socket leaves: its pending sends end (ECANCELED), the messages
    /// in its queue are dropped (their senders get their room back), and the senders waiting
    /// for room in it try again, to find it gone. `sock` is already out of the table.
    pub(crate) fn release_messages(
        &mut self,
        id: SocketId,
        sock: &mut Socket,
        bufs: &mut dyn Buffers,
    ) {
        while let Some(p) = sock.msg_sends.pop_front() {
            self.release_rights(sock.owner, p.rights);
            self.complete(p.token, id, Err(Errno::ECANCELED));
        }
        if let Some((peer, _)) = &sock.dgram_peer {
            self.forget_referrer(*peer);
        }
        // Its messages queued elsewhere keep naming it (if the table cannot grow, they name
        // no one: nothing is lost but the name).
        if sock.kind == SockType::Dgram && sock.in_flight > 0 {
            if let Some(name) = sock.addr.as_ref().and_then(|a| a.try_clone().ok()) {
                let ghost = Ghost {
                    name,
                    messages: sock.in_flight,
                };
                let _ = self.ghosts.try_insert(id, ghost);
            }
        }
        // The sockets that send here by default keep the name it has now.
        for r in core::mem::take(&mut sock.referrers) {
            let Some(addr) = sock.addr.as_ref() else {
                break;
            };
            let Some((peer, recorded)) =
                self.sockets.get_mut(r).and_then(|s| s.dgram_peer.as_mut())
            else {
                continue;
            };
            if *peer == id {
                if let Ok(a) = addr.try_clone() {
                    *recorded = a;
                }
            }
        }
        if let Some(old) = sock.waiting_on.take() {
            if let Some(o) = self.sockets.get_mut(old) {
                o.waiter_count = o.waiter_count.saturating_sub(1);
            }
        }
        while let Some(mut m) = sock.msgs.pop_front() {
            self.uncharge(m.user, m.charge);
            self.release_rights(m.user, core::mem::take(&mut m.rights));
            self.msg_left(&m);
        }
        sock.carried = 0;
        sock.msg_bytes = 0;
        self.drop_spares(sock);
        for w in core::mem::take(&mut sock.waiters) {
            if self
                .sockets
                .get(w)
                .is_some_and(|s| s.waiting_on == Some(id))
            {
                self.stop_waiting(w);
                self.schedule_msg_wake(w);
            }
        }
        self.run_msg_wakes(bufs);
    }

    /// `unix_dgram_connect` to a name: sets the default destination (after autobind with
    /// SO_PASSCRED). ECONNREFUSED / EPROTOTYPE as for any lookup, EPERM if that socket is
    /// connected to another. Connecting elsewhere purges our queue (see
    /// [`Engine::disconnect`]).
    pub(crate) fn dgram_connect(
        &mut self,
        id: SocketId,
        target: &ConnectTarget,
    ) -> Result<(), Errno> {
        let sock = self.sock(id)?;
        if sock.options.passcred && sock.addr.is_none() {
            self.bind(id, BindTarget::Autobind)?;
        }
        let other = self.lookup(target, SockType::Dgram)?;
        let o = self.sock(other)?;
        if o.dgram_peer.as_ref().is_some_and(|(p, _)| *p != id) {
            return Err(Errno::EPERM);
        }
        let addr = match &o.addr {
            Some(a) => a.try_clone()?,
            None => UnixAddr::Unnamed,
        };
        self.note_referrer(other, id)?;
        let old = self.sock_mut(id)?.dgram_peer.replace((other, addr));
        if let Some((old, _)) = old {
            self.forget_referrer(old);
            if old != other {
                self.dgram_disconnected(id, old);
            }
        }
        Ok(())
    }

    /// Records that `id` now sends to `peer` by default (see `Socket::referrers`). ENOMEM,
    /// changing nothing, if the list cannot grow.
    pub(crate) fn note_referrer(&mut self, peer: SocketId, id: SocketId) -> Result<(), Errno> {
        let p = self.sock_mut(peer)?;
        // Drop stale entries before the list outgrows twice the current ones.
        if p.referrers.len() >= p.referrer_count.saturating_mul(2).saturating_add(8) {
            let mut list = core::mem::take(&mut p.referrers);
            list.retain(|r| {
                self.sockets
                    .get(*r)
                    .and_then(|s| s.dgram_peer.as_ref())
                    .is_some_and(|(q, _)| *q == peer)
            });
            self.sock_mut(peer)?.referrers = list;
        }
        let p = self.sock_mut(peer)?;
        p.referrers.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        p.referrers.push(id);
        p.referrer_count = p.referrer_count.saturating_add(1);
        Ok(())
    }

    /// One socket no longer sends to `peer` by default.
    fn forget_referrer(&mut self, peer: SocketId) {
        if let Some(p) = self.sockets.get_mut(peer) {
            p.referrer_count = p.referrer_count.saturating_sub(1);
        }
    }

    /// `connect` with `AF_UNSPEC`: a datagram socket forgets its default destination (and
    /// purges its queue, as Linux's `unix_dgram_disconnected`); EINVAL for the other types,
    /// whose connect takes only AF_UNIX addresses. The senders a purge frees (they waited for
    /// room in that queue) move when the caller next passes its buffers: at once with
    /// [`Engine::run_wakes`], as after a datagram `connect` to another socket.
    pub fn disconnect(&mut self, id: SocketId) -> Result<(), Errno> {
        if self.sock(id)?.kind != SockType::Dgram {
            return Err(Errno::EINVAL);
        }
        self.dgram_disconnect(id);
        Ok(())
    }

    fn dgram_disconnect(&mut self, id: SocketId) {
        let old = self.sockets.get_mut(id).and_then(|s| s.dgram_peer.take());
        if let Some((old, _)) = old {
            self.forget_referrer(old);
            self.dgram_disconnected(id, old);
        }
    }

    /// `unix_dgram_disconnected`: `id` left `old`. Messages queued for `id` are dropped; if
    /// there were any and `old` is connected back to `id`, `old` gets ECONNRESET.
    fn dgram_disconnected(&mut self, id: SocketId, old: SocketId) {
        if self.sockets.get(id).is_none_or(|s| s.msgs.is_empty()) {
            return;
        }
        while self.consume_msg(id) {}
        if let Some(o) = self.sockets.get_mut(old) {
            if o.dgram_peer.as_ref().is_some_and(|(p, _)| *p == id) {
                o.err = Some(Errno::ECONNRESET);
            }
        }
    }

    /// `unix_dgram_poll`.
    pub(crate) fn msg_poll(&self, sock: &Socket, id: SocketId) -> PollMask {
        let mut mask = 0u32;
        if sock.err.is_some() {
            mask |= PollMask::ERR;
        }
        if sock.shutdown.rd {
            mask |= PollMask::RDHUP | PollMask::IN | PollMask::RDNORM;
        }
        if sock.shutdown.all() {
            mask |= PollMask::HUP;
        }
        let readable = match &sock.state {
            State::Listening(l) => l.get().is_some_and(|l| !l.embryos.is_empty()),
            _ => !sock.msgs.is_empty(),
        };
        if readable {
            mask |= PollMask::IN | PollMask::RDNORM;
        }
        if sock.kind == SockType::SeqPacket && matches!(sock.state, State::Unconnected) {
            mask |= PollMask::HUP;
        }
        let mut writable =
            !sock.is_listening() && sock.wmem.saturating_mul(4) <= to_usize(sock.sndbuf);
        let other = match sock.kind {
            SockType::Dgram => sock.dgram_peer.as_ref().map(|p| p.0),
            _ => sock.peer(),
        };
        if let Some(o) = other.and_then(|o| self.sockets.get(o)) {
            let connected_back = sock.kind != SockType::Dgram
                || o.dgram_peer.as_ref().is_some_and(|(p, _)| *p == id);
            if !connected_back && self.queue_full(o) {
                writable = false;
            }
        }
        if writable {
            mask |= PollMask::OUT | PollMask::WRNORM | PollMask::WRBAND;
        }
        PollMask(mask)
    }
}

/// The empty message that reports end of file.
const fn end_of_file() -> Received {
    Received {
        copied: 0,
        len: 0,
        from: None,
        rights: Vec::new(),
        ctrunc: false,
    }
}
