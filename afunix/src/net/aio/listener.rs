//! The async `UnixListener`, as `tokio::net::UnixListener`.

use std::io;
use std::path::Path;
use std::task::{Context, Poll};

use afunix_proto::ioctl::IOCTL_AFUNIX_GETSOCKNAME;

use super::{Evented, READABLE, UnixStream};
use crate::net::{Net, SOCK_STREAM, Socket, SocketAddr};

/// tokio's backlog for `UnixListener::bind` (Linux caps it at `somaxconn`, 4096).
const BACKLOG: i32 = 1024;

/// An async listening Unix stream socket, as `tokio::net::UnixListener`.
pub struct UnixListener {
    io: Evented,
}

impl UnixListener {
    /// The socket underneath, for the handle conversions.
    pub(crate) fn socket(&self) -> &Socket {
        &self.io.socket
    }

    /// Creates the socket file at `path` and listens on it (backlog 1024, as tokio).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_addr_on(&Net::system(), &super::address_of(path.as_ref())?)
    }

    /// Binds to `addr` (a pathname or an abstract name) and listens.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::bind_addr_on(&Net::system(), addr)
    }

    /// As [`UnixListener::bind_addr`], on `net`.
    pub fn bind_addr_on(net: &Net, addr: &SocketAddr) -> io::Result<UnixListener> {
        let socket = net.listening(SOCK_STREAM, addr, BACKLOG)?;
        Ok(UnixListener {
            io: Evented::new(socket)?,
        })
    }

    /// An async listener from a blocking one, which is put in non-blocking mode.
    pub fn from_std(listener: crate::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Evented::new(listener.socket)?,
        })
    }

    /// Back to a blocking listener.
    pub fn into_std(self) -> io::Result<crate::UnixListener> {
        self.io.into_socket().map(crate::UnixListener::from_socket)
    }

    /// Waits for a connection. Cancel-safe: a dropped future has accepted nothing, and the
    /// connection waits for the next accept.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, addr) = self.io.io(READABLE, |listener| listener.accept()).await?;
        Ok((UnixStream::accepted(socket)?, addr))
    }

    /// As [`UnixListener::accept`], for a poll function.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (socket, addr) =
            std::task::ready!(self.io.poll_io(&self.io.read, READABLE, cx, |l| l.accept()))?;
        Poll::Ready(UnixStream::accepted(socket).map(|stream| (stream, addr)))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.socket.take_error()
    }
}
