//! `UnixListener`.

use std::fmt;
use std::io;
use std::path::Path;

use afunix_proto::ioctl::IOCTL_AFUNIX_GETSOCKNAME;

use super::{Net, Socket, SocketAddr, UnixStream};

/// A listening Unix stream socket, as `std::os::unix::net::UnixListener`.
pub struct UnixListener {
    pub(super) socket: Socket,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.finish()
    }
}

impl UnixListener {
    pub(crate) fn from_socket(socket: Socket) -> UnixListener {
        UnixListener { socket }
    }

    /// Creates the socket file at `path` and listens on it (backlog 128, as std).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Net::system().bind(path)
    }

    /// Binds to `addr` (a pathname or an abstract name) and listens.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        Net::system().bind_addr(addr)
    }

    /// Waits for a connection; returns it and the peer's address.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, addr) = self.socket.accept()?;
        Ok((UnixStream::from_socket(socket), addr))
    }

    pub fn try_clone(&self) -> io::Result<UnixListener> {
        self.socket.try_clone().map(UnixListener::from_socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.socket.set_nonblocking(nonblocking)
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// An endless iterator of incoming connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// The connections a listener accepts; see [`UnixListener::incoming`]. It never ends.
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }

    /// Endless, as std's: at least `usize::MAX` items, no upper bound.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}
