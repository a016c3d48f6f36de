//! Moving bytes: send, recv, shutdown, and the wake-ups they cause.
//!
//! Bytes move as few times as the sans-IO shape allows. Every send and recv names its data by
//! the request's token, and the engine reaches it through the caller's [`Buffers`] (the
//! driver: the IRP's locked pages): a send copies into the peer's oldest waiting recv's
//! buffer when its queue is empty (the WSK "receive event"), else into the queue; a pending
//! send's bytes stay in the caller's buffer until they move; a recv that empties the queue
//! then takes the rest straight from a waiting sender. So a byte is copied once from a
//! waiting writer to a waiting reader, and at most twice otherwise.

use alloc::vec::Vec;

use crate::queue::Queue;
use crate::socket::PendingRecv;
use crate::{Completed, Errno, Shutdown, SocketId, Token};

use super::Engine;

/// The caller's buffers of pending in-place operations (in the driver: the IRPs' locked
/// buffers). Offsets are from the start of the buffer given to the call that went pending.
/// Each method returns false if it cannot (unknown token, out of range, or a destination
/// that may not be written); the engine then leaves the bytes where they were.
///
/// Every buffer records whether it may be written: a RECV's may, a SEND's may not (the
/// driver locks a SEND's pages for reading only). An implementation refuses to write, by
/// `write_recv` or as the destination of `send_to_recv`, into a buffer that may not be
/// written, so that no mistake in the engine's bookkeeping (a stale or reused token) can
/// ever write into a SEND's pages.
pub trait Buffers {
    /// Copies `src` into pending recv `token`'s buffer at `offset`.
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool;
    /// Copies pending send `token`'s bytes at `offset` into `dst`.
    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool;
    /// Appends `len` of pending send `token`'s bytes at `offset` to `dst`, whose spare
    /// capacity the engine has reserved (a message being queued); false, leaving `dst` as it
    /// was, if it cannot. The default goes through [`Buffers::read_send`] into zeroed room;
    /// an implementation that reaches the bytes as a slice appends them without zeroing.
    fn append_send(&mut self, token: Token, offset: usize, len: usize, dst: &mut Vec<u8>) -> bool {
        let start = dst.len();
        let Some(end) = start.checked_add(len) else {
            return false;
        };
        if dst.try_reserve(len).is_err() {
            return false;
        }
        dst.resize(end, 0);
        let ok = dst
            .get_mut(start..)
            .is_some_and(|room| self.read_send(token, offset, room));
        if !ok {
            dst.truncate(start);
        }
        ok
    }
    /// Copies `len` bytes from pending send `send` at `send_offset` to pending recv `recv` at
    /// `recv_offset` (one copy, writer to reader).
    fn send_to_recv(
        &mut self,
        send: Token,
        send_offset: usize,
        recv: Token,
        recv_offset: usize,
        len: usize,
    ) -> bool;
}

/// No caller buffers: for calls that move no data (a caller with no request buffers; any
/// bytes that would move through them stay where they are).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBuffers;

impl Buffers for NoBuffers {
    fn write_recv(&mut self, _: Token, _: usize, _: &[u8]) -> bool {
        false
    }
    fn read_send(&mut self, _: Token, _: usize, _: &mut [u8]) -> bool {
        false
    }
    fn send_to_recv(&mut self, _: Token, _: usize, _: Token, _: usize, _: usize) -> bool {
        false
    }
}

/// Where bytes being delivered come from: a send's buffer, from `offset`; `creds`: whether
/// they carry their writer's credentials (`socket::CredRuns`).
#[derive(Clone, Copy)]
pub(super) struct Src {
    pub(super) token: Token,
    pub(super) offset: usize,
    pub(super) creds: bool,
}

impl Src {
    pub(super) fn skip(self, n: usize) -> Self {
        Src {
            offset: self.offset.saturating_add(n),
            ..self
        }
    }
}

/// The completion result of a finished pending recv. `err` is used when it got nothing.
pub(crate) fn recv_result(r: PendingRecv, err: Result<(), Errno>) -> Result<Completed, Errno> {
    match err {
        Err(e) if r.filled == 0 || r.peek => Err(e),
        _ => Ok(Completed::Received(r.filled)),
    }
}

/// Copies `src` into recv `token`'s buffer at `offset`.
pub(super) fn put(bufs: &mut dyn Buffers, token: Token, offset: usize, src: &[u8]) -> bool {
    src.is_empty() || bufs.write_recv(token, offset, src)
}

/// The two parts of the first `n` bytes of a two-part queue.
pub(super) fn front_parts<'a>((a, b): (&'a [u8], &'a [u8]), n: usize) -> [&'a [u8]; 2] {
    let from_a = n.min(a.len());
    [
        a.get(..from_a).unwrap_or(&[]),
        b.get(..n.saturating_sub(from_a).min(b.len()))
            .unwrap_or(&[]),
    ]
}

impl Engine {
    /// `unix_shutdown`: sets our bits and mirrors them to a connected peer (our SHUT_WR is the
    /// peer's RCV_SHUTDOWN and vice versa), then wakes whoever waits on either side. A
    /// listener shut for reading refuses connects, and its pending accepts fail with EINVAL.
    /// A pending send that ends because of it first delivers the bytes its reader could
    /// already see (see [`Engine::cancel`]).
    pub fn shutdown(
        &mut self,
        id: SocketId,
        how: Shutdown,
        bufs: &mut dyn Buffers,
    ) -> Result<(), Errno> {
        let (rd, wr) = match how {
            Shutdown::Read => (true, false),
            Shutdown::Write => (false, true),
            Shutdown::Both => (true, true),
        };
        let sock = self.sock_mut(id)?;
        sock.shutdown.rd |= rd;
        sock.shutdown.wr |= wr;
        let peer = sock.peer();
        let mut accepts = match sock.listener_mut() {
            Some(l) if rd => core::mem::take(&mut l.accepts),
            _ => Queue::new(),
        };
        while let Some((token, target)) = accepts.pop_front() {
            if let Some(s) = self.sockets.get_mut(target) {
                s.reserved_by = None;
            }
            self.complete(token, id, Err(Errno::EINVAL));
        }
        if let Some(p) = peer {
            if let Some(ps) = self.sockets.get_mut(p) {
                ps.shutdown.rd |= wr;
                ps.shutdown.wr |= rd;
            }
            self.service_recvs(p, bufs);
            self.service_sends(p, bufs);
        }
        self.service_recvs(id, bufs);
        self.service_sends(id, bufs);
        Ok(())
    }
}
