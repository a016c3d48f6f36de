//! Moving bytes: send, recv, shutdown, and the wake-ups they cause.
//!
//! Bytes move as few times as the sans-IO shape allows. A send copies into the peer's oldest
//! waiting recv when its queue is empty (the WSK "receive event"), else into the queue. With
//! the in-place calls ([`Engine::send_in_place`], [`Engine::recv_in_place`]) a pending recv's
//! bytes are written straight into the caller's buffer and a pending send's bytes stay in the
//! caller's buffer until they move, both through the caller's [`Buffers`]; a recv that empties
//! the queue then takes the rest straight from a waiting sender. So a byte is copied once from
//! a waiting writer to a waiting reader, and at most twice otherwise.

use alloc::collections::VecDeque;

use crate::socket::{PendingRecv, RecvStorage};
use crate::{Completed, Errno, Shutdown, SocketId, Token};

use super::Engine;

/// The caller's buffers of pending in-place operations (in the driver: the IRPs' locked
/// buffers). Offsets are from the start of the buffer given to the call that went pending.
/// Each method returns false if it cannot (unknown token, out of range); the engine then
/// leaves the bytes where they were.
pub trait Buffers {
    /// Copies `src` into pending recv `token`'s buffer at `offset`.
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool;
    /// Copies pending send `token`'s bytes at `offset` into `dst`.
    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool;
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

/// No caller buffers: for callers that use only the owned-buffer calls.
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

/// Where bytes being delivered come from.
#[derive(Clone, Copy)]
pub(super) enum Src<'a> {
    Slice(&'a [u8]),
    /// A pending in-place send's buffer, from `offset`.
    Caller {
        token: Token,
        offset: usize,
    },
}

impl Src<'_> {
    pub(super) fn skip(self, n: usize) -> Self {
        match self {
            Src::Slice(s) => Src::Slice(s.get(n..).unwrap_or(&[])),
            Src::Caller { token, offset } => Src::Caller {
                token,
                offset: offset.saturating_add(n),
            },
        }
    }
}

/// The completion result of a finished pending recv. `err` is used when it got nothing.
pub(crate) fn recv_result(r: PendingRecv, err: Result<(), Errno>) -> Result<Completed, Errno> {
    let filled = r.filled();
    match (err, r.storage) {
        (Err(e), _) if filled == 0 || r.peek => Err(e),
        (_, RecvStorage::Owned(v)) => Ok(Completed::Received(v)),
        (_, RecvStorage::Caller { filled }) => Ok(Completed::ReceivedInPlace(filled)),
    }
}

/// Where received bytes go in an immediate recv.
pub(super) enum Dst<'a> {
    /// The caller's slice.
    Slice(&'a mut [u8]),
    /// The caller's buffer for this token, through `Buffers`.
    Caller(Token),
}

impl Dst<'_> {
    /// Copies `src` to `offset`.
    pub(super) fn put(&mut self, bufs: &mut dyn Buffers, offset: usize, src: &[u8]) -> bool {
        match self {
            Dst::Slice(d) => d
                .get_mut(offset..offset.saturating_add(src.len()))
                .map(|d| d.copy_from_slice(src))
                .is_some(),
            Dst::Caller(token) => src.is_empty() || bufs.write_recv(*token, offset, src),
        }
    }
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
    pub fn shutdown(&mut self, id: SocketId, how: Shutdown) -> Result<(), Errno> {
        self.shutdown_in_place(id, how, &mut NoBuffers)
    }

    /// `shutdown`, with the caller's buffers: a pending in-place send that ends because of
    /// it first delivers the bytes its reader could already see (see
    /// [`Engine::cancel_in_place`]).
    pub fn shutdown_in_place(
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
        let accepts = match sock.listener_mut() {
            Some(l) if rd => core::mem::take(&mut l.accepts),
            _ => VecDeque::new(),
        };
        for (token, target) in accepts {
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
