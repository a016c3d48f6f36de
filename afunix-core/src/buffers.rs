//! Requests' data buffers owned by the caller's state, by token: the [`Buffers`] of a caller
//! that keeps each send's and recv's bytes in a `Vec` of its own while the request runs (the
//! library's in-process transport for its waiting requests, and tests), as the driver keeps
//! them in its IRPs' pages.
//!
//! Each buffer records whether it may be written: a RECV's room may, a SEND's bytes may not
//! (the driver locks a SEND's pages for reading only). Writing into a read-only buffer is
//! refused like writing past its end, so whatever the engine asks, a SEND's bytes never change.

use alloc::vec::Vec;

use crate::{Buffers, Errno, KeyedHash, KeyedMap, Token};

/// A request's buffer and whether the engine may write it.
#[derive(Debug)]
struct Owned {
    bytes: Vec<u8>,
    writable: bool,
}

/// Send and recv buffers by token.
#[derive(Debug)]
pub struct OwnedBuffers(KeyedMap<Token, Owned>);

impl Default for OwnedBuffers {
    fn default() -> Self {
        Self::new()
    }
}

impl OwnedBuffers {
    #[must_use]
    pub fn new() -> OwnedBuffers {
        // Tokens are the caller's own; nothing a program chooses is hashed here.
        OwnedBuffers(KeyedMap::new(KeyedHash::new(0)))
    }

    /// Gives SEND request `token` its bytes, which the engine may only read.
    pub fn insert_send(&mut self, token: Token, bytes: Vec<u8>) -> Result<(), Errno> {
        self.0.try_insert(
            token,
            Owned {
                bytes,
                writable: false,
            },
        )
    }

    /// Gives RECV request `token` its room, which the engine writes.
    pub fn insert_recv(&mut self, token: Token, room: Vec<u8>) -> Result<(), Errno> {
        self.0.try_insert(
            token,
            Owned {
                bytes: room,
                writable: true,
            },
        )
    }

    /// Takes a finished request's buffer back (a RECV's bytes are at its start).
    pub fn remove(&mut self, token: Token) -> Option<Vec<u8>> {
        self.0.remove(&token).map(|o| o.bytes)
    }

    /// Request `token`'s buffer.
    #[must_use]
    pub fn get(&self, token: Token) -> Option<&[u8]> {
        self.0.get(&token).map(|o| o.bytes.as_slice())
    }

    /// `len` bytes of request `token`'s buffer from `offset` to write, if it has them and
    /// may be written.
    fn writable(&mut self, token: Token, offset: usize, len: usize) -> Option<&mut [u8]> {
        self.0
            .get_mut(&token)
            .filter(|o| o.writable)
            .and_then(|o| byte_range_mut(&mut o.bytes, offset, len))
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
        self.writable(token, offset, src.len())
            .map(|d| d.copy_from_slice(src))
            .is_some()
    }

    fn read_send(&mut self, token: Token, offset: usize, dst: &mut [u8]) -> bool {
        self.0
            .get(&token)
            .and_then(|o| byte_range(&o.bytes, offset, dst.len()))
            .map(|s| dst.copy_from_slice(s))
            .is_some()
    }

    fn append_send(&mut self, token: Token, offset: usize, len: usize, dst: &mut Vec<u8>) -> bool {
        let Some(src) = self
            .0
            .get(&token)
            .and_then(|o| byte_range(&o.bytes, offset, len))
        else {
            return false;
        };
        if dst.try_reserve(len).is_err() {
            return false;
        }
        dst.extend_from_slice(src);
        true
    }

    fn send_to_recv(
        &mut self,
        send: Token,
        send_offset: usize,
        recv: Token,
        recv_offset: usize,
        len: usize,
    ) -> bool {
        // Two entries of one map: the send's bytes are taken out while they are copied, and
        // put back, so that nothing is allocated here, as nothing is in the driver's copy
        // between two requests' pages.
        let Some(from) = self.0.get_mut(&send) else {
            return false;
        };
        let bytes = core::mem::take(&mut from.bytes);
        let ok = byte_range(&bytes, send_offset, len)
            .is_some_and(|src| self.write_recv(recv, recv_offset, src));
        if let Some(from) = self.0.get_mut(&send) {
            from.bytes = bytes;
        }
        ok
    }
}
