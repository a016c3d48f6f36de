//! Sending: `send`, pending sends, and delivering bytes into a peer.

use alloc::vec::Vec;

use crate::socket::PendingSend;
use crate::{Completed, ConnectTarget, Errno, Outcome, SendFlags, SockType, SocketId, Token};

use super::data::{Buffers, Src};
use super::{Engine, Waiting, to_usize};

impl Engine {
    /// `send` on a stream (`unix_stream_sendmsg` with `sock_alloc_send_pskb`'s checks) of
    /// `len` bytes read from the caller's buffer for `token` through `bufs` (the driver: the
    /// IRP's buffer).
    ///
    /// ENOTCONN unless connected; EPIPE after SHUT_WR (ours, or the peer's SHUT_RD / close
    /// mirrored to us). Bytes go straight into the peer's oldest waiting recv (one copy),
    /// else into its queue while the queue holds less than our SO_SNDBUF. When full: a
    /// non-blocking send returns what it queued, or EAGAIN if nothing. A blocking send that
    /// does not fit copies none of it: the bytes stay in the caller's buffer and up to
    /// SO_SNDBUF of them count as queued (readable, in FIONREAD and poll), as Linux would
    /// have queued a buffer's worth before blocking; a reader takes them straight from there,
    /// and only the rest that remains when it all fits is copied into the queue, which is when
    /// the send completes, or with the count so far if the connection breaks, as Linux
    /// returns `sent`. `cancel`, `close` and `shutdown` deliver the counted bytes before the
    /// send ends. When the global cap, or the writer's user's share of it, leaves no room:
    /// ENOBUFS.
    pub fn send(
        &mut self,
        id: SocketId,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Outcome<usize> {
        if self.sock(id).is_ok_and(|s| s.kind.is_message()) {
            return self.msg_send(id, None, len, flags, token, bufs, &mut Vec::new());
        }
        let src = Src {
            token,
            offset: 0,
            creds: self.creds_attached(id),
        };
        match self.send_inner(id, src, len, flags, token, bufs) {
            Ok(Some(n)) => Outcome::Ready(Ok(n)),
            Ok(None) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    /// `sendto`: a datagram socket sends one message to the socket `target` names (see
    /// `msg_send` for the errors, in Linux's order); a seqpacket socket ignores the address,
    /// as Linux does; a stream refuses any address ([`Engine::send_to_error`]).
    pub fn send_to(
        &mut self,
        id: SocketId,
        target: &ConnectTarget,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Outcome<usize> {
        match self.sock(id).map(|s| s.kind) {
            Ok(SockType::Stream) => Outcome::Ready(self.send_to_error(id).and_then(Err)),
            Ok(_) => self.msg_send(id, Some(target), len, flags, token, bufs, &mut Vec::new()),
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    /// `sendmsg` with SCM_RIGHTS: [`Engine::send`] (`to` None) or [`Engine::send_to`] of a
    /// message that passes `rights` (see the `rights` module for the rules and limits). The
    /// engine takes them, leaving `rights` empty, when the send succeeds or pends; when it
    /// fails they stay in `rights`, the caller's to release. A stream socket refuses objects
    /// for now (EOPNOTSUPP): only datagram and seqpacket sockets carry them.
    #[allow(clippy::too_many_arguments)]
    pub fn send_with_rights(
        &mut self,
        id: SocketId,
        to: Option<&ConnectTarget>,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
        rights: &mut Vec<crate::Passed>,
    ) -> Outcome<usize> {
        match self.sock(id).map(|s| s.kind) {
            Ok(SockType::Stream) if rights.is_empty() => match to {
                None => self.send(id, len, flags, token, bufs),
                Some(t) => self.send_to(id, t, len, flags, token, bufs),
            },
            Ok(SockType::Stream) => Outcome::Ready(Err(Errno::EOPNOTSUPP)),
            Ok(_) => self.msg_send(id, to, len, flags, token, bufs, rights),
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    fn send_inner(
        &mut self,
        id: SocketId,
        src: Src,
        len: usize,
        flags: SendFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Result<Option<usize>, Errno> {
        let sock = self.sock_mut(id)?;
        if !sock.is_connected() {
            return Err(Errno::ENOTCONN);
        }
        if sock.shutdown.wr {
            return Err(Errno::EPIPE);
        }
        if len == 0 {
            return Ok(Some(0));
        }
        let nonblocking = (sock.nonblocking && !flags.overlapped) || flags.dontwait;
        if !sock.sends.is_empty() {
            // Earlier sends still wait: keep the byte order.
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            self.pend_send(id, src, 0, len, token)?;
            return Ok(None);
        }
        // sock_alloc_send_pskb: sk_err first.
        if let Some(e) = sock.err.take() {
            return Err(e);
        }
        let sndbuf = to_usize(sock.sndbuf);
        let peer = sock.peer().ok_or(Errno::EPIPE)?;
        let peer_sock = self.sock(peer).map_err(|_| Errno::EPIPE)?;
        let space = sndbuf.saturating_sub(peer_sock.rx.len());
        let reader_waits =
            peer_sock.rx.is_empty() && peer_sock.recvs.front().is_some_and(|r| !r.peek);
        if space == 0 && !reader_waits {
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            self.pend_send(id, src, 0, len, token)?;
            return Ok(None);
        }
        if peer_sock.shutdown.rd {
            return Err(Errno::EPIPE);
        }
        if !nonblocking {
            // A blocking send: a waiting reader takes what it can directly. If the
            // rest does not fit, it stays in the caller's buffer, counted as queued (Linux
            // would queue a buffer's worth and block); a reader takes it from there in one
            // copy, and only what remains when it all fits is copied into the queue.
            let direct = self.deliver(peer, src, len, 0, bufs);
            let rest = len.saturating_sub(direct);
            let fits = self
                .sock(peer)
                .is_ok_and(|p| rest <= sndbuf.saturating_sub(p.rx.len()) || !p.recvs.is_empty());
            let queued = if rest > 0 && fits {
                self.deliver(peer, src.skip(direct), rest, space, bufs)
            } else {
                0
            };
            let n = direct.saturating_add(queued);
            if n == len {
                return Ok(Some(n));
            }
            return match self.pend_send(id, src, n, len, token) {
                Ok(()) => {
                    self.service_sends(id, bufs);
                    Ok(None)
                }
                Err(e) if n == 0 => Err(e),
                Err(_) => Ok(Some(n)),
            };
        }
        let (n, no_memory) = self.deliver_checked(peer, src, len, space, bufs);
        if n == 0 {
            // sock_alloc_send_pskb: ENOBUFS when the buffer cannot be allocated.
            return Err(if no_memory || self.user_room(self.owner_of(id)) == 0 {
                Errno::ENOBUFS
            } else {
                Errno::EAGAIN
            });
        }
        if n == len || nonblocking {
            return Ok(Some(n));
        }
        match self.pend_send(id, src, n, len, token) {
            Ok(()) => {
                // The bytes may have gone straight into a pending recv, leaving the queue
                // empty: nothing else would wake this send.
                self.service_sends(id, bufs);
                Ok(None)
            }
            // Could not hold the rest: report the partial send, as Linux does on a signal.
            Err(_) => Ok(Some(n)),
        }
    }

    /// Queues a pending send of bytes `sent..len` of `src`, which stay in the caller's
    /// buffer.
    fn pend_send(
        &mut self,
        id: SocketId,
        src: Src,
        sent: usize,
        len: usize,
        token: Token,
    ) -> Result<(), Errno> {
        self.prepare_token(token)?;
        let sock = self.sock_mut(id)?;
        let user = sock.owner;
        let slot = sock
            .sends
            .push_back(PendingSend {
                user,
                token,
                offset: src.offset.saturating_add(sent),
                len: src.offset.saturating_add(len),
                creds: src.creds,
                sent,
                exposed: 0,
            })
            .map_err(|(e, _)| e)?;
        if let Err(e) = self.register(token, Waiting::Send { socket: id, slot }) {
            if let Ok(s) = self.sock_mut(id) {
                let _ = s.sends.remove(slot);
            }
            return Err(e);
        }
        self.expose_front(id);
        Ok(())
    }

    /// Moves up to `len` bytes from `src` into socket `to`: first into its oldest waiting
    /// non-peek recv if its queue is empty (not limited by SO_SNDBUF: those bytes are not
    /// buffered), then up to `queue_room` into its queue. Returns how many moved; charges what
    /// the engine now holds.
    pub(super) fn deliver(
        &mut self,
        to: SocketId,
        src: Src,
        len: usize,
        queue_room: usize,
        bufs: &mut dyn Buffers,
    ) -> usize {
        self.deliver_checked(to, src, len, queue_room, bufs).0
    }

    /// `deliver`, also saying whether the queue could not take bytes for want of memory
    /// (its ring could not grow).
    fn deliver_checked(
        &mut self,
        to: SocketId,
        src: Src,
        len: usize,
        queue_room: usize,
        bufs: &mut dyn Buffers,
    ) -> (usize, bool) {
        let mut done = 0;
        let mut no_memory = false;
        let Some(sock) = self.sockets.get_mut(to) else {
            return (0, false);
        };
        let check_creds = sock.options.passcred;
        if sock.rx.is_empty() {
            // A reader with SO_PASSCRED never takes bytes of other credentials into a recv
            // that has some already: they are queued, and the recv completes with what it has.
            if let Some(front) = sock
                .recvs
                .front_mut()
                .filter(|r| !r.peek)
                .filter(|r| r.first_creds.is_none_or(|c| c == src.creds))
            {
                let want = front.len.saturating_sub(front.filled).min(len);
                if bufs.send_to_recv(src.token, src.offset, front.token, front.filled, want) {
                    front.filled = front.filled.saturating_add(want);
                    if want > 0 && check_creds {
                        front.first_creds.get_or_insert(src.creds);
                    }
                    done = want;
                }
            }
        }
        // The writer's share of the bytes as well as the global cap (see `quota`).
        let user = self.queue_user(to);
        let q = len
            .saturating_sub(done)
            .min(queue_room)
            .min(self.user_room(user));
        if q > 0 {
            let src = src.skip(done);
            // A ring kept empty for reuse is about to hold bytes: no longer idle.
            self.unidle_ring(to);
            if let Some(sock) = self.sockets.get_mut(to) {
                let reserved = sock.rx.try_reserve(q).is_ok();
                no_memory = !reserved;
                let ok = reserved && {
                    let (a, b) = sock.rx.free_slices(q);
                    let first = a.len();
                    let ok = bufs.read_send(src.token, src.offset, a)
                        && (b.is_empty()
                            || bufs.read_send(src.token, src.offset.saturating_add(first), b));
                    if ok {
                        sock.rx.commit(q);
                        sock.rx_creds.push(src.creds, q);
                    }
                    ok
                };
                if ok {
                    self.charge_queued(to, user, q);
                    done = done.saturating_add(q);
                }
            }
            // Nothing went in after all (no memory): the ring is idle again.
            self.settle_idle_ring(to);
        }
        if done > 0 {
            self.service_recvs(to, bufs);
        }
        (done, no_memory)
    }

    /// Moves pending sends' bytes into the peer: into a waiting recv at any time, into the
    /// queue once it has drained to a quarter of SO_SNDBUF (`unix_write_space` wakes a writer
    /// only when `unix_writable`; one wake per wait, not one per byte read). Completes each
    /// send when its last byte has moved, or when the connection can no longer carry it
    /// (EPIPE, or the count already sent).
    pub(crate) fn service_sends(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        if self.sockets.get(id).is_some_and(|s| s.kind.is_message()) {
            self.service_msg_sends(id, bufs);
            return;
        }
        if self.moving_writer == Some(id) {
            // Re-entered from our own delivery: the outer loop carries on.
            return;
        }
        let outer = self.moving_writer.replace(id);
        self.service_sends_loop(id, bufs);
        self.expose_front(id);
        self.moving_writer = outer;
    }

    fn service_sends_loop(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        loop {
            let Some(sock) = self.sockets.get_mut(id) else {
                return;
            };
            if sock.sends.is_empty() {
                return;
            }
            let peer = sock.peer();
            let broken = sock.shutdown.wr || sock.err.is_some();
            let sndbuf = to_usize(sock.sndbuf);
            let peer_state = peer.and_then(|p| self.sockets.get(p)).map(|p| {
                let waits = p.rx.is_empty() && p.recvs.front().is_some_and(|r| !r.peek);
                (p.rx.len(), p.shutdown.rd, waits, !p.recvs.is_empty())
            });
            let (queued, reader_waits, recvs_wait) = match (broken, peer_state) {
                (false, Some((queued, false, waits, recvs))) => (queued, waits, recvs),
                _ => {
                    self.fail_sends(id, bufs);
                    return;
                }
            };
            let queue_room = if queued.saturating_mul(4) > sndbuf {
                0
            } else {
                sndbuf.saturating_sub(queued)
            };
            if queue_room == 0 && !reader_waits {
                return;
            }
            let (Some(peer), Some(sock)) = (peer, self.sockets.get_mut(id)) else {
                return;
            };
            let Some(mut p) = sock.sends.pop_front() else {
                return;
            };
            // Its exposed bytes are about to move, charged as queued: their reservation
            // makes the room. Those that do not move stay exposed, whatever SO_SNDBUF is now.
            let had = self.unexpose(&mut p);
            // A waiting reader takes bytes directly; the rest moves into the queue only once
            // all of it fits (until then it counts as queued from the caller's buffer, see
            // `visible_pending`), which is when Linux's writer would have queued its last
            // byte and returned.
            let src = Src {
                token: p.token,
                offset: p.offset,
                creds: p.creds,
            };
            let direct = if reader_waits {
                self.deliver(peer, src, p.remaining(), 0, bufs)
            } else {
                0
            };
            let rest = p.remaining().saturating_sub(direct);
            // Recvs that only the queue can serve (a peek, or more than one) get the bytes
            // queued as before.
            let (more, no_memory) = if rest > 0 && (rest <= queue_room || recvs_wait) {
                self.deliver_checked(peer, src.skip(direct), rest, queue_room, bufs)
            } else {
                (0, false)
            };
            let moved = direct.saturating_add(more);
            self.advance(&mut p, moved);
            let keep = had.saturating_sub(moved).min(p.remaining());
            p.exposed = keep;
            self.reserve_exposed(p.user, keep);
            if no_memory {
                // The queue could not grow. Waiting on could wait for ever (a reader polling
                // for bytes it is not shown), so the send ends as `unix_stream_sendmsg` does
                // when it cannot allocate: with the count it sent, else ENOBUFS.
                self.end_send_without_memory(id, p, bufs);
                continue;
            }
            if moved == 0 {
                self.requeue_send(id, p);
                return;
            }
            if p.remaining() == 0 {
                self.complete(p.token, id, Ok(Completed::Sent(p.sent)));
            } else {
                self.requeue_send(id, p);
            }
        }
    }

    /// Ends pending send `p` (just taken from the front of `id`'s queue) for want of memory:
    /// the bytes its reader was shown are queued first, in the ring room kept for them
    /// (`expose_front`), and count as sent.
    fn end_send_without_memory(&mut self, id: SocketId, p: PendingSend, bufs: &mut dyn Buffers) {
        let token = p.token;
        self.requeue_send(id, p);
        self.materialize_front(id, bufs);
        // Still the front, unless putting it back failed, which already completed it.
        let front = self
            .sockets
            .get_mut(id)
            .filter(|w| w.sends.front().is_some_and(|p| p.token == token))
            .and_then(|w| w.sends.pop_front());
        if let Some(mut p) = front {
            self.unexpose(&mut p);
            let result = if p.sent > 0 {
                Ok(Completed::Sent(p.sent))
            } else {
                Err(Errno::ENOBUFS)
            };
            self.complete(token, id, result);
        }
    }

    /// Ends every pending send of a socket whose connection cannot carry more.
    fn fail_sends(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        // Bytes the reader could already see stay readable, as queued bytes do in Linux.
        self.materialize_front(id, bufs);
        let Some(sock) = self.sockets.get_mut(id) else {
            return;
        };
        let mut err = sock.err.take();
        let mut sends = core::mem::take(&mut sock.sends);
        while let Some(mut p) = sends.pop_front() {
            self.unexpose(&mut p);
            // sock_alloc_send_pskb: the first waiter to wake reads (and clears) sk_err; it
            // returns its count if it had sent some, the error otherwise. Later ones: EPIPE.
            let e = err.take();
            let result = if p.sent > 0 {
                Ok(Completed::Sent(p.sent))
            } else {
                Err(e.unwrap_or(Errno::EPIPE))
            };
            self.complete(p.token, id, result);
        }
    }
}

impl Engine {
    /// Bytes of `reader`'s peer's front pending in-place send that count as queued for
    /// `reader` (its `exposed` bytes): readable, in FIONREAD and poll, though still in the
    /// writer's buffer.
    /// Whether what `writer` sends now carries its credentials (`maybe_add_creds`): when
    /// either end has SO_PASSCRED, or the reader is an embryo not yet accepted.
    pub(crate) fn creds_attached(&self, writer: SocketId) -> bool {
        let Some(w) = self.sockets.get(writer) else {
            return false;
        };
        let reader = w.peer().and_then(|p| self.sockets.get(p));
        w.options.passcred
            || reader.is_some_and(|r| {
                r.options.passcred
                    || matches!(
                        r.state,
                        crate::socket::State::Connected {
                            embryo_of: Some(_),
                            ..
                        }
                    )
            })
    }

    pub(crate) fn visible_pending(&self, reader: SocketId) -> usize {
        let Some(r) = self.sockets.get(reader) else {
            return 0;
        };
        let Some(w) = r.peer().and_then(|p| self.sockets.get(p)) else {
            return 0;
        };
        if w.shutdown.wr || w.err.is_some() {
            return 0;
        }
        w.sends
            .front()
            .map_or(0, |front| front.exposed.min(front.remaining()))
    }

    /// Shows `writer`'s reader more of the writer's front in-place send: as much as Linux
    /// would have queued (up to the writer's SO_SNDBUF, less what is queued), as far as the
    /// global cap has room, which is reserved for them. Never takes back what was shown.
    pub(crate) fn expose_front(&mut self, writer: SocketId) {
        while self.expose_front_inner(writer) == Exposed::Starved {
            self.end_unshown_front(writer);
        }
        self.settle_reader_ring(writer);
    }

    /// Ends `writer`'s front pending send, which showed its reader nothing and could not
    /// (see [`Exposed::Starved`]): with the count it sent, else ENOBUFS, as
    /// `unix_stream_sendmsg` ends when it cannot allocate.
    fn end_unshown_front(&mut self, writer: SocketId) {
        let Some(mut p) = self
            .sockets
            .get_mut(writer)
            .and_then(|w| w.sends.pop_front())
        else {
            return;
        };
        self.unexpose(&mut p);
        let result = if p.sent > 0 {
            Ok(Completed::Sent(p.sent))
        } else {
            Err(Errno::ENOBUFS)
        };
        self.complete(p.token, writer, result);
    }

    /// Once no byte is shown from `writer`'s sends, its reader's emptied ring is kept or
    /// given back as any other (`settle_idle_ring`).
    fn settle_reader_ring(&mut self, writer: SocketId) {
        if let Some(reader) = self.sockets.get(writer).and_then(|w| w.peer()) {
            self.settle_idle_ring(reader);
        }
    }

    fn expose_front_inner(&mut self, writer: SocketId) -> Exposed {
        let room = self.user_room(self.owner_of(writer));
        let Some(w) = self.sockets.get(writer) else {
            return Exposed::Done;
        };
        let sndbuf = to_usize(w.sndbuf);
        let Some(queued) = w
            .peer()
            .and_then(|p| self.sockets.get(p))
            .map(|r| r.rx.len())
        else {
            return Exposed::Done;
        };
        let Some(front) = self
            .sockets
            .get_mut(writer)
            .and_then(|w| w.sends.front_mut())
        else {
            return Exposed::Done;
        };
        let target = front.remaining().min(sndbuf.saturating_sub(queued));
        let more = target.saturating_sub(front.exposed).min(room);
        if more == 0 {
            return Exposed::Done;
        }
        let shown = front.exposed;
        // Room in the reader's ring for every byte shown, made now: when the send ends
        // (cancel, close, a broken connection) they are queued without a fresh allocation,
        // which could fail and lose bytes the reader was already shown. If the ring cannot
        // grow, show only what its free space holds.
        let more = match self.ring_room_for_shown(writer, shown, more) {
            // Nothing queued and nothing shown: the reader has nothing to read that would
            // let this send go on, and might wait for ever.
            0 if shown == 0 && queued == 0 => return Exposed::Starved,
            0 => return Exposed::Done,
            n => n,
        };
        let Some(front) = self
            .sockets
            .get_mut(writer)
            .and_then(|w| w.sends.front_mut())
        else {
            return Exposed::Done;
        };
        front.exposed = front.exposed.saturating_add(more);
        let user = front.user;
        self.reserve_exposed(user, more);
        Exposed::Done
    }

    /// Grows `writer`'s reader's ring so that it holds its queued bytes, the `shown` bytes
    /// already exposed and up to `more` newly exposed ones; returns how many of `more` it
    /// has room for (all, or what the ring's free space holds if it cannot grow).
    fn ring_room_for_shown(&mut self, writer: SocketId, shown: usize, more: usize) -> usize {
        let Some(reader) = self.sockets.get(writer).and_then(|w| w.peer()) else {
            return 0;
        };
        // The ring is about to be reserved for bytes: it is not idle any more.
        self.unidle_ring(reader);
        let Some(r) = self.sockets.get_mut(reader) else {
            return 0;
        };
        if r.rx.try_reserve(shown.saturating_add(more)).is_ok() {
            return more;
        }
        r.rx.capacity()
            .saturating_sub(r.rx.len())
            .saturating_sub(shown)
            .min(more)
    }

    /// Whether `reader`'s ring holds room for bytes shown from its peer's front in-place
    /// send, so it may be neither released nor counted as idle.
    /// While the writer moves a send's bytes (`service_sends`, `materialize_front`) that
    /// send is out of its queue, its reservation taken back for the move: the room is kept
    /// until the move is over, when the writer settles the ring.
    pub(crate) fn ring_holds_shown(&self, reader: SocketId) -> bool {
        let Some(writer) = self.sockets.get(reader).and_then(|r| r.peer()) else {
            return false;
        };
        self.moving_writer == Some(writer)
            || self
                .sockets
                .get(writer)
                .and_then(|w| w.sends.front())
                .is_some_and(|f| f.exposed > 0)
    }

    /// Takes back the reservation of a send leaving the queue of pending sends, or about to
    /// move its exposed bytes; returns how many bytes it had exposed.
    pub(crate) fn unexpose(&mut self, p: &mut PendingSend) -> usize {
        let n = core::mem::take(&mut p.exposed);
        self.release_exposed(p.user, n);
        n
    }

    /// Counts `n` more bytes of `p` as sent (moved, or dropped with a closed reader); the
    /// exposed ones among them give back their reservation.
    pub(crate) fn advance(&mut self, p: &mut PendingSend, n: usize) {
        let shown = n.min(p.exposed);
        p.exposed = p.exposed.saturating_sub(shown);
        self.release_exposed(p.user, shown);
        advance_send(p, n);
    }

    /// Before writer `id`'s front in-place send ends without finishing (cancel, close, a
    /// broken connection), copies the part its reader could already see into the reader's
    /// queue and counts it as sent. Without `bufs` that part is simply not sent.
    pub(crate) fn materialize_front(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        let Some(w) = self.sockets.get(id) else {
            return;
        };
        let Some(peer) = w.peer() else {
            return;
        };
        let Some(front) = w.sends.front() else {
            return;
        };
        let (token, offset, creds) = (front.token, front.offset, front.creds);
        if front.exposed == 0 || self.sockets.get(peer).is_none() {
            return;
        }
        // Take the send out while its bytes move: delivering can wake this writer again
        // (a reader's recv completes, `wake_writer`), which must not see it half-moved.
        let Some(mut p) = self.sockets.get_mut(id).and_then(|w| w.sends.pop_front()) else {
            return;
        };
        // Whatever SO_SNDBUF is now, all the bytes shown are queued, in the room reserved
        // for them.
        let visible = self.unexpose(&mut p).min(p.remaining());
        let outer = self.moving_writer.replace(id);
        let moved = self.deliver(
            peer,
            Src {
                token,
                offset,
                creds,
            },
            visible,
            visible,
            bufs,
        );
        self.moving_writer = outer;
        self.advance(&mut p, moved);
        self.requeue_send(id, p);
        self.settle_reader_ring(id);
    }
}

/// What showing a front pending send's bytes came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exposed {
    /// Shown as far as the limits allow (or nothing to show).
    Done,
    /// Its reader has nothing queued and was shown nothing, and the ring to hold what it
    /// would be shown cannot grow: memory has run out.
    Starved,
}

fn advance_send(p: &mut PendingSend, n: usize) {
    p.offset = p.offset.saturating_add(n);
    p.sent = p.sent.saturating_add(n);
}
