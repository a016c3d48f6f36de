//! Requests' data buffers owned by the caller's state, by token: the [`Buffers`] of a caller
//! that keeps each send's and recv's bytes in a `Vec` of its own while the request runs (the
//! library's in-process transport for its waiting requests, and tests), as the driver keeps
//! them in its IRPs' pages.

use alloc::vec::Vec;

use crate::{Buffers, Errno, SortedMap, Token};

/// Send and recv buffers by token.
#[derive(Debug, Default)]
pub struct OwnedBuffers(SortedMap<Token, Vec<u8>>);

impl OwnedBuffers {
    #[must_use]
    pub fn new() -> OwnedBuffers {
        OwnedBuffers(SortedMap::new())
    }

    /// Gives request `token` its buffer (a SEND's bytes, or a RECV's room).
    pub fn insert(&mut self, token: Token, buffer: Vec<u8>) -> Result<(), Errno> {
        self.0.try_insert(token, buffer)
    }

    /// Takes a finished request's buffer back (a RECV's bytes are at its start).
    pub fn remove(&mut self, token: Token) -> Option<Vec<u8>> {
        self.0.remove(&token)
    }

    /// Request `token`'s buffer.
    #[must_use]
    pub fn get(&self, token: Token) -> Option<&[u8]> {
        self.0.get(&token).map(Vec::as_slice)
    }
}

/// `len` bytes of a request's buffer from `offset`, if it holds them.
#[must_use]
pub fn byte_range(buf: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    buf.get(offset..offset.checked_add(len)?)
}

/// [`byte_range`], to write.
#[must_use]
pub fn byte_range_mut(buf: &mut [u8], offset: usize, len: usize) -> Option<&mut [u8]> {
    buf.get_mut(offset..offset.checked_add(len)?)
}

impl Buffers for OwnedBuffers {
    fn write_recv(&mut self, token: Token, offset: usize, src: &[u8]) -> bool {
        self.0
            .get_mut(&token)
            .and_then(|b| byte_range_mut(b, offset, src.len()))
            .map(|d| d.copy_from_slice(src))
            .is_some()
    }

    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        self.0
            .get(&token)
            .and_then(|b| byte_range(b, offset, dst.len()))
            .map(|s| dst.copy_from_slice(s))
            .is_some()
    }

    fn send_to_recv(
        &mut self,
        send: Token,
        send_offset: usize,
        recv: Token,
        recv_offset: usize,
        len: usize,
    ) -> bool {
        // Two entries of one map: the bytes go through a copy (this is not the driver's
        // one-copy path, only its stand-in).
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(len).is_err() {
            return false;
        }
        bytes.resize(len, 0);
        self.read_send(send, send_offset, &mut bytes) && self.write_recv(recv, recv_offset, &bytes)
    }
}
