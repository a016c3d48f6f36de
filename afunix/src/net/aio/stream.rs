//! The async `UnixStream`, as `tokio::net::UnixStream`, and its halves.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use afunix_proto::ioctl::{IOCTL_AFUNIX_GETPEERNAME, IOCTL_AFUNIX_GETSOCKNAME};
use afunix_proto::wire::MSG_DONTWAIT;
use bytes::BufMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf, Ready};

use super::read::Reader;
use super::{Evented, Readiness, WRITABLE, read_into_buf, ready_of};
use crate::net::{Net, PeerCred, SOCK_STREAM, Socket, SocketAddr, gather, scatter};

/// An async Unix stream socket, as `tokio::net::UnixStream`.
pub struct UnixStream {
    io: Inner,
}

/// A stream in blocking mode: its reads wait by RECV ([`Reader`]), its writes by POLL, and
/// what must not wait says `MSG_DONTWAIT`.
#[derive(Debug)]
struct Inner {
    // Dropped first: the waiting RECV is cancelled before the handle closes.
    reader: Reader,
    evented: Evented,
}

impl Inner {
    fn socket(&self) -> &Socket {
        &self.evented.socket
    }
}

impl UnixStream {
    /// The socket underneath, for the handle conversions.
    pub(crate) fn socket(&self) -> &Socket {
        self.io.socket()
    }

    /// `readable`: taken to be readable until a read finds nothing, as tokio takes an
    /// accepted stream.
    fn new(socket: Socket, readable: bool) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Inner {
                reader: Reader::new(readable),
                evented: Evented::blocking(socket),
            },
        })
    }

    /// Connects to the socket named by `path`. The connect waits, without a thread, while
    /// the listener's backlog is full; dropping the future cancels it.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::connect_addr_on(&Net::system(), &super::address_of(path.as_ref())?).await
    }

    /// Connects to `addr` (a pathname or an abstract name).
    pub async fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixStream::connect_addr_on(&Net::system(), addr).await
    }

    /// As [`UnixStream::connect_addr`], on `net`.
    pub async fn connect_addr_on(net: &Net, addr: &SocketAddr) -> io::Result<UnixStream> {
        UnixStream::new(super::connect(net, SOCK_STREAM, addr).await?, false)
    }

    /// An unnamed pair of connected sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        UnixStream::pair_on(&Net::system())
    }

    /// As [`UnixStream::pair`], on `net`.
    pub fn pair_on(net: &Net) -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net.socket_pair(SOCK_STREAM)?;
        Ok((UnixStream::new(a, false)?, UnixStream::new(b, false)?))
    }

    /// An async stream from a blocking one.
    pub fn from_std(stream: crate::UnixStream) -> io::Result<UnixStream> {
        // It may have been non-blocking; its RECVs must wait. (Sockets made here, by
        // connect, pair and accept, are blocking from the start.)
        stream.socket.set_nonblocking(false)?;
        UnixStream::new(stream.socket, false)
    }

    /// A stream `accept` returned.
    pub(super) fn accepted(socket: Socket) -> io::Result<UnixStream> {
        UnixStream::new(socket, true)
    }

    /// Back to a blocking stream. Fails if bytes a read's wait received are not yet read
    /// (a blocking stream could not give them back).
    pub fn into_std(self) -> io::Result<crate::UnixStream> {
        let Inner { reader, evented } = self.io;
        reader.finish()?;
        drop(reader);
        evented.into_socket().map(crate::UnixStream::from_socket)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().address(IOCTL_AFUNIX_GETPEERNAME)
    }

    /// The peer's credentials (`SO_PEERCRED`), as [`crate::UnixStream::peer_cred`].
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        self.io.socket().peer_cred()
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.socket().take_error()
    }

    /// Waits until a read would not wait: bytes, the end of the stream or an error. The
    /// wait is the stream's RECV, which the bytes it brings stay with (see the module's
    /// page), so dropping this future loses nothing.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the socket may be writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.evented.ready(WRITABLE).await
    }

    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io
            .reader
            .poll_ready(self.io.socket(), cx)
            .map_ok(|_| ())
    }

    /// Waits until the socket is ready for any of `interest`: what it is ready for, with
    /// `READ_CLOSED` at the end of the stream and `WRITE_CLOSED` once the peer is gone.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        let mut write_wait: Option<Readiness> = None;
        std::future::poll_fn(|cx| {
            let mut ready = Ready::EMPTY;
            if interest.is_readable() {
                if let Poll::Ready(closed) = self.io.reader.poll_ready(self.io.socket(), cx)? {
                    ready |= Ready::READABLE;
                    if closed {
                        ready |= Ready::READ_CLOSED;
                    }
                }
            }
            if interest.is_writable() {
                let wait = match write_wait.as_mut() {
                    Some(wait) => wait,
                    None => write_wait.insert(Readiness::new(self.io.socket(), WRITABLE)?),
                };
                if let Poll::Ready(revents) = wait.poll_ready(cx)? {
                    write_wait = None;
                    ready |= ready_of(revents, Interest::WRITABLE);
                }
            }
            if ready.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(Ok(ready))
            }
        })
        .await
    }

    /// As [`UnixStream::try_read`], appending to `buf`.
    pub fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        read_into_buf(buf, |room| self.try_read(room))
    }

    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.evented.poll_write_ready(cx)
    }

    /// Reads what is there now, or `WouldBlock`.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.reader.try_read(self.io.socket(), buf)
    }

    /// As [`UnixStream::try_read`], into several buffers in order.
    pub fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        scatter(bufs, |buf| self.try_read(buf))
    }

    /// Writes what fits now, or `WouldBlock`.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .evented
            .attempt(WRITABLE, |socket| socket.send(buf, MSG_DONTWAIT))
    }

    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.evented.attempt(WRITABLE, |socket| {
            gather(bufs, |data| socket.send(data, MSG_DONTWAIT))
        })
    }

    /// Borrowed halves, usable by two tasks at once (one reads, one writes).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(&self.io), WriteHalf(&self.io))
    }

    /// Owned halves; [`OwnedReadHalf::reunite`] puts them back together. Dropping the write
    /// half shuts the stream down for writing, as tokio's does.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let io = Arc::new(self.io);
        (
            OwnedReadHalf(io.clone()),
            OwnedWriteHalf {
                io,
                shutdown_on_drop: true,
            },
        )
    }
}

