//! `UnixDatagram`.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};
use afunix_proto::wire::MSG_PEEK;

use super::{Net, Socket, SocketAddr};

/// A Unix datagram socket, as `std::os::unix::net::UnixDatagram`.
///
/// Each send is one message and each receive takes one message whole: what does not fit in
/// the buffer is discarded, as Linux does it. A socket with a name can be sent to by any
/// socket of the same [`Net`] that names it; one that is connected receives only from its
/// peer.
pub struct UnixDatagram {
    pub(super) socket: Socket,
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixDatagram");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}

/// The address a reply reports: a sender without a name is reported with no bytes at all, as
/// Linux's recvfrom reports it, and std takes that as the unnamed address.
pub(super) fn reported(sockaddr: &[u8]) -> io::Result<SocketAddr> {
    if sockaddr.is_empty() {
        Ok(SocketAddr::unnamed())
    } else {
        SocketAddr::from_sockaddr(sockaddr)
    }
}

impl UnixDatagram {
    pub(crate) fn from_socket(socket: Socket) -> UnixDatagram {
        UnixDatagram { socket }
    }

    /// A socket bound to `path` (which it creates as a socket file).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Net::system().bind_datagram(path)
    }

    /// A socket bound to `addr` (a pathname or an abstract name).
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        Net::system().bind_datagram_addr(addr)
    }

    /// A socket with no name, not connected.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Net::system().unbound_datagram()
    }

    /// An unnamed pair of sockets connected to each other.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        Net::system().datagram_pair()
    }

    /// Makes the socket at `path` this socket's peer: `send` goes there, and only its
    /// messages are received. Connecting again changes the peer.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// As [`UnixDatagram::connect`], to a pathname or an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.socket.connect(addr)
    }

    /// Another handle on the same socket.
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        self.socket.try_clone().map(UnixDatagram::from_socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    /// The connected peer's address; `NotConnected` when there is none.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETPEERNAME)
    }

    /// Receives one message: the bytes copied into `buf`, and who sent it.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.socket.recv_from(buf, 0)?;
        Ok((n, reported(from.sockaddr())?))
    }

    /// Receives one message: the bytes copied into `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf, 0)
    }

    /// Sends `buf` as one message to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.send_to_addr(buf, &SocketAddr::from_pathname(path)?)
    }

    /// Sends `buf` as one message to `addr`.
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        self.socket.send_to(buf, 0, &addr.to_sockaddr())
    }

    /// Sends `buf` as one message to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf, 0)
    }

    /// `None` waits for ever; `Some(Duration::ZERO)` is refused, as std refuses it. A receive
    /// that times out fails with `WouldBlock`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// As [`UnixDatagram::set_read_timeout`], for sends that wait for room at the receiver.
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

    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// The next message's bytes, left queued (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf, MSG_PEEK)
    }

    /// The next message's bytes and its sender, left queued (`MSG_PEEK`).
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self.socket.recv_from(buf, MSG_PEEK)?;
        Ok((n, reported(from.sockaddr())?))
    }

    /// The value of the underlying handle (on Windows, the driver's HANDLE).
    #[cfg(windows)]
    pub(crate) fn raw_handle_value(&self) -> u64 {
        self.socket.endpoint.handle_value()
    }
}
