//! Passing handles (SCM_RIGHTS), in the shape of std's unstable ancillary-data API
//! (`std::os::unix::net::SocketAncillary`), with handles where std has descriptors.
//!
//! A sender adds handles of its own to a [`SocketAncillary`] and sends it with the bytes of
//! a message ([`UnixDatagram::send_vectored_with_ancillary`],
//! [`UnixSeqpacketConn::send_vectored_with_ancillary`]). The receiver gets, in its
//! [`SocketAncillary`], new handles of its own process to the same objects, with the access
//! the sender's handles had; they are the receiver's to close (wrap each in an
//! `OwnedHandle`). What may travel: handles to file objects (files, pipes, devices, sockets
//! of this driver and of Winsock); anything else is refused with EBADF. A control buffer too
//! small for every handle gets what fits, [`SocketAncillary::truncated`] says so, and the
//! driver closes the rest.
//!
//! The buffer holds control messages laid out as Winsock's `WSACMSGHDR` (see
//! `afunix_proto::cmsg`): `SOL_SOCKET` (0xFFFF) level, `SCM_RIGHTS` (1), 8-byte handle
//! values.
//!
//! Stream sockets do not carry handles yet (EOPNOTSUPP); see the README.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::windows::io::{AsRawHandle, BorrowedHandle, RawHandle};
use std::path::Path;

use afunix_core::Errno;
use afunix_proto::cmsg::{self, SCM_RIGHTS, SOL_SOCKET_WINSOCK};
use afunix_proto::wire::MSG_CTRUNC;

use super::datagram::reported;
use super::vectored::{gather, scatter};
use super::{Socket, SocketAddr, UnixDatagram, UnixSeqpacketConn, UnixStream};
use crate::channel::io_error;

/// A control-message buffer for sending and receiving handles.
#[derive(Debug)]
pub struct SocketAncillary<'a> {
    buffer: &'a mut [u8],
    length: usize,
    truncated: bool,
}

impl<'a> SocketAncillary<'a> {
    /// An empty buffer over `buffer`. Each SCM_RIGHTS message takes 16 bytes of header and
    /// 8 per handle.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        SocketAncillary {
            buffer,
            length: 0,
            truncated: false,
        }
    }

    /// The buffer's size.
    pub fn capacity(&self) -> usize {
        self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The bytes of control messages it holds.
    pub fn len(&self) -> usize {
        self.length
    }

    /// The control messages it holds.
    pub fn messages(&self) -> Messages<'_> {
        Messages {
            inner: Box::new(cmsg::parse(
                self.buffer.get(..self.length).unwrap_or_default(),
            )),
        }
    }

    /// Whether the last receive had more handles than room for them (`MSG_CTRUNC`): the
    /// rest were closed.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Adds an SCM_RIGHTS message passing `handles`; false (and nothing added) if it does not
    /// fit.
    pub fn add_handles(&mut self, handles: &[BorrowedHandle<'_>]) -> bool {
        let values: Vec<u64> = handles.iter().map(|h| h.as_raw_handle() as u64).collect();
        let Some(rest) = self.buffer.get_mut(self.length..) else {
            return false;
        };
        match cmsg::write_rights(rest, &values) {
            Some(used) => {
                self.length = self.length.saturating_add(used);
                true
            }
            None => false,
        }
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.length = 0;
        self.truncated = false;
    }

    /// The handle values of every SCM_RIGHTS message, to send; EINVAL for a malformed or
    /// unknown message, as Linux's `__scm_send` gives.
    fn handles_to_send(&self) -> io::Result<Vec<u64>> {
        let mut out = Vec::new();
        for m in cmsg::parse(self.buffer.get(..self.length).unwrap_or_default()) {
            let m = m.map_err(|_| io_error(Errno::EINVAL))?;
            if (m.level, m.ty) != (SOL_SOCKET_WINSOCK, SCM_RIGHTS) {
                return Err(io_error(Errno::EINVAL));
            }
            out.extend(cmsg::handles(m.data));
        }
        Ok(out)
    }

    /// Room for handles in a receive.
    fn room(&self) -> usize {
        cmsg::rights_room(self.buffer.len())
    }

    /// What a receive got: its handles as one SCM_RIGHTS message, and its flags.
    fn received(&mut self, handles: &[u64], msg_flags: u32) {
        self.clear();
        self.truncated = msg_flags & MSG_CTRUNC != 0;
        if !handles.is_empty() {
            if let Some(used) = cmsg::write_rights(self.buffer, handles) {
                self.length = used;
            }
        }
    }
}

/// One control message.
#[derive(Debug)]
pub enum AncillaryData<'a> {
    /// Handles passed: new handles of the receiving process (see [`ScmRights`]).
    ScmRights(ScmRights<'a>),
}

/// The handles of an SCM_RIGHTS message. Received, they are the receiver's own: wrap each in
/// an `OwnedHandle` (`FromRawHandle`), or close it.
#[derive(Debug)]
pub struct ScmRights<'a>(&'a [u8]);

impl Iterator for ScmRights<'_> {
    type Item = RawHandle;

    fn next(&mut self) -> Option<RawHandle> {
        let (first, rest) = self.0.split_at_checked(cmsg::HANDLE_BYTES)?;
        self.0 = rest;
        let value = u64::from_ne_bytes(first.try_into().ok()?);
        Some(value as RawHandle)
    }
}

