//! `UnixStream`.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::path::Path;
use std::time::Duration;

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};
use afunix_proto::wire::MSG_PEEK;

use super::{Net, Socket, SocketAddr, gather, scatter};

/// The credentials of a socket's peer, recorded when the connection was made: its process
/// id, and the user SID (Windows has no uid; the SID is what identifies a user there),
/// integrity level and sandboxing of the token it acted with: its thread's, if the thread
/// was impersonating a client, else its process's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerCred {
    pub pid: u32,
    /// The SID in its binary form.
    pub sid: Vec<u8>,
    /// The mandatory integrity level's RID: 0x1000 Low, 0x2000 Medium, 0x3000 High,
    /// 0x4000 System, 0 Untrusted (also what a token that could not be read gets).
    pub integrity: u32,
    /// The token is an AppContainer's.
    pub app_container: bool,
    /// The token is restricted, or the system could not say (never reported as unrestricted
    /// unless known to be).
    pub restricted: bool,
    /// The credentials are those of a client the peer's thread was impersonating.
    pub impersonating: bool,
}

/// A Unix stream socket, as `std::os::unix::net::UnixStream`.
pub struct UnixStream {
    pub(super) socket: Socket,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}

impl UnixStream {
    pub(crate) fn from_socket(socket: Socket) -> UnixStream {
        UnixStream { socket }
    }

    /// Connects to the socket named by `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        Net::system().connect(path)
    }

    /// Connects to the socket at `addr` (a pathname or an abstract name).
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        Net::system().connect_addr(addr)
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        Net::system().pair()
    }

    /// Another handle on the same socket.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        self.socket.try_clone().map(UnixStream::from_socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.address(IOCTL_AFUNIX_GETPEERNAME)
    }

    /// The peer's process id and user SID (`SO_PEERCRED`).
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        self.socket.peer_cred()
    }

    /// `None` waits for ever; `Some(Duration::ZERO)` is refused, as std refuses it. A read that
    /// times out fails with `WouldBlock`, having consumed nothing.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    /// As [`UnixStream::set_read_timeout`], for writes. A write that times out after sending
    /// some bytes returns their count.
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

    /// The value of the underlying handle (on Windows, the driver's HANDLE).
    #[cfg(windows)]
    pub(crate) fn raw_handle_value(&self) -> u64 {
        self.socket.endpoint.handle_value()
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf, MSG_PEEK)
    }
}

impl Read for UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Read for &UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf, 0)
    }

    /// One receive into all of `bufs`, filled in order, as `readv(2)` (std's
    /// `read_vectored`) does: it waits as one read of their total length would, and returns
    /// what that read took.
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        scatter(bufs, |buf| self.socket.recv(buf, 0))
    }
}

impl Write for UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &UnixStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf, 0)
    }

    /// One send of the buffers' concatenation, as `writev(2)` (std's `write_vectored`) does:
    /// the bytes go out together, and a short count ends at the same byte a plain write of
    /// the concatenation would have ended at.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        gather(bufs, |data| self.socket.send(data, 0))
    }

    /// Nothing is buffered in user mode: a write has reached the peer's receive buffer when
    /// it returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