/// The read side of a stream, shared by `UnixStream` and its halves.
fn poll_read(io: &Inner, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    let n = std::task::ready!(
        io.reader
            .poll_read(io.socket(), cx, buf.initialize_unfilled())
    )?;
    buf.advance(n);
    Poll::Ready(Ok(()))
}

fn poll_write(io: &Inner, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
    let evented = &io.evented;
    evented.poll_io(&evented.write, WRITABLE, cx, |socket| {
        socket.send(data, MSG_DONTWAIT)
    })
}

fn poll_write_vectored(
    io: &Inner,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let evented = &io.evented;
    evented.poll_io(&evented.write, WRITABLE, cx, |socket| {
        gather(bufs, |data| socket.send(data, MSG_DONTWAIT))
    })
}

/// `shutdown(SHUT_WR)`: nothing is buffered in user mode, so there is nothing to flush first.
fn poll_shutdown(io: &Inner) -> Poll<io::Result<()>> {
    Poll::Ready(io.socket().shutdown(Shutdown::Write))
}

/// The read half of [`UnixStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a Inner);

/// The write half of [`UnixStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a Inner);

/// The read half of [`UnixStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(Arc<Inner>);

/// The write half of [`UnixStream::into_split`]: dropping it shuts the stream down for
/// writing, unless [`OwnedWriteHalf::forget`] is called.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    io: Arc<Inner>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] were not of one stream.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// The stream again, from its two halves.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<UnixStream, ReuniteError> {
        if !Arc::ptr_eq(&self.0, &other.io) {
            return Err(ReuniteError(self, other));
        }
        let mut write = other;
        write.shutdown_on_drop = false;
        let io = write.io.clone();
        drop(write);
        drop(self);
        Arc::try_unwrap(io)
            .map(|io| UnixStream { io })
            // Both halves are gone: only the one reference is left.
            .map_err(|_| unreachable!("both halves of a stream were dropped"))
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.socket().address(IOCTL_AFUNIX_GETPEERNAME)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.socket().address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    /// As [`UnixStream::readable`].
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.0.reader.poll_ready(self.0.socket(), cx))
            .await
            .map(|_| ())
    }

    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.reader.try_read(self.0.socket(), buf)
    }
}

impl OwnedWriteHalf {
    /// Drops the half without shutting the stream down for writing.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().address(IOCTL_AFUNIX_GETPEERNAME)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.socket().address(IOCTL_AFUNIX_GETSOCKNAME)
    }

    pub async fn writable(&self) -> io::Result<()> {
        self.io.evented.ready(WRITABLE).await
    }

    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .evented
            .attempt(WRITABLE, |socket| socket.send(buf, MSG_DONTWAIT))
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.io.socket().shutdown(Shutdown::Write);
        }
    }
}

/// `AsyncRead` for `$ty`, whose stream is `$inner`, with `$this` the value.
macro_rules! async_read {
    ($ty:ty, $this:ident => $inner:expr) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this = &*self;
                poll_read($inner, cx, buf)
            }
        }
    };
}

/// `AsyncWrite` for `$ty`, as [`async_read`]. Nothing is buffered in user mode: a write has
/// reached the peer's receive buffer when it returns, so flushing has nothing to do, and
/// shutting down is `shutdown(SHUT_WR)`.
macro_rules! async_write {
    ($ty:ty, $this:ident => $inner:expr) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                poll_write($inner, cx, data)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                poll_write_vectored($inner, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                poll_shutdown($inner)
            }
        }
    };
}

async_read!(UnixStream, this => &this.io);
async_write!(UnixStream, this => &this.io);
async_read!(ReadHalf<'_>, this => this.0);
async_write!(WriteHalf<'_>, this => this.0);
async_read!(OwnedReadHalf, this => &this.0);
async_write!(OwnedWriteHalf, this => &this.io);
