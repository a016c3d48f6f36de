//! Receiving: `recv`, pending receives, and taking bytes from a waiting writer.

use crate::socket::PendingRecv;
use crate::{Completed, Errno, Outcome, Received, RecvFlags, SocketId, Token};

use super::data::{Buffers, front_parts, put, recv_result};
use super::{Engine, Waiting};

impl Engine {
    /// `recv` on a stream (`unix_stream_read_generic`) of up to `len` bytes into the caller's
    /// buffer for `token`, written through `bufs` (the driver: the IRP's buffer), now or, if
    /// it goes pending, as bytes arrive; the completion is then [`Completed::Received`].
    ///
    /// EINVAL unless connected. MSG_PEEK leaves the bytes queued. With nothing (or, with
    /// MSG_WAITALL, not enough) queued it checks, in POSIX order: the pending error (reported
    /// once: ECONNRESET after a peer left unread data), end of file (0), then EAGAIN when
    /// non-blocking, else pending. A non-blocking MSG_WAITALL returns what there is.
    ///
    /// On a message socket: one message (see [`Engine::recv_from`]); the count is what
    /// `recvmsg` returns ([`Received::ret`]).
    pub fn recv(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Outcome<usize> {
        if self.sock(id).is_ok_and(|s| s.kind.is_message()) {
            return match self.msg_recv(id, len, flags, token, bufs) {
                Outcome::Ready(r) => Outcome::Ready(r.map(|r| r.ret(flags))),
                Outcome::Pending => Outcome::Pending,
            };
        }
        match self.recv_inner(id, len, flags, token, bufs) {
            Ok(Some(n)) => Outcome::Ready(Ok(n)),
            Ok(None) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    /// `recvmsg` with what a message socket reports: the bytes copied, the message's whole
    /// length and, for a datagram, its sender's name ([`Received`]). A pending recv on a
    /// message socket completes with [`Completed::Message`]. On a stream this is `recv`, with
    /// `len` equal to the count and no name (the sender is the peer:
    /// [`Engine::sender_address`]).
    pub fn recv_from(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Outcome<Received> {
        if self.sock(id).is_ok_and(|s| s.kind.is_message()) {
            return self.msg_recv(id, len, flags, token, bufs);
        }
        match self.recv_inner(id, len, flags, token, bufs) {
            Ok(Some(n)) => Outcome::Ready(Ok(Received {
                copied: n,
                len: n,
                from: None,
                rights: alloc::vec::Vec::new(),
                ctrunc: false,
            })),
            Ok(None) => Outcome::Pending,
            Err(e) => Outcome::Ready(Err(e)),
        }
    }

    fn recv_inner(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        token: Token,
        bufs: &mut dyn Buffers,
    ) -> Result<Option<usize>, Errno> {
        let visible = self.visible_pending(id);
        let sock = self.sock_mut(id)?;
        if !sock.is_connected() {
            return Err(Errno::EINVAL);
        }
        let nonblocking = (sock.nonblocking && !flags.overlapped) || flags.dontwait;
        if !sock.recvs.is_empty() {
            if nonblocking {
                return Err(Errno::EAGAIN);
            }
            self.pend_recv(id, len, flags, 0, None, token)?;
            return Ok(None);
        }
        let target = if flags.waitall && len > 0 { len } else { 1 };
        let queued = !sock.rx.is_empty();
        let had_data = queued || visible > 0;
        // A reader with SO_PASSCRED takes only bytes whose credentials match the first ones'
        // (`unix_stream_read_generic`), and returns at the first change, MSG_WAITALL or not.
        let check_creds = sock.options.passcred;
        let (front_creds, run) = sock.rx_creds.front_run();
        let mut creds = queued.then_some(front_creds);
        let from_queue = if check_creds { len.min(run) } else { len };
        let mut stopped = check_creds && queued && run < sock.rx.len() && from_queue == run;
        let mut n: usize = 0;
        for part in front_parts(sock.rx.as_slices(), from_queue) {
            if !put(bufs, token, n, part) {
                return Err(Errno::EFAULT);
            }
            n = n.saturating_add(part.len());
        }
        if flags.peek {
            // Then the bytes a blocked in-place writer holds for us, left where they are.
            let writer_creds = self.writer_front_creds(id);
            if check_creds && creds.is_some() && writer_creds != creds {
                stopped = true;
            }
            let k = if stopped {
                0
            } else {
                visible.min(len.saturating_sub(n))
            };
            let peeked = k > 0 && self.peek_from_writer(id, token, n, k, bufs);
            if peeked {
                n = n.saturating_add(k);
            }
            if queued || peeked {
                return Ok(Some(n));
            }
        } else {
            let sock = self.sock_mut(id)?;
            sock.rx.consume(n);
            sock.rx_creds.take(n);
            let rx_user = sock.rx_user;
            self.uncharge(rx_user, n);
            self.settle_idle_ring(id);
            // The queue is empty: take the rest straight from a waiting writer.
            if n < len && !stopped {
                let need = if check_creds { Some(&mut creds) } else { None };
                let (k, cut) = self.pull_from_writer(id, token, n, len, need, bufs);
                n = n.saturating_add(k);
                stopped = cut;
            }
            if n >= target || had_data && n == len || stopped && n > 0 {
                self.wake_writer(id, bufs);
                return Ok(Some(n));
            }
        }
        // The queue is empty and we have less than the target.
        let sock = self.sock_mut(id)?;
        let outcome = if let Some(e) = sock.err.take() {
            Some(if n > 0 { Ok(n) } else { Err(e) })
        } else if sock.shutdown.rd {
            Some(Ok(n))
        } else if nonblocking {
            Some(if n > 0 { Ok(n) } else { Err(Errno::EAGAIN) })
        } else {
            None
        };
        let result = match outcome {
            Some(r) => r.map(Some),
            None => {
                // Blocking MSG_WAITALL with some bytes: they stay in the caller's buffer.
                let first = if n > 0 && check_creds { creds } else { None };
                match self.pend_recv(id, len, flags, n, first, token) {
                    Ok(()) => Ok(None),
                    Err(e) => {
                        if n > 0 {
                            Ok(Some(n))
                        } else {
                            Err(e)
                        }
                    }
                }
            }
        };
        if !flags.peek {
            // Room freed, or a recv now waits that a writer can fill directly.
            self.wake_writer(id, bufs);
        }
        result
    }

    /// Copies bytes from the peer's pending sends straight into recv `dst`'s buffer from `at`
    /// up to `len` (our queue is empty); returns how many, and whether it stopped at a
    /// change of credentials. `creds`, for a reader with SO_PASSCRED: the credentials the
    /// bytes must carry (None: those of the first send taken, which it then records).
    fn pull_from_writer(
        &mut self,
        id: SocketId,
        dst: Token,
        at: usize,
        len: usize,
        mut creds: Option<&mut Option<bool>>,
        bufs: &mut dyn Buffers,
    ) -> (usize, bool) {
        let Some(peer) = self.sockets.get(id).and_then(crate::socket::Socket::peer) else {
            return (0, false);
        };
        let mut n: usize = 0;
        while at.saturating_add(n) < len {
            let Some(w) = self.sockets.get_mut(peer) else {
                break;
            };
            if w.shutdown.wr || w.err.is_some() {
                break;
            }
            if let (Some(need), Some(front)) = (creds.as_deref_mut(), w.sends.front()) {
                match *need {
                    Some(c) if c != front.creds => return (n, true),
                    Some(_) => {}
                    None => *need = Some(front.creds),
                }
            }
            let Some(mut p) = w.sends.pop_front() else {
                break;
            };
            let off = at.saturating_add(n);
            let k = p.remaining().min(len.saturating_sub(off));
            if !bufs.send_to_recv(p.token, p.offset, dst, off, k) {
                self.requeue_send(peer, p);
                break;
            }
            self.advance(&mut p, k);
            n = n.saturating_add(k);
            if p.remaining() == 0 {
                self.complete(p.token, peer, Ok(Completed::Sent(p.sent)));
            } else {
                self.requeue_send(peer, p);
            }
        }
        (n, false)
    }

    /// Whether the bytes of `reader`'s peer's front pending send carry credentials.
    fn writer_front_creds(&self, reader: SocketId) -> Option<bool> {
        let peer = self.sockets.get(reader)?.peer()?;
        Some(self.sockets.get(peer)?.sends.front()?.creds)
    }

    pub(super) fn pend_recv(
        &mut self,
        id: SocketId,
        len: usize,
        flags: RecvFlags,
        filled: usize,
        first_creds: Option<bool>,
        token: Token,
    ) -> Result<(), Errno> {
        self.prepare_token(token)?;
        let sock = self.sock_mut(id)?;
        let slot = sock
            .recvs
            .push_back(PendingRecv {
                token,
                len,
                peek: flags.peek,
                waitall: flags.waitall,
                filled,
                first_creds,
                rights_room: flags.rights_room,
            })
            .map_err(|(e, _)| e)?;
        if let Err(e) = self.register(token, Waiting::Recv { socket: id, slot }) {
            if let Ok(s) = self.sock_mut(id) {
                let _ = s.recvs.remove(slot);
            }
            return Err(e);
        }
        Ok(())
    }

    /// After bytes left our queue (or a recv started waiting), the peer's waiting sends may
    /// go on.
    /// Copies `k` bytes of the peer's front pending send into recv `dst`'s buffer at `at`,
    /// without taking them (MSG_PEEK).
    fn peek_from_writer(
        &mut self,
        id: SocketId,
        dst: Token,
        at: usize,
        k: usize,
        bufs: &mut dyn Buffers,
    ) -> bool {
        let Some(w) = self
            .sockets
            .get(id)
            .and_then(crate::socket::Socket::peer)
            .and_then(|p| self.sockets.get(p))
        else {
            return false;
        };
        let Some(front) = w.sends.front() else {
            return false;
        };
        bufs.send_to_recv(front.token, front.offset, dst, at, k)
    }

    pub(super) fn wake_writer(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        let peer = self.sockets.get(id).and_then(crate::socket::Socket::peer);
        if let Some(p) = peer {
            if self.sockets.get(p).is_some_and(|s| !s.sends.is_empty()) {
                self.service_sends(p, bufs);
            }
        }
    }

    /// Completes pending recvs that can complete, oldest first, with the same rules as
    /// `recv` (data, then the pending error, then end of file).
    pub(crate) fn service_recvs(&mut self, id: SocketId, bufs: &mut dyn Buffers) {
        if self.sockets.get(id).is_some_and(|s| s.kind.is_message()) {
            self.service_msg_recvs(id, bufs);
            return;
        }
        let mut consumed = false;
        while let Some(sock) = self.sockets.get_mut(id) {
            let Some(front) = sock.recvs.front_mut() else {
                break;
            };
            let had_data = !sock.rx.is_empty();
            let token = front.token;
            // A reader with SO_PASSCRED takes only bytes with the credentials of its first
            // ones, and completes at a change (`unix_stream_read_generic`).
            let check_creds = sock.options.passcred || front.first_creds.is_some();
            let (front_creds, run) = sock.rx_creds.front_run();
            let available = if check_creds {
                run.min(sock.rx.len())
            } else {
                sock.rx.len()
            };
            let other_creds = check_creds
                && had_data
                && front.filled > 0
                && front.first_creds.is_some_and(|c| c != front_creds);
            // Bytes for this recv: a peek copies the queue's front, a read takes it.
            let want = if other_creds {
                0
            } else if front.peek {
                front.len.min(available)
            } else {
                front.len.saturating_sub(front.filled()).min(available)
            };
            if want > 0 && sock.options.passcred {
                front.first_creds.get_or_insert(front_creds);
            }
            // Bytes of other credentials wait behind these: this recv ends with what it has.
            let cut =
                other_creds || (check_creds && want == available && available < sock.rx.len());
            let at = front.filled();
            let mut moved: usize = 0;
            // The caller's buffer is out of reach in this call (it passed no `Buffers`):
            // leave the recv waiting, the bytes queued.
            let mut unreachable = false;
            for part in front_parts(sock.rx.as_slices(), want) {
                if part.is_empty() {
                    continue;
                }
                if !bufs.write_recv(token, at.saturating_add(moved), part) {
                    unreachable = true;
                    break;
                }
                moved = moved.saturating_add(part.len());
            }
            front.filled = front.filled.saturating_add(moved);
            if !front.peek && moved > 0 {
                sock.rx.consume(moved);
                sock.rx_creds.take(moved);
                consumed = true;
                // Into the caller's buffer: the engine no longer holds them.
                self.memory_used = self.memory_used.saturating_sub(moved);
                self.quota.take_bytes(sock.rx_user, moved);
            }
            if unreachable {
                break;
            }
            let Some(sock) = self.sockets.get_mut(id) else {
                break;
            };
            let Some(front) = sock.recvs.front() else {
                break;
            };
            let target = if front.waitall { front.len.max(1) } else { 1 };
            let done: Option<Result<(), Errno>> = if front.peek {
                (had_data).then_some(Ok(()))
            } else if front.filled() >= target
                || (front.len == 0 && had_data)
                || (cut && front.filled() > 0)
            {
                Some(Ok(()))
            } else {
                None
            };
            let done = match done {
                Some(d) => Some(d),
                None if sock.rx.is_empty() => {
                    if let Some(e) = sock.err.take() {
                        Some(Err(e))
                    } else if sock.shutdown.rd {
                        Some(Ok(()))
                    } else {
                        None
                    }
                }
                None => None,
            };
            let Some(done) = done else {
                break;
            };
            let Some(r) = sock.recvs.pop_front() else {
                break;
            };
            let result = recv_result(r, done);
            self.complete(token, id, result);
        }
        if consumed {
            self.settle_idle_ring(id);
            self.wake_writer(id, bufs);
        }
    }
}