/// A control message of a kind this library does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AncillaryError {
    Unknown { cmsg_level: i32, cmsg_type: i32 },
}

/// The control messages of a [`SocketAncillary`].
pub struct Messages<'a> {
    inner: Box<dyn Iterator<Item = Result<cmsg::Cmsg<'a>, cmsg::CmsgError>> + 'a>,
}

impl std::fmt::Debug for Messages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Messages")
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<AncillaryData<'a>, AncillaryError>;

    fn next(&mut self) -> Option<Self::Item> {
        let m = match self.inner.next()? {
            Ok(m) => m,
            Err(_) => {
                return Some(Err(AncillaryError::Unknown {
                    cmsg_level: 0,
                    cmsg_type: 0,
                }));
            }
        };
        Some(if (m.level, m.ty) == (SOL_SOCKET_WINSOCK, SCM_RIGHTS) {
            Ok(AncillaryData::ScmRights(ScmRights(m.data)))
        } else {
            Err(AncillaryError::Unknown {
                cmsg_level: m.level,
                cmsg_type: m.ty,
            })
        })
    }
}

impl Socket {
    /// Sends the concatenation of `bufs` as one message (one write of a stream) with the
    /// handles of `ancillary`, to the peer or to `to`.
    fn send_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &mut SocketAncillary<'_>,
        to: Option<&[u8]>,
    ) -> io::Result<usize> {
        let handles = ancillary.handles_to_send()?;
        let sent = if bufs.iter().all(|b| b.is_empty()) {
            // An empty message still carries its handles (and is one message).
            self.send_objects(&[], 0, &handles, to)
        } else {
            gather(bufs, |data| self.send_objects(data, 0, &handles, to))
        }?;
        ancillary.clear();
        Ok(sent)
    }

    /// Receives one message into `bufs` with the handles that came with it into
    /// `ancillary`: the count, whether the message was cut short, and its sender.
    fn recv_with_ancillary(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<(usize, bool, SocketAddr)> {
        let room = ancillary.room();
        let mut got = None;
        let n = if bufs.iter().all(|b| b.is_empty()) {
            let r = self.recv_objects(&mut [], 0, room)?;
            let n = r.0;
            got = Some(r);
            n
        } else {
            scatter(bufs, |buf| {
                let r = self.recv_objects(buf, 0, room)?;
                let n = r.0;
                got = Some(r);
                Ok(n)
            })?
        };
        let Some((_, from, handles)) = got else {
            return Err(io_error(Errno::EINVAL));
        };
        ancillary.received(&handles, from.msg_flags);
        let cut = from.truncated();
        Ok((n, cut, reported(from.sockaddr())?))
    }
}

impl UnixDatagram {
    /// Sends the concatenation of `bufs` as one message to the connected peer, passing the
    /// handles `ancillary` holds (emptied once sent).
    pub fn send_vectored_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<usize> {
        self.socket.send_with_ancillary(bufs, ancillary, None)
    }

    /// As [`UnixDatagram::send_vectored_with_ancillary`], to the socket at `path`.
    pub fn send_vectored_with_ancillary_to<P: AsRef<Path>>(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &mut SocketAncillary<'_>,
        path: P,
    ) -> io::Result<usize> {
        let to = SocketAddr::from_pathname(path)?.to_sockaddr();
        self.socket.send_with_ancillary(bufs, ancillary, Some(&to))
    }

    /// Receives one message into `bufs`, and its handles into `ancillary`: the count, and
    /// whether the message was longer than `bufs` (the rest is gone).
    pub fn recv_vectored_with_ancillary(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<(usize, bool)> {
        let (n, cut, _) = self.socket.recv_with_ancillary(bufs, ancillary)?;
        Ok((n, cut))
    }

    /// As [`UnixDatagram::recv_vectored_with_ancillary`], with the sender's address.
    pub fn recv_vectored_with_ancillary_from(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<(usize, bool, SocketAddr)> {
        self.socket.recv_with_ancillary(bufs, ancillary)
    }
}

impl UnixSeqpacketConn {
    /// Sends the concatenation of `bufs` as one record, passing the handles `ancillary`
    /// holds (emptied once sent).
    pub fn send_vectored_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<usize> {
        self.socket.send_with_ancillary(bufs, ancillary, None)
    }

    /// Receives one record into `bufs`, and its handles into `ancillary`: the count, and
    /// whether the record was longer than `bufs`.
    pub fn recv_vectored_with_ancillary(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<(usize, bool)> {
        let (n, cut, _) = self.socket.recv_with_ancillary(bufs, ancillary)?;
        Ok((n, cut))
    }
}

impl UnixStream {
    /// std's signature; a stream does not carry handles yet: with any, EOPNOTSUPP, and
    /// without, a plain write.
    pub fn send_vectored_with_ancillary(
        &self,
        bufs: &[IoSlice<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<usize> {
        self.socket.send_with_ancillary(bufs, ancillary, None)
    }

    /// std's signature; a stream carries no handles yet, so `ancillary` comes back empty.
    pub fn recv_vectored_with_ancillary(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        ancillary: &mut SocketAncillary<'_>,
    ) -> io::Result<usize> {
        self.socket
            .recv_with_ancillary(bufs, ancillary)
            .map(|(n, _, _)| n)
    }
}
