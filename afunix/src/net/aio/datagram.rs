//! The async `UnixDatagram`, as `tokio::net::UnixDatagram`.

use std::io;
use std::net::Shutdown;
use std::path::Path;
use std::task::{Context, Poll};

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};
use bytes::BufMut;
use tokio::io::{Interest, ReadBuf, Ready};

use super::{Evented, READABLE, WRITABLE, read_into_buf};
use crate::net::datagram::reported;
use crate::net::{Net, Socket, SocketAddr};

/// An async Unix datagram socket, as `tokio::net::UnixDatagram`. Its methods take `&self`:
/// several tasks may send and receive on one socket at once, each waiting on its own.
pub struct UnixDatagram {
    io: Evented,
}

impl UnixDatagram {
    /// The socket underneath, for the handle conversions.
    pub(crate) fn socket(&self) -> &Socket {
        &self.io.socket
    }

    fn new(datagram: crate::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Evented::new(datagram.socket)?,
        })
    }

    /// A socket bound to `path` (which it creates as a socket file).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::new(crate::UnixDatagram::bind(path)?)
    }

    /// A socket bound to `addr` (a pathname or an abstract name), on `net`.
    pub fn bind_addr_on(net: &Net, addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::new(net.bind_datagram_addr(addr)?)
    }

    /// A socket with no name, not connected.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::new(crate::UnixDatagram::unbound()?)
    }

    /// An unnamed pair of sockets connected to each other.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        UnixDatagram::pair_on(&Net::system())
    }

    /// As [`UnixDatagram::pair`], on `net`.
    pub fn pair_on(net: &Net) -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net.datagram_pair()?;
        Ok((UnixDatagram::new(a)?, UnixDatagram::new(b)?))
    }

    /// An async socket from a blocking one, which is put in non-blocking mode.
    pub fn from_std(datagram: crate::UnixDatagram) -> io::Result<UnixDatagram> {
        UnixDatagram::new(datagram)
    }

    /// Back to a blocking socket.
    pub fn into_std(self) -> io::Result<crate::UnixDatagram> {
        self.io.into_socket().map(crate::UnixDatagram::from_socket)
    }

    /// Makes the socket at `path` this socket's peer.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// As [`UnixDatagram::connect`], to a pathname or an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.io.socket.connect(addr)
    }

    /// Sends `buf` as one message to the peer, waiting for room. Cancel-safe: a dropped
    /// future sent nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.io(WRITABLE, |socket| socket.send(buf, 0)).await
    }

    /// Receives one message. Cancel-safe: a dropped future received nothing.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(READABLE, |socket| socket.recv(buf, 0)).await
    }

    /// Sends `buf` as one message to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let sockaddr = SocketAddr::from_pathname(path)?.to_sockaddr();
        self.io
            .io(WRITABLE, |socket| socket.send_to(buf, 0, &sockaddr))
            .await
    }

    /// Receives one message and its sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .io
            .io(READABLE, |socket| socket.recv_from(buf, 0))
            .await?;
        Ok((n, reported(from.sockaddr())?))
    }

    /// Sends now, or `WouldBlock`.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.attempt(WRITABLE, |socket| socket.send(buf, 0))
    }

    /// Receives now, or `WouldBlock`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.attempt(READABLE, |socket| socket.recv(buf, 0))
    }

    pub fn try_send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let sockaddr = SocketAddr::from_pathname(path)?.to_sockaddr();
        self.io
            .attempt(WRITABLE, |socket| socket.send_to(buf, 0, &sockaddr))
    }

    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, from) = self
            .io
            .attempt(READABLE, |socket| socket.recv_from(buf, 0))?;
        Ok((n, reported(from.sockaddr())?))
    }

    /// Receives one message into `buf`, for a poll function.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.io.poll_io(&self.io.read, READABLE, cx, |socket| {
            socket.recv(buf.initialize_unfilled(), 0)
        }))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }

    /// Sends `buf` as one message to the peer, for a poll function.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(&self.io.write, WRITABLE, cx, |socket| socket.send(buf, 0))
    }

    /// Receives one message into `buf` and its sender's address, for a poll function.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        let (n, from) = std::task::ready!(self.io.poll_io(&self.io.read, READABLE, cx, |s| {
            s.recv_from(buf.initialize_unfilled(), 0)
        }))?;
        buf.advance(n);
        Poll::Ready(reported(from.sockaddr()))
    }

    /// Sends `buf` as one message to the socket at `target`, for a poll function.
    pub fn poll_send_to<P: AsRef<Path>>(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: P,
    ) -> Poll<io::Result<usize>> {
        let sockaddr = SocketAddr::from_pathname(target)?.to_sockaddr();
        self.io.poll_io(&self.io.write, WRITABLE, cx, |socket| {
            socket.send_to(buf, 0, &sockaddr)
        })
    }

    /// Receives one message, appended to `buf` (as much of it as `buf`'s next chunk holds).
    pub async fn recv_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        let mut room = vec![0u8; buf.chunk_mut().len()];
        let n = self.recv(&mut room).await?;
        buf.put_slice(room.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// As [`UnixDatagram::recv_buf`], with the sender's address.
    pub async fn recv_buf_from<B: BufMut>(&self, buf: &mut B) -> io::Result<(usize, SocketAddr)> {
        let mut room = vec![0u8; buf.chunk_mut().len()];
        let (n, from) = self.recv_from(&mut room).await?;
        buf.put_slice(room.get(..n).unwrap_or_default());
        Ok((n, from))
    }

    /// As [`UnixDatagram::try_recv`], appending to `buf`.
    pub fn try_recv_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        read_into_buf(buf, |room| self.try_recv(room))
    }

    /// As [`UnixDatagram::try_recv_from`], appending to `buf`.
    pub fn try_recv_buf_from<B: BufMut>(&self, buf: &mut B) -> io::Result<(usize, SocketAddr)> {
        let mut from = None;
        let n = read_into_buf(buf, |room| {
            let (n, addr) = self.try_recv_from(room)?;
            from = Some(addr);
            Ok(n)
        })?;
        Ok((n, from.unwrap_or_else(SocketAddr::unnamed)))
    }

    /// Waits until the socket is ready for any of `interest`.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        self.io.ready_for(interest).await
    }

    pub async fn readable(&self) -> io::Result<()> {
        self.io.ready(READABLE).await
    }

    pub async fn writable(&self) -> io::Result<()> {
        self.io.ready(WRITABLE).await
    }

    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_read_ready(cx)
    }

    pub fn poll_send_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_write_ready(cx)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket.address(IOCTL_AFUNIX_GETPEERNAME)
    }

    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.socket.take_error()
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.socket.shutdown(how)
    }
}
