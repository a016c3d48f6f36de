//! Async seqpacket sockets. tokio has none; the names and methods are those of the
//! tokio-seqpacket crate (`UnixSeqpacketListener`, `UnixSeqpacket`).

use std::io;
use std::net::Shutdown;
use std::path::Path;

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};

use super::{Evented, READABLE, WRITABLE};
use crate::net::{Net, PeerCred, SOCK_SEQPACKET, Socket, SocketAddr};

/// An async listening seqpacket socket.
pub struct UnixSeqpacketListener {
    io: Evented,
}

/// An async connected seqpacket socket: each send is one record, each receive takes one.
pub struct UnixSeqpacket {
    io: Evented,
}

impl UnixSeqpacketListener {
    /// The socket underneath, for the handle conversions.
    pub(crate) fn socket(&self) -> &Socket {
        &self.io.socket
    }

    /// Creates the socket file at `path` and listens on it (backlog 128).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixSeqpacketListener> {
        UnixSeqpacketListener::bind_addr_on(&Net::system(), &SocketAddr::from_pathname(path)?)
    }

    /// As [`UnixSeqpacketListener::bind`], to `addr` on `net`.
    pub fn bind_addr_on(net: &Net, addr: &SocketAddr) -> io::Result<UnixSeqpacketListener> {
        Ok(UnixSeqpacketListener {
            io: Evented::new(net.listening(SOCK_SEQPACKET, addr, 128)?)?,
        })
    }

    /// Waits for a connection. Cancel-safe, as `UnixListener::accept`.
    pub async fn accept(&self) -> io::Result<UnixSeqpacket> {
        let (socket, _) = self.io.io(READABLE, |listener| listener.accept()).await?;
        UnixSeqpacket::new(socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }
}

impl UnixSeqpacket {
    /// The socket underneath, for the handle conversions.
    pub(crate) fn socket(&self) -> &Socket {
        &self.io.socket
    }

    fn new(socket: Socket) -> io::Result<UnixSeqpacket> {
        Ok(UnixSeqpacket {
            io: Evented::new(socket)?,
        })
    }

    /// Connects to the listener at `path`; as `UnixStream::connect`, the connect waits
    /// without a thread, and a dropped future cancels it.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixSeqpacket> {
        UnixSeqpacket::connect_addr_on(&Net::system(), &SocketAddr::from_pathname(path)?).await
    }

    /// As [`UnixSeqpacket::connect`], to `addr` on `net`.
    pub async fn connect_addr_on(net: &Net, addr: &SocketAddr) -> io::Result<UnixSeqpacket> {
        UnixSeqpacket::new(super::connect(net, SOCK_SEQPACKET, addr).await?)
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixSeqpacket, UnixSeqpacket)> {
        UnixSeqpacket::pair_on(&Net::system())
    }

    /// As [`UnixSeqpacket::pair`], on `net`.
    pub fn pair_on(net: &Net) -> io::Result<(UnixSeqpacket, UnixSeqpacket)> {
        let (a, b) = net.socket_pair(SOCK_SEQPACKET)?;
        Ok((UnixSeqpacket::new(a)?, UnixSeqpacket::new(b)?))
    }

    /// Sends `buf` as one record, waiting for room. Cancel-safe: a dropped future sent
    /// nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(WRITABLE, |socket| socket.send(buf, 0)).await
    }

    /// Receives one record (what does not fit in `buf` is discarded). Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(READABLE, |socket| socket.recv(buf, 0)).await
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETPEERNAME)
    }

    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        self.io.socket.peer_cred()
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.socket.shutdown(how)
    }
}
