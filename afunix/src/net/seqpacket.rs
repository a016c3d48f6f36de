//! `UnixSeqpacketListener` and `UnixSeqpacketConn`: `SOCK_SEQPACKET`, shaped as the `uds` and
//! `tokio-seqpacket` crates shape them on Linux (blocking, as `uds`'s).
//!
//! A seqpacket connection is made as a stream's is (bind and listen, connect, accept) and
//! carries messages as a connected datagram socket does: each send is one message, each
//! receive takes one whole, and what does not fit in the buffer is discarded.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::path::Path;
use std::time::Duration;

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};
use afunix_proto::wire::MSG_PEEK;

use super::{Net, PeerCred, Socket, SocketAddr, gather, scatter};

/// A listening seqpacket socket.
pub struct UnixSeqpacketListener {
    pub(super) socket: Socket,
}

impl fmt::Debug for UnixSeqpacketListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixSeqpacketListener");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.finish()
    }
}

impl UnixSeqpacketListener {
    pub(crate) fn from_socket(socket: Socket) -> UnixSeqpacketListener {
        UnixSeqpacketListener { socket }
    }

    /// Creates the socket file at `path` and listens on it (backlog 128).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixSeqpacketListener> {
        Net::system().bind_seqpacket(path)
    }

    /// As [`UnixSeqpacketListener::bind`], with the given backlog (`listen(2)`'s).
    pub fn bind_with_backlog<P: AsRef<Path>>(
        path: P,
        backlog: i32,
    ) -> io::Result<UnixSeqpacketListener> {
        Net::system().bind_seqpacket_with_backlog(path, backlog)
    }

    /// Binds to `addr` (a pathname or an abstract name) and listens.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixSeqpacketListener> {
        Net::system().bind_seqpacket_addr(addr)
    }

    /// `uds`'s name for [`UnixSeqpacketListener::bind_addr`].
    pub fn bind_unix_addr(addr: &SocketAddr) -> io::Result<UnixSeqpacketListener> {
        UnixSeqpacketListener::bind_addr(addr)
    }

    /// Waits for a connection; returns it and the peer's address.
    pub fn accept(&self) -> io::Result<(UnixSeqpacketConn, SocketAddr)> {
        let (socket, addr) = self.socket.accept()?;
        Ok((UnixSeqpacketConn::from_socket(socket), addr))
    }

    /// `uds`'s name for [`UnixSeqpacketListener::accept`].
    pub fn accept_unix_addr(&self) -> io::Result<(UnixSeqpacketConn, SocketAddr)> {
        self.accept()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    /// `uds`'s name for [`UnixSeqpacketListener::local_addr`].
    pub fn local_unix_addr(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }

    /// `accept` fails with `WouldBlock` rather than waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// How long `accept` waits (`SO_RCVTIMEO`); `None` for ever, zero refused.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// Another handle listening for the same connections.
    pub fn try_clone(&self) -> io::Result<UnixSeqpacketListener> {
        self.socket
            .try_clone()
            .map(UnixSeqpacketListener::from_socket)
    }
}

/// A seqpacket connection.
pub struct UnixSeqpacketConn {
    pub(super) socket: Socket,
}

impl fmt::Debug for UnixSeqpacketConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixSeqpacketConn");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}

impl UnixSeqpacketConn {
    pub(crate) fn from_socket(socket: Socket) -> UnixSeqpacketConn {
        UnixSeqpacketConn { socket }
    }

    /// Connects to the listener at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixSeqpacketConn> {
        Net::system().connect_seqpacket(path)
    }

    /// Connects to the listener at `addr` (a pathname or an abstract name).
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixSeqpacketConn> {
        Net::system().connect_seqpacket_addr(addr)
    }

    /// `uds`'s name for [`UnixSeqpacketConn::connect_addr`].
    pub fn connect_unix_addr(addr: &SocketAddr) -> io::Result<UnixSeqpacketConn> {
        UnixSeqpacketConn::connect_addr(addr)
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixSeqpacketConn, UnixSeqpacketConn)> {
        Net::system().seqpacket_pair()
    }

    /// Sends `packet` as one message.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        self.socket.send(packet, 0)
    }

    /// Sends the buffers' concatenation as one message.
    pub fn send_vectored(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        gather(slices, |data| self.socket.send(data, 0))
    }

    /// Receives one message: the bytes copied into `buffer` (the rest of a longer message is
    /// discarded). At the end of the connection, 0.
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buffer, 0)
    }

    /// Receives one message into the buffers, filled in order.
    pub fn recv_vectored(&self, buffers: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        scatter(buffers, |buf| self.socket.recv(buf, 0))
    }

    /// The next message's bytes, left queued (`MSG_PEEK`).
    pub fn peek(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buffer, MSG_PEEK)
    }

    /// Another handle on the same connection.
    pub fn try_clone(&self) -> io::Result<UnixSeqpacketConn> {
        self.socket.try_clone().map(UnixSeqpacketConn::from_socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    /// `uds`'s name for [`UnixSeqpacketConn::local_addr`].
    pub fn local_unix_addr(&self) -> io::Result<SocketAddr> {
        self.local_addr()
    }

    /// The address of the socket at the other end (for an accepted connection, the
    /// listener's name).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETPEERNAME)
    }

    /// `uds`'s name for [`UnixSeqpacketConn::peer_addr`].
    pub fn peer_unix_addr(&self) -> io::Result<SocketAddr> {
        self.peer_addr()
    }

    /// The peer's process id and user SID (`SO_PEERCRED`), as recorded when the connection
    /// was made.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        self.socket.peer_cred()
    }

    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// `None` waits for ever; `Some(Duration::ZERO)` is refused, as std refuses it. A receive
    /// that times out fails with `WouldBlock`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// As [`UnixSeqpacketConn::set_read_timeout`], for sends that wait for room.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.socket.timeouts().read)
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.socket.timeouts().write)
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// The value of the underlying handle (on Windows, the driver's HANDLE).
    #[cfg(windows)]
    pub(crate) fn raw_handle_value(&self) -> u64 {
        self.socket.endpoint.handle_value()
    }
}
